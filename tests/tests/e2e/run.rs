// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The RUN suite: Dockerfiles whose RUN instructions execute on the busybox and the Debian
//! bookworm fixtures, each built by `worker build` and by `buildah bud --isolation chroot`
//! with the same context (the [`Case`] machinery of `dockerfiles.rs`): same file tree, same
//! config, every difference listed. Plus what has no parity: failures, the foreign platform,
//! the rootless worker and escape attempts (`escapes`; what the sandbox keeps the command from
//! undoing: `sandbox`). `RUN --mount` has its own module (`mounts`).
//!
//! One registry with both bases pushed is shared by every test of the binary (started on
//! first use, stopped at exit), so the Debian layer is uploaded once per run; the Debian
//! rootfs itself is cached per machine (`kaniko_tests::debian`).

mod busybox;
mod debian;
pub(crate) mod escapes;
mod failures;
mod mount_escapes;
mod mounts;
mod rootless;
mod sandbox;
pub(crate) mod store;

use std::sync::{Mutex, OnceLock};

use kaniko_tests::debian::push_debian;
use kaniko_tests::fixture::push_busybox;
use kaniko_tests::tree::{LayerListing, image_layers};
use kaniko_tests::{Registry, init_test_tracing};

use crate::dockerfiles::{Base, Built, Case, run_case_at};

/// The registry every RUN test pushes to, with both bases on it.
pub(crate) struct Shared {
    /// `127.0.0.1:<port>`.
    pub(crate) host: String,
    /// The busybox index.
    pub(crate) busybox: String,
    /// The Debian image.
    pub(crate) debian: String,
}

impl Shared {
    /// The reference `{base}` stands for.
    pub(crate) fn base(&self, base: Base) -> &str {
        match base {
            Base::Busybox => &self.busybox,
            Base::Debian => &self.debian,
        }
    }
}

/// The registry process, taken out and stopped (its storage removed) when the test binary
/// exits.
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

extern "C" fn stop_shared_registry() {
    if let Ok(mut slot) = REGISTRY.lock() {
        drop(slot.take());
    }
}

/// The shared registry and bases, started and pushed on first use. Blocks the calling thread
/// (each test has its own runtime; the pushes run on a runtime of their own).
pub(crate) fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        init_test_tracing();
        std::thread::spawn(|| {
            let registry = Registry::start().expect("starting the shared registry");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the fixture pushes");
            let (busybox, debian) = runtime.block_on(async {
                let busybox = push_busybox(&registry, "fixtures/busybox")
                    .await
                    .expect("pushing the busybox fixture");
                let debian = push_debian(&registry, "fixtures/debian")
                    .await
                    .expect("building or pushing the debian fixture");
                (busybox.reference, debian.reference)
            });
            let shared = Shared {
                host: registry.host(),
                busybox,
                debian,
            };
            *REGISTRY.lock().expect("registry slot") = Some(registry);
            // SAFETY: registers a plain function with no captured state; it runs once at exit.
            unsafe { libc::atexit(stop_shared_registry) };
            shared
        })
        .join()
        .expect("setting up the shared registry")
    })
}

/// Builds `case` on the shared registry with its base (worker, and buildah for parity).
pub(crate) fn run(case: &Case) -> Built {
    let shared = shared();
    run_case_at(case, &shared.host, shared.base(case.base))
}

/// The layers of `reference` as stored.
pub(crate) fn layers(reference: &str) -> Vec<LayerListing> {
    image_layers(reference)
        .unwrap_or_else(|err| panic!("listing the layers of {reference}: {err:#}"))
}

/// The top layer of `reference`.
pub(crate) fn top_layer(reference: &str) -> LayerListing {
    layers(reference)
        .pop()
        .unwrap_or_else(|| panic!("{reference} has no layers"))
}
