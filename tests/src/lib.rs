// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The end-to-end harness: real `nats-server -js` and `docker-registry` processes on free
//! loopback ports, a fault-injecting proxy to put in front of them, a registry that lies
//! about sizes, helpers around real clients (skopeo, umoci), and the tracing setup of tests.
//! Every crate's tests may use it.

pub mod bench;
pub mod buildah;
pub mod debian;
mod fault_proxy;
pub mod fixture;
pub mod h2_proxy;
pub mod hostile_registry;
pub mod kube_api;
mod nats;
pub mod nats_cluster;
pub mod nats_secure;
mod process;
pub mod referrers_proxy;
mod registry;
pub mod rootless;
pub mod tarball;
pub mod token_proxy;
mod tools;
pub mod tree;

pub use fault_proxy::{FaultPlan, FaultProxy, Reply};
pub use nats::{Nats, nats_server_binary, nats_server_version};
pub use nats_cluster::NatsCluster;
pub use registry::Registry;
pub use tools::{
    index_platforms, skopeo_copy, skopeo_copy_image, skopeo_inspect_config, skopeo_inspect_raw,
    umoci_unpack,
};

/// Installs a tracing subscriber for tests once per process: filtered by `RUST_LOG` (default
/// `warn`), written through the test writer so output shows with the failing test only.
pub fn init_test_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// A binary of this workspace (`worker`, `coordinator`, ...) built next to the running test
/// executable: `target/<profile>/<name>`, found from `target/<profile>/deps/<test>-<hash>`.
/// `cargo test --workspace` builds them; a test run alone needs `cargo build` first.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let path = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("test executable in target/<profile>/deps")
        .join(name);
    assert!(
        path.is_file(),
        "{} missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}
