// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `--sbom` (docs/signing.md) end to end against the real docker-registry:
//! * `coordinator submit --driver local --sbom --sign-images` on the Debian bookworm fixture
//!   with a package installed by `dpkg -i` in a RUN: the SBOM `coordinator sbom` prints lists
//!   exactly the packages `dpkg-query -W` reports on the built root (the image unpacked with
//!   skopeo and umoci), and the image's layers; it is a referrer of the platform manifest,
//!   signed with the build's key, and it validates against the SPDX 2.3 JSON schema (from
//!   lib4sbom's wheel) and with the SPDX project's own validator, `pyspdxtools` (both in the
//!   project's .venv from hack/deps.sh; a broken copy of the document is refused, so the
//!   validators check);
//! * `worker build --sbom` of a busybox image whose apk database is COPY'd in, and whose dpkg
//!   status is removed again by a later RUN (a whiteout): the apk packages are listed, the
//!   removed dpkg ones are not (a fleet build's SBOM: `signing/fleet.rs`);
//! * `worker build --sbom` of a busybox image with a root whose rpm SQLite database the real
//!   rpm wrote (rpmbuild, `rpm --root --justdb`, `rpm --import`): what `rpm -qa` reports is
//!   listed, gpg-pubkey is not;
//! * `coordinator index --sbom` over per-architecture images: one SBOM per platform.

use std::path::Path;
use std::process::Command;

use kaniko_tests::debian::{HELLO_PACKAGE, push_debian, write_hello_deb};
use kaniko_tests::{Registry, skopeo_copy_image, umoci_unpack};

use super::{Setup, coordinator, setup};
use crate::local_driver::describe;

/// Validates `document` twice, with the tools of the project's `.venv` (hack/deps.sh):
/// against the SPDX 2.3 JSON schema (the copy lib4sbom's wheel carries, checked by python's
/// `jsonschema`), then with `pyspdxtools` (spdx-tools, the SPDX project's parser and
/// validator). The first complaint on failure.
fn validate(document: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sbom.spdx.json");
    std::fs::write(&path, document).expect("sbom");
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin");
    let schema = Command::new(bin.join("python"))
        .args([
            "-c",
            "import json, os, sys, jsonschema, lib4sbom\n\
             path = os.path.join(os.path.dirname(lib4sbom.__file__), 'schemas/spdx/2.3-schema.json')\n\
             schema = json.load(open(path))\n\
             assert schema['title'] == 'SPDX 2.3', schema['title']\n\
             jsonschema.Draft7Validator.check_schema(schema)\n\
             jsonschema.Draft7Validator(schema).validate(json.load(open(sys.argv[1])))",
        ])
        .arg(&path)
        .output();
    let spdx_tools = Command::new(bin.join("pyspdxtools"))
        .arg("-i")
        .arg(&path)
        .output();
    for (what, output) in [("the SPDX 2.3 schema", schema), ("pyspdxtools", spdx_tools)] {
        let output = output.unwrap_or_else(|e| panic!("{what}: {e} (run hack/deps.sh)"));
        if !output.status.success() {
            return Err(format!(
                "{what}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

/// `worker build --sbom` of `context` for this host's platform into `<registry>/<repo>:v1`:
/// the SBOM `coordinator sbom` prints for it.
fn worker_build_with_sbom(registry: &Registry, context: &Path, repo: &str) -> serde_json::Value {
    let native = kaniko_common::platform::Platform::host().to_string();
    let destination = format!("{}/{repo}:v1", registry.host());
    let built = crate::ci_driver::worker_build(context, &native, &destination, &["--sbom"]);
    assert!(built.status.success(), "{}", describe(&built));
    sbom_of(registry, &destination)
}

/// `name version` of each OS package of `kind` the document lists, sorted.
fn listed(document: &serde_json::Value, kind: &str) -> Vec<String> {
    let prefix = format!("pkg:{kind}/");
    let mut out: Vec<String> = document["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| {
            p["externalRefs"][0]["referenceLocator"]
                .as_str()
                .is_some_and(|purl| purl.starts_with(&prefix))
        })
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["versionInfo"].as_str().unwrap()
            )
        })
        .collect();
    out.sort();
    out
}

/// The layer digests a document lists.
fn layers(document: &serde_json::Value) -> Vec<String> {
    document["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| p["primaryPackagePurpose"] == "ARCHIVE")
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

fn sbom_of(registry: &Registry, image: &str) -> serde_json::Value {
    let printed = coordinator(registry, &["sbom", image], None);
    assert!(printed.status.success(), "{}", describe(&printed));
    validate(&printed.stdout).unwrap_or_else(|err| panic!("not SPDX 2.3: {err}"));
    serde_json::from_slice(&printed.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debian_images_sbom_lists_what_dpkg_reports_and_is_spdx_2_3() {
    let Setup {
        registry,
        dir,
        keys,
        context,
    } = setup("").await;
    push_debian(&registry, "debian")
        .await
        .expect("debian fixture");
    write_hello_deb(dir.path(), &context.join("hello.deb")).expect("hello.deb");
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {}/debian:latest\nCOPY hello.deb /tmp/hello.deb\n\
             RUN dpkg -i /tmp/hello.deb && rm /tmp/hello.deb\n",
            registry.host()
        ),
    )
    .expect("Dockerfile");
    let native = kaniko_common::platform::Platform::host().to_string();
    let destination = format!("{}/deb:v1", registry.host());
    let built = coordinator(
        &registry,
        &[
            "submit",
            "--driver",
            "local",
            "--context",
            context.to_str().unwrap(),
            "--destination",
            &destination,
            "--multi-platform",
            &native,
            "--sbom",
            "--sign-images",
            "--cosign-key-path",
            keys.encrypted.to_str().unwrap(),
            "--timeout",
            "300",
        ],
        Some(super::PASSWORD),
    );
    assert!(built.status.success(), "{}", describe(&built));

    // The SBOM is a referrer of the platform manifest, and signed.
    let referrers = coordinator(
        &registry,
        &[
            "referrers",
            &destination,
            "--platform",
            &native,
            "--artifact-type",
            kaniko_sign::sbom::SBOM_ARTIFACT_TYPE,
            "--json",
        ],
        None,
    );
    assert!(referrers.status.success(), "{}", describe(&referrers));
    let listing: serde_json::Value = serde_json::from_slice(&referrers.stdout).expect("json");
    let entries = listing["referrers"].as_array().expect("referrers");
    assert_eq!(entries.len(), 1, "{listing}");
    let client = registry.client();
    let repository = registry.reference("deb");
    let key = kaniko_sign::PublicKey::load(&keys.public).expect("public key");
    let sbom_manifest = entries[0]["digest"].as_str().unwrap();
    kaniko_sign::verify(&client, &repository, sbom_manifest, &key)
        .await
        .expect("the sbom is signed");

    let document = sbom_of(&registry, &destination);
    // A package without its required downloadLocation is refused by the same validator.
    let mut broken = document.clone();
    broken["packages"][0]
        .as_object_mut()
        .unwrap()
        .remove("downloadLocation");
    let refused = validate(&serde_json::to_vec(&broken).unwrap()).expect_err("broken");
    assert!(
        refused.starts_with("the SPDX 2.3 schema") && refused.contains("downloadLocation"),
        "{refused}"
    );
    // What dpkg itself reports on the built root.
    let layout = dir.path().join("layout");
    skopeo_copy_image(
        &format!("docker://{destination}"),
        &format!("oci:{}:img", layout.display()),
        None,
        &[],
    )
    .expect("skopeo copy");
    let bundle = dir.path().join("bundle");
    umoci_unpack(&layout, "img", &bundle).expect("umoci unpack");
    let dpkg = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            bundle.join("rootfs/var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Package} ${Version}\\n"])
        .output()
        .expect("dpkg-query");
    assert!(dpkg.status.success(), "{dpkg:?}");
    let mut expected: Vec<String> = String::from_utf8_lossy(&dpkg.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    expected.sort();
    let found = listed(&document, "deb");
    assert!(
        expected.len() > 50,
        "a minbase root has ~90 packages: {expected:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with(&format!("{HELLO_PACKAGE} "))),
        "{found:?}"
    );
    assert_eq!(found, expected);

    // The image's layers, in order, are listed too.
    let manifest = client
        .pull_manifest_raw(
            &registry.reference(&format!("deb@{}", entries[0]["digest"].as_str().unwrap())),
        )
        .await
        .expect("sbom manifest");
    let subject: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    let platform_manifest = client
        .pull_manifest_raw(&registry.reference(&format!(
            "deb@{}",
            subject["subject"]["digest"].as_str().unwrap()
        )))
        .await
        .expect("platform manifest");
    let platform_manifest: serde_json::Value =
        serde_json::from_slice(&platform_manifest.bytes).unwrap();
    let expected_layers: Vec<String> = platform_manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(layers(&document), expected_layers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_build_attaches_an_apk_sbom_and_whiteouts_hide_removed_databases() {
    let Setup {
        registry,
        dir: _dir,
        keys: _,
        context,
    } = setup(
        "COPY installed /lib/apk/db/installed\nCOPY status /var/lib/dpkg/status\n\
         RUN rm /var/lib/dpkg/status\n",
    )
    .await;
    std::fs::write(
        context.join("installed"),
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\nT:the musl c library\n\n\
         P:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n",
    )
    .expect("installed");
    std::fs::write(
        context.join("status"),
        "Package: removed-later\nStatus: install ok installed\nVersion: 1.0\n",
    )
    .expect("status");
    let document = worker_build_with_sbom(&registry, &context, "apk");
    assert_eq!(
        listed(&document, "apk"),
        ["busybox 1.36.1-r5", "musl 1.2.4-r2"]
    );
    assert!(listed(&document, "deb").is_empty(), "{document}");
    let locators: Vec<&str> = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(
        locators.contains(&"pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"),
        "{locators:?}"
    );
    assert_eq!(layers(&document).len(), 4, "busybox's layer and three more");

    // Without --sbom nothing is attached: `coordinator sbom` says so.
    let plain = crate::ci_driver::worker_build(
        &context,
        &kaniko_common::platform::Platform::host().to_string(),
        &format!("{}/plain:v1", registry.host()),
        &[],
    );
    assert!(plain.status.success(), "{}", describe(&plain));
    let none = coordinator(
        &registry,
        &["sbom", &format!("{}/plain:v1", registry.host())],
        None,
    );
    assert_eq!(none.status.code(), Some(1), "{}", describe(&none));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no sbom"),
        "{}",
        describe(&none)
    );
}

/// Runs `program` with `args`, panicking with its output when it fails; its stdout.
fn run(program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let output = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (run hack/deps.sh)"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        describe(&output)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// A root with an rpm SQLite database made by the real rpm (Debian's, whose backend is
/// sqlite): two tiny noarch packages built by rpmbuild (one with an epoch), installed with
/// `rpm --root --justdb`, and a gpg-pubkey pseudo-package imported with `rpm --import`.
/// What `rpm -qa` reports of it, `name [epoch:]version-release`, sorted, gpg-pubkey left out.
fn rpm_root(dir: &Path, root: &Path) -> Vec<String> {
    let top = dir.join("rpmbuild");
    let mut rpms = Vec::new();
    for (name, epoch) in [("kaniko-alpha", None), ("kaniko-beta", Some(3))] {
        let spec = dir.join(format!("{name}.spec"));
        let epoch = epoch.map_or(String::new(), |e| format!("Epoch: {e}\n"));
        std::fs::write(
            &spec,
            format!(
                "Name: {name}\nVersion: 1.2\nRelease: 4.fc40\n{epoch}Summary: a test package\n\
                 License: MIT\nBuildArch: noarch\n%description\na test package\n\
                 %install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
                 echo {name} > %{{buildroot}}/usr/share/{name}/file\n\
                 %files\n/usr/share/{name}/file\n"
            ),
        )
        .expect("spec");
        run(
            "rpmbuild",
            &[
                "-bb",
                "--define",
                &format!("_topdir {}", top.display()),
                "--dbpath",
                dir.join("builddb").to_str().unwrap(),
                spec.to_str().unwrap(),
            ],
            &[],
        );
        rpms.push(top.join(format!("RPMS/noarch/{name}-1.2-4.fc40.noarch.rpm")));
    }
    let root_arg = root.to_str().unwrap();
    let rpm = |args: &[&str]| {
        let mut all = vec!["--root", root_arg, "--dbpath", "/var/lib/rpm"];
        all.extend_from_slice(args);
        run("rpm", &all, &[])
    };
    rpm(&["--initdb"]);
    let mut install = vec!["-i", "--nodeps", "--justdb"];
    install.extend(rpms.iter().map(|p| p.to_str().unwrap()));
    rpm(&install);
    // A public key: rpm lists it as the pseudo-package gpg-pubkey, which an SBOM leaves out.
    let gnupg = dir.join("gnupg");
    std::fs::create_dir_all(&gnupg).expect("gnupg");
    let env = [("GNUPGHOME", gnupg.as_path())];
    run(
        "gpg",
        &[
            "--batch",
            "--quick-gen-key",
            "--passphrase",
            "",
            "kaniko-rs test <test@example.invalid>",
            "ed25519",
            "sign",
            "never",
        ],
        &env,
    );
    let key = dir.join("key.asc");
    let armored = run("gpg", &["--armor", "--export"], &env);
    std::fs::write(&key, armored).expect("key");
    rpm(&["--import", key.to_str().unwrap()]);
    let reported = rpm(&[
        "-qa",
        "--qf",
        "%{NAME} %|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\n",
    ]);
    assert!(reported.contains("gpg-pubkey "), "{reported}");
    assert!(
        root.join("var/lib/rpm/rpmdb.sqlite").is_file(),
        "rpm's backend is sqlite"
    );
    let mut out: Vec<String> = reported
        .lines()
        .filter(|line| !line.starts_with("gpg-pubkey "))
        .map(str::to_string)
        .collect();
    out.sort();
    out
}

/// rpm: `worker build --sbom` of a busybox image with a root COPY'd in whose rpm SQLite
/// database the real rpm wrote lists exactly what `rpm -qa` reports (not gpg-pubkey), with
/// `pkg:rpm/fedora/...` purls from os-release; the document still validates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_build_lists_what_rpm_reports_from_its_sqlite_database() {
    let Setup {
        registry,
        dir,
        keys: _,
        context,
    } = setup("COPY root/ /\n").await;
    let root = context.join("root");
    std::fs::create_dir_all(root.join("etc")).expect("etc");
    let expected = rpm_root(dir.path(), &root);
    assert_eq!(
        expected,
        ["kaniko-alpha 1.2-4.fc40", "kaniko-beta 3:1.2-4.fc40"]
    );
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n",
    )
    .expect("os-release");
    let document = worker_build_with_sbom(&registry, &context, "rpm");
    assert_eq!(listed(&document, "rpm"), expected, "{document}");
    let text = document.to_string();
    assert!(!text.contains("gpg-pubkey"), "{document}");
    assert!(!text.contains("NOT listed"), "{document}");
    let locators: Vec<&str> = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(
        locators.contains(&"pkg:rpm/fedora/kaniko-alpha@1.2-4.fc40?arch=noarch"),
        "{locators:?}"
    );
    assert!(
        locators.contains(&"pkg:rpm/fedora/kaniko-beta@1.2-4.fc40?arch=noarch&epoch=3"),
        "{locators:?}"
    );
}

/// `coordinator index --sbom` over per-architecture images built elsewhere: each platform of
/// the published index gets its SBOM; `coordinator sbom` of the index asks which platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_index_attaches_an_sbom_to_each_platform() {
    let Setup {
        registry,
        dir,
        keys: _,
        context,
    } = setup("COPY installed /lib/apk/db/installed\n").await;
    std::fs::write(context.join("installed"), "P:zlib\nV:1.3.1-r0\nA:aarch64\n")
        .expect("installed");
    let host = registry.host();
    let digests = dir.path().join("digests");
    crate::ci_driver::build_per_arch(&context, &host, &digests, &[]);
    let destination = format!("{host}/multi:1");
    let published = coordinator(
        &registry,
        &[
            "index",
            "--digests-from",
            digests.to_str().unwrap(),
            "--destination",
            &destination,
            "--sbom",
        ],
        None,
    );
    assert!(published.status.success(), "{}", describe(&published));
    let which = coordinator(&registry, &["sbom", &destination], None);
    assert_eq!(which.status.code(), Some(1), "{}", describe(&which));
    assert!(
        String::from_utf8_lossy(&which.stderr)
            .contains("index of 2 platforms: name one with --platform (linux/amd64, linux/arm64)"),
        "{}",
        describe(&which)
    );
    for platform in ["linux/amd64", "linux/arm64"] {
        let printed = coordinator(
            &registry,
            &["sbom", &destination, "--platform", platform],
            None,
        );
        assert!(printed.status.success(), "{}", describe(&printed));
        validate(&printed.stdout).unwrap_or_else(|err| panic!("not SPDX 2.3: {err}"));
        let document: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
        assert_eq!(listed(&document, "apk"), ["zlib 1.3.1-r0"]);
        assert_eq!(
            document["packages"][0]["description"],
            format!("platform {platform}")
        );
    }
}
