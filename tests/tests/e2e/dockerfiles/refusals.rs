// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Dockerfiles `worker build` must refuse: a non-zero exit, an error naming the thing at
//! fault, and nothing pushed to the destination.

use super::{raw_config_result, worker_build};
use kaniko_tests::fixture::busybox_setup;

#[tokio::test(flavor = "multi_thread")]
async fn bad_dockerfiles_fail_naming_the_fault_and_push_nothing() {
    let (registry, base, tmp) = busybox_setup().await;
    // (name, Dockerfile with {base}, extra flags, what the error must name)
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "chown-user",
            "FROM {base}\nCOPY --chown=ghost f.txt /f.txt\n",
            &[],
            &["ghost", "dockerfile:2"],
        ),
        (
            "chown-group",
            "FROM {base}\nCOPY --chown=root:phantoms f.txt /f.txt\n",
            &[],
            &["phantoms"],
        ),
        (
            "stage-index",
            "FROM {base}\nCOPY --from=9 /x /x\n",
            &[],
            &["9"],
        ),
        (
            "target",
            "FROM {base} AS one\nCOPY f.txt /\n",
            &["--target", "nowhere"],
            &["nowhere"],
        ),
        (
            "empty-from",
            "ARG IMAGE\nFROM $IMAGE\n",
            &[],
            &["dockerfile:2"],
        ),
        (
            "heredoc",
            "FROM {base}\nCOPY <<EOF /x\nnever closed\n",
            &[],
            &["EOF"],
        ),
        (
            "escape-file",
            "FROM {base}\nCOPY ../outside.txt /x\n",
            &[],
            &["../outside.txt"],
        ),
    ];
    for (name, dockerfile, extra, needles) in cases {
        let context = tmp.path().join(name);
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(context.join("f.txt"), "f\n").unwrap();
        std::fs::write(tmp.path().join("outside.txt"), "outside\n").unwrap();
        std::fs::write(
            context.join("Dockerfile"),
            dockerfile.replace("{base}", &base.reference),
        )
        .unwrap();
        let destination = format!("{}/refused/{name}:1", registry.host());
        let mut args = vec!["--destination".to_string(), destination.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = worker_build(&context, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: succeeded: {stderr}");
        let error: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        for needle in *needles {
            assert!(
                error.iter().any(|l| l.contains(needle)),
                "{name}: {needle:?} not in the error: {error:?}"
            );
        }
        assert!(
            raw_config_result(&destination).is_err(),
            "{name}: {destination} was pushed"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}
