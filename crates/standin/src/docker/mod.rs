//! The rehearsal's Docker: a Docker Engine API on a unix socket, answering what tollgate's own
//! `docker.*` steps (bollard) and the `docker` CLI (`DOCKER_HOST=unix://…`, `DOCKER_BUILDKIT=0`)
//! ask of a daemon, with nothing real touched.
//!
//! - `GET|HEAD /_ping`, `GET /version`, `GET /info`: an API 1.41 Linux engine.
//! - `POST /build`: the context tar read and the Dockerfile planned, never run; the image id is
//!   a sha256 of the context (paths, modes, bytes), the Dockerfile path, build args, labels and
//!   target, so the same context always builds the same image. The stream is the legacy
//!   builder's (`Step i/N : …`, `Successfully built`, `Successfully tagged`).
//! - `GET /images/json`, `GET /images/{name}/json`, `POST /images/{name}/tag`,
//!   `DELETE /images/{name}`: the stand-in's local images.
//! - `POST /images/{name}/push`: only to the pinned account's ECR, whose store is the AWS
//!   stand-in's ([`crate::ecr::Store`]); the digest is a sha256 of a manifest made from the image
//!   id and size. Anything else is refused in the stream, never reached.
//! - `POST /auth`: any credentials for the pinned ECR are good; any other registry is refused.
//!
//! With an `upstream` daemon (a local `unix://` socket that answers), builds and the local image
//! calls are handed to it (requests and answers streamed through), while pushes and logins stay
//! the stand-in's: a push reads the daemon's image id and size and stores into the ECR stand-in.
//! Every path is answered with and without a `/v1.NN` prefix; anything else is a 404 saying what
//! the stand-in does not answer.

mod build;
mod dockerfile;
mod images;
mod push;
mod refs;
mod upstream;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use crate::Identity;
use crate::ecr;

pub use upstream::answers as daemon_answers;

/// The API version the stand-in speaks (Docker Engine 20.10's).
pub const API_VERSION: &str = "1.41";
/// The engine version it reports.
pub const ENGINE_VERSION: &str = "20.10.24";

/// The largest build context read (bigger ones are refused with 413).
const MAX_CONTEXT: usize = 1 << 30;
const MAX_SMALL_BODY: usize = 1 << 20;

/// What a Docker stand-in serves, and where.
#[derive(Clone, Debug)]
pub struct Config {
    /// The unix socket to listen on (a stale socket file there is replaced).
    pub socket: PathBuf,
    pub identity: Identity,
    /// The ECR stand-in's images, where pushes land.
    pub ecr: ecr::Store,
    /// A local daemon (`unix:///…`) that builds and keeps the images; `None`: the stand-in's own.
    pub upstream: Option<String>,
}

/// A running Docker stand-in. Dropping it stops it and removes its socket.
pub struct DockerStandIn {
    socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    identity: Identity,
    ecr: ecr::Store,
    images: Mutex<images::Images>,
    upstream: Option<PathBuf>,
}

impl State {
    fn images(&self) -> std::sync::MutexGuard<'_, images::Images> {
        self.images.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DockerStandIn {
    /// Listens on `config.socket` and serves on the current tokio runtime. With an `upstream`,
    /// that daemon must answer (`GET /_ping`); only `unix://` hosts are taken.
    pub async fn start(config: Config) -> std::io::Result<DockerStandIn> {
        let upstream = match &config.upstream {
            None => None,
            Some(host) => {
                let Some(socket) = upstream::socket_of(host) else {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "the Docker stand-in hands work only to a local daemon on a unix:// socket, not {host}"
                        ),
                    ));
                };
                if !upstream::answers(host).await {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        format!("no Docker daemon answers on {host}"),
                    ));
                }
                Some(socket)
            }
        };
        if config.socket.exists() {
            if tokio::net::UnixStream::connect(&config.socket)
                .await
                .is_ok()
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("something answers on {} already", config.socket.display()),
                ));
            }
            std::fs::remove_file(&config.socket)?;
        }
        let listener = tokio::net::UnixListener::bind(&config.socket)?;
        let state = Arc::new(State {
            identity: config.identity,
            ecr: config.ecr,
            images: Mutex::new(images::Images::default()),
            upstream,
        });
        let task = tokio::spawn(serve(state, listener));
        Ok(DockerStandIn {
            socket: config.socket,
            task,
        })
    }

    /// `unix:///…`, for `DOCKER_HOST` and `connect_to`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for DockerStandIn {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

async fn serve(state: Arc<State>, listener: tokio::net::UnixListener) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, say: back off a little rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let state = state.clone();
        conns.spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn respond(status: u16, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn json_response(status: u16, v: &Value) -> Response<Body> {
    respond(status, "application/json", full(format!("{v}\n")))
}

fn message(status: u16, msg: &str) -> Response<Body> {
    json_response(status, &json!({"message": msg}))
}

/// A JSON-message stream (build, push), one object a line.
fn stream(lines: &[Value]) -> Response<Body> {
    let mut text = String::new();
    for l in lines {
        text.push_str(&l.to_string());
        text.push_str("\r\n");
    }
    respond(200, "application/json", full(text))
}

/// The headers every answer carries, as the daemon's do.
fn engine_headers(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static("Docker/20.10.24 (linux) tollgate-standin"),
    );
}

/// `/v1.41/images/json` → `/images/json`.
fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v")
        && let Some(slash) = rest.find('/')
    {
        let v = &rest[..slash];
        let numeric = v
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if numeric && !v.is_empty() {
            return &rest[slash..];
        }
    }
    path
}

fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn first<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true" | "True"))
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let mut r = route(state, req).await;
    engine_headers(&mut r);
    r
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let decoded = percent_encoding::percent_decode_str(req.uri().path())
        .decode_utf8_lossy()
        .into_owned();
    let path = strip_version(&decoded).trim_end_matches('/').to_string();
    let upstream = state.upstream.clone();
    let forwarded = |upstream: &Option<PathBuf>| upstream.is_some();
    match (method.clone(), path.as_str()) {
        (Method::GET | Method::HEAD, "/_ping") => ping(&method),
        (Method::GET, "/version") => json_response(200, &version()),
        (Method::GET, "/info") => json_response(200, &info(&state)),
        (Method::POST, "/auth") => auth(&state, req).await,
        (Method::POST, "/build") if forwarded(&upstream) => forward(&state, req).await,
        (Method::POST, "/build") => build(&state, req).await,
        (Method::GET, "/images/json") if forwarded(&upstream) => forward(&state, req).await,
        (Method::GET, "/images/json") => list(&state, &query(&req)),
        (m, p) if p.starts_with("/images/") => {
            let rest = &p["/images/".len()..];
            let q = query(&req);
            if m == Method::POST
                && let Some(name) = rest.strip_suffix("/push")
            {
                return push(&state, &req, name, &q).await;
            }
            if upstream.is_some()
                && (m == Method::GET && rest.ends_with("/json")
                    || m == Method::POST && rest.ends_with("/tag")
                    || m == Method::DELETE)
            {
                return forward(&state, req).await;
            }
            match m {
                Method::GET if rest.ends_with("/json") => {
                    inspect(&state, &rest[..rest.len() - "/json".len()])
                }
                Method::POST if rest.ends_with("/tag") => {
                    tag(&state, &rest[..rest.len() - "/tag".len()], &q)
                }
                Method::DELETE => delete(&state, rest, &q),
                _ => unanswered(&method, &decoded),
            }
        }
        (Method::GET, p) if p.starts_with("/containers/") && p.ends_with("/json") => {
            let name = &p["/containers/".len()..p.len() - "/json".len()];
            message(404, &format!("No such container: {name}"))
        }
        _ => unanswered(&method, &decoded),
    }
}

fn unanswered(method: &Method, path: &str) -> Response<Body> {
    message(
        404,
        &format!("the rehearsal's Docker stand-in does not answer {method} {path}"),
    )
}

fn ping(method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD {
        full(Bytes::new())
    } else {
        full("OK")
    };
    let mut r = respond(200, "text/plain; charset=utf-8", body);
    let h = r.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    r
}

fn version() -> Value {
    json!({
        "Platform": {"Name": "tollgate rehearsal (Docker stand-in)"},
        "Components": [{
            "Name": "Engine",
            "Version": ENGINE_VERSION,
            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64"},
        }],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": "1.12",
        "GitCommit": "tollgate-standin",
        "GoVersion": "n/a",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "n/a",
        "BuildTime": "1970-01-01T00:00:00.000000000+00:00",
    })
}

fn info(state: &State) -> Value {
    let images = if state.upstream.is_some() {
        0
    } else {
        state.images().all().len()
    };
    json!({
        "ID": "tollgate-standin",
        "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0, "ContainersStopped": 0,
        "Images": images,
        "Driver": "tollgate-standin",
        "DriverStatus": [],
        "Name": "tollgate-rehearsal",
        "ServerVersion": ENGINE_VERSION,
        "OperatingSystem": "tollgate rehearsal (Docker stand-in: nothing runs, pushes land in the ECR stand-in)",
        "OSType": "linux",
        "OSVersion": "",
        "Architecture": "x86_64",
        "KernelVersion": "n/a",
        "NCPU": 1,
        "MemTotal": 0,
        "DockerRootDir": "",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": [], "Mirrors": []},
        "Labels": [],
        "ExperimentalBuild": false,
        "LiveRestoreEnabled": false,
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "Warnings": [],
    })
}

/// A request body up to `max` bytes, or the answer that refuses it.
async fn body_of(req: Request<Incoming>, max: usize) -> Result<Bytes, Response<Body>> {
    match Limited::new(req.into_body(), max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(message(
            413,
            &format!("the request body is larger than the Docker stand-in reads ({max} bytes)"),
        )),
        Err(e) => Err(message(400, &format!("the request body broke off: {e}"))),
    }
}

/// A JSON object of strings (`buildargs`, `labels`); `null` values are left out.
fn string_map(raw: Option<&str>, what: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let map: BTreeMap<String, Option<String>> = serde_json::from_str(raw)
        .map_err(|e| format!("the {what} parameter is not a JSON object of strings: {e}"))?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

async fn build(state: &Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let q = query(&req);
    if let Some(remote) = first(&q, "remote").filter(|r| !r.is_empty()) {
        return message(
            400,
            &format!(
                "the rehearsal's Docker stand-in builds only a context it is sent, never fetching {remote}"
            ),
        );
    }
    let mut tags = Vec::new();
    for t in q.iter().filter(|(k, _)| k == "t").map(|(_, v)| v) {
        match refs::tagged(t) {
            Ok(t) => tags.push(t),
            Err(e) => return message(400, &e),
        }
    }
    let (build_args, labels) = match (
        string_map(first(&q, "buildargs"), "buildargs"),
        string_map(first(&q, "labels"), "labels"),
    ) {
        (Ok(a), Ok(l)) => (a, l),
        (Err(e), _) | (_, Err(e)) => return message(400, &e),
    };
    let request = build::Request {
        tags: tags.clone(),
        dockerfile: first(&q, "dockerfile")
            .filter(|d| !d.trim().is_empty())
            .unwrap_or("Dockerfile")
            .to_string(),
        build_args,
        labels,
        target: first(&q, "target")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        quiet: truthy(first(&q, "q")),
    };
    let body = match body_of(req, MAX_CONTEXT).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let worked = tokio::task::spawn_blocking(move || {
        let ctx = build::Context::from_tar(&body)?;
        Ok::<_, String>(build::run(&ctx, &request))
    })
    .await;
    let (lines, image) = match worked {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return message(400, &e),
        Err(e) => return message(500, &format!("the build stopped: {e}")),
    };
    if let Some(image) = image {
        state.images().add(image, &tags);
    }
    stream(&lines)
}

fn list(state: &State, q: &[(String, String)]) -> Response<Body> {
    let filters = match first(q, "filters").filter(|f| !f.trim().is_empty()) {
        None => BTreeMap::new(),
        Some(f) => match images::parse_filters(f) {
            Ok(f) => f,
            Err(e) => return message(400, &e),
        },
    };
    let images = state.images();
    let out: Vec<Value> = images
        .all()
        .iter()
        .rev()
        .filter(|i| images::passes(i, &filters))
        .map(images::LocalImage::summary)
        .collect();
    json_response(200, &Value::Array(out))
}

fn inspect(state: &State, name: &str) -> Response<Body> {
    match state.images().get(name) {
        Some(i) => json_response(200, &i.inspect()),
        None => message(404, &format!("No such image: {name}")),
    }
}

fn tag(state: &State, name: &str, q: &[(String, String)]) -> Response<Body> {
    let repo = first(q, "repo").unwrap_or("");
    let t = first(q, "tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    let target = match refs::repository(repo).and_then(|r| {
        if refs::tag_ok(t) {
            Ok(format!("{r}:{t}"))
        } else {
            Err("invalid reference format".into())
        }
    }) {
        Ok(t) => t,
        Err(e) => return message(400, &e),
    };
    let mut images = state.images();
    let Some(id) = images.get(name).map(|i| i.id.clone()) else {
        return message(404, &format!("No such image: {name}"));
    };
    images.tag(&id, &target);
    respond(201, "text/plain", full(Bytes::new()))
}

fn delete(state: &State, name: &str, q: &[(String, String)]) -> Response<Body> {
    match state.images().remove(name, truthy(first(q, "force"))) {
        Ok(out) => json_response(200, &Value::Array(out)),
        Err((status, msg)) => message(status, &msg),
    }
}

async fn auth(state: &State, req: Request<Incoming>) -> Response<Body> {
    let body = match body_of(req, MAX_SMALL_BODY).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match push::login(&state.identity, &body) {
        Ok(status) => json_response(200, &json!({"Status": status, "IdentityToken": ""})),
        Err(e) => message(401, &e),
    }
}

async fn push(
    state: &State,
    req: &Request<Incoming>,
    name: &str,
    q: &[(String, String)],
) -> Response<Body> {
    let mut tag = first(q, "tag").unwrap_or("").to_string();
    let (mut repo, named_tag) = refs::split(name);
    if tag.is_empty() && name.len() > repo.len() {
        tag = named_tag;
    }
    repo = match refs::repository(&repo) {
        Ok(r) => r,
        Err(e) => return message(400, &e),
    };
    if !tag.is_empty() && !refs::tag_ok(&tag) {
        return message(400, "invalid reference format");
    }
    let mut lines = vec![json!({"status": format!("The push refers to repository [{repo}]")})];
    if let Some(why) = push::foreign(&state.identity, &repo, &tag) {
        lines.push(push::error_line(&why));
        return stream(&lines);
    }
    let auth = req
        .headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok());
    if !push::has_credentials(auth) {
        lines.push(push::error_line("no basic auth credentials"));
        return stream(&lines);
    }
    let to_push = match &state.upstream {
        Some(socket) => upstream_images(socket, &repo, &tag).await,
        None => own_images(state, &repo, &tag),
    };
    let to_push = match to_push {
        Ok(p) => p,
        Err(e) => {
            lines.push(push::error_line(&e));
            return stream(&lines);
        }
    };
    let (out, pushed) = push::push(&state.identity, &state.ecr, &repo, &to_push);
    lines.extend(out);
    if state.upstream.is_none() {
        let mut images = state.images();
        for (id, repo_digest) in pushed {
            images.add_digest(&id, repo_digest);
        }
    }
    stream(&lines)
}

fn no_local_image(repo: &str) -> String {
    format!("An image does not exist locally with the tag: {repo}")
}

fn own_images(state: &State, repo: &str, tag: &str) -> Result<Vec<push::ToPush>, String> {
    let images = state.images();
    let mut out = Vec::new();
    for i in images.all() {
        for t in &i.tags {
            let (r, tg) = refs::split(t);
            if r == repo && (tag.is_empty() || tg == tag) {
                out.push(push::ToPush {
                    tag: tg,
                    id: i.id.clone(),
                    size: i.size,
                });
            }
        }
    }
    out.sort_by(|a, b| a.tag.cmp(&b.tag));
    if out.is_empty() {
        return Err(no_local_image(repo));
    }
    Ok(out)
}

/// The images of `repo` (`tag`, or every tag when empty) on the upstream daemon.
async fn upstream_images(
    socket: &Path,
    repo: &str,
    tag: &str,
) -> Result<Vec<push::ToPush>, String> {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let tags: Vec<String> = if tag.is_empty() {
        let filters = json!({"reference": {repo: true}}).to_string();
        let (status, list) =
            upstream::get_json(socket, &format!("/images/json?filters={}", enc(&filters))).await?;
        if status != 200 {
            return Err(daemon_said(status, &list));
        }
        let mut tags: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_string))
            .filter_map(|t| {
                let (r, tg) = refs::split(&t);
                (r == repo).then_some(tg)
            })
            .collect();
        tags.sort();
        tags.dedup();
        tags
    } else {
        vec![tag.to_string()]
    };
    if tags.is_empty() {
        return Err(no_local_image(repo));
    }
    let mut out = Vec::new();
    for t in tags {
        let (status, image) =
            upstream::get_json(socket, &format!("/images/{repo}:{t}/json")).await?;
        if status == 404 {
            return Err(no_local_image(repo));
        }
        if status != 200 {
            return Err(daemon_said(status, &image));
        }
        let Some(id) = image["Id"].as_str() else {
            return Err("the local Docker daemon's image has no Id".into());
        };
        out.push(push::ToPush {
            tag: t,
            id: id.to_string(),
            size: image["Size"].as_u64().unwrap_or(0),
        });
    }
    Ok(out)
}

fn daemon_said(status: u16, v: &Value) -> String {
    format!(
        "the local Docker daemon answered {status}: {}",
        v["message"].as_str().unwrap_or("(no message)")
    )
}

/// Hands `req` to the upstream daemon and streams its answer back. Registry credentials a build
/// carries (`X-Registry-Config`) are not passed on: the daemon reaches no registry with them.
async fn forward(state: &State, req: Request<Incoming>) -> Response<Body> {
    let Some(socket) = &state.upstream else {
        return message(500, "no local Docker daemon to hand this to");
    };
    let (mut parts, body) = req.into_parts();
    for h in [
        "x-registry-config",
        "x-registry-auth",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
    ] {
        parts.headers.remove(h);
    }
    if let Some(pq) = parts.uri.path_and_query().cloned()
        && let Ok(uri) = hyper::Uri::builder().path_and_query(pq).build()
    {
        parts.uri = uri;
    }
    match upstream::send(socket, Request::from_parts(parts, body)).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            for h in ["connection", "keep-alive", "transfer-encoding"] {
                parts.headers.remove(h);
            }
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => message(502, &e),
    }
}

#[cfg(test)]
mod tests;
