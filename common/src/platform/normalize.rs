// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! containerd's normalisation of an os, architecture and variant: lower case, GOARCH names
//! (`x86_64` → `amd64`, `aarch64` → `arm64`), Debian arm names (`armhf` → `arm/v7`, `armel` →
//! `arm/v6`), default and redundant variants (`arm` → `arm/v7`, `arm64/v8` → `arm64`,
//! `amd64/v1` → `amd64`), and `v`-less variants (`arm/7` → `arm/v7`).

use super::{MAX_COMPONENT_LEN, Platform, PlatformError};

/// Validates and normalises the three components; `input` is quoted in errors.
pub(super) fn normalize(
    os: &str,
    architecture: &str,
    variant: Option<&str>,
    input: &str,
) -> Result<Platform, PlatformError> {
    let os = component(os, "os", input)?;
    let architecture = component(architecture, "architecture", input)?;
    let variant = variant
        .map(|v| component(v, "variant", input))
        .transpose()?;

    let os = match os.as_str() {
        "macos" => "darwin".to_string(),
        _ => os,
    };
    let (architecture, variant) = normalize_arch(architecture, variant);
    Ok(Platform {
        os,
        architecture,
        variant,
    })
}

/// Lower-cases one component and checks it: non-empty, `[a-z0-9._-]`, starting with a letter
/// or digit, at most [`MAX_COMPONENT_LEN`] bytes.
fn component(value: &str, name: &'static str, input: &str) -> Result<String, PlatformError> {
    let lower = value.to_ascii_lowercase();
    if lower.is_empty() {
        return Err(PlatformError::EmptyComponent {
            input: input.to_string(),
            component: name,
        });
    }
    let starts_well = lower.starts_with(|c: char| c.is_ascii_alphanumeric());
    let chars_ok = lower
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !starts_well || !chars_ok || lower.len() > MAX_COMPONENT_LEN {
        return Err(PlatformError::InvalidComponent {
            input: input.to_string(),
            component: name,
            value: value.to_string(),
        });
    }
    Ok(lower)
}

/// containerd's `normalizeArch`, generalised a little: any `v`-less numeric variant of arm,
/// arm64 and amd64 gets its `v`, and `N.0` is `N`.
fn normalize_arch(arch: String, variant: Option<String>) -> (String, Option<String>) {
    match arch.as_str() {
        "i386" => ("386".to_string(), None),
        "x86_64" | "x86-64" | "amd64" => {
            let variant = variant.map(with_v).filter(|v| v != "v1");
            ("amd64".to_string(), variant)
        }
        "aarch64" | "arm64" => {
            let variant = variant.map(with_v).filter(|v| v != "v8");
            ("arm64".to_string(), variant)
        }
        "armhf" => ("arm".to_string(), Some("v7".to_string())),
        "armel" => ("arm".to_string(), Some("v6".to_string())),
        "arm" => {
            let variant = variant.map(with_v).unwrap_or_else(|| "v7".to_string());
            ("arm".to_string(), Some(variant))
        }
        _ => (arch, variant),
    }
}

/// `7` → `v7`, `8.0` → `v8`, `v9.0` → `v9`, `v8.2` unchanged; anything not numeric unchanged.
fn with_v(variant: String) -> String {
    let bare = variant.strip_prefix('v').unwrap_or(&variant);
    let numeric = !bare.is_empty()
        && bare.starts_with(|c: char| c.is_ascii_digit())
        && bare.chars().all(|c| c.is_ascii_digit() || c == '.');
    if !numeric {
        return variant;
    }
    let bare = bare.strip_suffix(".0").unwrap_or(bare);
    format!("v{bare}")
}
