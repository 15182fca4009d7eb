// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RUN on the Debian bookworm fixture: a local `.deb` installed with `dpkg -i` and with
//! `apt-get install /tmp/hello.deb` (offline: the fixture has no package lists, so apt can
//! only use the local file), and a user made with useradd that owns files,
//! its home and a WORKDIR.

use std::path::Path;

use kaniko_tests::debian::{
    DEBIAN_PATH, HELLO_OUTPUT, HELLO_POSTINST_CONTENT, HELLO_POSTINST_FILE, HELLO_README,
    HELLO_SCRIPT, write_hello_deb,
};

use super::run;
use crate::dockerfiles::{Base, Built, Case};

/// Files dpkg and apt rewrite with the time of the run: their content differs between any two
/// builds, whichever builder runs them.
pub(crate) const PACKAGE_LOGS: &[&str] = &[
    "/var/log/dpkg.log",
    "/var/log/apt/history.log",
    "/var/log/apt/term.log",
    "/var/log/apt/eipp.log.xz",
    "/var/cache/apt/pkgcache.bin",
    "/var/cache/apt/srcpkgcache.bin",
    "/var/cache/ldconfig/aux-cache",
];

/// Puts `hello.deb` in the context.
pub(crate) fn hello_deb_in_context(dir: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    write_hello_deb(scratch.path(), &dir.join("hello.deb")).unwrap();
}

/// What installing the package leaves in the image.
pub(crate) fn hello_is_installed(img: &Built) {
    img.content_is("/usr/bin/hello-kaniko", HELLO_SCRIPT);
    assert_eq!(img.owner_mode("/usr/bin/hello-kaniko"), (0o755, 0, 0));
    img.content_is("/usr/share/doc/hello-kaniko/README", HELLO_README);
    img.content_is(HELLO_POSTINST_FILE, HELLO_POSTINST_CONTENT);
    img.content_is("/hello.txt", HELLO_OUTPUT);
    img.file("/var/lib/dpkg/info/hello-kaniko.list");
    img.absent("/tmp/hello.deb");
    assert_eq!(img.config.cmd, ["bash"]);
    assert_eq!(img.config.env, [format!("PATH={DEBIAN_PATH}")]);
}

/// `dpkg -i` of the local package.
pub(crate) const DPKG_CASE: Case = Case {
    name: "run-dpkg",
    dockerfile: "FROM {base}\nCOPY hello.deb /tmp/hello.deb\n\
                 RUN dpkg -i /tmp/hello.deb && rm /tmp/hello.deb && hello-kaniko > /hello.txt\n",
    prepare: hello_deb_in_context,
    base: Base::Debian,
    ignore: PACKAGE_LOGS,
    check: hello_is_installed,
    ..Case::DEFAULT
};

#[test]
fn dpkg_installs_a_local_package() {
    run(&DPKG_CASE);
}

#[test]
fn apt_get_installs_a_local_package_without_network() {
    run(&Case {
        name: "run-apt",
        dockerfile: "FROM {base}\nCOPY hello.deb /tmp/hello.deb\n\
                     RUN apt-get install -y --no-install-recommends /tmp/hello.deb && \
                     rm /tmp/hello.deb && hello-kaniko > /hello.txt && apt-get clean\n",
        prepare: hello_deb_in_context,
        base: Base::Debian,
        ignore: PACKAGE_LOGS,
        check: |img| {
            hello_is_installed(img);
            let status = img.file("/var/lib/dpkg/status");
            assert!(status.size > 0);
        },
        ..Case::DEFAULT
    });
}

/// useradd, then files, a home and a WORKDIR owned by that user.
pub(crate) const USERADD_CASE: Case = Case {
    name: "run-useradd",
    dockerfile: "FROM {base}\n\
                 RUN useradd --create-home --uid 1500 --user-group --shell /bin/bash app && \
                 install -d -o app -g app -m 0750 /srv/data && echo seed > /srv/data/seed && \
                 chown app:app /srv/data/seed\n\
                 USER app\nWORKDIR /home/app/work\n\
                 RUN echo \"$HOME $PWD $(id -un):$(id -gn) $(id -u):$(id -g)\" > whoami.txt && \
                 touch /srv/data/by-app && mkdir /home/app/.cache\n",
    base: Base::Debian,
    check: |img| {
        assert_eq!(img.config.user, "app");
        assert_eq!(img.config.working_dir, "/home/app/work");
        assert_eq!(img.owner_mode("/home/app"), (0o755, 1500, 1500));
        // WORKDIR is created owned by the current USER.
        assert_eq!(img.owner_mode("/home/app/work"), (0o755, 1500, 1500));
        img.content_is(
            "/home/app/work/whoami.txt",
            "/home/app /home/app/work app:app 1500:1500\n",
        );
        assert_eq!(
            img.owner_mode("/home/app/work/whoami.txt"),
            (0o644, 1500, 1500)
        );
        assert_eq!(img.owner_mode("/srv/data"), (0o750, 1500, 1500));
        assert_eq!(img.owner_mode("/srv/data/seed"), (0o644, 1500, 1500));
        assert_eq!(img.owner_mode("/srv/data/by-app"), (0o644, 1500, 1500));
        assert_eq!(img.owner_mode("/home/app/.cache"), (0o755, 1500, 1500));
        assert_eq!(img.owner_mode("/etc/shadow").1, 0);
    },
    ..Case::DEFAULT
};

#[test]
fn useradd_user_owns_its_files_home_and_workdir() {
    run(&USERADD_CASE);
}
