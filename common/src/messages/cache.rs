// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The layer cache settings of a build (`--cache`, `--cache-repo`, ...), as a request carries
//! them and as each platform's task does, and the per-architecture suffix of its repository
//! (`--arch-cache-repo-suffix`: `${ARCH}`, `${OS}` and `${VARIANT}` from the task's platform).
//! The worker's `cache` module does the caching (docs/cache.md).

use serde::{Deserialize, Serialize};

use crate::platform::Platform;

fn yes() -> bool {
    true
}

/// The layer cache of a build: present when `--cache=true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerCache {
    /// The cache repository (`registry/repo`); `None`: the first destination's repository
    /// followed by `/cache`, as Kaniko does.
    #[serde(default)]
    pub repo: Option<String>,
    /// Entries older than this many seconds are misses; `None`: 336 hours.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// Look COPY and ADD up (default false).
    #[serde(default)]
    pub copy_layers: bool,
    /// Look RUN up (default true).
    #[serde(default = "yes")]
    pub run_layers: bool,
    /// Push the results of missed steps (default true; `--no-push-cache` is false).
    #[serde(default = "yes")]
    pub push: bool,
}

impl LayerCache {
    /// Checks what decoding cannot.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(repo) = &self.repo
            && (repo.is_empty() || repo.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(format!(
                "cache repository {repo:?} is not a registry/repository"
            ));
        }
        if self.ttl_secs == Some(0) {
            return Err("cache ttl_secs must be positive".to_string());
        }
        Ok(())
    }
}

/// `suffix` with `${ARCH}`, `${OS}` and `${VARIANT}` replaced by `platform`'s parts (no
/// variant: empty).
pub fn expand_arch_suffix(suffix: &str, platform: &Platform) -> String {
    suffix
        .replace("${ARCH}", &platform.architecture)
        .replace("${OS}", &platform.os)
        .replace("${VARIANT}", platform.variant.as_deref().unwrap_or(""))
}

/// Checks an `--arch-cache-repo-suffix`: not empty, only the three placeholders, and what is
/// left lowercase letters, digits and `-`, `_`, `.`, `/`.
pub fn check_arch_suffix(suffix: &str) -> Result<(), String> {
    if suffix.is_empty() {
        return Err("the arch cache repository suffix is empty".to_string());
    }
    let rest = suffix
        .replace("${ARCH}", "")
        .replace("${OS}", "")
        .replace("${VARIANT}", "");
    if rest.contains('$') {
        return Err(format!(
            "arch cache repository suffix {suffix:?}: the only placeholders are ${{ARCH}}, \
             ${{OS}} and ${{VARIANT}}"
        ));
    }
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "-_./".contains(*c)))
    {
        return Err(format!(
            "arch cache repository suffix {suffix:?}: {c:?} cannot be in a repository name \
             (use lowercase letters, digits and - _ . /)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_expand_from_the_platform() {
        let check = |suffix: &str, platform: &str, expected: &str| {
            let platform = Platform::parse(platform).unwrap();
            assert_eq!(expand_arch_suffix(suffix, &platform), expected, "{suffix}");
        };
        check("-${ARCH}", "linux/arm64", "-arm64");
        check("-${OS}-${ARCH}${VARIANT}", "linux/arm/v7", "-linux-armv7");
        check("/${ARCH}${VARIANT}", "linux/amd64", "/amd64");
        check("-cache", "linux/amd64", "-cache");
    }

    #[test]
    fn suffixes_are_checked() {
        assert!(check_arch_suffix("-${ARCH}").is_ok());
        assert!(check_arch_suffix("/cache-${OS}.${VARIANT}").is_ok());
        let err = check_arch_suffix("-${CPU}").unwrap_err();
        assert!(err.contains("the only placeholders"), "{err}");
        let err = check_arch_suffix("-Arch").unwrap_err();
        assert!(err.contains("'A' cannot be in a repository name"), "{err}");
        assert!(check_arch_suffix("").is_err());
    }
}
