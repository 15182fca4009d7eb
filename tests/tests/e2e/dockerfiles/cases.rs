// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The RUN-free Dockerfiles themselves, one test each: the context, the Dockerfile, and what
//! a user would look for in the resulting image.

use std::path::Path;

use kaniko_tests::fixture::{BUSYBOX_GROUP, BUSYBOX_PATH};
use kaniko_tests::tree::Kind;

use super::{Case, run_case, run_case_on};

#[tokio::test(flavor = "multi_thread")]
async fn multi_stage_copy_from_by_name_and_index() {
    run_case(&Case {
        name: "multistage",
        dockerfile: "FROM {base} AS one\nCOPY a.txt /stage/a.txt\n\
                     FROM {base} AS two\nCOPY b.txt /stage/b.txt\n\
                     FROM {base}\nCOPY --from=one /stage/a.txt /out/\n\
                     COPY --from=1 /stage/b.txt /out/\n",
        files: &[("a.txt", "from one\n"), ("b.txt", "from two\n")],
        check: |img| {
            img.content_is("/out/a.txt", "from one\n");
            img.content_is("/out/b.txt", "from two\n");
            img.absent("/stage");
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn arg_and_env_expansion_with_meta_args_and_build_args() {
    run_case(&Case {
        name: "expansion",
        dockerfile: "ARG VERSION=1.0\nARG BASE={base}\nFROM $BASE\nARG VERSION\n\
                     ARG EMPTY=\"\"\nARG FROM_CLI=default\n\
                     ENV APP_HOME=/opt/app-${VERSION} FLAVOR=${UNSET:-plain} MARK=${VERSION:+set}\n\
                     ENV EMPTY_WAS=[${EMPTY}]\n\
                     WORKDIR $APP_HOME\nCOPY v.txt ${APP_HOME}/${FROM_CLI}.txt\n\
                     LABEL version=$VERSION\n",
        files: &[("v.txt", "v\n")],
        build_args: &[("FROM_CLI", "cli")],
        check: |img| {
            assert_eq!(
                img.config.env,
                [
                    format!("PATH={BUSYBOX_PATH}"),
                    "APP_HOME=/opt/app-1.0".into(),
                    "FLAVOR=plain".into(),
                    "MARK=set".into(),
                    "EMPTY_WAS=[]".into(),
                ]
            );
            assert_eq!(img.config.working_dir, "/opt/app-1.0");
            img.content_is("/opt/app-1.0/cli.txt", "v\n");
            assert_eq!(
                img.config.labels.get("version").map(String::as_str),
                Some("1.0")
            );
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn globs_in_copy_sources() {
    run_case(&Case {
        name: "globs",
        dockerfile: "FROM {base}\nCOPY a?.txt /q/\nCOPY *.md [bc].txt /g/\nCOPY dir/*.txt /d/\n",
        files: &[
            ("a1.txt", "1\n"),
            ("a2.txt", "2\n"),
            ("ab.md", "md\n"),
            ("b.txt", "b\n"),
            ("c.log", "log\n"),
            ("dir/x.txt", "x\n"),
            ("dir/y.dat", "y\n"),
        ],
        check: |img| {
            img.content_is("/q/a1.txt", "1\n");
            img.content_is("/q/a2.txt", "2\n");
            img.absent("/q/ab.md");
            img.content_is("/g/ab.md", "md\n");
            img.content_is("/g/b.txt", "b\n");
            img.absent("/g/c.log");
            img.content_is("/d/x.txt", "x\n");
            img.absent("/d/y.dat");
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dockerignore_with_exceptions_and_double_star() {
    run_case(&Case {
        name: "dockerignore",
        dockerfile: "FROM {base}\nCOPY . /ctx/\n",
        files: &[
            (
                ".dockerignore",
                "**/*.tmp\nsecret\n!secret/public.txt\n*.md\n!README.md\n",
            ),
            ("keep.txt", "keep\n"),
            ("a/b/c.tmp", "tmp\n"),
            ("a/b/d.txt", "d\n"),
            ("top.tmp", "tmp\n"),
            ("secret/key", "k\n"),
            ("secret/public.txt", "public\n"),
            ("NOTES.md", "notes\n"),
            ("README.md", "readme\n"),
        ],
        check: |img| {
            img.content_is("/ctx/keep.txt", "keep\n");
            img.content_is("/ctx/a/b/d.txt", "d\n");
            img.absent("/ctx/a/b/c.tmp");
            img.absent("/ctx/top.tmp");
            img.absent("/ctx/secret/key");
            img.content_is("/ctx/secret/public.txt", "public\n");
            img.absent("/ctx/NOTES.md");
            img.content_is("/ctx/README.md", "readme\n");
        },
        ..Case::DEFAULT
    })
    .await;
}

const ENTRYPOINT_STAGES: &str = "FROM {base} AS ep\nENTRYPOINT [\"/bin/echo\"]\n\
                                 FROM ep AS both\nCMD [\"hello\"]\n\
                                 FROM both\nENTRYPOINT [\"/bin/printf\"]\n";

#[tokio::test(flavor = "multi_thread")]
async fn entrypoint_in_a_stage_clears_the_inherited_cmd() {
    run_case(&Case {
        name: "entrypoint",
        dockerfile: ENTRYPOINT_STAGES,
        check: |img| {
            assert_eq!(img.config.entrypoint, ["/bin/printf"]);
            assert!(img.config.cmd.is_empty(), "{:?}", img.config.cmd);
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cmd_after_an_inherited_entrypoint_is_kept_at_the_target_stage() {
    run_case(&Case {
        name: "entrypoint-target",
        dockerfile: ENTRYPOINT_STAGES,
        target: Some("both"),
        check: |img| {
            assert_eq!(img.config.entrypoint, ["/bin/echo"]);
            assert_eq!(img.config.cmd, ["hello"]);
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn target_stops_at_the_named_stage_and_skips_unneeded_ones() {
    run_case(&Case {
        name: "target",
        dockerfile: "FROM {base} AS build\nCOPY a.txt /a.txt\n\
                     FROM {base} AS unused\nCOPY missing.txt /m\n\
                     FROM build AS final\nCOPY b.txt /b.txt\n\
                     FROM {base}\nCOPY c.txt /c.txt\n",
        files: &[("a.txt", "a\n"), ("b.txt", "b\n"), ("c.txt", "c\n")],
        target: Some("final"),
        check: |img| {
            img.content_is("/a.txt", "a\n");
            img.content_is("/b.txt", "b\n");
            img.absent("/c.txt");
            img.absent("/m");
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn label_expose_volume_user_workdir_stopsignal_reach_the_config() {
    run_case(&Case {
        name: "metadata",
        dockerfile: "FROM {base}\nLABEL a=1 \"b c\"=\"d e\"\nEXPOSE 80 443/tcp 53/udp\n\
                     VOLUME [\"/data\", \"/logs\"]\nUSER daemon:bin\nWORKDIR /srv\nWORKDIR www\n\
                     STOPSIGNAL SIGTERM\n",
        check: |img| {
            let c = &img.config;
            assert_eq!(c.labels.get("a").map(String::as_str), Some("1"));
            assert_eq!(c.labels.get("b c").map(String::as_str), Some("d e"));
            assert_eq!(
                c.exposed_ports.iter().collect::<Vec<_>>(),
                ["443/tcp", "53/udp", "80/tcp"]
            );
            assert_eq!(c.volumes.iter().collect::<Vec<_>>(), ["/data", "/logs"]);
            assert_eq!(c.user, "daemon:bin");
            assert_eq!(c.working_dir, "/srv/www");
            assert_eq!(c.stop_signal, "SIGTERM");
            assert_eq!(img.file("/srv/www").kind, Kind::Dir);
            // WORKDIR is created owned by the current USER (Kaniko, BuildKit).
            assert_eq!(img.owner_mode("/srv/www"), (0o755, 1, 2));
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_shell_and_onbuild_in_a_docker_config() {
    run_case(&Case {
        name: "docker-fields",
        dockerfile: "FROM {base}\nSHELL [\"/bin/sh\", \"-ec\"]\n\
                     HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q localhost || exit 1\n\
                     ONBUILD COPY trigger.txt /triggered/\n",
        docker: true,
        check: |img| {
            let c = &img.raw["config"];
            assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
            assert_eq!(
                c["Healthcheck"]["Test"],
                serde_json::json!(["CMD-SHELL", "wget -q localhost || exit 1"])
            );
            assert_eq!(c["Healthcheck"]["Interval"], 5_000_000_000i64);
            assert_eq!(c["Healthcheck"]["Timeout"], 2_000_000_000i64);
            assert_eq!(c["Healthcheck"]["Retries"], 4);
            assert_eq!(
                c["OnBuild"],
                serde_json::json!(["COPY trigger.txt /triggered/"])
            );
        },
        ..Case::DEFAULT
    })
    .await;
}

fn write_hardlinks(dir: &Path) {
    std::fs::create_dir_all(dir.join("h")).unwrap();
    std::fs::write(dir.join("h/one.txt"), "linked\n").unwrap();
    std::fs::hard_link(dir.join("h/one.txt"), dir.join("h/two.txt")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hardlinks_within_one_copy_are_kept() {
    run_case(&Case {
        name: "hardlinks",
        dockerfile: "FROM {base}\nCOPY h /h/\n",
        prepare: write_hardlinks,
        check: |img| {
            img.content_is("/h/one.txt", "linked\n");
            assert_eq!(
                img.file("/h/two.txt").link.as_deref(),
                Some("/h/one.txt"),
                "/h/two.txt is not a hardlink of /h/one.txt"
            );
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_from_an_image_reference() {
    run_case(&Case {
        name: "fromimage",
        dockerfile: "FROM {base}\nCOPY --from={base} /etc/group /from-image/group\n",
        check: |img| img.content_is("/from-image/group", BUSYBOX_GROUP),
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn onbuild_triggers_of_the_base_run_at_from() {
    kaniko_tests::init_test_tracing();
    let registry = kaniko_tests::Registry::start().unwrap();
    let busybox = kaniko_tests::fixture::push_busybox(&registry, "fixtures/busybox")
        .await
        .unwrap();
    let parent = run_case_on(
        &Case {
            name: "onbuild-parent",
            dockerfile: "FROM {base}\nONBUILD COPY trigger.txt /triggered/\n\
                         ONBUILD LABEL triggered=yes\n",
            docker: true,
            parity: false,
            ..Case::DEFAULT
        },
        &registry,
        &busybox.reference,
    );
    run_case_on(
        &Case {
            name: "onbuild-child",
            dockerfile: "FROM {base}\nCOPY own.txt /own.txt\n",
            files: &[("trigger.txt", "fired\n"), ("own.txt", "own\n")],
            docker: true,
            check: |img| {
                img.content_is("/triggered/trigger.txt", "fired\n");
                img.content_is("/own.txt", "own\n");
                assert_eq!(
                    img.config.labels.get("triggered").map(String::as_str),
                    Some("yes")
                );
                // Triggers fire once: the child does not inherit them.
                assert!(img.raw["config"]["OnBuild"].is_null(), "{}", img.raw);
            },
            ..Case::DEFAULT
        },
        &registry,
        &parent.reference,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn escape_directive_legacy_env_and_continuations_with_comments() {
    run_case(&Case {
        name: "escape",
        dockerfile: "# escape=`\nFROM {base}\nENV LEGACY hello world\nLABEL multi=yes `\n    other=two\n\
                     COPY a.txt `\n  # a comment inside the continuation\n\n     /dst/\n",
        files: &[("a.txt", "a\n")],
        check: |img| {
            assert!(
                img.config.env.contains(&"LEGACY=hello world".to_string()),
                "{:?}",
                img.config.env
            );
            assert_eq!(
                img.config.labels.get("multi").map(String::as_str),
                Some("yes")
            );
            assert_eq!(
                img.config.labels.get("other").map(String::as_str),
                Some("two")
            );
            img.content_is("/dst/a.txt", "a\n");
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn meta_args_in_from_are_invisible_in_the_stage_until_redeclared() {
    run_case(&Case {
        name: "metaargs",
        dockerfile: "ARG SUFFIX=-absent\nARG META=meta\nFROM {base}${SUFFIX}\n\
                     ENV NOT_VISIBLE=[${META}]\nARG META\nENV VISIBLE=${META}\n",
        build_args: &[("SUFFIX", "")],
        check: |img| {
            assert_eq!(
                img.config.env,
                [
                    format!("PATH={BUSYBOX_PATH}"),
                    "NOT_VISIBLE=[]".into(),
                    "VISIBLE=meta".into(),
                ]
            );
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn automatic_platform_args() {
    run_case(&Case {
        name: "platformargs",
        dockerfile: "FROM {base}\nARG TARGETPLATFORM\nARG TARGETOS\nARG TARGETARCH\n\
                     ARG BUILDPLATFORM\nENV T=$TARGETPLATFORM O=$TARGETOS A=$TARGETARCH \
                     B=$BUILDPLATFORM\n",
        check: |img| {
            let env = &img.config.env;
            for expected in ["T=linux/amd64", "O=linux", "A=amd64", "B=linux/amd64"] {
                assert!(
                    env.contains(&expected.to_string()),
                    "{expected} not in {env:?}"
                );
            }
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn heredocs_in_copy_expand_unless_quoted() {
    // buildah 1.28 has no heredocs: checked on the worker's image alone.
    run_case(&Case {
        name: "heredoc",
        dockerfile: "# syntax=docker/dockerfile:1\nFROM {base}\nARG NAME=world\n\
                     COPY <<EOF /etc/greeting\nhello $NAME\nEOF\n\
                     COPY <<-\"EOT\" /quoted\n\tliteral $NAME\n\tEOT\n",
        parity: false,
        check: |img| {
            img.content_is("/etc/greeting", "hello world\n");
            img.content_is("/quoted", "literal $NAME\n");
            assert_eq!(img.owner_mode("/etc/greeting"), (0o644, 0, 0));
        },
        ..Case::DEFAULT
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_safe_build_for_a_foreign_platform() {
    run_case(&Case {
        name: "crossplatform",
        dockerfile: "FROM --platform=$BUILDPLATFORM {base} AS build\nARG BUILDARCH\n\
                     COPY app.txt /out/app-built-on-$BUILDARCH.txt\n\
                     FROM {base}\nARG TARGETARCH\nENV ARCH=$TARGETARCH\n\
                     COPY --from=build /out/ /app/\n",
        files: &[("app.txt", "app\n")],
        platform: Some("linux/arm64"),
        check: |img| {
            assert_eq!(img.raw["architecture"], "arm64", "{}", img.raw);
            assert_eq!(img.raw["os"], "linux");
            assert!(
                img.config.env.contains(&"ARCH=arm64".to_string()),
                "{:?}",
                img.config.env
            );
            img.content_is("/app/app-built-on-amd64.txt", "app\n");
        },
        ..Case::DEFAULT
    })
    .await;
}
