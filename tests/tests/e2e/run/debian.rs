// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RUN on the Debian bookworm fixture: a local `.deb` installed with `dpkg -i` and with
//! `apt-get install ./hello.deb` (offline: the fixture has no package lists, so apt can
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

/// `apt-get install ./hello.deb` of the local package.
pub(crate) const APT_CASE: Case = Case {
    name: "run-apt",
    dockerfile: "FROM {base}\nCOPY hello.deb /tmp/hello.deb\n\
                 RUN cd /tmp && apt-get install -y --no-install-recommends ./hello.deb && \
                 rm /tmp/hello.deb && hello-kaniko > /hello.txt && apt-get clean\n",
    prepare: hello_deb_in_context,
    base: Base::Debian,
    ignore: PACKAGE_LOGS,
    check: |img| {
        hello_is_installed(img);
        img.file("/var/lib/apt/extended_states");
    },
    ..Case::DEFAULT
};

#[test]
fn apt_get_installs_a_local_package_without_network() {
    run(&APT_CASE);
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

#[test]
fn the_debian_fixture_is_a_clean_single_platform_bookworm_image() {
    let shared = super::shared();
    let img = Built::read(shared.debian.clone());
    let manifest = kaniko_tests::skopeo_inspect_raw(&shared.debian).unwrap();
    assert_eq!(
        manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{manifest}"
    );
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        img.raw["architecture"],
        kaniko_common::platform::Platform::host().architecture
    );
    assert_eq!(img.raw["os"], "linux");
    assert_eq!(img.config.env, [format!("PATH={DEBIAN_PATH}")]);
    assert_eq!(img.config.cmd, ["bash"]);
    for tool in [
        "/usr/bin/dpkg",
        "/usr/bin/apt-get",
        "/usr/sbin/useradd",
        "/usr/bin/bash",
    ] {
        assert_eq!(
            img.file(tool).kind,
            kaniko_tests::tree::Kind::File,
            "{tool}"
        );
    }
    // /etc/os-release links to it.
    let os_release = img.file("/usr/lib/os-release");
    assert!(os_release.size > 0, "empty /usr/lib/os-release");
    // Small and offline: no downloaded packages, no package lists, no devices, no host files.
    let leftovers: Vec<&str> = img
        .tree
        .paths()
        .filter(|p| {
            (p.starts_with("/var/cache/apt/archives/") && p.ends_with(".deb"))
                || (p.starts_with("/var/lib/apt/lists/")
                    && !p.starts_with("/var/lib/apt/lists/partial")
                    && *p != "/var/lib/apt/lists/lock")
                || p.starts_with("/dev/")
                || p.starts_with("/proc/")
                || *p == "/etc/resolv.conf"
                || *p == "/etc/hostname"
        })
        .collect();
    assert!(leftovers.is_empty(), "left in the fixture: {leftovers:?}");
    assert_eq!(
        img.file("/var/lib/apt/lists/partial").kind,
        kaniko_tests::tree::Kind::Dir
    );
}
