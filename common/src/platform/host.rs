// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The host's platform: Rust's `std::env::consts` names mapped to Go's, and for 32-bit arm
//! the variant read from `/proc/cpuinfo` the way containerd reads it.

use super::Platform;

/// The platform of the running process, normalised.
pub(super) fn host() -> Platform {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = go_arch(std::env::consts::ARCH);
    let variant = (arch == "arm").then(|| {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        arm_variant_from_cpuinfo(&cpuinfo)
    });
    Platform::new(os, arch, variant.as_deref()).unwrap_or_else(|_| Platform {
        os: os.to_string(),
        architecture: arch.to_string(),
        variant,
    })
}

/// Rust's `target_arch` name → GOARCH.
fn go_arch(rust_arch: &str) -> &str {
    let little = cfg!(target_endian = "little");
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "mips64" if little => "mips64le",
        "mips" if little => "mipsle",
        "loongarch64" => "loong64",
        "wasm32" => "wasm",
        other => other,
    }
}

/// The arm variant (`v5`..`v8`) from the text of `/proc/cpuinfo`: the first "CPU architecture"
/// line (`7`, `8`, `AArch64`). Like containerd, an ARMv6 board whose kernel reports 7 (early
/// Raspberry Pis, "model name: ARMv6-compatible processor") is `v6`. `v7` when nothing can be
/// told.
pub fn arm_variant_from_cpuinfo(cpuinfo: &str) -> String {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    let Some(arch) = field("CPU architecture") else {
        return "v7".to_string();
    };
    if arch.starts_with("aarch64") {
        return "v8".to_string();
    }
    let digits: String = arch.chars().take_while(char::is_ascii_digit).collect();
    match digits.parse::<u32>() {
        Ok(7) if field("model name").is_some_and(|m| m.starts_with("armv6-compatible")) => {
            "v6".to_string()
        }
        Ok(n @ 5..=7) => format!("v{n}"),
        Ok(n) if n >= 8 => "v8".to_string(),
        _ => "v7".to_string(),
    }
}
