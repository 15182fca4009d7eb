// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RUN on the busybox fixture: deletions and their whiteouts, type changes, hardlinks,
//! special mode bits, chmod/chown, a background daemon, the command's environment, VOLUME,
//! `--network=none`, multi-stage ownership, ONBUILD, exec form (and the text after its JSON
//! array, ignored) and `--single-snapshot`.

use std::time::Duration;

use kaniko_tests::fixture::BUSYBOX_PATH;
use kaniko_tests::tree::Kind;

use super::{run, shared, top_layer};
use crate::dockerfiles::{Base, Case, run_case_at};

#[test]
fn removed_base_files_become_whiteouts_in_the_layer() {
    run(&Case {
        name: "run-whiteouts",
        dockerfile: "FROM {base}\nRUN rm /etc/group && rm -r /usr/sbin && rm /bin/vi\n",
        check: |img| {
            img.absent("/etc/group");
            img.absent("/usr/sbin");
            img.absent("/bin/vi");
            img.file("/etc/passwd");
            let layer = top_layer(&img.reference);
            let paths = layer.paths();
            for whiteout in ["etc/.wh.group", "usr/.wh.sbin", "bin/.wh.vi"] {
                assert!(
                    paths.contains(&whiteout),
                    "{whiteout} not in the top layer of {}: {paths:?}",
                    img.reference
                );
            }
            // Only the top-most deleted path is whited out.
            let below: Vec<&&str> = paths
                .iter()
                .filter(|p| p.starts_with("usr/sbin/"))
                .collect();
            assert!(below.is_empty(), "entries below usr/sbin: {below:?}");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn a_directory_replaced_by_a_file_and_a_file_replaced_by_a_symlink() {
    run(&Case {
        name: "run-replace",
        dockerfile: "FROM {base}\n\
                     RUN rm -r /usr/sbin && echo now-a-file > /usr/sbin && \
                     rm /etc/group && ln -s /etc/passwd /etc/group && \
                     mkdir /d && ln -s /etc/passwd /d/link && rm /d/link && mkdir /d/link\n",
        check: |img| {
            img.content_is("/usr/sbin", "now-a-file\n");
            let group = img.file("/etc/group");
            assert_eq!(group.kind, Kind::Symlink);
            assert_eq!(
                group.target.as_deref(),
                Some(std::path::Path::new("/etc/passwd"))
            );
            assert_eq!(img.file("/d/link").kind, Kind::Dir);
            let layer = top_layer(&img.reference);
            let stale: Vec<&str> = layer
                .paths()
                .into_iter()
                .filter(|p| p.starts_with("usr/sbin/") || p.starts_with("etc/group/"))
                .collect();
            assert!(
                stale.is_empty(),
                "stale entries below replaced paths: {stale:?}"
            );
            let sbin = layer.get("usr/sbin").expect("usr/sbin in the top layer");
            assert_eq!(sbin.kind, b'0', "usr/sbin is not stored as a file");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn hardlinks_made_by_run_share_an_inode() {
    run(&Case {
        name: "run-hardlinks",
        dockerfile: "FROM {base}\nRUN mkdir -p /h/sub && echo linked > /h/one && \
                     ln /h/one /h/two && ln /h/one /h/sub/three && echo alone > /h/alone\n",
        check: |img| {
            img.content_is("/h/one", "linked\n");
            for name in ["/h/two", "/h/sub/three"] {
                assert_eq!(
                    img.file(name).link.as_deref(),
                    Some("/h/one"),
                    "{name} is not a hardlink of /h/one"
                );
            }
            assert_eq!(img.file("/h/alone").link, None);
        },
        ..Case::DEFAULT
    });
}

/// Hard links made by one RUN and changed through one name by later RUNs: every name shows
/// the change and the group stays one inode, with each way of snapshotting.
#[test]
fn a_hardlink_group_changed_by_later_runs_stays_one_inode() {
    fn check(img: &crate::dockerfiles::Built) {
        for name in ["/a/f", "/a/g", "/b/h"] {
            let entry = img.file(name);
            assert_eq!(
                (entry.mode, entry.uid, entry.gid),
                (0o600, 5, 6),
                "{name} in {}",
                img.reference
            );
            img.content_is(name, "one\nappended\n");
        }
        let group = img
            .file("/a/f")
            .link
            .clone()
            .unwrap_or_else(|| "/a/f".into());
        for name in ["/a/g", "/b/h"] {
            let link = img.file(name).link.clone().unwrap_or_else(|| name.into());
            assert_eq!(link, group, "{name} left the group in {}", img.reference);
        }
        for name in ["/c", "/d", "/a/e"] {
            img.content_is(name, "replaced\n");
        }
    }
    const DOCKERFILE: &str = "FROM {base}\n\
        RUN mkdir -p /a /b && echo one > /a/f && ln /a/f /a/g && ln /a/f /b/h \
        && echo two > /c && ln /c /d\n\
        RUN echo appended >> /a/g\nRUN chmod 0600 /b/h\nRUN chown 5:6 /a/f\n\
        RUN ln /c /a/e\nRUN echo replaced > /d\n";
    for (name, args) in [
        ("run-link-groups-overlay", &["--snapshotter", "overlay"][..]),
        ("run-link-groups-walk", &["--snapshotter", "walk"][..]),
        ("run-link-groups-single", &["--single-snapshot"][..]),
    ] {
        run(&Case {
            name,
            dockerfile: DOCKERFILE,
            worker_args: args,
            check,
            ..Case::DEFAULT
        });
    }
}

#[test]
fn setuid_setgid_and_sticky_bits_survive() {
    run(&Case {
        name: "run-modes",
        dockerfile: "FROM {base}\nRUN echo s > /suid && chmod 4755 /suid && \
                     echo g > /sgid && chmod 2711 /sgid && echo b > /both && chmod 6750 /both && \
                     mkdir /shared && chmod 1777 /shared && mkdir /group-dir && \
                     chmod 2775 /group-dir && touch /group-dir/inherits\n",
        check: |img| {
            assert_eq!(img.owner_mode("/suid").0, 0o4755);
            assert_eq!(img.owner_mode("/sgid").0, 0o2711);
            assert_eq!(img.owner_mode("/both").0, 0o6750);
            assert_eq!(img.owner_mode("/shared").0, 0o1777);
            assert_eq!(img.owner_mode("/group-dir").0, 0o2775);
        },
        ..Case::DEFAULT
    });
}

#[test]
fn chmod_and_chown_in_run_change_base_and_new_files() {
    run(&Case {
        name: "run-chown",
        dockerfile: "FROM {base}\n\
                     RUN chmod 600 /etc/passwd && chown 2:10 /etc/group && \
                     mkdir -p /owned/deep && echo x > /owned/deep/f && chown -R 1:1 /owned && \
                     chown 65534:65534 /owned/deep/f && chmod 751 /owned && \
                     ln -s /etc/passwd /owned/link && chown -h 2:2 /owned/link && \
                     echo big-ids > /big && chown 123456:654321 /big\n",
        check: |img| {
            assert_eq!(img.owner_mode("/etc/passwd"), (0o600, 0, 0));
            assert_eq!(img.owner_mode("/etc/group"), (0o644, 2, 10));
            assert_eq!(img.owner_mode("/owned"), (0o751, 1, 1));
            assert_eq!(img.owner_mode("/owned/deep"), (0o755, 1, 1));
            assert_eq!(img.owner_mode("/owned/deep/f"), (0o644, 65534, 65534));
            let link = img.file("/owned/link");
            assert_eq!((link.kind, link.uid, link.gid), (Kind::Symlink, 2, 2));
            assert_eq!(img.owner_mode("/big"), (0o644, 123_456, 654_321));
        },
        ..Case::DEFAULT
    });
}

#[test]
fn a_background_daemon_does_not_hang_the_build() {
    run(&Case {
        name: "run-daemon",
        dockerfile: "FROM {base}\nRUN sleep 120 & nohup sleep 120 >/dev/null 2>&1 & \
                     echo started > /started\nRUN echo after > /after\n",
        timeout: Duration::from_secs(60),
        check: |img| {
            img.content_is("/started", "started\n");
            img.content_is("/after", "after\n");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn a_background_daemon_does_not_survive_into_the_next_run() {
    // No parity: buildah 1.28's chroot isolation leaves the daemon running into the next RUN
    // (and on the host after the build); Kaniko kills the command's whole process group.
    // The second RUN lists every process's argv (one line each, joined by spaces): a line
    // equal to `sleep 1000 ` is a daemon that survived the first RUN.
    run(&Case {
        name: "run-daemon-leak",
        dockerfile: "FROM {base}\nRUN sleep 1000 & nohup sleep 1000 >/dev/null 2>&1 & \
                     echo started > /started\n\
                     RUN if for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; \
                     done | grep -qx 'sleep 1000 '; then echo 'the daemon leaked' >&2; \
                     exit 1; fi\n",
        timeout: Duration::from_secs(60),
        parity: false,
        check: |img| img.content_is("/started", "started\n"),
        ..Case::DEFAULT
    });
}

#[test]
fn env_args_home_pwd_and_shell_reach_the_command() {
    run(&Case {
        name: "run-env",
        dockerfile: "FROM {base}\nARG FROM_CLI=default\nARG WITH_DEFAULT=dflt\n\
                     ENV GREETING=hello\nWORKDIR /work/dir\n\
                     RUN echo \"cli=$FROM_CLI default=$WITH_DEFAULT env=$GREETING home=$HOME \
                     pwd=$PWD path=$PATH\" > /work/root.txt && pwd > /work/pwd.txt\n\
                     USER daemon\nWORKDIR /tmp\n\
                     RUN echo \"home=$HOME pwd=$PWD uid=$(id -u) gid=$(id -g)\" > /tmp/daemon.txt\n\
                     USER root\n\
                     SHELL [\"/bin/sh\", \"-c\", \"echo \\\"$0\\\" > /shell.txt\"]\n\
                     RUN this is passed to the shell\n",
        build_args: &[("FROM_CLI", "cli")],
        docker: true,
        check: |img| {
            img.content_is(
                "/work/root.txt",
                &format!(
                    "cli=cli default=dflt env=hello home=/root pwd=/work/dir path={BUSYBOX_PATH}\n"
                ),
            );
            img.content_is("/work/pwd.txt", "/work/dir\n");
            img.content_is("/tmp/daemon.txt", "home=/usr/sbin pwd=/tmp uid=1 gid=1\n");
            assert_eq!(img.owner_mode("/tmp/daemon.txt"), (0o644, 1, 1));
            img.content_is("/shell.txt", "this is passed to the shell\n");
            assert_eq!(
                img.raw["config"]["Shell"],
                serde_json::json!(["/bin/sh", "-c", "echo \"$0\" > /shell.txt"])
            );
            // ARG values are not persisted in the config.
            assert_eq!(
                img.config.env,
                [format!("PATH={BUSYBOX_PATH}"), "GREETING=hello".into()]
            );
        },
        ..Case::DEFAULT
    });
}

#[test]
fn files_written_under_a_volume_after_the_volume_instruction_are_left_out() {
    run(&Case {
        name: "run-volume",
        dockerfile: "FROM {base}\nRUN mkdir -p /data && echo before > /data/before\n\
                     VOLUME /data\nRUN echo after > /data/after && echo outside > /outside\n",
        check: |img| {
            img.content_is("/data/before", "before\n");
            img.content_is("/outside", "outside\n");
            img.absent("/data/after");
            assert_eq!(img.config.volumes.iter().collect::<Vec<_>>(), ["/data"]);
        },
        ..Case::DEFAULT
    });
}

#[test]
fn network_none_blocks_what_the_default_network_reaches() {
    // No parity: buildah 1.28 refuses `RUN --network` ("RUN only supports the --mount flag").
    run(&Case {
        name: "run-network",
        // No `wget -T`: Debian's busybox-static segfaults with it, sandbox or not. Without a
        // network namespace's registry listener the connection is refused at once.
        dockerfile: "FROM {base}\n\
                     RUN if wget -q -O /dev/null http://{registry}/v2/; then echo reached; \
                     else echo blocked; fi > /default-network\n\
                     RUN --network=none if wget -q -O /dev/null http://{registry}/v2/; \
                     then echo reached; else echo blocked; fi > /no-network\n",
        parity: false,
        check: |img| {
            img.content_is("/default-network", "reached\n");
            img.content_is("/no-network", "blocked\n");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn copy_from_a_stage_keeps_the_ownership_run_gave() {
    run(&Case {
        name: "run-multistage",
        dockerfile: "FROM {base} AS build\n\
                     RUN mkdir -p /out/sub && echo data > /out/sub/f && echo root > /out/r && \
                     chown -R 1:2 /out/sub && chmod 750 /out/sub && chown 65534:65534 /out/r\n\
                     FROM {base}\nCOPY --from=build /out /copied\n\
                     RUN test \"$(stat -c %u:%g /copied/sub/f)\" = 1:2\n",
        check: |img| {
            img.content_is("/copied/sub/f", "data\n");
            assert_eq!(img.owner_mode("/copied/sub"), (0o750, 1, 2));
            assert_eq!(img.owner_mode("/copied/sub/f"), (0o644, 1, 2));
            assert_eq!(img.owner_mode("/copied/r"), (0o644, 65534, 65534));
        },
        ..Case::DEFAULT
    });
}

#[test]
fn an_onbuild_run_trigger_runs_in_the_child() {
    let shared = shared();
    let parent = run_case_at(
        &Case {
            name: "run-onbuild-parent",
            dockerfile: "FROM {base}\nONBUILD RUN echo fired > /onbuild.txt && id -u >> /onbuild.txt\n",
            docker: true,
            check: |img| {
                img.absent("/onbuild.txt");
                assert_eq!(
                    img.raw["config"]["OnBuild"],
                    serde_json::json!(["RUN echo fired > /onbuild.txt && id -u >> /onbuild.txt"])
                );
            },
            ..Case::DEFAULT
        },
        &shared.host,
        shared.base(Base::Busybox),
    );
    run_case_at(
        &Case {
            name: "run-onbuild-child",
            dockerfile: "FROM {base}\nRUN echo own > /own.txt\n",
            docker: true,
            check: |img| {
                img.content_is("/onbuild.txt", "fired\n0\n");
                img.content_is("/own.txt", "own\n");
            },
            ..Case::DEFAULT
        },
        &shared.host,
        &parent.reference,
    );
}

#[test]
fn exec_form_runs_without_a_shell() {
    run(&Case {
        name: "run-exec",
        dockerfile: "FROM {base}\nENV WHO=nobody\n\
                     RUN [\"/bin/sh\", \"-c\", \"echo \\\"$0 $WHO\\\" > /exec.txt\", \"zero\"]\n\
                     RUN [\"/bin/touch\", \"/touched-$WHO\"]\n",
        check: |img| {
            img.content_is("/exec.txt", "zero nobody\n");
            // No shell: `$WHO` reaches touch unexpanded.
            img.file("/touched-$WHO");
            img.absent("/touched-nobody");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn exec_form_is_the_first_json_value_and_ignores_trailing_text() {
    run(&Case {
        name: "run-exec-trailing",
        dockerfile: "FROM {base}\n\
                     RUN [\"/bin/touch\", \"/exec-only\"] && touch /by-a-shell\n\
                     RUN [/bin/touch, /not-json] || touch /shell-form\n\
                     ENTRYPOINT [\"/bin/echo\", \"entry\"] # the program\n\
                     CMD [\"default\"]]\n",
        check: |img| {
            // Exec form: touch got one argument, no shell ran `&& touch`.
            img.file("/exec-only");
            img.absent("/by-a-shell");
            // Not a JSON array: shell form, so the shell's `||` ran.
            img.file("/shell-form");
            assert_eq!(img.config.entrypoint, ["/bin/echo", "entry"]);
            assert_eq!(img.config.cmd, ["default"]);
        },
        ..Case::DEFAULT
    });
}

#[test]
fn single_snapshot_makes_one_layer_for_the_stage() {
    run(&Case {
        name: "run-single-snapshot",
        dockerfile: "FROM {base}\nRUN echo one > /one\nCOPY c.txt /c.txt\n\
                     RUN echo two > /two && rm /one\nRUN rm /etc/group\n",
        files: &[("c.txt", "c\n")],
        worker_args: &["--single-snapshot"],
        check: |img| {
            img.content_is("/two", "two\n");
            img.content_is("/c.txt", "c\n");
            img.absent("/one");
            img.absent("/etc/group");
            let layers = super::layers(&img.reference);
            assert_eq!(
                layers.len(),
                2,
                "{}: the busybox layer and one snapshot expected, got {}",
                img.reference,
                layers.len()
            );
            let top = layers.last().map(|l| l.paths()).unwrap_or_default();
            assert!(top.contains(&"etc/.wh.group"), "{top:?}");
            assert!(!top.iter().any(|p| p.ends_with("one")), "{top:?}");
        },
        ..Case::DEFAULT
    });
}

#[test]
fn snapshot_mode_time_skips_a_rewrite_that_keeps_the_mtime() {
    // The second RUN rewrites /etc/passwd and puts its mtime back: `time` (Kaniko's, mtime
    // only) leaves it out of the layer, `full` (content hashed) takes it.
    const DOCKERFILE: &str = "FROM {base}\n\
        RUN touch -d '2001-02-03 04:05:06' /etc/passwd\n\
        RUN echo marker > /marker && echo rewritten > /etc/passwd && \
        touch -d '2001-02-03 04:05:06' /etc/passwd\n";
    fn paths(img: &crate::dockerfiles::Built) -> Vec<String> {
        let layer = top_layer(&img.reference);
        let paths: Vec<String> = layer.paths().iter().map(|p| p.to_string()).collect();
        assert!(
            paths.iter().any(|p| p == "marker"),
            "the second RUN's layer is not on top of {}: {paths:?}",
            img.reference
        );
        paths
    }
    run(&Case {
        name: "run-snapshot-mode-time",
        dockerfile: DOCKERFILE,
        worker_args: &["--snapshot-mode", "time"],
        // buildah snapshots content: the one known difference, the point of `time`.
        ignore: &["/etc/passwd"],
        check: |img| {
            let paths = paths(img);
            assert!(
                !paths.iter().any(|p| p == "etc/passwd"),
                "time mode took a file whose mtime did not change: {paths:?}"
            );
        },
        ..Case::DEFAULT
    });
    run(&Case {
        name: "run-snapshot-mode-full",
        dockerfile: DOCKERFILE,
        worker_args: &["--snapshot-mode", "full"],
        check: |img| {
            assert!(
                paths(img).iter().any(|p| p == "etc/passwd"),
                "full mode missed a rewritten file"
            );
            img.content_is("/etc/passwd", "rewritten\n");
        },
        ..Case::DEFAULT
    });
}
