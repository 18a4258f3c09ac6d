//! Reaching the Docker daemon, at the API version both sides speak.

use bollard::Docker;

/// Connects to the daemon `DOCKER_HOST` names (the default socket when unset) and settles on the
/// API version both sides speak. Only `unix://` sockets are built in (bollard's `pipe` feature):
/// a `tcp://` host is refused with bollard's "unsupported URI scheme".
pub async fn connect() -> Result<Docker, String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".into());
    let docker = Docker::connect_with_defaults()
        .map_err(|e| format!("cannot reach the Docker daemon ({host}): {e}"))?;
    negotiate(docker, &host).await
}

/// Connects to the daemon at `host` (`unix:///path`, `tcp://host:port`), as [`connect`].
pub async fn connect_to(host: &str) -> Result<Docker, String> {
    let docker = Docker::connect_with_host(host)
        .map_err(|e| format!("cannot reach the Docker daemon ({host}): {e}"))?;
    negotiate(docker, host).await
}

async fn negotiate(docker: Docker, host: &str) -> Result<Docker, String> {
    docker.negotiate_version().await.map_err(|e| {
        format!(
            "cannot reach the Docker daemon ({host}): {}",
            describe_error(&e)
        )
    })
}

/// A bollard error in one line: the daemon's message when there is one.
pub fn describe_error(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("{} ({status_code})", message.trim()),
        bollard::errors::Error::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}
