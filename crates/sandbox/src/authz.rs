//! `kubectl auth can-i` and `auth whoami`: the self-subject reviews. A rehearsal cluster has no
//! RBAC, so every access review is allowed, the rules review lists everything, and the user is the
//! sandbox's one user, in `system:masters`.

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::metrics::segments;
use crate::server::{Body, json_response, read_body};

/// The user the sandbox's kubeconfig names (`auth whoami`).
pub const USER: &str = "tollgate-sandbox";
/// Why a review allows: the reason it answers.
pub const REASON: &str = "the tollgate sandbox allows everything: a rehearsal cluster has no RBAC";

/// Which review a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Access,
    Rules,
    Subject,
}

/// The review at `path`, if it names one.
pub fn route(path: &str) -> Option<Review> {
    let s = segments(path);
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    match s.as_slice() {
        [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
        ] => Some(Review::Access),
        [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
        ] => Some(Review::Rules),
        ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"] => Some(Review::Subject),
        _ => None,
    }
}

/// Answers a review: created (201), with its status filled.
pub async fn serve(review: Review, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let (body, _) = read_body(req).await?;
    let mut v: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request is not a review: {e}"))
    })?;
    let (kind, api_version) = match review {
        Review::Access => ("SelfSubjectAccessReview", "authorization.k8s.io/v1"),
        Review::Rules => ("SelfSubjectRulesReview", "authorization.k8s.io/v1"),
        Review::Subject => ("SelfSubjectReview", "authentication.k8s.io/v1"),
    };
    if !v.is_object()
        || v.get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != kind)
    {
        return Err(ApiError::bad_request(format!(
            "the body of the request is not a {kind}"
        )));
    }
    v["kind"] = json!(kind);
    v["apiVersion"] = json!(api_version);
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    v["metadata"]["creationTimestamp"] = json!(crate::store::now());
    v["status"] = match review {
        Review::Access => json!({"allowed": true, "reason": REASON}),
        Review::Rules => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        Review::Subject => json!({
            "userInfo": {"username": USER, "groups": ["system:masters", "system:authenticated"]},
        }),
    };
    Ok(json_response(201, &v))
}
