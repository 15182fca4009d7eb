// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The fake API server's object store: every object as JSON under one global
//! resourceVersion counter, the window of recent changes that watches replay (older versions
//! answer 410 Gone), creation defaults, name validation and cascading deletes.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;
use serde_json::{Value, json};

use super::selector::Selectors;

/// How many changes a watch can resume from; older resourceVersions answer 410 Gone.
const HISTORY: usize = 2000;

/// A resource type the server serves.
#[derive(Debug)]
pub(crate) struct ResourceType {
    pub plural: &'static str,
    pub singular: &'static str,
    /// API group, "" for core.
    pub group: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub subresources: &'static [&'static str],
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            "v1".to_string()
        } else {
            format!("{}/v1", self.group)
        }
    }

    /// `Job.batch`, `Pod`: how Status messages name a kind.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// `jobs.batch`, `pods`: how Forbidden and NotFound messages name a resource.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

pub(crate) const RESOURCES: &[ResourceType] = &[
    ResourceType {
        plural: "pods",
        singular: "pod",
        group: "",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        subresources: &["log", "status"],
    },
    ResourceType {
        plural: "secrets",
        singular: "secret",
        group: "",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        subresources: &[],
    },
    ResourceType {
        plural: "serviceaccounts",
        singular: "serviceaccount",
        group: "",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        subresources: &[],
    },
    ResourceType {
        plural: "events",
        singular: "event",
        group: "",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        subresources: &[],
    },
    ResourceType {
        plural: "nodes",
        singular: "node",
        group: "",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        subresources: &["status"],
    },
    ResourceType {
        plural: "jobs",
        singular: "job",
        group: "batch",
        kind: "Job",
        namespaced: true,
        short_names: &[],
        subresources: &["status"],
    },
];

/// The resource type of a group and plural name.
pub(crate) fn resource(group: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

pub(crate) fn pods() -> &'static ResourceType {
    resource("", "pods").unwrap()
}
pub(crate) fn jobs() -> &'static ResourceType {
    resource("batch", "jobs").unwrap()
}
pub(crate) fn nodes() -> &'static ResourceType {
    resource("", "nodes").unwrap()
}
pub(crate) fn events() -> &'static ResourceType {
    resource("", "events").unwrap()
}

/// A failed request, answered as a `Status` object.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        ApiError {
            details: json!({"name": name, "group": rt.group, "kind": rt.plural}),
            ..ApiError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", rt.qualified_plural()),
            )
        }
    }

    pub fn gone(requested: u64, oldest: u64) -> ApiError {
        ApiError::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches replay it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub rv: u64,
    pub kind: EventType,
    pub resource: &'static str,
    pub object: Value,
    /// The object before a modification (to turn a MODIFIED that leaves a selector into a
    /// DELETED for that watch).
    pub previous: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    resource: &'static str,
    namespace: String,
    name: String,
}

/// How a delete treats the objects the deleted one owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    Orphan,
    Background,
    Foreground,
}

/// Every object, the resourceVersion counter and the recent changes.
#[derive(Default)]
pub(crate) struct Store {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Change>,
    /// Changes after this version are in `history`; a watch from an older one is 410 Gone.
    oldest: u64,
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Five characters from the alphabet Kubernetes' name generator uses.
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn uid() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Kubernetes' DNS-1123 subdomain rule (names of most objects), with the message the real
/// validation gives.
fn dns1123_subdomain_error(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some("must be no more than 253 characters".to_string());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.split('.').all(label_ok) {
        None
    } else {
        Some(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (e.g. \
             'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                .to_string(),
        )
    }
}

/// A label value's rule (at most 63 characters, alphanumerics with `-_.` inside).
fn label_value_error(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some("must be no more than 63 characters".to_string());
    }
    let ok = value.is_empty()
        || (value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric());
    if ok {
        None
    } else {
        Some(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        )
    }
}

fn invalid(rt: &ResourceType, name: &str, field: &str, value: &str, why: &str) -> ApiError {
    let message = format!("Invalid value: \"{value}\": {why}");
    ApiError {
        details: json!({
            "name": name, "group": rt.group, "kind": rt.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
        }),
        ..ApiError::new(
            422,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: {field}: {message}",
                rt.qualified_kind()
            ),
        )
    }
}

fn validate(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(why) = dns1123_subdomain_error(name) {
        return Err(invalid(rt, name, "metadata.name", name, &why));
    }
    if rt.plural == "jobs"
        && let Some(why) = label_value_error(name)
    {
        // The job controller labels its pods `job-name: <name>`, so a Job's name is a label
        // value too.
        return Err(invalid(rt, name, "spec.template.labels", name, &why));
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            let v = v.as_str().unwrap_or_default();
            if let Some(why) = label_value_error(v) {
                return Err(invalid(rt, name, &format!("metadata.labels.{k}"), v, &why));
            }
        }
    }
    if rt.plural == "pods" || rt.plural == "jobs" {
        let spec = if rt.plural == "pods" {
            &obj["spec"]
        } else {
            &obj["spec"]["template"]["spec"]
        };
        let prefix = if rt.plural == "pods" {
            "spec"
        } else {
            "spec.template.spec"
        };
        if spec["containers"].as_array().is_none_or(|c| c.is_empty()) {
            return Err(ApiError {
                details: json!({"name": name, "group": rt.group, "kind": rt.kind}),
                ..ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "{} \"{name}\" is invalid: {prefix}.containers: Required value",
                        rt.qualified_kind()
                    ),
                )
            });
        }
        if rt.plural == "jobs" {
            let policy = spec["restartPolicy"].as_str().unwrap_or("Always");
            if policy != "Never" && policy != "OnFailure" {
                return Err(invalid(
                    rt,
                    name,
                    "spec.template.spec.restartPolicy",
                    policy,
                    "supported values: \"OnFailure\", \"Never\"",
                ));
            }
        }
    }
    Ok(())
}

/// Fills the fields the API server or its admission would, for the types served.
fn defaults(rt: &ResourceType, obj: &mut Value) {
    let uid = obj["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match rt.plural {
        "jobs" => {
            obj["metadata"]["generation"] = json!(1);
            let spec = &mut obj["spec"];
            for (field, value) in [("backoffLimit", 6), ("completions", 1), ("parallelism", 1)] {
                if spec[field].is_null() {
                    spec[field] = json!(value);
                }
            }
            let selector_labels = json!({"batch.kubernetes.io/controller-uid": uid});
            if spec["selector"].is_null() {
                spec["selector"] = json!({"matchLabels": selector_labels});
            }
            let labels = &mut spec["template"]["metadata"]["labels"];
            if labels.is_null() {
                *labels = json!({});
            }
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", &uid),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", &uid),
                ("job-name", &name),
            ] {
                labels[k] = json!(v);
            }
            pod_spec_defaults(&mut spec["template"]["spec"]);
            if obj["status"].is_null() {
                obj["status"] = json!({});
            }
        }
        "pods" => {
            pod_spec_defaults(&mut obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        "secrets" => {
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
            if let Some(string_data) = obj
                .as_object_mut()
                .and_then(|o| o.remove("stringData"))
                .and_then(|v| v.as_object().cloned())
            {
                use base64::Engine;
                for (k, v) in string_data {
                    let encoded = base64::engine::general_purpose::STANDARD
                        .encode(v.as_str().unwrap_or_default());
                    obj["data"][k] = json!(encoded);
                }
            }
        }
        _ => {}
    }
}

fn pod_spec_defaults(spec: &mut Value) {
    if spec["restartPolicy"].is_null() {
        spec["restartPolicy"] = json!("Always");
    }
    if spec["serviceAccountName"].is_null() {
        spec["serviceAccountName"] = json!("default");
    }
    if spec["terminationGracePeriodSeconds"].is_null() {
        spec["terminationGracePeriodSeconds"] = json!(30);
    }
    if let Some(containers) = spec["containers"].as_array_mut() {
        for c in containers {
            if c["terminationMessagePath"].is_null() {
                c["terminationMessagePath"] = json!("/dev/termination-log");
            }
            if c["terminationMessagePolicy"].is_null() {
                c["terminationMessagePolicy"] = json!("File");
            }
            if c["imagePullPolicy"].is_null() {
                c["imagePullPolicy"] = json!("IfNotPresent");
            }
        }
    }
}

fn key(rt: &ResourceType, namespace: &str, name: &str) -> Key {
    Key {
        resource: rt.plural,
        namespace: if rt.namespaced {
            namespace.to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

impl Store {
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    fn record(&mut self, change: Change) {
        self.history.push_back(change);
        while self.history.len() > HISTORY {
            let dropped = self.history.pop_front().unwrap();
            self.oldest = dropped.rv;
        }
    }

    /// Forgets every change so far, as etcd's compaction does: a watch from any version
    /// before now answers 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest = self.rv;
    }

    /// The changes after `rv`, or 410 Gone when they are no longer kept.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Change>, ApiError> {
        if rv < self.oldest {
            return Err(ApiError::gone(rv, self.oldest + 1));
        }
        Ok(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    pub fn create(
        &mut self,
        rt: &'static ResourceType,
        namespace: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body is not a JSON object"));
        }
        if obj["metadata"].is_null() {
            obj["metadata"] = json!({});
        }
        if obj["metadata"]["name"].as_str().is_none_or(str::is_empty) {
            match obj["metadata"]["generateName"].as_str() {
                Some(prefix) => {
                    let prefix = &prefix[..prefix.len().min(58)];
                    obj["metadata"]["name"] = json!(format!("{prefix}{}", random_suffix()));
                }
                None => {
                    return Err(ApiError {
                        details: json!({"group": rt.group, "kind": rt.kind}),
                        ..ApiError::new(
                            422,
                            "Invalid",
                            format!(
                                "{} \"\" is invalid: metadata.name: Required value: name or \
                                 generateName is required",
                                rt.qualified_kind()
                            ),
                        )
                    });
                }
            }
        }
        validate(rt, &obj)?;
        let name = obj["metadata"]["name"].as_str().unwrap().to_string();
        if rt.namespaced {
            if let Some(ns) = obj["metadata"]["namespace"].as_str()
                && ns != namespace
            {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object ({ns}) does not match the namespace \
                     sent on the request ({namespace})"
                )));
            }
            obj["metadata"]["namespace"] = json!(namespace);
        }
        let k = key(rt, namespace, &name);
        if self.objects.contains_key(&k) {
            return Err(ApiError {
                details: json!({"name": name, "group": rt.group, "kind": rt.plural}),
                ..ApiError::new(
                    409,
                    "AlreadyExists",
                    format!("{} \"{name}\" already exists", rt.qualified_plural()),
                )
            });
        }
        self.rv += 1;
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(uid());
        meta["resourceVersion"] = json!(self.rv.to_string());
        meta["creationTimestamp"] = json!(now());
        defaults(rt, &mut obj);
        self.objects.insert(k, obj.clone());
        self.record(Change {
            rv: self.rv,
            kind: EventType::Added,
            resource: rt.plural,
            object: obj.clone(),
            previous: None,
        });
        Ok(obj)
    }

    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&key(rt, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// The objects of a type (in one namespace, or all) that match the selectors.
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        selectors: &Selectors,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, _)| k.resource == rt.plural)
            .filter(|(k, _)| namespace.is_none_or(|ns| !rt.namespaced || k.namespace == ns))
            .filter(|(_, v)| selectors.matches(v))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn all(&self) -> Vec<Value> {
        self.objects.values().cloned().collect()
    }

    /// Replaces an object (PUT): a resourceVersion in the body must be the stored one.
    pub fn replace(
        &mut self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        let current = self.get(rt, namespace, name)?;
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str()
            && rv != current["metadata"]["resourceVersion"]
        {
            return Err(ApiError {
                details: json!({"name": name, "group": rt.group, "kind": rt.plural}),
                ..ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been \
                         modified; please apply your changes to the latest version and try again",
                        rt.qualified_plural()
                    ),
                )
            });
        }
        for field in ["uid", "creationTimestamp", "namespace", "name"] {
            obj["metadata"][field] = current["metadata"][field].clone();
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        self.modify(rt, namespace, name, |o| *o = obj)
    }

    /// Changes an object in place and records a MODIFIED change when it did change.
    pub fn modify(
        &mut self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        let k = key(rt, namespace, name);
        let Some(current) = self.objects.get_mut(&k) else {
            return Err(ApiError::not_found(rt, name));
        };
        let previous = current.clone();
        f(current);
        if *current == previous {
            return Ok(previous);
        }
        self.rv += 1;
        current["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let object = current.clone();
        self.record(Change {
            rv: self.rv,
            kind: EventType::Modified,
            resource: rt.plural,
            object: object.clone(),
            previous: Some(previous),
        });
        Ok(object)
    }

    /// Deletes an object and, unless orphaned, every object it owns (transitively).
    pub fn delete(
        &mut self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) -> Result<Value, ApiError> {
        let k = key(rt, namespace, name);
        let Some(obj) = self.objects.get(&k).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        if propagation != Propagation::Orphan {
            let uid = obj["metadata"]["uid"].clone();
            let owned: Vec<(Key, Value)> = self
                .objects
                .iter()
                .filter(|(_, v)| {
                    v["metadata"]["ownerReferences"]
                        .as_array()
                        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for (child, _) in owned {
                if let Some(child_rt) = RESOURCES.iter().find(|r| r.plural == child.resource) {
                    let _ = self.delete(child_rt, &child.namespace, &child.name, propagation);
                }
            }
        }
        self.objects.remove(&k);
        self.rv += 1;
        let mut deleted = obj;
        deleted["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record(Change {
            rv: self.rv,
            kind: EventType::Deleted,
            resource: rt.plural,
            object: deleted.clone(),
            previous: None,
        });
        Ok(deleted)
    }
}
