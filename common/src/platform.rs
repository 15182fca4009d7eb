// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Platforms (`os/arch[/variant]`): parsing, formatting and normalisation with containerd's
//! rules, host detection, matching with fallbacks, and the NATS subject tokens of a platform.
//!
//! Every constructor normalises (`x86_64` → `amd64`, `armhf` → `arm/v7`, `arm64/v8` → `arm64`,
//! ...), so two spellings of one platform compare equal, hash equal and give the same NATS
//! subject. Junk is refused with a [`PlatformError`] that quotes the input.

mod host;
mod normalize;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use host::arm_variant_from_cpuinfo;

/// The NATS subject token that stands for "no variant" (`linux.amd64._`). It cannot collide
/// with a real variant: every platform component starts with a letter or a digit.
pub const NO_VARIANT_TOKEN: &str = "_";

/// How a `.` inside a platform component (`arm64/v8.2`) is written in a NATS subject token,
/// where `.` separates tokens. `~` is never part of a platform component, so this inverts.
pub const SUBJECT_DOT_ESCAPE: char = '~';

/// The longest os, architecture or variant accepted, in bytes.
pub const MAX_COMPONENT_LEN: usize = 64;

/// A normalised target platform. Construct it with [`Platform::parse`] or [`Platform::new`] so
/// that the fields always hold containerd's normal form (`amd64`, `arm64`, `arm` + `v7`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in GOARCH spelling, e.g. `amd64`, `arm64`, `arm`.
    pub architecture: String,
    /// CPU variant, e.g. `v7` for `arm`; `None` when the architecture has no variant.
    pub variant: Option<String>,
}

/// Why a platform string, platform list or subject could not be turned into a [`Platform`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The input was empty (or only whitespace).
    #[error("empty platform: expected os/arch[/variant], e.g. linux/amd64")]
    Empty,
    /// Only one component was given (`linux`, `amd64`): an architecture is required.
    #[error("platform {input:?} has no architecture: expected os/arch[/variant], e.g. linux/amd64")]
    MissingArchitecture {
        /// The input as given.
        input: String,
    },
    /// A component between slashes was empty (`linux/`, `/amd64`, `linux//v7`).
    #[error("platform {input:?} has an empty {component}: expected os/arch[/variant]")]
    EmptyComponent {
        /// The input as given.
        input: String,
        /// `os`, `architecture` or `variant`.
        component: &'static str,
    },
    /// More than three components (`linux/arm64/v8/x`).
    #[error("platform {input:?} has too many parts: expected os/arch[/variant]")]
    TooManyComponents {
        /// The input as given.
        input: String,
    },
    /// A component holds characters outside `[a-z0-9._-]`, does not start with a letter or a
    /// digit, or is longer than [`MAX_COMPONENT_LEN`].
    #[error(
        "platform {input:?} has an invalid {component} {value:?}: use a-z, 0-9, '.', '_' and '-', \
         starting with a letter or digit, at most 64 characters"
    )]
    InvalidComponent {
        /// The input as given.
        input: String,
        /// `os`, `architecture` or `variant`.
        component: &'static str,
        /// The offending component.
        value: String,
    },
    /// A platform list has an empty entry (`linux/amd64,,linux/arm64`).
    #[error("platform list {input:?} has an empty entry")]
    EmptyListEntry {
        /// The list as given.
        input: String,
    },
    /// A platform list names the same platform twice (after normalisation).
    #[error("platform {platform} is listed twice in {input:?}")]
    Duplicate {
        /// The normalised platform.
        platform: String,
        /// The list as given.
        input: String,
    },
    /// NATS subject tokens that are not exactly `os.arch.variant`.
    #[error(
        "subject tokens {input:?} do not name a platform: expected os.arch.variant, with _ for no variant"
    )]
    BadSubjectTokens {
        /// The tokens as given.
        input: String,
    },
}

impl Platform {
    /// Builds a normalised platform from its parts; an empty `variant` means no variant.
    ///
    /// ```
    /// # use kaniko_common::platform::Platform;
    /// let p = Platform::new("Linux", "aarch64", Some("v8")).unwrap();
    /// assert_eq!(p.to_string(), "linux/arm64");
    /// ```
    pub fn new(
        os: &str,
        architecture: &str,
        variant: Option<&str>,
    ) -> Result<Platform, PlatformError> {
        let variant = variant.filter(|v| !v.is_empty());
        let input = match variant {
            Some(v) => format!("{os}/{architecture}/{v}"),
            None => format!("{os}/{architecture}"),
        };
        normalize::normalize(os, architecture, variant, &input)
    }

    /// Parses `os/arch[/variant]` (case-insensitive, surrounding whitespace ignored) into its
    /// normal form. An os alone is an error: a build always needs an architecture.
    pub fn parse(input: &str) -> Result<Platform, PlatformError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PlatformError::Empty);
        }
        let owned = || trimmed.to_string();
        let mut parts = trimmed.split('/');
        let os = parts.next().unwrap_or_default();
        let Some(arch) = parts.next() else {
            return Err(PlatformError::MissingArchitecture { input: owned() });
        };
        let variant = parts.next();
        if parts.next().is_some() {
            return Err(PlatformError::TooManyComponents { input: owned() });
        }
        let empty = |component| {
            Err(PlatformError::EmptyComponent {
                input: owned(),
                component,
            })
        };
        if os.is_empty() {
            return empty("os");
        }
        if arch.is_empty() {
            return empty("architecture");
        }
        if variant == Some("") {
            return empty("variant");
        }
        normalize::normalize(os, arch, variant, trimmed)
    }

    /// Parses a comma-separated list (`linux/amd64, linux/arm64`). Whitespace around entries is
    /// ignored; an empty entry or a platform listed twice (after normalisation) is an error.
    pub fn parse_list(input: &str) -> Result<Vec<Platform>, PlatformError> {
        if input.trim().is_empty() {
            return Err(PlatformError::Empty);
        }
        let mut platforms: Vec<Platform> = Vec::new();
        for entry in input.split(',') {
            if entry.trim().is_empty() {
                return Err(PlatformError::EmptyListEntry {
                    input: input.to_string(),
                });
            }
            let platform = Platform::parse(entry)?;
            if platforms.contains(&platform) {
                return Err(PlatformError::Duplicate {
                    platform: platform.to_string(),
                    input: input.to_string(),
                });
            }
            platforms.push(platform);
        }
        Ok(platforms)
    }

    /// The platform this process runs on, in normal form. For 32-bit arm the variant comes
    /// from `/proc/cpuinfo` as containerd reads it (`v7` when it cannot be told).
    pub fn host() -> Platform {
        host::host()
    }

    /// This platform again in normal form; `None` when its fields are not a valid platform
    /// (possible only for a value built field by field, not through a constructor).
    pub fn normalized(&self) -> Option<Platform> {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref()).ok()
    }

    /// The platforms that can serve `self`, best first: `self`, then containerd's compatible
    /// fallbacks within the same os and architecture:
    /// `arm/v8` → `v7` → `v6` → `v5`; `amd64/v4` → `v3` → `v2` → `amd64`;
    /// `arm64/v9` → `arm64`. Unlike containerd there is no fallback across architectures
    /// (`arm64` → `arm`, `amd64` → `386`): a build for one architecture must never quietly
    /// start from a base image of another.
    pub fn fallbacks(&self) -> Vec<Platform> {
        let this = self.normalized().unwrap_or_else(|| self.clone());
        let level = this.variant.as_deref().and_then(variant_level);
        let with = |variant: Option<String>| Platform {
            os: this.os.clone(),
            architecture: this.architecture.clone(),
            variant,
        };
        let mut out = vec![this.clone()];
        match (this.architecture.as_str(), level) {
            ("arm", Some(n)) if n > 5 => {
                out.extend((5..n).rev().map(|v| with(Some(format!("v{v}")))))
            }
            ("amd64", Some(n)) if n > 1 => {
                out.extend((2..n).rev().map(|v| with(Some(format!("v{v}")))));
                out.push(with(None));
            }
            ("arm64", Some(n)) if n > 8 => {
                out.extend((9..n).rev().map(|v| with(Some(format!("v{v}")))));
                out.push(with(None));
            }
            _ => {}
        }
        out
    }

    /// True when an image built for `candidate` runs on `self` (`self` itself or one of its
    /// [`fallbacks`](Platform::fallbacks)). `candidate` is normalised first; one that is not a
    /// valid platform is never compatible.
    pub fn compatible(&self, candidate: &Platform) -> bool {
        match candidate.normalized() {
            Some(candidate) => self.fallbacks().contains(&candidate),
            None => false,
        }
    }

    /// The NATS subject tokens of this platform: `linux.arm.v7`, `linux.amd64._` (see
    /// [`NO_VARIANT_TOKEN`]); a `.` inside a component is written [`SUBJECT_DOT_ESCAPE`].
    pub fn to_subject_tokens(&self) -> String {
        let escape = |s: &str| s.replace('.', &SUBJECT_DOT_ESCAPE.to_string());
        format!(
            "{}.{}.{}",
            escape(&self.os),
            escape(&self.architecture),
            self.variant
                .as_deref()
                .map_or_else(|| NO_VARIANT_TOKEN.to_string(), escape)
        )
    }

    /// Inverts [`to_subject_tokens`](Platform::to_subject_tokens): exactly three tokens, the
    /// last [`NO_VARIANT_TOKEN`] for no variant. The result is normalised.
    pub fn from_subject_tokens(tokens: &str) -> Result<Platform, PlatformError> {
        let bad = || PlatformError::BadSubjectTokens {
            input: tokens.to_string(),
        };
        let parts: Vec<&str> = tokens.split('.').collect();
        let [os, arch, variant] = parts.as_slice() else {
            return Err(bad());
        };
        if [os, arch, variant].iter().any(|t| t.is_empty()) {
            return Err(bad());
        }
        let unescape = |s: &str| s.replace(SUBJECT_DOT_ESCAPE, ".");
        let variant = (*variant != NO_VARIANT_TOKEN).then(|| unescape(variant));
        Platform::new(&unescape(os), &unescape(arch), variant.as_deref()).map_err(|_| bad())
    }

    /// A name made of `[a-z0-9_-]` for a durable JetStream consumer: `linux-arm-v7`,
    /// `linux-amd64`. A `.` inside a component becomes `_`.
    pub fn consumer_name(&self) -> String {
        let mut name = format!("{}-{}", self.os, self.architecture);
        if let Some(variant) = &self.variant {
            name.push('-');
            name.push_str(variant);
        }
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The index of the candidate that best serves `self`: an exact match first, then the
    /// compatible fallbacks of containerd's matcher (see [`fallbacks`](Platform::fallbacks)).
    /// Candidates are normalised before comparing (an index may spell `arm64/v8` or
    /// `aarch64`); candidates that are not valid platforms are skipped. `None` when nothing
    /// can serve it.
    pub fn best_match(&self, candidates: &[Platform]) -> Option<usize> {
        let normalized: Vec<Option<Platform>> =
            candidates.iter().map(Platform::normalized).collect();
        self.fallbacks()
            .iter()
            .find_map(|want| normalized.iter().position(|c| c.as_ref() == Some(want)))
    }

    /// The order platforms take in an image index: by os, then architecture, then specific
    /// variants before no variant, higher variants first. Deterministic, so the same set of
    /// children always gives the same index bytes.
    pub fn index_cmp(&self, other: &Platform) -> Ordering {
        self.os
            .cmp(&other.os)
            .then_with(|| self.architecture.cmp(&other.architecture))
            .then_with(|| match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => variant_rank(b).cmp(&variant_rank(a)).then_with(|| b.cmp(a)),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
    }
}

/// `v7` → 7, so that `v10` sorts above `v9`; anything else ranks 0.
fn variant_rank(variant: &str) -> u32 {
    variant
        .strip_prefix('v')
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `v7` → `Some(7)`; a variant that is not `v<integer>` has no level and no fallbacks.
fn variant_level(variant: &str) -> Option<u32> {
    variant.strip_prefix('v').and_then(|n| n.parse().ok())
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

impl From<&Platform> for oci_spec::image::Platform {
    fn from(platform: &Platform) -> Self {
        use oci_spec::image::{Arch, Os};
        // oci-spec maps "armbe" to its arm64be variant; spell it out.
        let arch = match platform.architecture.as_str() {
            "armbe" => Arch::ARMbe,
            other => Arch::from(other),
        };
        let mut out = oci_spec::image::Platform::default();
        out.set_os(Os::from(platform.os.as_str()));
        out.set_architecture(arch);
        out.set_variant(platform.variant.clone());
        out
    }
}

impl TryFrom<&oci_spec::image::Platform> for Platform {
    type Error = PlatformError;

    /// Normalises the os, architecture and variant of an OCI platform; os.version and
    /// os.features are dropped.
    fn try_from(platform: &oci_spec::image::Platform) -> Result<Self, Self::Error> {
        let os = platform.os().to_string();
        let arch = platform.architecture().to_string();
        Platform::new(&os, &arch, platform.variant().as_deref())
    }
}

/// serde helpers that write a [`Platform`] as its `os/arch[/variant]` string and normalise (and
/// refuse junk) when reading. For JSON messages: `#[serde(with = "crate::platform::as_string")]`.
/// Strings work in bincode too, so a type may use them in both encodings.
pub mod as_string {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Platform;

    /// Writes `linux/arm/v7`.
    pub fn serialize<S: Serializer>(platform: &Platform, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(platform)
    }

    /// Reads and normalises `linux/arm/v7`; junk is a deserialisation error naming the input.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Platform, D::Error> {
        let text = String::deserialize(deserializer)?;
        Platform::parse(&text).map_err(D::Error::custom)
    }
}

/// Like [`as_string`], for a `Vec<Platform>` (a list of strings).
pub mod as_string_list {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Platform;

    /// Writes `["linux/amd64", "linux/arm/v7"]`.
    pub fn serialize<S: Serializer>(
        platforms: &[Platform],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(platforms.iter().map(Platform::to_string))
    }

    /// Reads and normalises each entry; the first junk entry is the error.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Platform>, D::Error> {
        let texts = Vec::<String>::deserialize(deserializer)?;
        texts
            .iter()
            .map(|text| Platform::parse(text).map_err(D::Error::custom))
            .collect()
    }
}

/// Like [`as_string`], for an `Option<Platform>` (a string or null).
pub mod as_string_option {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Platform;

    /// Writes `"linux/amd64"` or `null`.
    pub fn serialize<S: Serializer>(
        platform: &Option<Platform>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match platform {
            Some(platform) => serializer.serialize_some(&platform.to_string()),
            None => serializer.serialize_none(),
        }
    }

    /// Reads and normalises a platform string, or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Platform>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| Platform::parse(&text).map_err(D::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
