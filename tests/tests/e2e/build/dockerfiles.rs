// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! A table of RUN-free Dockerfiles built by the spawned `worker build` on the busybox fixture,
//! each result read back with `skopeo inspect --config` and `umoci unpack` and checked the
//! way a user would look at it: globs and `.dockerignore` exceptions, symlinks and hard links,
//! `--chown` by name, WORKDIR created for USER, relative destinations, ARG/ENV expansion with
//! `--build-arg`, `--target` skipping stages it does not need, `COPY --from` an image and a
//! stage index, destination rules and `--chmod`, the ENTRYPOINT/CMD rule, EXPOSE ranges, a
//! `scratch` heredoc image, directory merges, COPY into a base directory, and ONBUILD.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use kaniko_tests::fixture::busybox_setup;
use kaniko_tests::skopeo_inspect_config;
use serde_json::{Value, json};

use super::{ok, raw_config, unpack, worker_build, write};

/// One Dockerfile (`{base}` is replaced by the fixture's reference), its context, extra
/// flags, and what the built image must show.
struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    args: Vec<String>,
    check: fn(&Path, &Value),
}

fn case(
    name: &'static str,
    dockerfile: &str,
    files: &[(&'static str, &str)],
    args: &[&str],
    check: fn(&Path, &Value),
) -> Case {
    let mut all: Vec<(&'static str, String)> =
        files.iter().map(|(p, c)| (*p, c.to_string())).collect();
    all.push(("Dockerfile", dockerfile.to_string()));
    Case {
        name,
        files: all,
        args: args.iter().map(|a| a.to_string()).collect(),
        check,
    }
}

fn read(rootfs: &Path, path: &str) -> String {
    std::fs::read_to_string(rootfs.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn owner(rootfs: &Path, path: &str) -> (u32, u32) {
    let md = std::fs::symlink_metadata(rootfs.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    (md.uid(), md.gid())
}

fn cases() -> Vec<Case> {
    vec![
        // BuildKit's rule (buildah 1.28 refuses an empty wildcard): a wildcard may match
        // nothing, next to other sources or alone, in COPY, ADD and COPY --from; only a
        // literal source must exist. Nothing matched creates no destination.
        case(
            "empty-wildcards",
            "FROM {base} AS src\nFROM {base}\nCOPY pom.xml target/lib*.jar /opt/app/\n\
             ADD nomatch*.tar.gz missing-dir/* /opt/add/\nCOPY --from=src /nowhere/* /opt/from/\n\
             COPY --from=src /etc/pass* nomatch? /opt/from2/\n",
            &[("pom.xml", "<project/>"), ("target/classes/A.class", "a")],
            &[],
            |root, _| {
                assert_eq!(read(root, "opt/app/pom.xml"), "<project/>");
                let app: Vec<_> = std::fs::read_dir(root.join("opt/app")).unwrap().collect();
                assert_eq!(app.len(), 1, "only pom.xml is copied");
                assert!(
                    !root.join("opt/add").exists(),
                    "nothing matched, no destination"
                );
                assert!(
                    !root.join("opt/from").exists(),
                    "nothing matched, no destination"
                );
                assert!(read(root, "opt/from2/passwd").contains("root:"));
            },
        ),
        case(
            "globs",
            "FROM {base}\nCOPY src/*.txt /g/\nCOPY ?.md /q/\nCOPY [ab].cfg /b/\nCOPY deep /d/\n",
            &[
                ("src/one.txt", "1"),
                ("src/two.txt", "2"),
                ("src/three.log", "3"),
                ("a.md", "a"),
                ("ab.md", "ab"),
                ("a.cfg", "a"),
                ("c.cfg", "c"),
                ("deep/x/keep.tmp", "k"),
                ("deep/x/drop.tmp", "d"),
                (".dockerignore", "**/*.tmp\n!deep/x/keep.tmp\n"),
            ],
            &[],
            |root, _| {
                assert_eq!(read(root, "g/one.txt"), "1");
                assert_eq!(read(root, "g/two.txt"), "2");
                assert!(!root.join("g/three.log").exists());
                assert_eq!(read(root, "q/a.md"), "a");
                assert!(!root.join("q/ab.md").exists());
                assert_eq!(read(root, "b/a.cfg"), "a");
                assert!(!root.join("b/c.cfg").exists());
                assert_eq!(read(root, "d/x/keep.tmp"), "k");
                assert!(!root.join("d/x/drop.tmp").exists(), "ignored file copied");
            },
        ),
        case(
            "links",
            "FROM {base}\nCOPY tree/ /t/\n",
            &[("tree/target.txt", "t"), ("tree/a", "hard")],
            &[],
            |root, _| {
                let link = root.join("t/link");
                assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("target.txt"));
                let a = std::fs::metadata(root.join("t/a")).unwrap();
                let b = std::fs::metadata(root.join("t/b")).unwrap();
                assert_eq!(a.ino(), b.ino(), "hard link not kept");
                assert_eq!(read(root, "t/b"), "hard");
            },
        ),
        case(
            "chown-names-and-workdir",
            "FROM {base}\nCOPY --chown=nobody:nogroup f.txt /n.txt\nCOPY --chown=daemon f.txt /d.txt\n\
             COPY --chown=4321:99 f.txt /ids.txt\nUSER nobody\nWORKDIR /srv/work\nWORKDIR sub\n\
             COPY f.txt .\n",
            &[("f.txt", "f")],
            &[],
            |root, config| {
                assert_eq!(owner(root, "n.txt"), (65534, 65534));
                assert_eq!(owner(root, "d.txt"), (1, 1));
                assert_eq!(owner(root, "ids.txt"), (4321, 99));
                assert_eq!(owner(root, "srv/work/sub"), (65534, 65534));
                assert_eq!(owner(root, "srv/work/sub/f.txt"), (0, 0));
                assert_eq!(read(root, "srv/work/sub/f.txt"), "f");
                assert_eq!(config["config"]["WorkingDir"], "/srv/work/sub");
                assert_eq!(config["config"]["User"], "nobody");
            },
        ),
        case(
            "args-and-env",
            "ARG V=1\nFROM {base}\nARG V\nARG UNSET\nENV P=/opt/$V Q=\"${UNSET:-dflt}\"\n\
             COPY f.txt ${P}/\nLABEL v=${V} q=$Q\nSTOPSIGNAL SIGTERM\nMAINTAINER someone\n",
            &[("f.txt", "f")],
            &["--build-arg", "V=2"],
            |root, config| {
                assert_eq!(read(root, "opt/2/f.txt"), "f");
                let c = &config["config"];
                assert_eq!(c["Labels"]["v"], "2");
                assert_eq!(c["Labels"]["q"], "dflt");
                assert_eq!(c["StopSignal"], "SIGTERM");
                let env = c["Env"].to_string();
                assert!(env.contains("P=/opt/2") && env.contains("Q=dflt"), "{env}");
                assert_eq!(config["author"], "someone");
            },
        ),
        case(
            "target",
            "FROM {base} AS a\nCOPY a.txt /a.txt\nLABEL stage=a\nFROM a AS b\nCOPY b.txt /b.txt\n\
             LABEL stage=b\nFROM 127.0.0.1:1/never/pulled:1 AS c\nCOPY --from=b /b.txt /c.txt\n",
            &[("a.txt", "a"), ("b.txt", "b")],
            &["--target", "b"],
            |root, config| {
                assert_eq!(read(root, "a.txt"), "a");
                assert_eq!(read(root, "b.txt"), "b");
                assert_eq!(config["config"]["Labels"]["stage"], "b");
            },
        ),
        case(
            "copy-from-image-and-merge",
            "FROM {base}\nCOPY --from={base} /etc/passwd /from-image/passwd\n\
             COPY one/ /m/\nCOPY two/ /m/\nCOPY f.txt /bin\n",
            &[("one/x", "x"), ("two/y", "y"), ("f.txt", "f")],
            &[],
            |root, _| {
                assert!(read(root, "from-image/passwd").contains("nobody:x:65534"));
                assert_eq!(read(root, "m/x"), "x");
                assert_eq!(read(root, "m/y"), "y");
                // /bin is a directory in the base: the file goes into it.
                assert_eq!(read(root, "bin/f.txt"), "f");
                assert!(root.join("bin/busybox").exists());
            },
        ),
        case(
            "from-stage-index",
            "FROM {base}\nCOPY f.txt /renamed\nFROM {base}\nCOPY --from=0 /renamed /again\n",
            &[("f.txt", "f")],
            &[],
            |root, _| {
                assert_eq!(read(root, "again"), "f");
                assert!(!root.join("renamed").exists(), "first stage leaked");
            },
        ),
        case(
            "dest-rules",
            "FROM {base}\nCOPY f.txt /renamed\nCOPY f.txt g.txt /multi/\nCOPY dir /contents\n\
             COPY --chmod=700 dir/ /private/\n",
            &[("f.txt", "f"), ("g.txt", "g"), ("dir/inner/x", "x")],
            &[],
            |root, _| {
                assert_eq!(read(root, "renamed"), "f");
                assert_eq!(read(root, "multi/f.txt"), "f");
                assert_eq!(read(root, "multi/g.txt"), "g");
                // A directory source copies its contents, not itself.
                assert_eq!(read(root, "contents/inner/x"), "x");
                assert!(!root.join("contents/dir").exists());
                let mode = |p: &str| std::fs::metadata(root.join(p)).unwrap().mode() & 0o7777;
                assert_eq!(mode("private/inner/x"), 0o700);
                assert_eq!(mode("private/inner"), 0o700);
            },
        ),
        case(
            "cmd-then-entrypoint-and-ports",
            "FROM {base}\nCMD [\"b\"]\nENTRYPOINT [\"a\"]\nEXPOSE 80 53/udp 8000-8001/tcp\n\
             VOLUME [\"/v1\", \"/v2\"]\n",
            &[],
            &[],
            |_, config| {
                let c = &config["config"];
                // CMD set in this stage survives a later ENTRYPOINT; only an inherited one is cleared.
                assert_eq!(c["Cmd"], json!(["b"]));
                assert_eq!(c["Entrypoint"], json!(["a"]));
                assert_eq!(
                    c["ExposedPorts"],
                    json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
                );
                assert_eq!(c["Volumes"], json!({"/v1": {}, "/v2": {}}));
            },
        ),
        case(
            "scratch-heredoc",
            "FROM scratch\nCOPY <<EOF /hello.txt\nhi $NAME\nEOF\nENV NAME=x\nCMD [\"/hello.txt\"]\n",
            &[],
            &[],
            |root, config| {
                assert_eq!(read(root, "hello.txt"), "hi \n");
                assert!(!root.join("bin").exists(), "scratch has a base layer");
                assert_eq!(config["architecture"], "amd64");
                assert_eq!(config["os"], "linux");
                assert_eq!(
                    config["rootfs"]["diff_ids"].as_array().map(Vec::len),
                    Some(1)
                );
            },
        ),
    ]
}

/// Makes the `links` case's symlink and hard link (not expressible as file contents).
fn links(ctx: &Path) {
    let tree = ctx.join("tree");
    std::os::unix::fs::symlink("target.txt", tree.join("link")).unwrap();
    std::fs::hard_link(tree.join("a"), tree.join("b")).unwrap();
}

#[tokio::test]
async fn run_free_dockerfiles_give_the_tree_and_config_a_user_expects() {
    let (registry, base, tmp) = busybox_setup().await;
    for case in cases() {
        let dir = tmp.path().join(case.name);
        let ctx = dir.join("ctx");
        let files: Vec<(&str, String)> = case
            .files
            .iter()
            .map(|(p, c)| (*p, c.replace("{base}", &base.reference)))
            .collect();
        let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
        write(&ctx, &borrowed);
        if case.name == "links" {
            links(&ctx);
        }
        let dest = format!("{}/table/{}:1", registry.host(), case.name);
        let mut args = vec!["--destination", dest.as_str(), "--insecure"];
        args.extend(case.args.iter().map(String::as_str));
        let out = worker_build(&ctx, &args);
        assert!(
            out.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let config = skopeo_inspect_config(&dest, None).unwrap();
        let rootfs = unpack(&dest, &dir);
        (case.check)(&rootfs, &config);
    }
}

#[tokio::test]
async fn onbuild_triggers_of_the_base_run_at_from() {
    let (registry, base, tmp) = busybox_setup().await;
    let parent = format!("{}/onbuild/parent:1", registry.host());
    let ctx = tmp.path().join("parent");
    write(
        &ctx,
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nONBUILD COPY trigger.txt /trigger.txt\nONBUILD LABEL from=onbuild\n",
                base.reference
            ),
        )],
    );
    let layout = tmp.path().join("parent-layout");
    ok(&worker_build(
        &ctx,
        &[
            "--destination",
            &parent,
            "--insecure",
            "--oci-layout-path",
            layout.to_str().unwrap(),
        ],
    ));
    // skopeo's config view drops Docker-only fields such as OnBuild: read the raw blob.
    let config = raw_config(&layout);
    assert_eq!(
        config["config"]["OnBuild"],
        json!(["COPY trigger.txt /trigger.txt", "LABEL from=onbuild"])
    );

    let child = format!("{}/onbuild/child:1", registry.host());
    let ctx = tmp.path().join("child");
    write(
        &ctx,
        &[
            ("trigger.txt", "triggered\n"),
            ("Dockerfile", &format!("FROM {parent}\n")),
        ],
    );
    ok(&worker_build(
        &ctx,
        &["--destination", &child, "--insecure"],
    ));
    let config = skopeo_inspect_config(&child, None).unwrap();
    assert_eq!(config["config"]["Labels"]["from"], "onbuild");
    // Triggers run once: the child does not pass them on.
    assert!(config["config"].get("OnBuild").is_none(), "{config}");
    let rootfs = unpack(&child, tmp.path());
    assert_eq!(read(&rootfs, "trigger.txt"), "triggered\n");
}
