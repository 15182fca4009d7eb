// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! `labelSelector` (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`) and
//! `fieldSelector` (`path=v`, `path!=v` on any dotted field, e.g. `metadata.name`) as the
//! API server parses them.

use serde_json::Value;

use super::store::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A request's label and field selectors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selectors {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).collect())
}

fn parse_label_requirement(s: &str) -> Option<Requirement> {
    if let Some((k, v)) = s.split_once("!=") {
        return Some(Requirement::NotEquals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = s.split_once("==").or_else(|| s.split_once('=')) {
        return Some(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, set)) = s.split_once(" notin ") {
        return Some(Requirement::NotIn(k.trim().into(), parse_set(set)?));
    }
    if let Some((k, set)) = s.split_once(" in ") {
        return Some(Requirement::In(k.trim().into(), parse_set(set)?));
    }
    if let Some(k) = s.strip_prefix('!') {
        return Some(Requirement::NotExists(k.trim().into()));
    }
    if s.contains(char::is_whitespace) || s.contains('(') {
        return None;
    }
    Some(Requirement::Exists(s.into()))
}

fn matches(req: &Requirement, lookup: impl Fn(&str) -> Option<String>) -> bool {
    match req {
        Requirement::Equals(k, v) => lookup(k).as_deref() == Some(v.as_str()),
        Requirement::NotEquals(k, v) => lookup(k).as_deref() != Some(v.as_str()),
        Requirement::In(k, set) => lookup(k).is_some_and(|x| set.contains(&x)),
        Requirement::NotIn(k, set) => lookup(k).is_none_or(|x| !set.contains(&x)),
        Requirement::Exists(k) => lookup(k).is_some(),
        Requirement::NotExists(k) => lookup(k).is_none(),
    }
}

/// The string value at a dotted path (`metadata.name`, `spec.nodeName`, `status.phase`).
fn field(obj: &Value, path: &str) -> Option<String> {
    let mut v = obj;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl Selectors {
    pub fn parse(label: Option<&str>, field: Option<&str>) -> Result<Selectors, ApiError> {
        let mut selectors = Selectors::default();
        for part in label.map(split_top).unwrap_or_default() {
            let req = parse_label_requirement(part).ok_or_else(|| {
                ApiError::bad_request(format!("unable to parse requirement: {part:?}"))
            })?;
            selectors.labels.push(req);
        }
        for part in field.map(split_top).unwrap_or_default() {
            let req = match part.split_once("!=") {
                Some((k, v)) => Requirement::NotEquals(k.trim().into(), v.trim().into()),
                None => match part.split_once("==").or_else(|| part.split_once('=')) {
                    Some((k, v)) => Requirement::Equals(k.trim().into(), v.trim().into()),
                    None => {
                        return Err(ApiError::bad_request(format!(
                            "invalid selector: '{part}'; can't understand '{part}'"
                        )));
                    }
                },
            };
            selectors.fields.push(req);
        }
        Ok(selectors)
    }

    /// A selector of one label, for the controllers.
    pub fn label_equals(key: &str, value: &str) -> Selectors {
        Selectors {
            labels: vec![Requirement::Equals(key.into(), value.into())],
            fields: Vec::new(),
        }
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.labels.iter().all(|r| {
            matches(r, |k| {
                labels.get(k).and_then(Value::as_str).map(str::to_string)
            })
        }) && self
            .fields
            .iter()
            .all(|r| matches(r, |path| field(obj, path)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(label: &str, fieldsel: &str, expected: bool) {
        let obj = json!({
            "metadata": {"name": "job-a", "labels": {"app": "kaniko", "platform": "linux-amd64"}},
            "status": {"phase": "Running"},
        });
        let s = Selectors::parse(Some(label), Some(fieldsel)).unwrap();
        assert_eq!(s.matches(&obj), expected, "{label:?} {fieldsel:?}");
    }

    #[test]
    fn selectors_match_as_the_api_server_does() {
        check("", "", true);
        check("app=kaniko", "", true);
        check("app==kaniko,platform=linux-amd64", "", true);
        check("app=other", "", false);
        check("app!=other", "", true);
        check("platform in (linux-arm64, linux-amd64)", "", true);
        check("platform notin (linux-amd64)", "", false);
        check("app,!missing", "", true);
        check("missing", "", false);
        check("", "metadata.name=job-a", true);
        check("", "metadata.name=job-b", false);
        check("app=kaniko", "status.phase!=Succeeded", true);
    }

    #[test]
    fn a_malformed_selector_is_refused() {
        assert!(Selectors::parse(Some("app in kaniko"), None).is_err());
        assert!(Selectors::parse(None, Some("metadata.name")).is_err());
    }
}
