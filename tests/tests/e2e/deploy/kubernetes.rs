// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! deploy/kubernetes: every overlay rendered by `kubectl kustomize`, validated by
//! `kubernetes-validate --strict` against the Kubernetes 1.33 schemas its wheel carries (no
//! network), and read back: the NATS configuration nats-server accepts, the command lines
//! the binaries accept, one native worker Deployment per architecture, Secrets only
//! referenced, the driver's RBAC exactly deploy/kubernetes/base/driver-rbac.yaml, workers
//! fenced off the cluster network.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{Value, json};

use super::{
    assert_accepted, nats_server_accepts, repo, run_ok, venv_tool, write_auth_conf, yaml_documents,
};

/// Every kustomization under deploy/kubernetes a user may apply.
const OVERLAYS: [&str; 2] = ["base", "overlays/ha"];

/// The namespace everything goes to.
const NAMESPACE: &str = "kaniko-rs";

/// `kubectl kustomize deploy/kubernetes/<overlay>`.
fn render(overlay: &str) -> String {
    let dir = repo().join("deploy/kubernetes").join(overlay);
    let out = run_ok(Command::new("kubectl").arg("kustomize").arg(dir));
    String::from_utf8(out.stdout).expect("utf-8 yaml")
}

/// The rendered objects of `overlay`.
fn objects(overlay: &str) -> Vec<Value> {
    yaml_documents(&render(overlay))
}

fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    of_kind(objects, kind)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `kubernetes-validate --strict` for Kubernetes 1.33 on `yaml`.
fn validate(yaml: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, yaml).expect("write");
    Command::new(venv_tool("kubernetes-validate"))
        .args(["--strict", "--quiet", "--kubernetes-version", "1.33.0"])
        .arg(file)
        .output()
        .expect("kubernetes-validate")
}

#[test]
fn every_overlay_renders_and_validates_against_kubernetes_1_33() {
    for overlay in OVERLAYS {
        let yaml = render(overlay);
        let out = validate(&yaml);
        assert!(
            out.status.success(),
            "{overlay} does not validate: {}",
            super::describe(&out)
        );
        for object in yaml_documents(&yaml) {
            let kind = object["kind"].as_str().unwrap_or("?");
            if !matches!(kind, "Namespace" | "ClusterRole" | "ClusterRoleBinding") {
                assert_eq!(
                    object["metadata"]["namespace"], NAMESPACE,
                    "{overlay}: {kind} {} is outside the namespace",
                    object["metadata"]["name"]
                );
            }
        }
    }
    // The control: a field Kubernetes does not know fails the strict validation.
    let mut broken = render("base");
    broken.push_str(
        "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n  namespace: y\n\
         automountServiceAccountTokens: false\n",
    );
    assert!(
        !validate(&broken).status.success(),
        "kubernetes-validate --strict took an unknown field"
    );
}

#[test]
fn nats_runs_jetstream_on_its_volume_with_a_configuration_nats_server_accepts() {
    for (overlay, replicas) in [("base", 1), ("overlays/ha", 3)] {
        let objects = objects(overlay);
        let nats = named(&objects, "StatefulSet", "kaniko-rs-nats");
        assert_eq!(nats["spec"]["replicas"], replicas, "{overlay}");
        let pod = &nats["spec"]["template"]["spec"];
        let claims: Vec<&str> = nats["spec"]["volumeClaimTemplates"]
            .as_array()
            .expect("volumeClaimTemplates")
            .iter()
            .map(|c| c["metadata"]["name"].as_str().expect("name"))
            .collect();
        let mounts = pod["containers"][0]["volumeMounts"]
            .as_array()
            .expect("volumeMounts");
        let data = mounts
            .iter()
            .find(|m| claims.contains(&m["name"].as_str().unwrap_or_default()))
            .expect("a persistent volume mounted into nats-server");
        let data_path = data["mountPath"].as_str().expect("mountPath");

        // The configuration files as the pod sees them, with the authorization block
        // `coordinator nats-config` writes, checked by nats-server itself.
        let config_map = of_kind(&objects, "ConfigMap")
            .into_iter()
            .find(|c| {
                c["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("kaniko-rs-nats-config"))
            })
            .expect("the nats-server configuration");
        let dir = tempfile::tempdir().expect("tempdir");
        let files = config_map["data"].as_object().expect("data");
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content.as_str().expect("text")).unwrap();
        }
        let conf = files["nats.conf"].as_str().expect("nats.conf");
        let store_dir = conf
            .lines()
            .find_map(|l| l.trim().strip_prefix("store_dir:"))
            .map(str::trim)
            .expect("jetstream store_dir");
        assert!(
            store_dir.starts_with(data_path),
            "{overlay}: the JetStream store {store_dir} is not on the volume at {data_path}"
        );
        write_auth_conf(dir.path());
        nats_server_accepts(
            &dir.path().join("nats.conf"),
            &[("POD_NAME", "kaniko-rs-nats-0")],
        );

        // Each server routes to every pod of the StatefulSet through its headless Service.
        let routes: BTreeSet<String> = files["cluster.conf"]
            .as_str()
            .expect("cluster.conf")
            .split_whitespace()
            .filter(|w| w.starts_with("nats://"))
            .map(str::to_string)
            .collect();
        let service = nats["spec"]["serviceName"].as_str().expect("serviceName");
        let expected: BTreeSet<String> = if replicas == 1 {
            BTreeSet::new()
        } else {
            (0..replicas)
                .map(|i| format!("nats://kaniko-rs-nats-{i}.{service}:6222"))
                .collect()
        };
        assert_eq!(routes, expected, "{overlay}");
        named(&objects, "Service", service);

        // The coordinator's streams have as many replicas as there are servers.
        let coordinator = named(&objects, "Deployment", "kaniko-rs-coordinator");
        let args = strings(&coordinator["spec"]["template"]["spec"]["containers"][0]["args"]);
        assert!(
            args.contains(&format!("--replicas={replicas}")),
            "{overlay}: coordinator args {args:?}"
        );
    }
}

/// The program a container of the kaniko-rs image runs (its command, or the image's entry
/// point, `worker`) and its arguments.
fn kaniko_rs_command(container: &Value) -> Option<(String, Vec<String>)> {
    let image = container["image"].as_str()?;
    if !image.contains("/kaniko-rs/kaniko-rs:") {
        return None;
    }
    let command = strings(&container["command"]);
    let program = command
        .first()
        .map(|c| c.rsplit('/').next().unwrap_or(c).to_string())
        .unwrap_or_else(|| "worker".to_string());
    let mut args: Vec<String> = command.into_iter().skip(1).collect();
    args.extend(strings(&container["args"]));
    Some((program, args))
}

fn pod_templates(objects: &[Value]) -> Vec<(String, &Value)> {
    objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet")))
        .map(|o| {
            (
                format!("{} {}", o["kind"], o["metadata"]["name"]),
                &o["spec"]["template"]["spec"],
            )
        })
        .collect()
}

#[test]
fn every_command_line_is_accepted_by_the_real_binary() {
    let mut seen = BTreeSet::new();
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        for (whence, pod) in pod_templates(&objects) {
            for container in pod["containers"].as_array().expect("containers") {
                let Some((program, args)) = kaniko_rs_command(container) else {
                    continue;
                };
                // The literal environment; values from Secrets are the cluster's.
                let env: BTreeMap<String, String> = container["env"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
                    .collect();
                if seen.insert((program.clone(), args.clone())) {
                    assert_accepted(&format!("{overlay}: {whence}"), &program, &args, &env);
                }
            }
        }
    }
    let programs: BTreeSet<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(programs, BTreeSet::from(["coordinator", "worker"]));
}

#[test]
fn workers_run_unprivileged_on_native_nodes_of_each_architecture() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let mut archs = BTreeSet::new();
        for deployment in of_kind(&objects, "Deployment") {
            let pod = &deployment["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            let Some((program, args)) = kaniko_rs_command(container) else {
                continue;
            };
            if program != "worker" {
                continue;
            }
            let name = deployment["metadata"]["name"].as_str().unwrap_or("?");
            assert_eq!(args.first().map(String::as_str), Some("serve"), "{name}");
            let arch = pod["nodeSelector"]["kubernetes.io/arch"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no kubernetes.io/arch node selector"));
            assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux", "{name}");
            assert!(
                args.contains(&format!("--platform=linux/{arch}")),
                "{name}: on {arch} nodes, serving {args:?}"
            );
            assert!(
                !args.iter().any(|a| a.starts_with("--allow-cross")),
                "{name}"
            );
            archs.insert(arch.to_string());

            // The sandbox's needs, and nothing more.
            assert_eq!(
                pod["hostUsers"], false,
                "{name}: needs its own user namespace"
            );
            for host in ["hostNetwork", "hostPID", "hostIPC"] {
                assert_ne!(pod[host], true, "{name}: {host}");
            }
            let security = &container["securityContext"];
            assert_ne!(security["privileged"], true, "{name}");
            assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
            assert!(
                security["capabilities"]["add"].is_null(),
                "{name}: added capabilities"
            );
            assert_eq!(security["procMount"], "Unmasked", "{name}");
            for volume in pod["volumes"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                assert!(volume["hostPath"].is_null(), "{name}: a hostPath volume");
            }
            assert_eq!(pod["automountServiceAccountToken"], false, "{name}");
        }
        assert_eq!(
            archs,
            BTreeSet::from(["amd64".to_string(), "arm64".to_string()]),
            "{overlay}"
        );
    }
}

#[test]
fn secrets_are_referenced_never_carried() {
    const SECRET_VARIABLES: [&str; 5] = [
        "NATS_NKEY",
        "NATS_TOKEN",
        "NATS_PASSWORD",
        "NATS_CREDS",
        "COSIGN_PASSWORD",
    ];
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        assert!(
            of_kind(&objects, "Secret").is_empty(),
            "{overlay} carries a Secret"
        );
        let mut referenced = BTreeSet::new();
        for (whence, pod) in pod_templates(&objects) {
            for container in pod["containers"].as_array().expect("containers") {
                for var in container["env"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let name = var["name"].as_str().unwrap_or_default();
                    if SECRET_VARIABLES.contains(&name) {
                        assert!(
                            var["value"].is_null(),
                            "{overlay}: {whence}: {name} literal"
                        );
                        let secret = &var["valueFrom"]["secretKeyRef"]["name"];
                        referenced.insert(secret.as_str().expect("a Secret").to_string());
                    }
                }
            }
            for volume in pod["volumes"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if let Some(secret) = volume["secret"]["secretName"].as_str() {
                    referenced.insert(secret.to_string());
                }
                let sources = volume["projected"]["sources"].as_array();
                for source in sources.map(Vec::as_slice).unwrap_or_default() {
                    if let Some(secret) = source["secret"]["name"].as_str() {
                        referenced.insert(secret.to_string());
                    }
                }
            }
        }
        let expected: BTreeSet<String> = [
            "kaniko-rs-coordinator-nats",
            "kaniko-rs-nats-auth",
            "kaniko-rs-registry",
            "kaniko-rs-worker-nats",
        ]
        .map(String::from)
        .into();
        assert_eq!(referenced, expected, "{overlay}");
    }
}

/// The rules of `kind` `name` in a list of objects.
fn rules<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    &named(objects, kind, name)["rules"]
}

#[test]
fn the_rendered_rbac_is_exactly_driver_rbac_yaml() {
    let file = std::fs::read_to_string(repo().join("deploy/kubernetes/base/driver-rbac.yaml"))
        .expect("driver-rbac.yaml");
    let source = yaml_documents(&file);
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        for (kind, name) in [
            ("Role", "kaniko-rs-k8s-driver"),
            ("ClusterRole", "kaniko-rs-k8s-driver-nodes"),
        ] {
            assert_eq!(
                rules(&objects, kind, name),
                rules(&source, kind, name),
                "{overlay}: {kind} {name}"
            );
        }
        let roles: Vec<&Value> = objects
            .iter()
            .filter(|o| matches!(o["kind"].as_str(), Some("Role" | "ClusterRole")))
            .collect();
        assert_eq!(roles.len(), 2, "{overlay}: roles beyond the driver's");
        // Bound to the coordinator's ServiceAccount, the one its Deployment runs as.
        let account = json!({"kind": "ServiceAccount", "name": "kaniko-rs-coordinator",
            "namespace": NAMESPACE});
        for kind in ["RoleBinding", "ClusterRoleBinding"] {
            for binding in of_kind(&objects, kind) {
                assert_eq!(binding["subjects"], json!([account]), "{overlay}: {kind}");
            }
        }
        named(&objects, "ServiceAccount", "kaniko-rs-coordinator");
        let coordinator = named(&objects, "Deployment", "kaniko-rs-coordinator");
        assert_eq!(
            coordinator["spec"]["template"]["spec"]["serviceAccountName"],
            "kaniko-rs-coordinator"
        );
    }
}

#[test]
fn workers_reach_only_nats_dns_and_addresses_outside_the_cluster() {
    const PRIVATE: [&str; 5] = [
        "10.0.0.0/8",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ];
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let policy = of_kind(&objects, "NetworkPolicy")
            .into_iter()
            .find(|p| {
                p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
            })
            .expect("a NetworkPolicy for the workers");
        let spec = &policy["spec"];
        assert_eq!(
            spec["policyTypes"],
            json!(["Ingress", "Egress"]),
            "{overlay}"
        );
        assert!(
            spec["ingress"].as_array().is_none_or(Vec::is_empty),
            "{overlay}: workers take connections"
        );
        for rule in spec["egress"].as_array().expect("egress rules") {
            let ports: BTreeSet<i64> = rule["ports"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p["port"].as_i64())
                .collect();
            for peer in rule["to"].as_array().expect("peers") {
                if let Some(block) = peer["ipBlock"].as_object() {
                    let except = strings(&block["except"]);
                    if block["cidr"] == "0.0.0.0/0" {
                        for range in PRIVATE {
                            assert!(except.iter().any(|e| e == range), "{overlay}: {range} open");
                        }
                    } else {
                        assert_eq!(block["cidr"], "::/0", "{overlay}: {block:?}");
                        assert!(except.iter().any(|e| e == "fc00::/7"), "{overlay}");
                    }
                } else if peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "nats" {
                    assert_eq!(ports, BTreeSet::from([4222]), "{overlay}: nats");
                } else {
                    assert_eq!(
                        peer["podSelector"]["matchLabels"]["k8s-app"], "kube-dns",
                        "{overlay}: an egress peer that is neither NATS nor DNS: {peer}"
                    );
                    assert_eq!(ports, BTreeSet::from([53]), "{overlay}: dns");
                }
            }
        }
    }
}
