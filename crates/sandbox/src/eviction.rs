//! Pod evictions (`pods/{name}/eviction`, policy/v1 `Eviction`), which `kubectl drain` uses when
//! discovery lists them. The sandbox has no PodDisruptionBudgets, so every eviction is allowed:
//! the pod is deleted with the eviction's delete options (its grace period, preconditions, dry run),
//! and the answer is a Status of success, 201, as the API server's.

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::metrics::segments;
use crate::resources;
use crate::server::{Body, json_response, read_body};
use crate::shared::Shared;
use crate::store::DeleteOptions;

/// The pod an eviction path names: (namespace, name).
pub fn route(path: &str) -> Option<(String, String)> {
    let s = segments(path);
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", pod, "eviction"] => {
            Some((ns.to_string(), pod.to_string()))
        }
        _ => None,
    }
}

/// The delete options an eviction carries.
fn options(eviction: &Value) -> DeleteOptions {
    let o = eviction.get("deleteOptions").cloned().unwrap_or(json!({}));
    let text = |p: &str| o.pointer(p).and_then(Value::as_str).map(str::to_string);
    DeleteOptions {
        grace_period_seconds: o.get("gracePeriodSeconds").and_then(Value::as_i64),
        precondition_uid: text("/preconditions/uid"),
        precondition_resource_version: text("/preconditions/resourceVersion"),
        dry_run: o
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x == "All")),
        ..DeleteOptions::default()
    }
}

/// Evicts the pod: deletes it, answering 201 and a Status of success.
pub async fn serve(
    shared: &Shared,
    (ns, name): (String, String),
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let dry_query = req.uri().query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "dryRun" && v == "All")
    });
    let (body, _) = read_body(req).await?;
    let eviction: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request is not an Eviction: {e}"))
    })?;
    if !eviction.is_object()
        || eviction
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Eviction")
    {
        return Err(ApiError::bad_request(
            "the body of the request is not an Eviction",
        ));
    }
    let named = eviction
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(&name);
    if named != name {
        return Err(ApiError::bad_request(format!(
            "name in URL does not match name in Eviction object: {name} != {named}"
        )));
    }
    let mut opts = options(&eviction);
    opts.dry_run |= dry_query;
    shared
        .store
        .delete(resources::by_kind("Pod"), &ns, &name, &opts)?;
    Ok(json_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}
