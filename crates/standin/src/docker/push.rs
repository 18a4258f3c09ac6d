//! `POST /images/{name}/push` and `POST /auth`: the pinned account's ECR is the only registry
//! there is, and it is the ECR stand-in's store. Nothing leaves the process.

use base64::Engine;
use serde_json::{Value, json};

use super::build::sha256_hex;
use super::refs;
use crate::Identity;
use crate::ecr;

/// The one layer a stand-in image has: a digest made from its id.
pub fn layer_hex(id_hex: &str) -> String {
    sha256_hex(format!("tollgate-standin layer {id_hex}").as_bytes())
}

/// The manifest a push of the image `id` (of `size` bytes) stores, as the registry keeps it; the
/// same image always gives the same text, and so the same digest.
pub fn manifest(id: &str, size: u64) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    let layer = layer_hex(hex);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{layer}"]}}}}"#
    );
    format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.docker.distribution.manifest.v2+json\",\n   \"config\": {{\n      \"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n      \"size\": {},\n      \"digest\": \"sha256:{hex}\"\n   }},\n   \"layers\": [\n      {{\n         \"mediaType\": \"application/vnd.docker.image.rootfs.diff.tar.gzip\",\n         \"size\": {size},\n         \"digest\": \"sha256:{layer}\"\n      }}\n   ]\n}}",
        config.len()
    )
}

/// `sha256:` and the hex digest of a manifest.
pub fn manifest_digest(manifest: &str) -> String {
    format!("sha256:{}", sha256_hex(manifest.as_bytes()))
}

/// A stream line that ends a push or a build in an error.
pub fn error_line(msg: &str) -> Value {
    json!({"errorDetail": {"message": msg}, "error": msg})
}

/// Why a push to `repo` cannot leave the stand-in, if it would go anywhere but the pinned ECR.
pub fn foreign(identity: &Identity, repo: &str, tag: &str) -> Option<String> {
    let registry = refs::registry_of(repo);
    let ecr = identity.registry_host();
    (registry != ecr).then(|| {
        let what = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        format!(
            "the rehearsal's Docker stand-in pushes only to the pinned account's ECR ({ecr}), never reaching {registry}: {what} was not pushed"
        )
    })
}

/// The registry credentials of an `X-Registry-Auth` header (base64url JSON), as far as pushing
/// needs them: whether any are given. A header that does not decode counts as none.
pub fn has_credentials(header: Option<&str>) -> bool {
    let Some(h) = header else { return false };
    let cleaned: String = h
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned) else {
        return false;
    };
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&raw) else {
        return false;
    };
    let given = |k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    (given("username") && given("password"))
        || given("auth")
        || given("identitytoken")
        || given("registrytoken")
}

/// One image to push: the tag, the image's id and size.
pub struct ToPush {
    pub tag: String,
    pub id: String,
    pub size: u64,
}

/// Stores each image in the ECR stand-in (the repository is `repo` without its host) and gives
/// the daemon's progress stream, and the `repo@digest`s pushed, by image id.
pub fn push(
    identity: &Identity,
    store: &ecr::Store,
    repo: &str,
    images: &[ToPush],
) -> (Vec<Value>, Vec<(String, String)>) {
    let name = refs::path_in_registry(repo);
    let mut out = Vec::new();
    let mut pushed = Vec::new();
    for image in images {
        let hex = image.id.strip_prefix("sha256:").unwrap_or(&image.id);
        let layer = layer_hex(hex);
        let short = &layer[..12];
        out.push(json!({"status": "Preparing", "progressDetail": {}, "id": short}));
        let manifest = manifest(&image.id, image.size);
        let digest = manifest_digest(&manifest);
        let Some(existing) = store.repository(name) else {
            out.push(error_line(&no_repository(identity, name)));
            return (out, pushed);
        };
        if existing.tag_mutability.eq_ignore_ascii_case("IMMUTABLE")
            && existing
                .images
                .iter()
                .any(|i| i.digest != digest && i.tags.contains(&image.tag))
        {
            out.push(error_line(&format!(
                "tag invalid: The image tag '{}' already exists in the '{name}' repository and cannot be overwritten because the repository is immutable.",
                image.tag
            )));
            return (out, pushed);
        }
        if existing.images.iter().any(|i| i.digest == digest) {
            out.push(json!({"status": "Layer already exists", "progressDetail": {}, "id": short}));
        } else {
            out.push(json!({
                "status": "Pushing",
                "progressDetail": {"current": image.size, "total": image.size},
                "progress": format!("[==================================================>]  {}B/{}B", image.size, image.size),
                "id": short,
            }));
            out.push(json!({"status": "Pushed", "progressDetail": {}, "id": short}));
        }
        if let Err(ecr::EcrError::NoRepository(_)) =
            store.put_image(name, Some(&image.tag), &digest, &manifest, image.size)
        {
            out.push(error_line(&no_repository(identity, name)));
            return (out, pushed);
        }
        let size = manifest.len();
        out.push(json!({"status": format!("{}: digest: {digest} size: {size}", image.tag)}));
        out.push(json!({
            "progressDetail": {},
            "aux": {"Tag": image.tag, "Digest": digest, "Size": size},
        }));
        pushed.push((image.id.clone(), format!("{repo}@{digest}")));
    }
    (out, pushed)
}

fn no_repository(identity: &Identity, name: &str) -> String {
    format!(
        "name unknown: The repository with name '{name}' does not exist in the registry with id '{}'",
        identity.account
    )
}

/// `POST /auth`: `Ok(status)` for the pinned ECR (any credentials), or why a login is refused.
/// Never names the password.
pub fn login(identity: &Identity, body: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| "the login request is not the JSON the Docker API takes".to_string())?;
    let server = v
        .get("serveraddress")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let ecr = identity.registry_host();
    if host == ecr {
        return Ok("Login Succeeded".into());
    }
    let named = if host.is_empty() {
        "Docker Hub".to_string()
    } else {
        host
    };
    Err(format!(
        "the rehearsal's Docker stand-in logs in only to the pinned account's ECR ({ecr}), never reaching {named}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
        }
    }

    const HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

    fn one(id: &str) -> Vec<ToPush> {
        vec![ToPush {
            tag: "1".into(),
            id: id.into(),
            size: 10,
        }]
    }

    #[test]
    fn the_same_image_gives_the_same_digest() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            manifest_digest(&manifest(&a, 10)),
            manifest_digest(&manifest(&a, 10))
        );
        assert_ne!(
            manifest_digest(&manifest(&a, 10)),
            manifest_digest(&manifest(&b, 10))
        );
        assert_ne!(
            manifest_digest(&manifest(&a, 10)),
            manifest_digest(&manifest(&a, 11))
        );
        serde_json::from_str::<Value>(&manifest(&a, 10)).expect("the manifest is JSON");
    }

    #[test]
    fn a_push_lands_in_the_store_with_the_digest_it_reports() {
        let store = ecr::Store::default();
        store.create_repository("team/web", false, "MUTABLE");
        let id = format!("sha256:{}", "c".repeat(64));
        let (out, pushed) = push(&identity(), &store, &format!("{HOST}/team/web"), &one(&id));
        let digest = out.last().unwrap()["aux"]["Digest"]
            .as_str()
            .unwrap()
            .to_string();
        let status = out[out.len() - 2]["status"].as_str().unwrap();
        assert_eq!(
            status,
            format!("1: digest: {digest} size: {}", manifest(&id, 10).len())
        );
        let repo = store.repository("team/web").unwrap();
        assert_eq!(repo.images[0].digest, digest);
        assert_eq!(repo.images[0].tags, vec!["1".to_string()]);
        assert_eq!(repo.images[0].manifest, manifest(&id, 10));
        assert_eq!(
            pushed,
            vec![(id.clone(), format!("{HOST}/team/web@{digest}"))]
        );
        // Again: the layer is there already.
        let (again, _) = push(&identity(), &store, &format!("{HOST}/team/web"), &one(&id));
        assert!(again.iter().any(|v| v["status"] == "Layer already exists"));
    }

    #[test]
    fn no_repository_and_immutable_tags_are_ecrs_errors() {
        let store = ecr::Store::default();
        let id = format!("sha256:{}", "d".repeat(64));
        let (out, pushed) = push(&identity(), &store, &format!("{HOST}/web"), &one(&id));
        assert!(pushed.is_empty());
        assert_eq!(
            out.last().unwrap()["error"],
            "name unknown: The repository with name 'web' does not exist in the registry with id '123456789012'"
        );
        store.create_repository("web", false, "IMMUTABLE");
        push(&identity(), &store, &format!("{HOST}/web"), &one(&id));
        let other = format!("sha256:{}", "e".repeat(64));
        let (out, _) = push(&identity(), &store, &format!("{HOST}/web"), &one(&other));
        assert!(
            out.last().unwrap()["error"]
                .as_str()
                .unwrap()
                .starts_with("tag invalid: The image tag '1' already exists")
        );
    }

    #[test]
    fn only_the_pinned_ecr_is_pushed_to_or_logged_in_to() {
        let id = identity();
        assert_eq!(foreign(&id, &format!("{HOST}/web"), "1"), None);
        assert_eq!(
            foreign(&id, "ghcr.io/team/web", "1").unwrap(),
            format!(
                "the rehearsal's Docker stand-in pushes only to the pinned account's ECR ({HOST}), never reaching ghcr.io: ghcr.io/team/web:1 was not pushed"
            )
        );
        assert!(
            foreign(&id, "web", "1")
                .unwrap()
                .contains("never reaching docker.io")
        );
        assert!(foreign(&id, "999999999999.dkr.ecr.eu-west-1.amazonaws.com/web", "1").is_some());

        let body = |server: &str| {
            serde_json::to_vec(
                &json!({"username": "AWS", "password": "s3cret-pw", "serveraddress": server}),
            )
            .unwrap()
        };
        assert_eq!(
            login(&id, &body(&format!("https://{HOST}"))).unwrap(),
            "Login Succeeded"
        );
        let refused = login(&id, &body("registry.example.com")).unwrap_err();
        assert!(
            refused.contains("never reaching registry.example.com"),
            "{refused}"
        );
        assert!(!refused.contains("s3cret-pw"));
        assert!(login(&id, b"not json").is_err());
    }

    #[test]
    fn registry_auth_headers() {
        let enc = |v: Value| base64::engine::general_purpose::URL_SAFE.encode(v.to_string());
        assert!(has_credentials(Some(&enc(
            json!({"username": "AWS", "password": "p"})
        ))));
        assert!(!has_credentials(Some(&enc(json!({})))));
        assert!(!has_credentials(Some("%%%")));
        assert!(!has_credentials(None));
    }
}
