// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The SPDX 2.3 JSON document of one platform image: the image as a `CONTAINER` package
//! (its manifest digest as version and checksum), each layer as an `ARCHIVE` package, and
//! each OS package with a package-url (`pkg:deb/<os>/<name>@<version>?arch=<arch>`,
//! `pkg:apk/...`). Relationships: the document `DESCRIBES` the image, the image `CONTAINS`
//! its layers and its packages.
//!
//! The document is a function of the image only: `created` is the image config's `created`
//! (the epoch when it has none) and the namespace is derived from the manifest digest, so
//! the same image always gets the same bytes (and attaching it twice adds nothing).

use serde_json::{Value, json};

use super::packages::Package;
use kaniko_common::oci::Descriptor;

/// The SPDX version written.
pub const SPDX_VERSION: &str = "SPDX-2.3";

/// What the document says about the image besides its packages.
#[derive(Debug, Clone)]
pub struct ImageFacts<'a> {
    /// `registry/repository` the image was published to.
    pub repository: &'a str,
    /// The platform image's manifest.
    pub manifest: &'a Descriptor,
    /// `os/arch[/variant]`, when known.
    pub platform: Option<&'a str>,
    /// Its layers, in order.
    pub layers: &'a [Descriptor],
    /// The config's `created` (RFC 3339), if any.
    pub created: Option<&'a str>,
    /// `ID` of os-release, for package-urls.
    pub os_id: Option<&'a str>,
    /// What the document says about package databases not read or read in part.
    pub notes: &'a [String],
}

/// `created` in SPDX's form (`YYYY-MM-DDThh:mm:ssZ`), from an RFC 3339 time; the epoch when
/// absent or unreadable.
fn spdx_time(created: Option<&str>) -> String {
    created
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An SPDX identifier's tail: letters, digits, `.` and `-` only.
fn id_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Percent-encoding of a package-url component (everything but unreserved characters).
fn purl_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The package-url of `package`.
pub fn purl(package: &Package, os_id: Option<&str>) -> String {
    // rpm's namespace is the vendor: os-release's ID, or none when the image has none.
    let namespace = os_id.or(match package.kind {
        "apk" => Some("alpine"),
        "deb" => Some("debian"),
        _ => None,
    });
    let mut out = format!("pkg:{}/", package.kind);
    if let Some(namespace) = namespace {
        out.push_str(&purl_encode(&namespace.to_ascii_lowercase()));
        out.push('/');
    }
    out.push_str(&format!(
        "{}@{}",
        purl_encode(&package.name),
        purl_encode(&package.version)
    ));
    // Qualifiers sorted by key, as the purl spec asks.
    let mut qualifiers = Vec::new();
    if let Some(arch) = &package.architecture {
        qualifiers.push(format!("arch={}", purl_encode(arch)));
    }
    if let Some(epoch) = package.epoch {
        qualifiers.push(format!("epoch={epoch}"));
    }
    if !qualifiers.is_empty() {
        out.push('?');
        out.push_str(&qualifiers.join("&"));
    }
    out
}

fn hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, hex)| hex)
}

/// The document, pretty-printed JSON.
pub fn document(facts: &ImageFacts<'_>, packages: &[Package]) -> Vec<u8> {
    let digest = &facts.manifest.digest;
    let image_id = "SPDXRef-Image";
    let mut comment = format!(
        "OS packages read from the dpkg, apk and rpm (SQLite) databases of the image's \
         layers by kaniko-rs; {} found",
        packages.len()
    );
    for note in facts.notes {
        comment.push_str("; ");
        comment.push_str(note);
    }
    let mut image = json!({
        "SPDXID": image_id,
        "name": facts.repository,
        "versionInfo": digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": hex(digest)}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "comment": comment,
    });
    if let Some(platform) = facts.platform {
        image["description"] = json!(format!("platform {platform}"));
    }
    let mut all = vec![image];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    let mut contains = |id: &str| {
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    };
    for (n, layer) in facts.layers.iter().enumerate() {
        let id = format!("SPDXRef-Layer-{n}");
        contains(&id);
        all.push(json!({
            "SPDXID": id,
            "name": layer.digest,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "ARCHIVE",
            "checksums": [{"algorithm": "SHA256", "checksumValue": hex(&layer.digest)}],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "comment": format!("layer {n}: {}, {} bytes", layer.media_type, layer.size),
        }));
    }
    for (n, package) in packages.iter().enumerate() {
        let id = format!(
            "SPDXRef-Package-{}-{n}-{}",
            package.kind,
            id_part(&package.name)
        );
        contains(&id);
        let license = package
            .license
            .as_deref()
            .filter(|l| is_simple_license(l))
            .unwrap_or("NOASSERTION");
        all.push(json!({
            "SPDXID": id,
            "name": package.name,
            "versionInfo": match package.epoch {
                Some(epoch) => format!("{epoch}:{}", package.version),
                None => package.version.clone(),
            },
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": license,
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl(package, facts.os_id),
            }],
        }));
    }
    let doc: Value = json!({
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{digest}", facts.repository),
        "documentNamespace": format!(
            "https://kaniko-rs.dev/spdx/{}/sha256-{}",
            facts.repository,
            hex(digest)
        ),
        "creationInfo": {
            "created": spdx_time(facts.created),
            "creators": [format!("Tool: kaniko-rs-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": all,
        "relationships": relationships,
    });
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A license apk declares that is one SPDX identifier or a plain AND/OR/WITH expression of
/// them (what apk's `L:` mostly holds); anything else is left as NOASSERTION.
fn is_simple_license(text: &str) -> bool {
    !text.is_empty()
        && text.split_whitespace().all(|word| {
            matches!(word, "AND" | "OR" | "WITH")
                || word
                    .trim_matches(['(', ')'])
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '+')
                    && !word.trim_matches(['(', ')']).is_empty()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_and_ids_are_encoded() {
        let package = Package {
            kind: "deb",
            name: "libstdc++6".into(),
            version: "1:12.2.0-14".into(),
            epoch: None,
            architecture: Some("amd64".into()),
            license: None,
        };
        assert_eq!(
            purl(&package, Some("debian")),
            "pkg:deb/debian/libstdc%2B%2B6@1%3A12.2.0-14?arch=amd64"
        );
        let rpm = Package {
            kind: "rpm",
            name: "shadow-utils".into(),
            version: "4.14.0-2.fc40".into(),
            epoch: Some(2),
            architecture: Some("x86_64".into()),
            license: None,
        };
        assert_eq!(
            purl(&rpm, Some("fedora")),
            "pkg:rpm/fedora/shadow-utils@4.14.0-2.fc40?arch=x86_64&epoch=2"
        );
        assert_eq!(
            purl(&rpm, None),
            "pkg:rpm/shadow-utils@4.14.0-2.fc40?arch=x86_64&epoch=2"
        );
        assert_eq!(id_part("libstdc++6"), "libstdc--6");
        assert_eq!(
            spdx_time(Some("2024-05-01T10:11:12.5+02:00")),
            "2024-05-01T08:11:12Z"
        );
        assert_eq!(spdx_time(None), "1970-01-01T00:00:00Z");
        assert!(is_simple_license("GPL-2.0-or-later AND MIT"));
        assert!(!is_simple_license("custom:foo"));
    }

    #[test]
    fn documents_describe_the_image_its_layers_and_packages() {
        let manifest = Descriptor::new(
            kaniko_common::oci::OCI_MANIFEST,
            format!("sha256:{}", "a".repeat(64)),
            500,
        );
        let layers = [Descriptor::new(
            kaniko_common::oci::OCI_LAYER_GZIP,
            format!("sha256:{}", "b".repeat(64)),
            7,
        )];
        let facts = ImageFacts {
            repository: "reg/app",
            manifest: &manifest,
            platform: Some("linux/amd64"),
            layers: &layers,
            created: None,
            os_id: Some("debian"),
            notes: &[
                "the rpm database /var/lib/rpm/Packages (Berkeley DB) is present and its \
                      packages are NOT listed"
                    .to_string(),
            ],
        };
        let packages = [Package {
            kind: "deb",
            name: "bash".into(),
            version: "5.2".into(),
            epoch: None,
            architecture: None,
            license: None,
        }];
        let bytes = document(&facts, &packages);
        assert_eq!(bytes, document(&facts, &packages), "deterministic");
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["packages"].as_array().unwrap().len(), 3);
        assert_eq!(
            doc["packages"][2]["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/bash@5.2"
        );
        assert_eq!(doc["relationships"].as_array().unwrap().len(), 3);
        assert!(
            doc["packages"][0]["comment"]
                .as_str()
                .unwrap()
                .contains("NOT listed")
        );
    }
}
