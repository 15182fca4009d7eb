// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The build context as an OCI artifact (`coordinator submit --driver k8s`): an image
//! manifest with `artifactType` [`CONTEXT_ARTIFACT_TYPE`], the empty config and one layer, the
//! context tarball (plain tar, [`super::OCI_LAYER_TAR`]). The coordinator pushes it by digest
//! to the first destination's repository; a pod's worker fetches it with `--context
//! oci://<registry>/<repo>@<digest>`, the manifest verified against that digest and the layer
//! against the manifest's.

use super::{Descriptor, OCI_EMPTY, OCI_LAYER_TAR, OCI_MANIFEST, empty_config, parse_digest};

/// The `artifactType` of a context artifact.
pub const CONTEXT_ARTIFACT_TYPE: &str = "application/vnd.kaniko-rs.context.v1";

/// The manifest of a context artifact whose layer is the tarball `layer_digest` of `size`
/// bytes, as canonical JSON.
pub fn context_manifest(layer_digest: &str, size: u64) -> Vec<u8> {
    let empty = empty_config();
    let value = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": CONTEXT_ARTIFACT_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": empty.digest, "size": empty.size},
        "layers": [{"mediaType": OCI_LAYER_TAR, "digest": layer_digest, "size": size}],
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The one layer of the context artifact `bytes`, or why these bytes are not one.
pub fn context_layer(bytes: &[u8]) -> Result<Descriptor, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON manifest: {e}"))?;
    let artifact_type = value.get("artifactType").and_then(|v| v.as_str());
    if artifact_type != Some(CONTEXT_ARTIFACT_TYPE) {
        return Err(format!(
            "artifactType {artifact_type:?}, not {CONTEXT_ARTIFACT_TYPE}"
        ));
    }
    let layers = value
        .get("layers")
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let [layer] = layers else {
        return Err(format!("{} layers, not one", layers.len()));
    };
    let field = |name: &str| layer.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let digest = field("digest");
    parse_digest(digest).map_err(|e| format!("layer digest {digest:?}: {e}"))?;
    if field("mediaType") != OCI_LAYER_TAR {
        return Err(format!(
            "layer media type {:?}, not {OCI_LAYER_TAR}",
            field("mediaType")
        ));
    }
    let size = layer
        .get("size")
        .and_then(|v| v.as_u64())
        .ok_or("the layer has no size")?;
    Ok(Descriptor::new(OCI_LAYER_TAR, digest, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_manifest_names_its_one_layer() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let bytes = context_manifest(&digest, 42);
        assert_eq!(
            context_layer(&bytes),
            Ok(Descriptor::new(OCI_LAYER_TAR, digest.clone(), 42))
        );
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains(CONTEXT_ARTIFACT_TYPE), "{text}");
        assert!(
            text.contains(
                "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
            ),
            "{text}"
        );
    }

    #[test]
    fn other_manifests_are_refused_naming_why() {
        fn check(json: &str, expected: &str) {
            let err = context_layer(json.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{json}: {err}");
        }
        let layer = format!(
            r#"{{"mediaType":"{OCI_LAYER_TAR}","digest":"sha256:{}","size":1}}"#,
            "ab".repeat(32)
        );
        check("nope", "not a JSON manifest");
        check(r#"{"layers":[]}"#, "artifactType None");
        check(
            &format!(r#"{{"artifactType":"{CONTEXT_ARTIFACT_TYPE}","layers":[{layer},{layer}]}}"#),
            "2 layers, not one",
        );
        check(
            &format!(
                r#"{{"artifactType":"{CONTEXT_ARTIFACT_TYPE}","layers":[{{"mediaType":"x","digest":"sha256:{}","size":1}}]}}"#,
                "ab".repeat(32)
            ),
            "layer media type \"x\"",
        );
        check(
            &format!(
                r#"{{"artifactType":"{CONTEXT_ARTIFACT_TYPE}","layers":[{{"mediaType":"{OCI_LAYER_TAR}","digest":"md5:1","size":1}}]}}"#
            ),
            "layer digest \"md5:1\"",
        );
    }
}
