// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The end-to-end harness: real `nats-server -js` and `docker-registry` processes on free
//! loopback ports, fixtures, and helpers around real clients (skopeo, umoci).
