// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Tests of platform parsing, normalisation, matching, ordering, subject tokens, conversions
//! and the serde helpers.

use std::cmp::Ordering;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

/// A platform taken literally, without normalising: what an image index may contain.
fn raw(text: &str) -> Platform {
    let mut parts = text.split('/');
    Platform {
        os: parts.next().unwrap_or_default().to_string(),
        architecture: parts.next().unwrap_or_default().to_string(),
        variant: parts.next().map(str::to_string),
    }
}

fn p(text: &str) -> Platform {
    Platform::parse(text).unwrap()
}

#[test]
fn parse_normalises_like_containerd() {
    fn check(input: &str, expected: &str) {
        let parsed = Platform::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(parsed.to_string(), expected, "input {input:?}");
        assert_eq!(
            input.parse::<Platform>().as_ref(),
            Ok(&parsed),
            "FromStr of {input:?}"
        );
    }
    check("linux/amd64", "linux/amd64");
    check("linux/x86_64", "linux/amd64");
    check("linux/x86-64", "linux/amd64");
    check("LINUX/AMD64", "linux/amd64");
    check("  linux/amd64\t", "linux/amd64");
    check("linux/amd64/v1", "linux/amd64");
    check("linux/amd64/1", "linux/amd64");
    check("linux/amd64/v3", "linux/amd64/v3");
    check("linux/x86_64/3", "linux/amd64/v3");
    check("linux/aarch64", "linux/arm64");
    check("linux/arm64/v8", "linux/arm64");
    check("linux/arm64/8", "linux/arm64");
    check("linux/arm64/v8.0", "linux/arm64");
    check("linux/aarch64/V8", "linux/arm64");
    check("linux/arm64/v9", "linux/arm64/v9");
    check("linux/arm64/9.0", "linux/arm64/v9");
    check("linux/arm64/v8.2", "linux/arm64/v8.2");
    check("linux/armhf", "linux/arm/v7");
    check("linux/armel", "linux/arm/v6");
    check("linux/arm", "linux/arm/v7");
    check("linux/arm/7", "linux/arm/v7");
    check("linux/arm/v6", "linux/arm/v6");
    check("linux/arm/6", "linux/arm/v6");
    check("linux/arm/5", "linux/arm/v5");
    check("linux/arm/8", "linux/arm/v8");
    check("Linux/ARM/V7", "linux/arm/v7");
    check("linux/i386", "linux/386");
    check("linux/386", "linux/386");
    check("linux/ppc64le", "linux/ppc64le");
    check("linux/s390x", "linux/s390x");
    check("linux/riscv64", "linux/riscv64");
    check("linux/mips64le", "linux/mips64le");
    check("darwin/arm64", "darwin/arm64");
    check("macos/arm64", "darwin/arm64");
    check("windows/amd64", "windows/amd64");
}

#[test]
fn parse_refuses_junk_naming_the_input() {
    fn check(input: &str, expected: PlatformError) {
        assert_eq!(Platform::parse(input), Err(expected), "input {input:?}");
    }
    let missing = |i: &str| PlatformError::MissingArchitecture { input: i.into() };
    let empty = |i: &str, component| PlatformError::EmptyComponent {
        input: i.into(),
        component,
    };
    let invalid = |i: &str, component, value: &str| PlatformError::InvalidComponent {
        input: i.into(),
        component,
        value: value.into(),
    };
    check("", PlatformError::Empty);
    check("   ", PlatformError::Empty);
    check("linux", missing("linux"));
    check("foo", missing("foo"));
    check("amd64", missing("amd64"));
    check("linux/", empty("linux/", "architecture"));
    check("/amd64", empty("/amd64", "os"));
    check("/", empty("/", "os"));
    check("linux//v7", empty("linux//v7", "architecture"));
    check("linux/arm64/", empty("linux/arm64/", "variant"));
    check(
        "linux/arm64/v8/x",
        PlatformError::TooManyComponents {
            input: "linux/arm64/v8/x".into(),
        },
    );
    check(
        "linux/amd 64",
        invalid("linux/amd 64", "architecture", "amd 64"),
    );
    check("lin$ux/amd64", invalid("lin$ux/amd64", "os", "lin$ux"));
    check(
        "linux/amd64/v1*",
        invalid("linux/amd64/v1*", "variant", "v1*"),
    );
    check(
        "linux/_amd64",
        invalid("linux/_amd64", "architecture", "_amd64"),
    );
    check(
        "linux/ämd64",
        invalid("linux/ämd64", "architecture", "ämd64"),
    );
    check("linux/arm/_", invalid("linux/arm/_", "variant", "_"));
    let long = format!("linux/{}", "a".repeat(65));
    check(&long, invalid(&long, "architecture", &"a".repeat(65)));
}

#[test]
fn error_messages_are_lowercase_and_quote_the_input() {
    fn check(input: &str, expected: &str) {
        let err = Platform::parse_list(input).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    check(
        "linux/",
        "platform \"linux/\" has an empty architecture: expected os/arch[/variant]",
    );
    check(
        "foo",
        "platform \"foo\" has no architecture: expected os/arch[/variant], e.g. linux/amd64",
    );
    check(
        "linux/amd64,linux/x86_64",
        "platform linux/amd64 is listed twice in \"linux/amd64,linux/x86_64\"",
    );
}

#[test]
fn new_normalises_and_treats_an_empty_variant_as_none() {
    fn check(parts: (&str, &str, Option<&str>), expected: Result<&str, PlatformError>) {
        let got = Platform::new(parts.0, parts.1, parts.2).map(|p| p.to_string());
        assert_eq!(got, expected.map(str::to_string), "parts {parts:?}");
    }
    check(("Linux", "aarch64", Some("v8")), Ok("linux/arm64"));
    check(("linux", "arm", Some("")), Ok("linux/arm/v7"));
    check(("linux", "amd64", None), Ok("linux/amd64"));
    check(
        ("linux", "", None),
        Err(PlatformError::EmptyComponent {
            input: "linux/".into(),
            component: "architecture",
        }),
    );
    check(
        ("linux", "arm", Some("v 7")),
        Err(PlatformError::InvalidComponent {
            input: "linux/arm/v 7".into(),
            component: "variant",
            value: "v 7".into(),
        }),
    );
}

#[test]
fn parse_list_tolerates_whitespace_and_refuses_duplicates() {
    fn check(input: &str, expected: Result<Vec<&str>, PlatformError>) {
        let got = Platform::parse_list(input)
            .map(|l| l.iter().map(Platform::to_string).collect::<Vec<_>>());
        let expected = expected.map(|l| l.into_iter().map(str::to_string).collect::<Vec<_>>());
        assert_eq!(got, expected, "input {input:?}");
    }
    check(
        "linux/amd64,linux/arm64",
        Ok(vec!["linux/amd64", "linux/arm64"]),
    );
    check(
        " linux/amd64 , linux/armhf ",
        Ok(vec!["linux/amd64", "linux/arm/v7"]),
    );
    check("linux/amd64", Ok(vec!["linux/amd64"]));
    check(
        "linux/amd64,linux/x86_64",
        Err(PlatformError::Duplicate {
            platform: "linux/amd64".into(),
            input: "linux/amd64,linux/x86_64".into(),
        }),
    );
    check(
        "linux/arm,linux/arm/v7",
        Err(PlatformError::Duplicate {
            platform: "linux/arm/v7".into(),
            input: "linux/arm,linux/arm/v7".into(),
        }),
    );
    check(
        "linux/amd64,,linux/arm64",
        Err(PlatformError::EmptyListEntry {
            input: "linux/amd64,,linux/arm64".into(),
        }),
    );
    check(
        "linux/amd64,",
        Err(PlatformError::EmptyListEntry {
            input: "linux/amd64,".into(),
        }),
    );
    check("", Err(PlatformError::Empty));
    check(
        "linux/amd64,foo",
        Err(PlatformError::MissingArchitecture {
            input: "foo".into(),
        }),
    );
}

#[test]
fn best_match_prefers_exact_then_containerd_fallbacks() {
    fn check(want: &str, candidates: &[&str], expected: Option<usize>) {
        let candidates: Vec<Platform> = candidates.iter().map(|c| raw(c)).collect();
        assert_eq!(
            p(want).best_match(&candidates),
            expected,
            "{want} in {candidates:?}"
        );
    }
    check("linux/amd64", &["linux/arm64", "linux/amd64"], Some(1));
    check("linux/amd64", &[], None);
    check("linux/arm/v7", &["linux/arm/v6", "linux/arm/v7"], Some(1));
    check("linux/arm/v7", &["linux/arm/v5", "linux/arm/v6"], Some(1));
    check("linux/arm/v7", &["linux/arm/v5"], Some(0));
    check("linux/arm/v6", &["linux/arm/v7"], None);
    check("linux/arm/v6", &["linux/arm/v7", "linux/arm/v5"], Some(1));
    check("linux/arm/v5", &["linux/arm/v6"], None);
    check("linux/arm/v8", &["linux/arm/v5", "linux/arm/v7"], Some(1));
    check("linux/arm/v8", &["linux/arm64"], None);
    check("linux/arm64", &["linux/arm/v7"], None);
    check(
        "linux/amd64/v4",
        &["linux/amd64/v2", "linux/amd64/v3"],
        Some(1),
    );
    check(
        "linux/amd64/v4",
        &["linux/amd64", "linux/amd64/v2"],
        Some(1),
    );
    check("linux/amd64/v3", &["linux/amd64"], Some(0));
    check("linux/amd64/v2", &["linux/amd64/v3"], None);
    check("linux/amd64", &["linux/amd64/v2"], None);
    check("linux/amd64", &["linux/386"], None);
    check("linux/amd64", &["windows/amd64"], None);
    check("linux/arm64", &["linux/arm64/v8"], Some(0));
    check("linux/arm64", &["linux/aarch64"], Some(0));
    check("linux/arm64/v9", &["linux/arm64/v8"], Some(0));
    check("linux/arm64", &["linux/arm64/v9"], None);
    check("linux/arm/v7", &["linux/arm"], Some(0));
    check("linux/arm/v7", &["linux/armhf"], Some(0));
    check("linux/amd64", &["linux/amd64/v1"], Some(0));
    check("linux/amd64", &["linux/x86_64"], Some(0));
    check("linux/amd64", &["linux/amd 64", "linux/amd64"], Some(1));
    check("linux/amd64", &["", "linux/amd64"], Some(1));
}

#[test]
fn best_match_normalises_an_unnormalised_self() {
    assert_eq!(
        raw("linux/aarch64").best_match(&[p("linux/arm64")]),
        Some(0)
    );
    assert_eq!(raw("linux/arm").best_match(&[p("linux/arm/v6")]), Some(0));
}

#[test]
fn compatible_follows_the_fallbacks() {
    fn check(want: &str, candidate: &str, expected: bool) {
        assert_eq!(
            p(want).compatible(&raw(candidate)),
            expected,
            "{want} runs {candidate}"
        );
    }
    check("linux/arm/v7", "linux/arm/v6", true);
    check("linux/arm/v7", "linux/armel", true);
    check("linux/arm/v6", "linux/arm/v7", false);
    check("linux/amd64/v3", "linux/amd64/v1", true);
    check("linux/amd64", "linux/amd64/v3", false);
    check("linux/arm64", "linux/arm64/v8", true);
    check("linux/arm64", "linux/arm/v7", false);
    check("linux/amd64", "linux/amd 64", false);
}

#[test]
fn subject_tokens_and_consumer_names() {
    fn check(platform: &str, tokens: &str, consumer: &str) {
        let platform = p(platform);
        assert_eq!(platform.to_subject_tokens(), tokens);
        assert_eq!(Platform::from_subject_tokens(tokens), Ok(platform.clone()));
        assert_eq!(platform.consumer_name(), consumer);
    }
    check("linux/arm/v7", "linux.arm.v7", "linux-arm-v7");
    check("linux/amd64", "linux.amd64._", "linux-amd64");
    check("linux/arm64", "linux.arm64._", "linux-arm64");
    check("windows/amd64", "windows.amd64._", "windows-amd64");
    check("linux/arm64/v8.2", "linux.arm64.v8~2", "linux-arm64-v8_2");
}

#[test]
fn from_subject_tokens_refuses_anything_but_three_valid_tokens() {
    fn check(tokens: &str, expected: Result<&str, ()>) {
        let got = Platform::from_subject_tokens(tokens);
        match expected {
            Ok(text) => assert_eq!(got, Ok(p(text)), "tokens {tokens:?}"),
            Err(()) => assert_eq!(
                got,
                Err(PlatformError::BadSubjectTokens {
                    input: tokens.into()
                }),
                "tokens {tokens:?}"
            ),
        }
    }
    check("linux.x86_64._", Ok("linux/amd64"));
    check("linux.amd64", Err(()));
    check("linux.amd64._.x", Err(()));
    check("", Err(()));
    check("linux..v7", Err(()));
    check("linux.amd64.", Err(()));
    check("linux.amd 64._", Err(()));
    check("linux.*._", Err(()));
}

#[test]
fn index_cmp_orders_specific_variants_first() {
    fn check(a: &str, b: &str, expected: Ordering) {
        assert_eq!(p(a).index_cmp(&p(b)), expected, "{a} vs {b}");
        assert_eq!(p(b).index_cmp(&p(a)), expected.reverse(), "{b} vs {a}");
    }
    check("linux/amd64", "linux/amd64", Ordering::Equal);
    check("linux/amd64", "linux/arm64", Ordering::Less);
    check("linux/amd64/v3", "linux/amd64", Ordering::Less);
    check("linux/amd64/v3", "linux/amd64/v2", Ordering::Less);
    check("linux/arm/v7", "linux/arm/v6", Ordering::Less);
    check("linux/arm64/v10", "linux/arm64/v9", Ordering::Less);
    check("linux/arm64", "windows/amd64", Ordering::Less);

    let mut list: Vec<Platform> = [
        "windows/amd64",
        "linux/arm64",
        "linux/amd64",
        "linux/arm/v6",
        "linux/arm/v7",
        "linux/amd64/v2",
        "linux/amd64/v3",
    ]
    .iter()
    .map(|t| p(t))
    .collect();
    list.sort_by(Platform::index_cmp);
    let sorted: Vec<String> = list.iter().map(Platform::to_string).collect();
    assert_eq!(
        sorted,
        [
            "linux/amd64/v3",
            "linux/amd64/v2",
            "linux/amd64",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/arm64",
            "windows/amd64"
        ]
    );
}

#[test]
fn arm_variant_comes_from_cpuinfo() {
    fn check(cpuinfo: &str, expected: &str) {
        assert_eq!(
            arm_variant_from_cpuinfo(cpuinfo),
            expected,
            "cpuinfo {cpuinfo:?}"
        );
    }
    check("", "v7");
    check("processor\t: 0\nCPU architecture: 7\n", "v7");
    check("CPU architecture: 8\n", "v8");
    check("CPU architecture\t: AArch64\n", "v8");
    check(
        "model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n",
        "v6",
    );
    check("CPU architecture: 6TEJ\n", "v6");
    check("CPU architecture: 5TE\n", "v5");
    check("CPU architecture: junk\n", "v7");
    check("CPU architecture: 8\nCPU architecture: 7\n", "v8");
}

#[test]
fn host_is_normalised_and_matches_the_build_target() {
    let host = Platform::host();
    assert_eq!(host.normalized(), Some(host.clone()));
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        assert_eq!(host, p("linux/amd64"));
    }
    if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
        assert_eq!(host, p("linux/arm64"));
    }
}

#[test]
fn oci_spec_conversions_round_trip_and_normalise() {
    fn check(text: &str) {
        let ours = p(text);
        let theirs = oci_spec::image::Platform::from(&ours);
        assert_eq!(Platform::try_from(&theirs), Ok(ours), "{text}");
    }
    for text in [
        "linux/amd64",
        "linux/arm/v7",
        "linux/arm64/v9",
        "linux/armbe",
        "linux/ppc64le",
        "windows/amd64",
        "linux/loong64",
        "plan9/386",
    ] {
        check(text);
    }
    let theirs = oci_spec::image::Platform::from(&p("linux/arm/v7"));
    assert_eq!(theirs.architecture(), &oci_spec::image::Arch::ARM);
    assert_eq!(theirs.os(), &oci_spec::image::Os::Linux);
    assert_eq!(theirs.variant().as_deref(), Some("v7"));

    let mut unnormalised = oci_spec::image::Platform::default();
    unnormalised.set_os(oci_spec::image::Os::Linux);
    unnormalised.set_architecture(oci_spec::image::Arch::ARM64);
    unnormalised.set_variant(Some("v8".into()));
    assert_eq!(Platform::try_from(&unnormalised), Ok(p("linux/arm64")));
    unnormalised.set_architecture(oci_spec::image::Arch::Other("x86_64".into()));
    unnormalised.set_variant(None);
    assert_eq!(Platform::try_from(&unnormalised), Ok(p("linux/amd64")));
    unnormalised.set_architecture(oci_spec::image::Arch::Other(String::new()));
    assert!(Platform::try_from(&unnormalised).is_err());
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Wrapped {
    #[serde(with = "crate::platform::as_string")]
    one: Platform,
    #[serde(with = "crate::platform::as_string_list")]
    many: Vec<Platform>,
    #[serde(with = "crate::platform::as_string_option")]
    maybe: Option<Platform>,
}

#[test]
fn serde_forms() {
    let struct_form = serde_json::to_value(p("linux/amd64")).unwrap();
    assert_eq!(
        struct_form,
        serde_json::json!({"os": "linux", "architecture": "amd64", "variant": null})
    );

    let wrapped = Wrapped {
        one: p("linux/arm/v7"),
        many: vec![p("linux/amd64"), p("linux/arm64")],
        maybe: None,
    };
    let json = serde_json::to_value(&wrapped).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"one": "linux/arm/v7", "many": ["linux/amd64", "linux/arm64"], "maybe": null})
    );
    assert_eq!(serde_json::from_value::<Wrapped>(json).unwrap(), wrapped);

    let normalised: Wrapped = serde_json::from_str(
        r#"{"one": "linux/armhf", "many": ["LINUX/X86_64"], "maybe": "linux/aarch64/v8"}"#,
    )
    .unwrap();
    assert_eq!(normalised.one, p("linux/arm/v7"));
    assert_eq!(normalised.many, vec![p("linux/amd64")]);
    assert_eq!(normalised.maybe, Some(p("linux/arm64")));

    fn refused(json: &str, needle: &str) {
        let err = serde_json::from_str::<Wrapped>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
    refused(
        r#"{"one": "linux/", "many": [], "maybe": null}"#,
        "\"linux/\"",
    );
    refused(
        r#"{"one": "linux/amd64", "many": ["foo"], "maybe": null}"#,
        "\"foo\"",
    );
    refused(
        r#"{"one": "linux/amd64", "many": [], "maybe": "linux/arm64/v8/x"}"#,
        "too many parts",
    );

    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&wrapped, config).unwrap();
    let (back, _): (Wrapped, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, wrapped);
}

/// Valid os/arch/variant spellings, including ones that normalise.
fn spelling() -> impl Strategy<Value = String> {
    let os = prop::sample::select(vec!["linux", "windows", "darwin", "freebsd", "macos"]);
    let arch = prop::sample::select(vec![
        ("amd64", vec!["", "/v1", "/v2", "/v3", "/v4", "/1", "/3"]),
        ("x86_64", vec!["", "/v2"]),
        ("x86-64", vec![""]),
        (
            "arm64",
            vec!["", "/v8", "/8", "/v8.0", "/v8.2", "/v9", "/9.0"],
        ),
        ("aarch64", vec!["", "/v8"]),
        (
            "arm",
            vec!["", "/v5", "/v6", "/v7", "/v8", "/5", "/6", "/7"],
        ),
        ("armhf", vec![""]),
        ("armel", vec![""]),
        ("386", vec![""]),
        ("i386", vec![""]),
        ("ppc64le", vec![""]),
        ("s390x", vec![""]),
        ("riscv64", vec![""]),
        ("mips64le", vec![""]),
    ]);
    (os, arch, any::<prop::sample::Index>(), any::<bool>()).prop_map(
        |(os, (arch, variants), pick, upper)| {
            let text = format!("{os}/{arch}{}", pick.get(&variants));
            if upper {
                text.to_ascii_uppercase()
            } else {
                text
            }
        },
    )
}

proptest! {
    #[test]
    fn parse_format_parse_round_trips(text in spelling()) {
        let parsed = Platform::parse(&text).unwrap();
        prop_assert_eq!(Platform::parse(&parsed.to_string()), Ok(parsed.clone()));
        prop_assert_eq!(Platform::from_subject_tokens(&parsed.to_subject_tokens()), Ok(parsed.clone()));
        prop_assert_eq!(parsed.normalized(), Some(parsed.clone()));
        prop_assert_eq!(parsed.best_match(std::slice::from_ref(&parsed)), Some(0));
        let consumer = parsed.consumer_name();
        prop_assert!(consumer.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn parse_never_panics_and_ok_is_stable(text in ".{0,40}") {
        if let Ok(parsed) = Platform::parse(&text) {
            prop_assert_eq!(Platform::parse(&parsed.to_string()), Ok(parsed.clone()));
            prop_assert_eq!(Platform::from_subject_tokens(&parsed.to_subject_tokens()), Ok(parsed));
        }
        let _ = Platform::from_subject_tokens(&text);
        let _ = Platform::parse_list(&text);
    }
}
