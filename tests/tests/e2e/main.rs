// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The one end-to-end test binary: every scenario against real services and real clients,
//! one module per area.

mod authz;
mod bounds;
mod build;
mod bus;
mod cache;
mod cache_gc;
mod chaos;
mod ci_driver;
mod cluster;
mod coordinator;
mod coordinators;
mod deploy;
mod dockerfile_reading;
mod dockerfiles;
mod examples;
mod fidelity;
mod fixture;
mod fleet;
mod harness;
mod index;
mod index_options;
mod k8s_driver;
mod kaniko_flags;
mod kube_api;
mod local_driver;
mod nats_auth;
mod nats_prefix;
mod outputs;
mod parity_tools;
mod publish_tags;
mod registry_client;
mod registry_http2;
mod registry_quirks;
mod registry_token;
mod roundtrip;
mod run;
mod serve;
mod signing;
mod version;
