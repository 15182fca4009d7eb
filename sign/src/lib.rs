// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! Image signing, cosign-compatible: keys in cosign's formats ([`keys`]), the simple-signing
//! payload ([`payload`]), and signatures stored in a registry as OCI 1.1 referrers and under
//! cosign's `sha256-<hex>.sig` tag, found and checked again by [`cosign::verify`]
//! ([`cosign`]). `worker build` and the coordinator's publishing path sign through it, and
//! attach SBOMs through [`sbom`] (SPDX 2.3 documents of the OS packages read from an image's
//! layers); see docs/signing.md.
//!
//! Invariant: the private key and its password never reach a log line, an error message or
//! `Debug` output.

pub mod cosign;
pub mod keys;
pub mod payload;
pub mod sbom;

pub use cosign::{
    SIGNATURE_ANNOTATION, SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING, SignError, Signed, Verified,
    VerifyError, sign, signature_tag, verify,
};
pub use keys::{KeyError, Password, PublicKey, SigningKey};
pub use payload::Payload;
