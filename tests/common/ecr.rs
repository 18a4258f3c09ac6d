//! The registry side of Amazon ECR, for runs that push with an `ecr.login` token and then ask ECR
//! (moto) which images it has.
//!
//! In AWS the registry and the ECR API are one service: an image pushed with `docker push` is what
//! `DescribeImages` lists. moto serves the API only. This pairs it with a real `docker-registry`
//! that accepts ECR's credentials (user `AWS`, moto's token password `ACCOUNT-auth-token`) behind a
//! small HTTP proxy on 127.0.0.1. Every request goes through to the registry unchanged; when the
//! registry accepts a manifest pushed by tag (201), the proxy registers it in moto with `PutImage`
//! (same manifest, tag and `Docker-Content-Digest`) before answering, so the push and the API
//! agree the moment the push returns, as they do in ECR. The registry is stopped by PID and its
//! folder removed on drop.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

use super::docker::{registry_tools, start_registry, terminate};

pub struct EcrRegistry {
    /// The proxy's `127.0.0.1:PORT`: the registry host to push to.
    pub addr: String,
    /// What the proxy failed to register in moto (the test asserts it is empty).
    pub errors: Arc<Mutex<Vec<String>>>,
    registry_pid: u32,
    dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The password in moto's ECR authorization token for `account`.
pub fn token_password(account: &str) -> String {
    format!("{account}-auth-token")
}

impl EcrRegistry {
    /// Starts the registry and its proxy in front of moto at `moto` (`http://127.0.0.1:PORT`), for
    /// `account`; `None` (after saying why) without the registry's tools.
    pub fn start(moto: &str, account: &str) -> Option<EcrRegistry> {
        if !registry_tools() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tgecr")
            .tempdir()
            .unwrap()
            .keep();
        let (upstream, registry_pid) =
            start_registry(&dir, &[("AWS", &token_password(account))], None);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = Arc::new(Bridge {
            upstream,
            moto: moto.trim_start_matches("http://").to_string(),
            errors: errors.clone(),
        });
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, shared, stopped));
        });
        Some(EcrRegistry {
            addr,
            errors,
            registry_pid,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EcrRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        terminate(self.registry_pid, Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Bridge {
    upstream: String,
    moto: String,
    errors: Arc<Mutex<Vec<String>>>,
}

type Body = BoxBody<Bytes, hyper::Error>;

async fn serve(
    listener: std::net::TcpListener,
    bridge: Arc<Bridge>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let bridge = bridge.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| forward(bridge.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// `(repository, tag)` of a manifest pushed by tag: `PUT /v2/NAME/manifests/TAG`.
fn manifest_put(req: &Request<Incoming>) -> Option<(String, String)> {
    if req.method() != Method::PUT {
        return None;
    }
    let path = req.uri().path().strip_prefix("/v2/")?;
    let (name, reference) = path.rsplit_once("/manifests/")?;
    (!reference.contains(':')).then(|| (name.to_string(), reference.to_string()))
}

async fn forward(
    bridge: Arc<Bridge>,
    req: Request<Incoming>,
) -> Result<Response<Incoming>, hyper::Error> {
    let pushed = manifest_put(&req);
    let media_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = req.into_parts();
    let (body, manifest): (Body, Option<Bytes>) = if pushed.is_some() {
        let bytes = body.collect().await?.to_bytes();
        (
            Full::new(bytes.clone())
                .map_err(|never| match never {})
                .boxed(),
            Some(bytes),
        )
    } else {
        (body.boxed(), None)
    };
    let stream = tokio::net::TcpStream::connect(&bridge.upstream)
        .await
        .expect("the registry is up");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(Request::from_parts(parts, body))
        .await?;
    if let (Some((repo, tag)), Some(manifest), 201) = (pushed, manifest, resp.status().as_u16()) {
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let moto = bridge.moto.clone();
        let manifest = String::from_utf8_lossy(&manifest).into_owned();
        let put = tokio::task::spawn_blocking(move || {
            put_image(
                &moto,
                &repo,
                &tag,
                &manifest,
                media_type.as_deref(),
                &digest,
            )
        })
        .await
        .unwrap();
        if let Err(e) = put {
            bridge.errors.lock().unwrap().push(e);
        }
    }
    Ok(resp)
}

/// ECR `PutImage` on moto: the manifest, its tag and digest, in the repository.
fn put_image(
    moto: &str,
    repo: &str,
    tag: &str,
    manifest: &str,
    media_type: Option<&str>,
    digest: &str,
) -> Result<(), String> {
    let mut body = serde_json::json!({
        "repositoryName": repo,
        "imageManifest": manifest,
        "imageTag": tag,
        "imageDigest": digest,
    });
    if let Some(m) = media_type {
        body["imageManifestMediaType"] = m.into();
    }
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(moto).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {moto}\r\nConnection: close\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.PutImage\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    if reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!("PutImage {repo}:{tag}: {reply}"))
    }
}
