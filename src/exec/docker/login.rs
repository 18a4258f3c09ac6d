//! `docker.login`: the daemon checks registry credentials (`POST /auth`), as `docker login` does.

use bollard::Docker;
use bollard::auth::DockerCredentials;
use hyper::http::uri::PathAndQuery;

use super::{ActionResult, DockerStep, describe_error};
use crate::runbook::docker::DockerLogin;

/// The daemon's answer to a good login.
#[derive(Debug, Default, serde::Deserialize)]
struct AuthResponse {
    #[serde(rename = "Status", default)]
    status: String,
}

/// `POST /auth` with `credentials`: the daemon's status line (`Login Succeeded`), or its error.
///
/// bollard has no call for this endpoint, so a copy of the client (the same connection and
/// negotiated API version) has its `GET /_ping` turned into this request before it is sent.
pub async fn check_auth(
    docker: &Docker,
    credentials: &DockerCredentials,
) -> Result<String, bollard::errors::Error> {
    let body = bytes::Bytes::from(serde_json::to_vec(credentials)?);
    let aimed = docker.clone().with_request_modifier(move |req| {
        let (mut parts, _) = req.into_parts();
        let mut uri = parts.uri.clone().into_parts();
        let path = uri
            .path_and_query
            .as_ref()
            .map(|p| p.path().to_string())
            .unwrap_or_default();
        if let Some(base) = path.strip_suffix("/_ping")
            && let Ok(p) = PathAndQuery::try_from(format!("{base}/auth"))
        {
            uri.path_and_query = Some(p);
            if let Ok(u) = hyper::Uri::from_parts(uri) {
                parts.uri = u;
            }
        }
        parts.method = hyper::Method::POST;
        hyper::Request::from_parts(parts, bollard::body_full(body.clone()))
    });
    let answer = aimed.ping().await?;
    let status = serde_json::from_str::<AuthResponse>(&answer)
        .map(|r| r.status)
        .unwrap_or_default();
    Ok(if status.trim().is_empty() {
        "Login Succeeded".to_string()
    } else {
        status.trim().to_string()
    })
}

pub async fn login(cx: &mut DockerStep<'_>, a: &DockerLogin) -> ActionResult {
    if a.registry.trim().is_empty() || a.username.trim().is_empty() {
        return Err("docker.login needs a registry and a username".into());
    }
    let Some(password) = cx.call.secret(&a.password_var) else {
        return Err(format!(
            "the secret variable {} (password_var) has no value",
            a.password_var
        ));
    };
    let credentials = DockerCredentials {
        username: Some(a.username.clone()),
        password: Some(password.to_string()),
        serveraddress: Some(a.registry.clone()),
        ..DockerCredentials::default()
    };
    cx.say(format!(
        "checking the credentials for {} as {}",
        a.registry, a.username
    ))
    .await;
    match check_auth(cx.docker, &credentials).await {
        Ok(status) => {
            cx.out(status).await;
            Ok(())
        }
        Err(e) => {
            // The daemon's own words (`… failed with status: 401 Unauthorized`), without the
            // status of its answer to us, which is 500 for any refusal.
            let why = match &e {
                bollard::errors::Error::DockerResponseServerError { message, .. }
                    if !message.trim().is_empty() =>
                {
                    message.trim().to_string()
                }
                other => describe_error(other),
            };
            Err(format!(
                "login to {} as {} failed: {why} (check the user and the password in ${})",
                a.registry, a.username, a.password_var
            ))
        }
    }
}
