//! The AWS stand-in: an HTTP/1 server on 127.0.0.1 answering, as one pinned account and region,
//! the calls tollgate (aws-sdk-rust) and the `aws` CLI make to STS (`GetCallerIdentity`, awsQuery),
//! Secrets Manager and ECR (awsJson1_1, `X-Amz-Target`). Signatures are not checked: any
//! credentials are accepted, there is nothing real behind it. An operation it does not answer gets
//! an error saying so (`… does not answer secretsmanager.RotateSecret; give the step a rehearse:
//! key`), never a made-up success.
//!
//! ECR's repositories and images live in the [`crate::ecr::Store`] shared with the Docker
//! stand-in, so an image pushed there is one `DescribeImages` lists.

mod ecr_api;
pub mod error;
mod input;
mod secrets;
mod sts;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::Identity;
use crate::ecr;
use error::{AwsError, Protocol};

/// What a stand-in starts with.
#[derive(Clone, Debug)]
pub struct Config {
    /// The account and region it answers as.
    pub identity: Identity,
    /// 0: any free port.
    pub port: u16,
    /// Secrets that exist from the start (name, made-up value), each with one `AWSCURRENT` version.
    pub secrets: Vec<(String, String)>,
    /// ECR repositories that exist from the start (created in `ecr` unless there already).
    pub repositories: Vec<String>,
    /// The images, shared with the Docker stand-in.
    pub ecr: ecr::Store,
}

/// What every request handler shares.
pub(crate) struct State {
    pub identity: Identity,
    pub secrets: secrets::Secrets,
    pub ecr: ecr::Store,
    calls: AtomicU64,
}

impl State {
    pub fn next_call(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A running stand-in; dropping it stops the server and closes its connections.
pub struct AwsStandIn {
    state: Arc<State>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// The largest request body read (an ECR manifest is at most 4 MiB, a secret 64 KiB).
const BODY_MAX: usize = 8 << 20;

impl AwsStandIn {
    /// Starts the server on the current tokio runtime, on 127.0.0.1.
    pub async fn start(c: Config) -> std::io::Result<AwsStandIn> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", c.port)).await?;
        let addr = listener.local_addr()?;
        let secrets = secrets::Secrets::default();
        for (name, value) in &c.secrets {
            secrets.seed(&c.identity, name, value);
        }
        for r in &c.repositories {
            c.ecr.create_repository(r, false, "MUTABLE");
        }
        let state = Arc::new(State {
            identity: c.identity,
            secrets,
            ecr: c.ecr,
            calls: AtomicU64::new(0),
        });
        let task = tokio::spawn(serve(state.clone(), listener));
        Ok(AwsStandIn { state, addr, task })
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give the SDK or `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Who it answers as.
    pub fn identity(&self) -> &Identity {
        &self.state.identity
    }

    /// The image store behind its ECR.
    pub fn ecr(&self) -> &ecr::Store {
        &self.state.ecr
    }

    /// Fault injection: the secret (by name or ARN) is gone at once, every version of it, as if
    /// deleted without recovery. `false` when there was none.
    pub fn remove_secret(&self, name: &str) -> bool {
        self.state.secrets.remove(name)
    }

    /// Whether a secret (by name or ARN) exists, scheduled for deletion or not.
    pub fn has_secret(&self, name: &str) -> bool {
        self.state.secrets.exists(name)
    }

    /// Requests answered so far (every request, errors included).
    pub fn calls(&self) -> u64 {
        self.state.calls.load(Ordering::Relaxed)
    }
}

impl Drop for AwsStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub use ecr_api::manifest_digest;

/// The password in the stand-in's ECR login tokens for `identity` (user `AWS`): what a Docker
/// stand-in may expect at `docker login`. Made up; it opens nothing real.
pub fn ecr_password(identity: &Identity) -> String {
    ecr_api::password(identity)
}

async fn serve(state: Arc<State>, listener: tokio::net::TcpListener) {
    // Dropped with the task: every connection's task is aborted with it.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: let the connections that hold them run first.
            tokio::task::yield_now().await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        conns.spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

/// One answer: status, content type, body.
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

pub(crate) const JSON: &str = "application/x-amz-json-1.1";
pub(crate) const XML: &str = "text/xml";

impl Reply {
    pub fn json(v: serde_json::Value) -> Reply {
        Reply {
            status: 200,
            content_type: JSON,
            body: v.to_string(),
        }
    }

    pub fn error(e: &AwsError, protocol: Protocol, request_id: &str) -> Reply {
        Reply {
            status: e.status,
            content_type: if protocol == Protocol::Xml { XML } else { JSON },
            body: e.body(protocol, request_id),
        }
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let n = state.next_call();
    let request_id = request_id(n);
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, BODY_MAX).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let e = AwsError::new(
                413,
                "RequestEntityTooLargeException",
                format!("the request body is over {BODY_MAX} bytes, or was cut off"),
            );
            return respond(Reply::error(&e, Protocol::Json, &request_id), &request_id);
        }
    };
    let reply = route(state, &parts, &body, &request_id);
    respond(reply, &request_id)
}

fn respond(r: Reply, request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(r.status)
        .header("content-type", r.content_type)
        .header("x-amzn-requestid", request_id)
        .body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// A request id shaped like AWS's (a UUID), different for every call.
fn request_id(n: u64) -> String {
    let h = hash64(&n.to_le_bytes());
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        h as u16 & 0xfff,
        n as u16 & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

const SECRETS_PREFIX: &str = "secretsmanager.";
const ECR_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";

fn route(state: &State, parts: &hyper::http::request::Parts, body: &[u8], rid: &str) -> Reply {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(t) = &target {
        if let Some(op) = t.strip_prefix(SECRETS_PREFIX) {
            return secrets::call(state, op, body, rid);
        }
        if let Some(op) = t.strip_prefix(ECR_PREFIX) {
            return ecr_api::call(state, op, body, rid);
        }
        let (service, op) = t.split_once('.').unwrap_or((t.as_str(), "?"));
        let e = AwsError::not_covered(&service_of(parts).unwrap_or_else(|| service.into()), op);
        return Reply::error(&e, Protocol::Json, rid);
    }
    // awsQuery: the action in the form body (POST) or the query string (GET).
    let mut params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone());
    let service = service_of(parts);
    match (action, service.as_deref()) {
        (Some(a), Some("sts") | None) => sts::call(state, &a, &params, rid),
        (Some(a), Some(s)) => Reply::error(&AwsError::not_covered(s, &a), Protocol::Xml, rid),
        (None, s) => {
            let what = format!(
                "{} {}",
                parts.method,
                parts.uri.path().chars().take(200).collect::<String>()
            );
            let e = AwsError::client(
                "UnknownOperationException",
                format!(
                    "the rehearsal's AWS stand-in does not answer {} {what}; it answers STS GetCallerIdentity, Secrets Manager and ECR; give the step a rehearse: key",
                    s.unwrap_or("this request:")
                ),
            );
            Reply::error(&e, Protocol::Xml, rid)
        }
    }
}

/// The service a request was signed for, from its SigV4 credential scope
/// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`).
fn service_of(parts: &hyper::http::request::Parts) -> Option<String> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let scope = cred.split([',', ' ']).next()?;
    let mut it = scope.split('/');
    let (_key, _date, _region, service) = (it.next()?, it.next()?, it.next()?, it.next()?);
    (!service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'))
    .then(|| service.to_string())
}

/// FNV-1a, 64 bits: deterministic ids that look random.
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // A final mix so that near inputs differ in every digit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// `len` characters from `alphabet`, determined by `seed`.
pub(crate) fn chars_from(seed: &[u8], alphabet: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut h = hash64(seed);
    let mut round = 0u64;
    while out.len() < len {
        if h == 0 {
            round += 1;
            let mut s = seed.to_vec();
            s.extend_from_slice(&round.to_le_bytes());
            h = hash64(&s);
        }
        out.push(alphabet[(h % alphabet.len() as u64) as usize] as char);
        h /= alphabet.len() as u64;
    }
    out
}

/// Seconds since the epoch, with milliseconds: how awsJson writes a timestamp.
pub(crate) fn epoch(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests;
