// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

use std::collections::BTreeMap;

use kaniko_common::dockerfile::{BuildArgs, Dockerfile, Expanded, Scope};
use kaniko_common::oci::{Compression, OciMode};
use kaniko_image::layer::{EntryKind, LayerEntry};

use super::*;

fn platform(text: &str) -> Platform {
    Platform::parse(text).unwrap()
}

fn layer() -> LayerOptions {
    LayerOptions {
        compression: Compression::Gzip,
        level: None,
        reproducible: true,
        mode: OciMode::Oci,
    }
}

fn root() -> Key {
    let mut b = KeyBuilder::new("scratch", &platform("linux/amd64"));
    b.part("test", b"root");
    b.finish()
}

/// The key of the last instruction (a RUN) of `dockerfile`'s only stage, built with
/// `build_args`.
fn last_run_key(dockerfile: &str, build_args: &[(&str, &str)]) -> Key {
    let parsed = Dockerfile::parse(dockerfile).unwrap();
    let args = BuildArgs {
        values: build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        target: platform("linux/amd64"),
        build: platform("linux/amd64"),
    };
    let mut scope: Scope = parsed.global_scope(&args).unwrap().stage();
    let mut last: Option<Expanded> = None;
    for instruction in &parsed.stages[0].instructions {
        last = Some(scope.apply(instruction).unwrap());
    }
    run_key(
        &root(),
        &platform("linux/amd64"),
        &last.unwrap(),
        &scope,
        &RunConfig::default(),
        &[],
        &layer(),
    )
}

#[test]
fn parts_are_length_prefixed() {
    let key = |parts: &[(&str, &[u8])]| {
        let mut b = KeyBuilder::new("p", &platform("linux/amd64"));
        for (name, value) in parts {
            b.part(name, value);
        }
        b.finish()
    };
    // The same bytes cut in different places never hash alike.
    assert_ne!(key(&[("a", b"bc")]), key(&[("ab", b"c")]));
    assert_ne!(key(&[("a", b"b"), ("c", b"")]), key(&[("a", b"bc")]));
    assert_ne!(key(&[("a", b"")]), key(&[]));
    assert_eq!(key(&[("a", b"bc")]), key(&[("a", b"bc")]));
    // The parent and the platform are parts too.
    let a = KeyBuilder::new("ab", &platform("linux/amd64")).finish();
    let b = KeyBuilder::new("a", &platform("linux/amd64")).finish();
    assert_ne!(a, b);
    let arm = KeyBuilder::new("ab", &platform("linux/arm64")).finish();
    assert_ne!(a, arm);
    let v7 = KeyBuilder::new("ab", &platform("linux/arm/v7")).finish();
    let v6 = KeyBuilder::new("ab", &platform("linux/arm/v6")).finish();
    assert_ne!(v7, v6);
    assert_eq!(a.hex().len(), 64);
    assert_eq!(a.short(), &a.hex()[..12]);
}

#[test]
fn a_run_key_covers_the_args_in_scope_and_no_other() {
    let dockerfile = "FROM scratch\nARG USED\nRUN echo $USED\n";
    let base = last_run_key(dockerfile, &[("USED", "1"), ("UNUSED", "1")]);
    assert_eq!(
        base,
        last_run_key(dockerfile, &[("USED", "1"), ("UNUSED", "2")]),
        "a build arg no ARG of the stage declares does not change the key"
    );
    assert_ne!(
        base,
        last_run_key(dockerfile, &[("USED", "2"), ("UNUSED", "1")]),
        "a declared ARG's value does"
    );
    // Declared but not named by the command: the shell still sees it.
    let unnamed = "FROM scratch\nARG OTHER\nRUN true\n";
    assert_ne!(
        last_run_key(unnamed, &[("OTHER", "1")]),
        last_run_key(unnamed, &[("OTHER", "2")])
    );
    // ENV counts.
    assert_ne!(
        last_run_key("FROM scratch\nENV A=1\nRUN true\n", &[]),
        last_run_key("FROM scratch\nENV A=2\nRUN true\n", &[])
    );
}

fn file(path: &str, content: Content, mode: u32) -> Planned {
    let size = match &content {
        Content::Inline(b) => b.len() as u64,
        Content::Disk(p) => std::fs::metadata(p).unwrap().len(),
        Content::None => 0,
    };
    let mut entry = LayerEntry::new(path, EntryKind::File { size });
    entry.mode = mode;
    Planned { entry, content }
}

#[test]
fn a_copy_key_covers_content_mode_owner_and_link_targets() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("a");
    std::fs::write(&source, b"hello").unwrap();
    let expanded = Expanded::Workdir("/".into());
    let key = |planned: &[Planned]| {
        copy_key(
            &root(),
            &platform("linux/amd64"),
            &expanded,
            planned,
            &layer(),
        )
        .unwrap()
    };
    let base = key(&[file("app/a", Content::Disk(source.clone()), 0o644)]);
    assert_eq!(
        base,
        key(&[file("app/a", Content::Inline(b"hello".to_vec()), 0o644)]),
        "the content counts, not where it is read from"
    );
    std::fs::write(&source, b"hellO").unwrap();
    assert_ne!(
        base,
        key(&[file("app/a", Content::Disk(source.clone()), 0o644)]),
        "one byte changed"
    );
    std::fs::write(&source, b"hello").unwrap();
    assert_ne!(
        base,
        key(&[file("app/a", Content::Disk(source.clone()), 0o755)]),
        "the mode"
    );
    let mut owned = file("app/a", Content::Disk(source.clone()), 0o644);
    owned.entry.uid = 1000;
    assert_ne!(base, key(&[owned]), "the owner");
    assert_ne!(
        base,
        key(&[file("app/b", Content::Disk(source.clone()), 0o644)]),
        "the path"
    );
    let link = |target: &str| Planned {
        entry: LayerEntry::new(
            "app/l",
            EntryKind::Symlink {
                target: target.into(),
            },
        ),
        content: Content::None,
    };
    assert_ne!(key(&[link("a")]), key(&[link("b")]), "a link's target");
    // The mtime is left out, as Kaniko does.
    let mut touched = file("app/a", Content::Disk(source.clone()), 0o644);
    touched.entry.mtime = 12345;
    assert_eq!(base, key(&[touched]));
    // The layer settings count.
    let zstd = copy_key(
        &root(),
        &platform("linux/amd64"),
        &expanded,
        &[file("app/a", Content::Disk(source), 0o644)],
        &LayerOptions {
            compression: Compression::Zstd,
            ..layer()
        },
    )
    .unwrap();
    assert_ne!(base, zstd);
}

#[test]
fn config_steps_chain() {
    let amd64 = platform("linux/amd64");
    let a = config_key(&root(), &amd64, &Expanded::Workdir("/a".into()));
    let b = config_key(&root(), &amd64, &Expanded::Workdir("/b".into()));
    assert_ne!(a, b);
    assert_ne!(
        config_key(&a, &amd64, &Expanded::User("x".into())),
        config_key(&b, &amd64, &Expanded::User("x".into())),
        "a step's key depends on its parent's"
    );
}
