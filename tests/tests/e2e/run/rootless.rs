// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The worker as an unprivileged user (`kaniko-rootless`, with a subordinate id range): the
//! useradd/chown case, the dpkg case and a busybox case give the same image as the worker run
//! as root.

use kaniko_tests::rootless::RootlessUser;
use kaniko_tests::tree::{DiffOptions, diff};

use super::debian::{DPKG_CASE, PACKAGE_LOGS, USERADD_CASE};
use super::shared;
use crate::dockerfiles::{Case, build_with_worker, write_context};

/// Builds `case` as root and as the rootless user from the same context; the user's image
/// passes the case's checks and has the same tree and config as root's.
fn rootless_matches_root(case: &Case) {
    let user = RootlessUser::lookup().unwrap();
    let shared = shared();
    let scratch = user.scratch_dir().unwrap();
    let context = scratch.path().join("ctx");
    write_context(case, &context, shared.base(case.base), &shared.host);
    user.chown_tree(scratch.path()).unwrap();
    let rootless = build_with_worker(case, &shared.host, &context, "rootless", Some(&user));
    (case.check)(&rootless);
    let root = build_with_worker(case, &shared.host, &context, "root", None);
    let opts = DiffOptions {
        ignore: case.ignore.iter().map(|p| p.to_string()).collect(),
    };
    let trees = diff(&root.tree, &rootless.tree, &opts).labeled("root", "rootless");
    assert!(
        trees.is_empty(),
        "{}: file trees differ:\n{trees}",
        case.name
    );
    let configs = root
        .config
        .diff(&rootless.config)
        .labeled("root", "rootless");
    assert!(
        configs.is_empty(),
        "{}: configs differ:\n{configs}",
        case.name
    );
}

#[test]
fn rootless_useradd_and_chown_match_root() {
    rootless_matches_root(&Case {
        name: "rootless-useradd",
        ..USERADD_CASE
    });
}

#[test]
fn rootless_dpkg_install_matches_root() {
    rootless_matches_root(&Case {
        name: "rootless-dpkg",
        ignore: PACKAGE_LOGS,
        ..DPKG_CASE
    });
}

#[test]
fn rootless_busybox_run_with_owners_and_modes_matches_root() {
    rootless_matches_root(&Case {
        name: "rootless-busybox",
        dockerfile: "FROM {base}\nCOPY f.txt /f.txt\n\
                     RUN chown 1:2 /f.txt && echo s > /suid && chmod 4755 /suid && \
                     mkdir /t && chmod 1777 /t && rm /etc/group && ln /f.txt /f-link && \
                     chown 65534:65534 /t\n",
        files: &[("f.txt", "f\n")],
        check: |img| {
            assert_eq!(img.owner_mode("/f.txt"), (0o644, 1, 2));
            assert_eq!(img.owner_mode("/suid").0, 0o4755);
            assert_eq!(img.owner_mode("/t"), (0o1777, 65534, 65534));
            img.absent("/etc/group");
            assert_eq!(img.file("/f-link").link.as_deref(), Some("/f-link"));
        },
        ..Case::DEFAULT
    });
}
