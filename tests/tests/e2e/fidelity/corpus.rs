// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The hand-written corpus: one directory per case under `tests/fidelity/`, holding the
//! `Dockerfile` and its context as they are (links, modes and names kept). `{base}` in the
//! Dockerfile stands for the busybox fixture, `{debian}` for the Debian one (the case's base
//! is then Debian). Comment lines `# fidelity: key=value` at the top say how to build it:
//! `docker` (Docker image format, for ONBUILD, HEALTHCHECK and SHELL), `build-arg=K=V`,
//! `target=STAGE`, `ignore=/path` (a documented difference), `departs=env-order` (a place
//! where buildah departs from Docker; both in docs/fidelity.md). A line
//! `# fidelity-known-defect: <what>` marks a case that shows a worker defect not fixed yet:
//! it must still fail.

use std::path::{Path, PathBuf};

use crate::dockerfiles::{Base, Case};

use super::{Departure, Differential, leak};

/// Where the corpus lives.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fidelity")
}

/// Every case of the corpus, in name order.
pub(crate) fn cases() -> Vec<Differential> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root())
        .unwrap_or_else(|err| panic!("reading {}: {err}", root().display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases under {}", root().display());
    dirs.iter().map(|dir| case(dir)).collect()
}

/// The case in `dir`.
fn case(dir: &Path) -> Differential {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_else(|| panic!("{} is not a UTF-8 name", dir.display()));
    let text = std::fs::read_to_string(dir.join("Dockerfile"))
        .unwrap_or_else(|err| panic!("reading {}/Dockerfile: {err}", dir.display()));
    let mut case = Case {
        name: leak(format!("fidelity-{name}")),
        context_dir: Some(Box::leak(dir.to_path_buf().into_boxed_path())),
        ..Case::DEFAULT
    };
    let (mut build_args, mut ignore, mut departures) = (Vec::new(), Vec::new(), Vec::new());
    let mut known_defect = None;
    for line in text.lines() {
        if let Some(defect) = line.strip_prefix("# fidelity-known-defect:") {
            known_defect = Some(leak(defect.trim().into()));
            continue;
        }
        let Some(settings) = line.strip_prefix("# fidelity:") else {
            continue;
        };
        for setting in settings.split_whitespace() {
            match setting.split_once('=') {
                None if setting == "docker" => case.docker = true,
                Some(("build-arg", pair)) => {
                    let (key, value) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{name}: build-arg {pair:?} has no '='"));
                    build_args.push((leak(key.into()), leak(value.into())));
                }
                Some(("target", stage)) => case.target = Some(leak(stage.into())),
                Some(("ignore", path)) => ignore.push(leak(path.into())),
                Some(("departs", what)) => departures.push(
                    Departure::parse(what)
                        .unwrap_or_else(|| panic!("{name}: unknown departure {what:?}")),
                ),
                _ => panic!("{name}: unknown fidelity setting {setting:?}"),
            }
        }
    }
    if text.contains("{debian}") {
        case.base = Base::Debian;
    }
    case.dockerfile = leak(text.replace("{debian}", "{base}"));
    case.build_args = Box::leak(build_args.into_boxed_slice());
    case.ignore = Box::leak(ignore.into_boxed_slice());
    Differential {
        case,
        departures,
        known_defect,
    }
}
