// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The HTTP side: authentication by bearer token, RBAC, routing of `/api/v1/...` and
//! `/apis/batch/v1/...` paths to the store, watch streams, pods/log and the discovery
//! documents kubectl reads.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};

use super::rbac::Attributes;
use super::selector::Selectors;
use super::store::{self, ApiError, Propagation, RESOURCES, ResourceType};
use super::{ADMIN_TOKEN, DRIVER_TOKEN, RequestRecord, Shared};

type Body = BoxBody<Bytes, Infallible>;

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let shutdown = shared.shutdown_signal();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = shutdown => {}
            }
        });
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn json_response(code: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(value).unwrap()))
        .unwrap()
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.status(),
    )
}

/// A request's target once its path is parsed.
struct Target {
    rt: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(path: &str) -> Result<Option<Target>, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", rest),
        ["apis", group, "v1", rest @ ..] if !rest.is_empty() => (*group, rest),
        _ => return Ok(None),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(ns.to_string()), rest),
        _ => (None, rest),
    };
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Err(not_found()),
    };
    let rt = store::resource(group, plural).ok_or_else(not_found)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(not_found());
    }
    if let Some(sub) = &subresource
        && !rt.subresources.contains(&sub.as_str())
    {
        return Err(not_found());
    }
    Ok(Some(Target {
        rt,
        namespace,
        name,
        subresource,
    }))
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    // kubectl (client-go) sends no bearer token over plain HTTP: a request without one gets
    // the driver's rules, like one with its token.
    let admin = match token.as_deref() {
        Some(ADMIN_TOKEN) => true,
        Some(DRIVER_TOKEN) | None => false,
        Some(_) => return error_response(&ApiError::new(401, "Unauthorized", "Unauthorized")),
    };
    let path = req.uri().path().to_string();
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let target = match parse_target(&path) {
        Ok(Some(t)) => t,
        Ok(None) => return discovery(&path, &req),
        Err(e) => return error_response(&e),
    };
    let is_true = |k: &str| query.get(k).is_some_and(|v| v == "1" || v == "true");
    let verb = match (req.method(), &target.name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) if is_true("watch") => "watch",
        (&Method::GET, None) => "list",
        (&Method::POST, None) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => {
            return error_response(&ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    let allowed = admin
        || shared.rbac.allows(&Attributes {
            verb,
            group: target.rt.group,
            resource: target.rt.plural,
            subresource: target.subresource.as_deref(),
            namespace: target.namespace.as_deref(),
            name: target.name.as_deref(),
        });
    shared.requests.lock().unwrap().push(RequestRecord {
        verb: verb.to_string(),
        group: target.rt.group.to_string(),
        resource: target.rt.plural.to_string(),
        subresource: target.subresource.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        allowed,
        admin,
    });
    if !allowed {
        let resource = match &target.subresource {
            Some(sub) => format!("{}/{sub}", target.rt.plural),
            None => target.rt.plural.to_string(),
        };
        let group = if target.rt.group.is_empty() {
            "\"\"".to_string()
        } else {
            format!("\"{}\"", target.rt.group)
        };
        let name = target
            .name
            .as_ref()
            .map(|n| format!("{} \"{n}\"", target.rt.qualified_plural()))
            .unwrap_or_else(|| target.rt.qualified_plural());
        let scope = match &target.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let mut e = ApiError::new(
            403,
            "Forbidden",
            format!(
                "{name} is forbidden: User \"system:serviceaccount:kaniko-rs:kaniko-rs-coordinator\" \
                 cannot {verb} resource \"{resource}\" in API group {group} {scope}"
            ),
        );
        e.details =
            json!({"name": target.name, "group": target.rt.group, "kind": target.rt.plural});
        return error_response(&e);
    }
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error_response(&ApiError::bad_request(format!("reading the body: {e}"))),
    };
    let result = match verb {
        "watch" => return watch(&shared, &target, &query),
        "get" if target.subresource.as_deref() == Some("log") => {
            return pod_log(&shared, &target, &query);
        }
        _ => dispatch(&shared, verb, &target, &query, &parts.headers, &body),
    };
    match result {
        Ok((code, value)) => json_response(code, &value),
        Err(e) => error_response(&e),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

fn namespace_of(target: &Target) -> Result<String, ApiError> {
    match (&target.namespace, target.rt.namespaced) {
        (Some(ns), _) => Ok(ns.clone()),
        (None, false) => Ok(String::new()),
        (None, true) => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

fn dispatch(
    shared: &Shared,
    verb: &str,
    target: &Target,
    query: &HashMap<String, String>,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Value), ApiError> {
    let rt = target.rt;
    let name = target.name.as_deref().unwrap_or_default();
    match verb {
        "get" => {
            let ns = namespace_of(target)?;
            Ok((StatusCode::OK, shared.read(|s| s.get(rt, &ns, name))?))
        }
        "list" => {
            let selectors = Selectors::parse(
                query.get("labelSelector").map(String::as_str),
                query.get("fieldSelector").map(String::as_str),
            )?;
            let (items, rv) = shared.read(|s| {
                (
                    s.list(rt, target.namespace.as_deref(), &selectors),
                    s.resource_version(),
                )
            });
            Ok((
                StatusCode::OK,
                json!({
                    "kind": format!("{}List", rt.kind),
                    "apiVersion": rt.api_version(),
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": items,
                }),
            ))
        }
        "create" => {
            let ns = namespace_of(target)?;
            let obj = parse_body(body)?;
            Ok((
                StatusCode::CREATED,
                shared.write(|s| s.create(rt, &ns, obj))?,
            ))
        }
        "update" => {
            let ns = namespace_of(target)?;
            let obj = parse_body(body)?;
            Ok((
                StatusCode::OK,
                shared.write(|s| s.replace(rt, &ns, name, obj))?,
            ))
        }
        "patch" => {
            let ns = namespace_of(target)?;
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !content_type.starts_with("application/merge-patch+json")
                && !content_type.starts_with("application/strategic-merge-patch+json")
            {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("the fake API server does not support patches of type {content_type}"),
                ));
            }
            let patch = parse_body(body)?;
            Ok((
                StatusCode::OK,
                shared.write(|s| s.modify(rt, &ns, name, |obj| merge_patch(obj, &patch)))?,
            ))
        }
        "delete" => {
            let ns = namespace_of(target)?;
            let options = if body.is_empty() {
                Value::Null
            } else {
                parse_body(body)?
            };
            let policy = query
                .get("propagationPolicy")
                .map(String::as_str)
                .or(options["propagationPolicy"].as_str());
            let propagation = match policy {
                Some("Foreground") => Propagation::Foreground,
                Some("Background") => Propagation::Background,
                Some("Orphan") => Propagation::Orphan,
                // batch/v1 Jobs still default to orphaning their pods.
                None if rt.plural == "jobs" => Propagation::Orphan,
                None => Propagation::Background,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "unsupported propagationPolicy {other:?}"
                    )));
                }
            };
            Ok((
                StatusCode::OK,
                shared.write(|s| s.delete(rt, &ns, name, propagation))?,
            ))
        }
        "deletecollection" => {
            let selectors = Selectors::parse(
                query.get("labelSelector").map(String::as_str),
                query.get("fieldSelector").map(String::as_str),
            )?;
            let deleted = shared.write(|s| {
                let items = s.list(rt, target.namespace.as_deref(), &selectors);
                items
                    .into_iter()
                    .filter_map(|obj| {
                        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
                        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                        s.delete(rt, ns, name, Propagation::Background).ok()
                    })
                    .collect::<Vec<_>>()
            });
            Ok((
                StatusCode::OK,
                json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
                       "metadata": {}, "items": deleted}),
            ))
        }
        _ => unreachable!("verb {verb} is dispatched above"),
    }
}

/// RFC 7386 JSON merge patch (also used for strategic merge patches: lists are replaced).
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    for (k, v) in patch {
        if v.is_null() {
            target.as_object_mut().unwrap().remove(k);
        } else {
            merge_patch(&mut target[k], v);
        }
    }
}

fn streaming(content_type: &str) -> (tokio::sync::mpsc::Sender<Bytes>, Response<Body>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap();
    (tx, response)
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Value {
    let mut object = json!({
        "kind": rt.kind,
        "apiVersion": rt.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
    });
    if initial_end {
        object["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    object
}

fn watch(shared: &Arc<Shared>, target: &Target, query: &HashMap<String, String>) -> Response<Body> {
    let selectors = match Selectors::parse(
        query.get("labelSelector").map(String::as_str),
        query.get("fieldSelector").map(String::as_str),
    ) {
        Ok(s) => s,
        Err(e) => return error_response(&e),
    };
    let requested = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(v) => match v.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return error_response(&ApiError::bad_request(format!(
                    "invalid resourceVersion {v:?}"
                )));
            }
        },
    };
    let is_true = |k: &str| query.get(k).is_some_and(|v| v == "1" || v == "true");
    let bookmarks = is_true("allowWatchBookmarks");
    let send_initial = is_true("sendInitialEvents");
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let rt = target.rt;
    let namespace = target.namespace.clone();
    let in_scope = move |obj: &Value| {
        namespace
            .as_deref()
            .is_none_or(|ns| obj["metadata"]["namespace"].as_str() == Some(ns))
    };
    let (tx, response) = streaming("application/json");
    let shared = shared.clone();
    let mut changed = shared.changed.subscribe();
    let shutdown = shared.shutdown_signal();
    tokio::spawn(async move {
        let work = async move {
            // The starting point: replay from a version, or the current state as ADDED events.
            let mut cursor = match requested {
                Some(rv) if !send_initial => rv,
                _ => {
                    let (items, rv) =
                        shared.read(|s| (s.list(rt, None, &selectors), s.resource_version()));
                    for obj in items.iter().filter(|o| in_scope(o)) {
                        if tx.send(event_line("ADDED", obj)).await.is_err() {
                            return;
                        }
                    }
                    if send_initial
                        && tx
                            .send(event_line("BOOKMARK", &bookmark(rt, rv, true)))
                            .await
                            .is_err()
                    {
                        return;
                    }
                    rv
                }
            };
            let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
            ticker.tick().await;
            loop {
                let batch =
                    shared.read(|s| s.changes_since(cursor).map(|c| (c, s.resource_version())));
                let (changes, now) = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(event_line("ERROR", &e.status())).await;
                        return;
                    }
                };
                for change in changes {
                    if change.resource != rt.plural || !in_scope(&change.object) {
                        continue;
                    }
                    let now_matches = selectors.matches(&change.object);
                    let was_matching = change
                        .previous
                        .as_ref()
                        .is_some_and(|p| selectors.matches(p));
                    let kind = match change.kind {
                        store::EventType::Modified if now_matches && !was_matching => "ADDED",
                        store::EventType::Modified if !now_matches && was_matching => "DELETED",
                        _ if !now_matches => continue,
                        other => other.as_str(),
                    };
                    if tx.send(event_line(kind, &change.object)).await.is_err() {
                        return;
                    }
                }
                cursor = now;
                tokio::select! {
                    r = changed.changed() => if r.is_err() { return },
                    _ = ticker.tick() => {
                        if bookmarks
                            && tx.send(event_line("BOOKMARK", &bookmark(rt, cursor, false))).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
        };
        tokio::select! {
            _ = work => {}
            _ = tokio::time::sleep(timeout) => {}
            _ = shutdown => {}
        }
    });
    response
}

fn pod_log(
    shared: &Arc<Shared>,
    target: &Target,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let ns = target.namespace.clone().unwrap_or_default();
    let name = target.name.clone().unwrap_or_default();
    let pod = match shared.read(|s| s.get(target.rt, &ns, &name)) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let Some(log) = shared
        .logs
        .lock()
        .unwrap()
        .get(&(ns.clone(), name.clone()))
        .cloned()
    else {
        let container = pod["spec"]["containers"][0]["name"]
            .as_str()
            .unwrap_or_default();
        let reason = pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()
            .unwrap_or("ContainerCreating");
        return error_response(&ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    };
    let follow = query.get("follow").is_some_and(|v| v == "true" || v == "1");
    let tail = query.get("tailLines").and_then(|v| v.parse::<usize>().ok());
    let snapshot = log.snapshot();
    let start = match tail {
        Some(n) => {
            let mut start = snapshot.len();
            let mut seen = 0;
            let trimmed = snapshot.strip_suffix(b"\n").unwrap_or(&snapshot);
            for (i, b) in trimmed.iter().enumerate().rev() {
                if *b == b'\n' {
                    seen += 1;
                    if seen == n {
                        start = i + 1;
                        break;
                    }
                }
            }
            if seen < n {
                start = 0;
            }
            if n == 0 { snapshot.len() } else { start }
        }
        None => 0,
    };
    if !follow {
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/plain")
            .body(full(snapshot[start..].to_vec()))
            .unwrap();
    }
    let (tx, response) = streaming("text/plain");
    let mut progress = log.progress.subscribe();
    let shutdown = shared.shutdown_signal();
    tokio::spawn(async move {
        let work = async move {
            let mut offset = start;
            loop {
                let (len, done) = *progress.borrow_and_update();
                if len > offset {
                    let chunk = log.snapshot()[offset..len].to_vec();
                    offset = len;
                    if tx.send(Bytes::from(chunk)).await.is_err() {
                        return;
                    }
                }
                if done {
                    return;
                }
                if progress.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            _ = work => {}
            _ = shutdown => {}
        }
    });
    response
}

fn resource_list(group_version: &str, group: &str) -> Value {
    let mut resources = Vec::new();
    for rt in RESOURCES.iter().filter(|r| r.group == group) {
        resources.push(json!({
            "name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
            "kind": rt.kind, "shortNames": rt.short_names,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        }));
        for sub in rt.subresources {
            let verbs = if *sub == "log" {
                json!(["get"])
            } else {
                json!(["get", "patch", "update"])
            };
            resources.push(json!({
                "name": format!("{}/{sub}", rt.plural), "singularName": "",
                "namespaced": rt.namespaced, "kind": if *sub == "log" { "Pod" } else { rt.kind },
                "verbs": verbs,
            }));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
           "resources": resources})
}

/// The discovery documents and health endpoints (allowed to every authenticated client, as
/// the `system:discovery` ClusterRole does).
fn discovery(path: &str, req: &Request<Incoming>) -> Response<Body> {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let batch = json!({"groupVersion": "batch/v1", "version": "v1"});
    let value = match path.trim_end_matches('/') {
        "/version" => json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
        }),
        "/api" => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }),
        "/apis" => json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{"name": "batch", "versions": [batch], "preferredVersion": batch}],
        }),
        "/apis/batch" => json!({
            "kind": "APIGroup", "apiVersion": "v1", "name": "batch",
            "versions": [batch], "preferredVersion": batch,
        }),
        "/api/v1" => resource_list("v1", ""),
        "/apis/batch/v1" => resource_list("batch/v1", "batch"),
        "/healthz" | "/livez" | "/readyz" => {
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "text/plain")
                .body(full("ok"))
                .unwrap();
        }
        _ => {
            return error_response(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    json_response(StatusCode::OK, &value)
}
