//! `kubectl exec`, `attach`, `port-forward` and `debug`: the sandbox's containers are simulated, so
//! there is nothing to run a command in, forward a port to or debug. The pod's `exec`, `attach`,
//! `portforward` and `ephemeralcontainers` subresources answer a Status that says so (after the pod
//! is found: a missing pod is NotFound, as on a cluster), and kubectl prints its message.

use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;

use crate::error::ApiError;
use crate::metrics::segments;
use crate::resources;
use crate::server::Body;
use crate::shared::Shared;

/// A pod's subresource that needs a real container.
#[derive(Debug, PartialEq, Eq)]
pub struct Stream {
    pub namespace: String,
    pub pod: String,
    /// `exec`, `attach`, `portforward` or `ephemeralcontainers` (`kubectl debug`).
    pub sub: String,
}

/// The subresource `path` names, if it is one of those.
pub fn route(path: &str) -> Option<Stream> {
    let s = segments(path);
    let s: Vec<&str> = s.iter().map(String::as_str).collect();
    match s.as_slice() {
        [
            "api",
            "v1",
            "namespaces",
            ns,
            "pods",
            pod,
            sub @ ("exec" | "attach" | "portforward" | "ephemeralcontainers"),
        ] => Some(Stream {
            namespace: ns.to_string(),
            pod: pod.to_string(),
            sub: sub.to_string(),
        }),
        _ => None,
    }
}

/// The message of the refusal.
pub fn refusal(s: &Stream) -> String {
    let what = match s.sub.as_str() {
        "exec" => "no command runs in them",
        "attach" => "there is no process to attach to",
        "ephemeralcontainers" => "no debug container is started in them",
        _ => "no port is forwarded to them",
    };
    format!(
        "pod {}/{}: the tollgate sandbox simulates containers and {what} in a rehearsal; a runbook step says what its rehearsal does instead with `rehearse:`",
        s.namespace, s.pod
    )
}

/// Answers 400 with [`refusal`], or 404 if the pod does not exist.
pub fn serve(
    shared: &Shared,
    s: Stream,
    _req: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    shared
        .store
        .get(resources::by_kind("Pod"), &s.namespace, &s.pod)?;
    Err(ApiError::bad_request(refusal(&s)))
}
