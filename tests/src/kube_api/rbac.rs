// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! RBAC as the API server's authorizer applies it to the one client identity the fake
//! server knows: the rules of every Role and ClusterRole that a RoleBinding or
//! ClusterRoleBinding in the file binds. A Role's rules grant namespaced resources (in any
//! namespace: the file's Role is installed into whichever namespace a kustomization names);
//! a ClusterRole bound by a ClusterRoleBinding grants cluster-scoped ones too.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    rules: Vec<Rule>,
    role_ref: Option<RoleRef>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct RoleRef {
    kind: String,
    name: String,
}

/// What one request asks to do, as RBAC sees it.
#[derive(Debug)]
pub(crate) struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The rules bound to the client.
#[derive(Debug, Default)]
pub(crate) struct Rbac {
    /// Rules that apply to namespaced requests only (from Roles).
    namespaced: Vec<Rule>,
    /// Rules that apply everywhere (from ClusterRoles bound cluster-wide).
    cluster: Vec<Rule>,
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

impl Rule {
    fn allows(&self, a: &Attributes<'_>) -> bool {
        let resource = match a.subresource {
            Some(sub) => format!("{}/{sub}", a.resource),
            None => a.resource.to_string(),
        };
        has(&self.verbs, a.verb)
            && has(&self.api_groups, a.group)
            && (has(&self.resources, &resource)
                || (a.subresource.is_some() && self.resources.iter().any(|r| r == "*/*")))
            && (self.resource_names.is_empty()
                || a.name.is_some_and(|n| has(&self.resource_names, n)))
    }
}

impl Rbac {
    /// Reads a multi-document YAML file of Roles, ClusterRoles and their bindings.
    pub fn load(path: &Path) -> anyhow::Result<Rbac> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading RBAC rules {}", path.display()))?;
        Rbac::parse(&text).with_context(|| format!("parsing RBAC rules {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Rbac> {
        let docs: Vec<Document> = serde_saphyr::from_multiple(text)?;
        let find = |kind: &str, name: &str| {
            docs.iter()
                .find(|d| d.kind == kind && d.metadata.name == name)
                .map(|d| d.rules.clone())
                .with_context(|| format!("a binding refers to {kind} {name}, not in the file"))
        };
        let mut rbac = Rbac::default();
        for doc in &docs {
            let Some(role_ref) = &doc.role_ref else {
                continue;
            };
            let rules = find(&role_ref.kind, &role_ref.name)?;
            match (doc.kind.as_str(), role_ref.kind.as_str()) {
                ("ClusterRoleBinding", _) => rbac.cluster.extend(rules),
                ("RoleBinding", _) => rbac.namespaced.extend(rules),
                (other, _) => anyhow::bail!("unknown binding kind {other}"),
            }
        }
        Ok(rbac)
    }

    pub fn allows(&self, a: &Attributes<'_>) -> bool {
        self.cluster.iter().any(|r| r.allows(a))
            || (a.namespace.is_some() && self.namespaced.iter().any(|r| r.allows(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs<'a>(
        verb: &'a str,
        group: &'a str,
        resource: &'a str,
        subresource: Option<&'a str>,
        namespace: Option<&'a str>,
    ) -> Attributes<'a> {
        Attributes {
            verb,
            group,
            resource,
            subresource,
            namespace,
            name: None,
        }
    }

    #[test]
    fn the_driver_role_in_deploy_allows_exactly_its_verbs() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/kubernetes/base/driver-rbac.yaml");
        let rbac = Rbac::load(&path).unwrap();
        let ns = Some("default");
        for (a, expected) in [
            (attrs("create", "batch", "jobs", None, ns), true),
            (attrs("watch", "batch", "jobs", None, ns), true),
            (attrs("update", "batch", "jobs", None, ns), false),
            (attrs("get", "", "pods", Some("log"), ns), true),
            (attrs("delete", "", "pods", None, ns), false),
            (attrs("list", "", "nodes", None, None), true),
            (attrs("get", "", "nodes", None, None), false),
            (attrs("list", "batch", "jobs", None, None), false),
            (attrs("get", "", "secrets", None, ns), false),
        ] {
            assert_eq!(rbac.allows(&a), expected, "{a:?}");
        }
    }
}
