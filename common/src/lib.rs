// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The shared vocabulary of kaniko-rs: platforms, OCI media types and objects, the index
//! builder, the streaming layer writer, OCI image layouts, the registry client, the wire
//! messages and their codec, and every NATS name. The worker and the coordinator both speak it.

pub mod bus;
pub mod dockerfile;
pub mod index;
pub mod layer;
pub mod layout;
pub mod messages;
pub mod oci;
pub mod outfile;
pub mod platform;
pub mod registry;
pub mod scope;
pub mod subjects;
pub mod version;

/// Installs the one rustls crypto provider (aws-lc-rs) every TLS client in the process uses.
/// Binaries call it first thing; calling it twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
