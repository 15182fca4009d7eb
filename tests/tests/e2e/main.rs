// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The one end-to-end test binary: every scenario against real services and real clients,
//! one module per area.

mod build;
mod bus;
mod coordinator;
mod dockerfiles;
mod examples;
mod fixture;
mod fleet;
mod harness;
mod index;
mod outputs;
mod parity_tools;
mod registry_client;
mod roundtrip;
mod run;
mod serve;
