// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The shared vocabulary of kaniko-rs: platforms, OCI media types and objects, the index
//! builder, the wire messages and their codec, every NATS name, repository scopes and the
//! Dockerfile front end. The worker and the coordinator both speak it.
//!
//! This crate is pure: no async runtime, no network, no filesystem writes (its only reads are
//! `/proc/cpuinfo` for the host's arm variant and `.release-version` at build time). The IO
//! that speaks this vocabulary lives in `kaniko-nats` (the NATS plumbing), `kaniko-registry`
//! (the registry client) and `kaniko-image` (layers, OCI layouts and output files on disk);
//! its `Cargo.toml` names none of their dependencies, so Cargo keeps it that way.

pub mod dockerfile;
pub mod index;
pub mod messages;
pub mod oci;
pub mod platform;
pub mod scope;
pub mod subjects;
pub mod version;
