//! `ecr.login`, `ecr.ensure_repository` and `ecr.describe_images` on Amazon ECR. Lines say what
//! happened (registry hosts, repository URIs, tags and digests), never a token or a password.

use super::change::Change;
use super::step::AwsStep;
use crate::protocol::Secret;
use crate::runbook::aws::{EcrDescribeImages, EcrEnsureRepository, EcrLogin};
use crate::text::one_line;
use aws_sdk_ecr::Client;
use aws_sdk_ecr::error::DisplayErrorContext;
use aws_sdk_ecr::primitives::DateTime;
use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier, ImageScanningConfiguration, Repository};
use base64::Engine as _;

fn client(cx: &AwsStep<'_>) -> Client {
    Client::new(&cx.conf)
}

pub(super) fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> String {
    format!("{what}: {}", one_line(&DisplayErrorContext(&e).to_string()))
}

/// `2015-01-01T00:00:00Z`.
pub(super) fn timestamp(t: &DateTime) -> String {
    chrono::DateTime::from_timestamp(t.secs(), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.secs().to_string())
}

/// The registry host of a proxy endpoint: `https://123456789012.dkr.ecr.us-east-1.amazonaws.com`
/// is `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
pub fn registry_host(proxy_endpoint: &str) -> String {
    let e = proxy_endpoint.trim();
    let e = e
        .strip_prefix("https://")
        .or_else(|| e.strip_prefix("http://"))
        .unwrap_or(e);
    e.trim_end_matches('/').to_string()
}

/// The user name and password in an authorization token (base64 of `USER:PASSWORD`). The
/// errors never quote the token.
pub fn decode_token(token: &str) -> Result<(String, Secret), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| "the authorization token is not base64".to_string())?;
    let text = String::from_utf8(bytes)
        .map_err(|_| "the authorization token is not text once decoded".to_string())?;
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_string(), Secret(password.to_string())))
        }
        _ => Err("the authorization token is not `USER:PASSWORD` once decoded".into()),
    }
}

pub async fn login(cx: &mut AwsStep<'_>, a: &EcrLogin) -> Result<(), String> {
    let registry_id = a
        .registry_id
        .clone()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| cx.pin.account.clone());
    // The token opens every registry the credentials may use; the registry id picks the proxy
    // endpoint it comes with (the host printed), which is why it is still sent.
    #[allow(deprecated)]
    let got = client(cx)
        .get_authorization_token()
        .registry_ids(&registry_id)
        .send()
        .await
        .map_err(|e| {
            sdk_error(
                &format!("getting an ECR login token for registry {registry_id}"),
                e,
            )
        })?;
    let Some(data) = got.authorization_data().first() else {
        return Err(format!(
            "ECR gave no login token for registry {registry_id}"
        ));
    };
    let (username, password) = decode_token(data.authorization_token().unwrap_or_default())?;
    let registry = match a.registry.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(r) => r.to_string(),
        None => match data.proxy_endpoint() {
            Some(e) if !registry_host(e).is_empty() => registry_host(e),
            _ => {
                return Err(format!(
                    "ECR's login token for registry {registry_id} names no proxy endpoint; give `registry`"
                ));
            }
        },
    };
    let expires = data.expires_at();
    cx.secrets.push((a.password_var.clone(), password));
    cx.say(format!(
        "login token for registry {registry_id}: password into {}",
        a.password_var
    ))
    .await;
    if let Some(t) = expires
        && t.secs() <= chrono::Utc::now().timestamp()
    {
        cx.say(format!(
            "warning: the token expired at {} (already in the past); the registry may refuse it",
            timestamp(t)
        ))
        .await;
    }
    cx.out(format!("registry={registry}")).await;
    cx.out(format!("username={username}")).await;
    cx.out(format!(
        "expires={}",
        expires.map(timestamp).unwrap_or_else(|| "unknown".into())
    ))
    .await;
    Ok(())
}

/// The repository named `name`, `None` when there is none.
pub(super) async fn repository(client: &Client, name: &str) -> Result<Option<Repository>, String> {
    match client
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(d) => Ok(d
            .repositories()
            .iter()
            .find(|r| r.repository_name() == Some(name))
            .cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk_error(&format!("describing repository {name}"), e)),
    }
}

/// What differs between an existing repository and what the step asks for (nothing is changed).
fn differences(r: &Repository, a: &EcrEnsureRepository) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(want) = a.tag_mutability {
        let have = r.image_tag_mutability().map(|m| m.as_str()).unwrap_or("?");
        if have != want.as_str() {
            out.push(format!("tag mutability {have}, not {}", want.as_str()));
        }
    }
    if let Some(want) = a.scan_on_push {
        let have = r
            .image_scanning_configuration()
            .map(|c| c.scan_on_push())
            .unwrap_or(false);
        if have != want {
            out.push(format!("scan on push {have}, not {want}"));
        }
    }
    out
}

pub async fn ensure_repository(
    cx: &mut AwsStep<'_>,
    a: &EcrEnsureRepository,
) -> Result<(), String> {
    let client = client(cx);
    if let Some(r) = repository(&client, &a.name).await? {
        return exists(cx, &r, a).await;
    }
    let mut create = client.create_repository().repository_name(&a.name);
    if let Some(m) = a.tag_mutability {
        create = create.image_tag_mutability(m.as_str().into());
    }
    if let Some(scan) = a.scan_on_push {
        create = create.image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(scan)
                .build(),
        );
    }
    let made = match create.send().await {
        Ok(made) => made,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_already_exists_exception()) =>
        {
            // Created by someone else since the look: it exists.
            let Some(r) = repository(&client, &a.name).await? else {
                return Err(format!(
                    "ECR says repository {} exists, but cannot find it",
                    a.name
                ));
            };
            return exists(cx, &r, a).await;
        }
        Err(e) => return Err(sdk_error(&format!("creating repository {}", a.name), e)),
    };
    let r = made.repository();
    let uri = r.and_then(|r| r.repository_uri()).unwrap_or_default();
    cx.changed(Change::RepositoryCreated {
        name: a.name.clone(),
        uri: uri.to_string(),
        arn: r.and_then(|r| r.repository_arn()).map(str::to_string),
    });
    cx.out(format!("created {} ({uri})", a.name)).await;
    Ok(())
}

async fn exists(
    cx: &mut AwsStep<'_>,
    r: &Repository,
    a: &EcrEnsureRepository,
) -> Result<(), String> {
    for d in differences(r, a) {
        cx.say(format!("note: {} has {d}; it is left as it is", a.name))
            .await;
    }
    cx.out(format!(
        "exists {} ({})",
        a.name,
        r.repository_uri().unwrap_or_default()
    ))
    .await;
    Ok(())
}

/// `31.2MiB`.
fn size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut n = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if n < 1024.0 {
            break;
        }
        n /= 1024.0;
        unit = u;
    }
    format!("{n:.1}{unit}")
}

/// One line per image: `TAG… digest=sha256:… pushed=… size=…`.
pub fn image_line(i: &ImageDetail) -> String {
    let tags = if i.image_tags().is_empty() {
        "<untagged>".to_string()
    } else {
        i.image_tags().join(" ")
    };
    format!(
        "{tags} digest={} pushed={} size={}",
        i.image_digest().unwrap_or("?"),
        i.image_pushed_at()
            .map(timestamp)
            .unwrap_or_else(|| "?".into()),
        i.image_size_in_bytes()
            .map(size)
            .unwrap_or_else(|| "?".into()),
    )
}

/// Why an image look-up found nothing that should be there.
pub(super) enum Lookup {
    Found(Vec<ImageDetail>),
    NoImage,
}

pub(super) async fn images(
    client: &Client,
    repository: &str,
    id: Option<ImageIdentifier>,
) -> Result<Lookup, String> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut req = client
            .describe_images()
            .repository_name(repository)
            .set_next_token(next.take());
        if let Some(id) = &id {
            req = req.image_ids(id.clone());
        }
        match req.send().await {
            Ok(page) => {
                out.extend(page.image_details().iter().cloned());
                match page.next_token() {
                    Some(t) if !t.is_empty() && id.is_none() => next = Some(t.to_string()),
                    _ => return Ok(Lookup::Found(out)),
                }
            }
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_image_not_found_exception()) {
                    return Ok(Lookup::NoImage);
                }
                if service.is_some_and(|s| s.is_repository_not_found_exception()) {
                    return Err(format!("ECR repository {repository} does not exist"));
                }
                return Err(sdk_error(&format!("listing the images of {repository}"), e));
            }
        }
    }
}

pub async fn describe_images(cx: &mut AwsStep<'_>, a: &EcrDescribeImages) -> Result<(), String> {
    let client = client(cx);
    let repo = &a.repository;
    let mut shown: Vec<ImageDetail> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    // An image with several wanted tags is shown once.
    fn add(found: Vec<ImageDetail>, shown: &mut Vec<ImageDetail>) {
        for i in found {
            if !shown.iter().any(|s| s.image_digest() == i.image_digest()) {
                shown.push(i);
            }
        }
    }
    if a.tags.is_empty() {
        let id = a
            .digest
            .as_ref()
            .map(|d| ImageIdentifier::builder().image_digest(d).build());
        match images(&client, repo, id).await? {
            Lookup::Found(found) => add(found, &mut shown),
            Lookup::NoImage => problems.push(format!(
                "{repo}: no image with digest {}",
                a.digest.as_deref().unwrap_or_default()
            )),
        }
    } else {
        for tag in &a.tags {
            let id = ImageIdentifier::builder().image_tag(tag).build();
            match images(&client, repo, Some(id)).await? {
                Lookup::NoImage => problems.push(format!("{repo}: no image tagged {tag}")),
                Lookup::Found(found) => {
                    if let Some(want) = &a.digest {
                        for i in &found {
                            let have = i.image_digest().unwrap_or("?");
                            if have != want {
                                problems.push(format!("{repo}:{tag} is {have}, not {want}"));
                            }
                        }
                    }
                    add(found, &mut shown);
                }
            }
        }
    }
    for i in &shown {
        cx.out(image_line(i)).await;
    }
    if shown.is_empty() && problems.is_empty() {
        cx.say(format!("{repo} has no images")).await;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_proxy_endpoints_host() {
        assert_eq!(
            registry_host("https://123456789012.dkr.ecr.us-east-1.amazonaws.com"),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(registry_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(registry_host("registry.local"), "registry.local");
    }

    #[test]
    fn tokens_decode_to_a_user_and_a_password() {
        let token = base64::engine::general_purpose::STANDARD.encode("AWS:pa55:with-colon");
        let (user, password) = decode_token(&token).unwrap();
        assert_eq!(user, "AWS");
        assert_eq!(password.0, "pa55:with-colon");
        for bad in [
            "not base64!",
            &base64::engine::general_purpose::STANDARD.encode("AWS"),
        ] {
            let e = decode_token(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
    }

    #[test]
    fn image_lines() {
        let i = ImageDetail::builder()
            .image_tags("1.4.2")
            .image_tags("latest")
            .image_digest(format!("sha256:{}", "a".repeat(64)))
            .image_pushed_at(DateTime::from_secs(1_700_000_000))
            .image_size_in_bytes(32_715_000)
            .build();
        assert_eq!(
            image_line(&i),
            format!(
                "1.4.2 latest digest=sha256:{} pushed=2023-11-14T22:13:20Z size=31.2MiB",
                "a".repeat(64)
            )
        );
        assert_eq!(size(512), "512B");
        assert_eq!(size(2048), "2.0KiB");
        let bare = ImageDetail::builder().build();
        assert_eq!(image_line(&bare), "<untagged> digest=? pushed=? size=?");
    }
}
