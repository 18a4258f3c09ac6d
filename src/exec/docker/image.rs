//! `docker.build`, `docker.tag` and `docker.push`.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, PushImageOptions, TagImageOptions,
};
use futures::StreamExt;
use serde_json::json;

use super::{ActionResult, DockerStep, build_context, describe_error};
use crate::runbook::docker::{DockerBuild, DockerPush, DockerTag};

/// `repo:tag` as `(repo, tag)`; the tag is `latest` when left out. A registry's port is not a tag.
pub fn split_ref(image: &str) -> (String, String) {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => {
            (image[..i].to_string(), image[i + 1..].to_string())
        }
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// The registry an image name points at: its first part when that names a host
/// (`127.0.0.1:5001/app`, `registry.example.com/app`, `localhost/app`), else Docker Hub.
pub fn registry_of(repo: &str) -> String {
    match repo.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "https://index.docker.io/v1/".to_string(),
    }
}

/// The `sha256:…` digest in a push's closing status line (`1.4: digest: sha256:… size: 528`).
pub fn digest_in(status: &str) -> Option<String> {
    let rest = &status[status.find("digest: sha256:")? + "digest: ".len()..];
    let digest: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
        .collect();
    (digest.len() == "sha256:".len() + 64).then_some(digest)
}

/// The full id of a local image, `None` when there is no such image.
async fn image_id(cx: &DockerStep<'_>, name: &str) -> Result<Option<String>, String> {
    match cx.docker.inspect_image(name).await {
        Ok(i) => Ok(i.id),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(format!(
            "cannot inspect image {name}: {}",
            describe_error(&e)
        )),
    }
}

pub async fn build(cx: &mut DockerStep<'_>, a: &DockerBuild) -> ActionResult {
    if a.context.trim().is_empty() {
        return Err("docker.build needs a context folder".into());
    }
    let dir = cx.call.workdir.join(&a.context);
    if !dir.is_dir() {
        return Err(format!(
            "the build context {} is not a folder",
            dir.display()
        ));
    }
    let dockerfile = a
        .dockerfile
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| "Dockerfile".into());
    if !dir.join(&dockerfile).is_file() {
        return Err(format!(
            "no {dockerfile} in the build context {}",
            dir.display()
        ));
    }
    let tarball = {
        let (dir, dockerfile) = (dir.clone(), dockerfile.clone());
        tokio::task::spawn_blocking(move || build_context::tar_context(&dir, &dockerfile))
            .await
            .map_err(|e| format!("cannot pack the build context: {e}"))??
    };
    cx.say(format!(
        "sending the build context {} ({} KiB)",
        dir.display(),
        tarball.len().div_ceil(1024)
    ))
    .await;
    let to_map = |m: &indexmap::IndexMap<String, String>| {
        (!m.is_empty()).then(|| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>()
        })
    };
    let options = BuildImageOptions {
        dockerfile: dockerfile.clone(),
        t: a.tags.first().cloned(),
        rm: true,
        forcerm: true,
        buildargs: to_map(&a.build_args),
        labels: to_map(&a.labels),
        target: a.target.clone().unwrap_or_default(),
        version: BuilderVersion::BuilderV1,
        ..BuildImageOptions::default()
    };
    let mut stream = cx
        .docker
        .build_image(options, None, Some(bollard::body_full(tarball.into())));
    let mut partial = String::new();
    let mut id: Option<String> = None;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| format!("build failed: {}", describe_error(&e)))?;
        if let Some(s) = &info.stream {
            partial.push_str(s);
            while let Some(i) = partial.find('\n') {
                let line: String = partial.drain(..=i).collect();
                let line = line.trim_end();
                if let Some(short) = line.strip_prefix("Successfully built ") {
                    id.get_or_insert_with(|| short.trim().to_string());
                }
                if !line.trim().is_empty() {
                    cx.say(line).await;
                }
            }
        }
        if let Some(status) = &info.status {
            cx.say(status.trim_end()).await;
        }
        if let Some(detail) = &info.error_detail {
            if !partial.trim().is_empty() {
                cx.say(partial.trim_end()).await;
            }
            let msg = detail.message.clone().unwrap_or_default();
            return Err(format!("build failed: {}", msg.trim()));
        }
        if let Some(aux_id) = info.aux.as_ref().and_then(|x| x.id.clone()) {
            id = Some(aux_id);
        }
    }
    if !partial.trim().is_empty() {
        cx.say(partial.trim_end()).await;
    }
    let Some(id) = id else {
        return Err("the build ended without an image".into());
    };
    // The daemon's full id (the log line has a short one).
    let id = image_id(cx, &id).await?.unwrap_or(id);
    for t in a.tags.iter().skip(1) {
        let (repo, tag) = split_ref(t);
        cx.docker
            .tag_image(
                &id,
                Some(TagImageOptions {
                    repo: Some(repo),
                    tag: Some(tag),
                }),
            )
            .await
            .map_err(|e| format!("cannot tag {id} as {t}: {}", describe_error(&e)))?;
    }
    cx.changed(json!({"change": "built", "image": id, "tags": a.tags}));
    if !a.tags.is_empty() {
        cx.say(format!("built {id} as {}", a.tags.join(", "))).await;
    }
    cx.out(format!("image={id}")).await;
    Ok(())
}

pub async fn tag(cx: &mut DockerStep<'_>, a: &DockerTag) -> ActionResult {
    if a.source.trim().is_empty() || a.target.trim().is_empty() {
        return Err("docker.tag needs a source and a target".into());
    }
    let Some(id) = image_id(cx, &a.source).await? else {
        return Err(format!("no image {} on the daemon", a.source));
    };
    let previous = image_id(cx, &a.target).await?;
    let (repo, tag) = split_ref(&a.target);
    cx.docker
        .tag_image(
            &id,
            Some(TagImageOptions {
                repo: Some(repo),
                tag: Some(tag),
            }),
        )
        .await
        .map_err(|e| {
            format!(
                "cannot tag {} as {}: {}",
                a.source,
                a.target,
                describe_error(&e)
            )
        })?;
    if previous.as_deref() == Some(id.as_str()) {
        cx.say(format!("{} already names {id}", a.target)).await;
    } else {
        cx.changed(json!({
            "change": "tagged",
            "source": a.source,
            "target": a.target,
            "image": id,
            "previous": previous,
        }));
        cx.say(format!("tagged {} ({id}) as {}", a.source, a.target))
            .await;
    }
    cx.out(format!("image={id}")).await;
    Ok(())
}

/// Statuses that end one layer's push: each is shown (one line per layer).
fn layer_done(status: &str) -> bool {
    status == "Pushed" || status == "Layer already exists" || status.starts_with("Mounted from")
}

fn push_failed(a: &DockerPush, msg: &str) -> String {
    let msg = msg.trim();
    let lower = msg.to_lowercase();
    let denied = ["unauthorized", "denied", "authentication required", "401"]
        .iter()
        .any(|w| lower.contains(w));
    if !denied {
        return format!("push of {} failed: {msg}", a.image);
    }
    match &a.registry_auth {
        Some(auth) => format!(
            "push of {} denied by the registry: {msg} (check registry_auth: user {} and the password in ${})",
            a.image, auth.username, auth.password_var
        ),
        None => format!(
            "push of {} denied by the registry: {msg} (no registry_auth given)",
            a.image
        ),
    }
}

pub async fn push(cx: &mut DockerStep<'_>, a: &DockerPush) -> ActionResult {
    if a.image.trim().is_empty() {
        return Err("docker.push needs an image".into());
    }
    if a.image.contains('@') {
        return Err(format!(
            "docker.push takes repo:tag, not a digest reference ({})",
            a.image
        ));
    }
    let (repo, tag) = split_ref(&a.image);
    let credentials = match &a.registry_auth {
        None => None,
        Some(auth) => {
            let Some(password) = cx.call.secret(&auth.password_var) else {
                return Err(format!(
                    "the secret variable {} (registry_auth.password_var) has no value",
                    auth.password_var
                ));
            };
            Some(DockerCredentials {
                username: Some(auth.username.clone()),
                password: Some(password.to_string()),
                serveraddress: Some(registry_of(&repo)),
                ..DockerCredentials::default()
            })
        }
    };
    let mut stream = cx.docker.push_image(
        &repo,
        Some(PushImageOptions {
            tag: Some(tag.clone()),
            ..PushImageOptions::default()
        }),
        credentials,
    );
    let mut last: Option<String> = None;
    let mut digest: Option<String> = None;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| push_failed(a, &describe_error(&e)))?;
        if let Some(detail) = &info.error_detail {
            return Err(push_failed(a, detail.message.as_deref().unwrap_or("")));
        }
        let Some(status) = info.status else { continue };
        let status = status.trim().to_string();
        if let Some(d) = digest_in(&status) {
            digest = Some(d);
        }
        // Progress ticks repeat the status ("Pushing"): a line when it changes, and one for
        // each layer that is done.
        if layer_done(&status) || last.as_deref() != Some(status.as_str()) {
            cx.say(&status).await;
        }
        last = Some(status);
    }
    let Some(digest) = digest else {
        return Err(format!(
            "push of {} ended without a digest from the registry",
            a.image
        ));
    };
    cx.changed(json!({"change": "pushed", "image": a.image, "digest": digest}));
    cx.out(format!("digest={digest}")).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(split_ref("api:1.4"), ("api".into(), "1.4".into()));
        assert_eq!(split_ref("api"), ("api".into(), "latest".into()));
        assert_eq!(
            split_ref("127.0.0.1:5001/team/api"),
            ("127.0.0.1:5001/team/api".into(), "latest".into())
        );
        assert_eq!(
            split_ref("127.0.0.1:5001/team/api:v2"),
            ("127.0.0.1:5001/team/api".into(), "v2".into())
        );
        assert_eq!(registry_of("127.0.0.1:5001/api"), "127.0.0.1:5001");
        assert_eq!(registry_of("localhost/api"), "localhost");
        assert_eq!(registry_of("team/api"), "https://index.docker.io/v1/");
        assert_eq!(registry_of("api"), "https://index.docker.io/v1/");
    }

    #[test]
    fn digest_from_the_closing_status() {
        let d = format!("sha256:{}", "ab12".repeat(16));
        assert_eq!(
            digest_in(&format!("v1: digest: {d} size: 528")),
            Some(d.clone())
        );
        assert_eq!(digest_in("Pushed"), None);
        assert_eq!(digest_in("v1: digest: sha256:abc size: 1"), None);
    }
}
