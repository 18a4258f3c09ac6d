//! A local Docker daemon the stand-in hands builds and local image calls to (never pushes or
//! logins): requests and answers are streamed through on a unix socket.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The socket path of a `unix://` host; `None` for any other kind of host.
pub fn socket_of(host: &str) -> Option<PathBuf> {
    let path = host.strip_prefix("unix://")?;
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Sends `req` to the daemon on `socket` (a connection of its own); its answer, body streaming.
pub async fn send<B>(socket: &Path, mut req: Request<B>) -> Result<Response<Incoming>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "the local Docker daemon (unix://{}) the stand-in hands this to does not answer: {e}",
            socket.display()
        )
    };
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| fail(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    if !req.headers().contains_key(hyper::header::HOST) {
        req.headers_mut().insert(
            hyper::header::HOST,
            hyper::header::HeaderValue::from_static("docker"),
        );
    }
    sender.send_request(req).await.map_err(|e| fail(&e))
}

/// `GET path` from the daemon: its status and JSON answer (`Null` when it is not JSON).
pub async fn get_json(socket: &Path, path: &str) -> Result<(u16, Value), String> {
    let req = Request::get(path)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = send(socket, req).await?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("the local Docker daemon's answer broke off: {e}"))?
        .to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// Whether a Docker daemon answers `GET /_ping` on `host` (`unix://…`).
pub async fn answers(host: &str) -> bool {
    let Some(socket) = socket_of(host) else {
        return false;
    };
    let Ok(req) = Request::get("/_ping").body(Empty::<Bytes>::new()) else {
        return false;
    };
    let ping = async {
        let resp = send(&socket, req).await.ok()?;
        let ok = resp.status().is_success();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some(ok && body.as_ref() == b"OK")
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(5), ping).await,
        Ok(Some(true))
    )
}
