//! ECR over awsJson1_1 (`X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.OP`), on the
//! [`crate::ecr::Store`] the Docker stand-in pushes into. Repository URIs, ARNs and login tokens are
//! the account's and region's; a token is base64 of `AWS:PASSWORD` with a made-up password, valid
//! for 12 hours, for the proxy endpoint `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com`.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::error::{AwsError, Protocol};
use super::input::Input;
use super::{Reply, State, chars_from, epoch};
use crate::Identity;
use crate::ecr::{Image, Repository};

/// The password in the login tokens for `identity`.
pub fn password(identity: &Identity) -> String {
    format!(
        "rehearsal-{}",
        chars_from(
            format!("ecr:{}:{}", identity.account, identity.region).as_bytes(),
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            40
        )
    )
}

const DEFAULT_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub fn call(state: &State, op: &str, body: &[u8], rid: &str) -> Reply {
    let answer = Input::parse(body).and_then(|input| operation(state, op, &input));
    match answer {
        Ok(v) => Reply::json(v),
        Err(e) => Reply::error(&e, Protocol::Json, rid),
    }
}

fn operation(state: &State, op: &str, input: &Input) -> Result<Value, AwsError> {
    let e = Ecr {
        id: &state.identity,
        store: &state.ecr,
    };
    match op {
        "GetAuthorizationToken" => e.token(input),
        "CreateRepository" => e.create(input),
        "DescribeRepositories" => e.repositories(input),
        "DeleteRepository" => e.delete(input),
        "DescribeImages" => e.describe_images(input),
        "ListImages" => e.list_images(input),
        "BatchGetImage" => e.batch_get(input),
        "PutImage" => e.put_image(input),
        "BatchDeleteImage" => e.batch_delete(input),
        other => Err(AwsError::not_covered(
            "ecr",
            &other.chars().take(100).collect::<String>(),
        )),
    }
}

struct Ecr<'a> {
    id: &'a Identity,
    store: &'a crate::ecr::Store,
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::client("InvalidParameterException", message)
}

/// An image identifier as asked for: a digest, a tag, or both.
struct ImageId {
    digest: Option<String>,
    tag: Option<String>,
}

impl ImageId {
    fn read(i: &Input) -> Result<ImageId, AwsError> {
        let id = ImageId {
            digest: i.str("imageDigest")?.map(str::to_string),
            tag: i.str("imageTag")?.map(str::to_string),
        };
        if id.digest.is_none() && id.tag.is_none() {
            return Err(invalid(
                "Invalid parameter at 'imageIds' failed to satisfy constraint: 'an image identifier needs imageDigest or imageTag'",
            ));
        }
        Ok(id)
    }

    fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(d) = &self.digest {
            m.insert("imageDigest".into(), json!(d));
        }
        if let Some(t) = &self.tag {
            m.insert("imageTag".into(), json!(t));
        }
        Value::Object(m)
    }

    fn shown(&self) -> String {
        format!(
            "{{imageDigest:'{}', imageTag:'{}'}}",
            self.digest.as_deref().unwrap_or("null"),
            self.tag.as_deref().unwrap_or("null")
        )
    }

    /// The image it names: by digest (carrying the tag, when both are given), else by tag.
    fn find<'r>(&self, repo: &'r Repository) -> Result<&'r Image, &'static str> {
        match (&self.digest, &self.tag) {
            (Some(d), tag) => {
                let i = repo
                    .images
                    .iter()
                    .find(|i| &i.digest == d)
                    .ok_or("ImageNotFound")?;
                match tag {
                    Some(t) if !i.tags.contains(t) => Err("ImageTagDoesNotMatchDigest"),
                    _ => Ok(i),
                }
            }
            (None, Some(t)) => repo
                .images
                .iter()
                .find(|i| i.tags.contains(t))
                .ok_or("ImageNotFound"),
            (None, None) => Err("ImageNotFound"),
        }
    }
}

/// The manifest's `mediaType`, else Docker's v2 schema 2.
fn media_type(manifest: &str) -> String {
    serde_json::from_str::<Value>(manifest)
        .ok()
        .and_then(|m| {
            m.get("mediaType")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| DEFAULT_MEDIA_TYPE.to_string())
}

/// The config's media type, the artifact's type.
fn artifact_type(manifest: &str) -> Option<String> {
    serde_json::from_str::<Value>(manifest).ok().and_then(|m| {
        m.pointer("/config/mediaType")
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// `sha256:` and the hex of the manifest's bytes: an image's digest.
pub fn manifest_digest(manifest: &str) -> String {
    let d = sha2::Sha256::digest(manifest.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in d {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("sha256:{hex}")
}

/// The layers' sizes added up, as ECR counts an image's size.
fn layers_size(manifest: &Value) -> u64 {
    manifest
        .get("layers")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("size").and_then(Value::as_u64))
                .sum()
        })
        .unwrap_or(0)
}

/// `maxResults` and `nextToken` (the offset of the next page).
fn page<T>(items: Vec<T>, input: &Input) -> Result<(Vec<T>, Option<String>), AwsError> {
    let start = match input.str("nextToken")? {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| invalid("Invalid parameter at 'nextToken': not one the stand-in gave"))?,
    };
    let max = match input.int("maxResults")? {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(_) => {
            return Err(invalid(
                "Invalid parameter at 'maxResults' failed to satisfy constraint: 'Member must have value between 1 and 1000'",
            ));
        }
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
    let next = (start + page.len() < total).then(|| (start + page.len()).to_string());
    Ok((page, next))
}

impl Ecr<'_> {
    fn registry(&self, input: &Input) -> Result<String, AwsError> {
        Ok(input
            .str("registryId")?
            .unwrap_or(&self.id.account)
            .to_string())
    }

    fn no_repository(&self, name: &str, registry: &str) -> AwsError {
        AwsError::client(
            "RepositoryNotFoundException",
            format!(
                "The repository with name '{name}' does not exist in the registry with id '{registry}'"
            ),
        )
    }

    fn repository_json(&self, r: &Repository) -> Value {
        json!({
            "repositoryArn": format!("arn:aws:ecr:{}:{}:repository/{}", self.id.region, self.id.account, r.name),
            "registryId": self.id.account,
            "repositoryName": r.name,
            "repositoryUri": format!("{}/{}", self.id.registry_host(), r.name),
            "createdAt": epoch(r.created_at),
            "imageTagMutability": r.tag_mutability,
            "imageScanningConfiguration": { "scanOnPush": r.scan_on_push },
            "encryptionConfiguration": { "encryptionType": "AES256" },
        })
    }

    fn image_detail(&self, repo: &str, i: &Image) -> Value {
        let mut d = json!({
            "registryId": self.id.account,
            "repositoryName": repo,
            "imageDigest": i.digest,
            "imageSizeInBytes": i.size,
            "imagePushedAt": epoch(i.pushed_at),
            "imageManifestMediaType": media_type(&i.manifest),
        });
        if !i.tags.is_empty() {
            d["imageTags"] = json!(i.tags);
        }
        if let Some(a) = artifact_type(&i.manifest) {
            d["artifactMediaType"] = json!(a);
        }
        d
    }

    /// The repository the request names (`repositoryName`, in this account's registry).
    fn repo(&self, input: &Input) -> Result<Repository, AwsError> {
        let name = input.need_str("repositoryName")?;
        let registry = self.registry(input)?;
        if registry != self.id.account {
            return Err(self.no_repository(name, &registry));
        }
        self.store
            .repository(name)
            .ok_or_else(|| self.no_repository(name, &registry))
    }

    fn token(&self, input: &Input) -> Result<Value, AwsError> {
        let mut ids = input.strings("registryIds")?;
        if ids.is_empty() {
            ids.push(self.id.account.clone());
        }
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("AWS:{}", password(self.id)));
        let expires = epoch(Utc::now() + chrono::Duration::hours(12));
        let data: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({
                    "authorizationToken": token,
                    "expiresAt": expires,
                    "proxyEndpoint": format!("https://{id}.dkr.ecr.{}.amazonaws.com", self.id.region),
                })
            })
            .collect();
        Ok(json!({ "authorizationData": data }))
    }

    fn create(&self, input: &Input) -> Result<Value, AwsError> {
        let name = input.need_str("repositoryName")?;
        let valid = (2..=256).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(c))
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid {
            return Err(invalid(format!(
                "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*'' ({name})"
            )));
        }
        let mutability = input.str("imageTagMutability")?.unwrap_or("MUTABLE");
        if !matches!(
            mutability,
            "MUTABLE" | "IMMUTABLE" | "IMMUTABLE_WITH_EXCLUSION" | "MUTABLE_WITH_EXCLUSION"
        ) {
            return Err(invalid(format!(
                "Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [MUTABLE, IMMUTABLE]' ({mutability})"
            )));
        }
        let scan = input
            .object("imageScanningConfiguration")?
            .map(|c| c.bool("scanOnPush"))
            .transpose()?
            .flatten()
            .unwrap_or(false);
        if !self.store.create_repository(name, scan, mutability) {
            return Err(AwsError::client(
                "RepositoryAlreadyExistsException",
                format!(
                    "The repository with name '{name}' already exists in the registry with id '{}'",
                    self.id.account
                ),
            ));
        }
        let r = self
            .store
            .repository(name)
            .ok_or_else(|| self.no_repository(name, &self.id.account))?;
        Ok(json!({ "repository": self.repository_json(&r) }))
    }

    fn repositories(&self, input: &Input) -> Result<Value, AwsError> {
        let names = input.strings("repositoryNames")?;
        let registry = self.registry(input)?;
        let listed: Vec<Value> = if names.is_empty() {
            if registry != self.id.account {
                Vec::new()
            } else {
                self.store
                    .repositories()
                    .iter()
                    .map(|r| self.repository_json(r))
                    .collect()
            }
        } else {
            let mut out = Vec::new();
            for n in &names {
                let r = (registry == self.id.account)
                    .then(|| self.store.repository(n))
                    .flatten()
                    .ok_or_else(|| self.no_repository(n, &registry))?;
                out.push(self.repository_json(&r));
            }
            out
        };
        let (listed, next) = page(listed, input)?;
        let mut out = json!({ "repositories": listed });
        if let Some(n) = next {
            out["nextToken"] = json!(n);
        }
        Ok(out)
    }

    fn delete(&self, input: &Input) -> Result<Value, AwsError> {
        let name = input.need_str("repositoryName")?.to_string();
        let registry = self.registry(input)?;
        let force = input.bool("force")?.unwrap_or(false);
        if registry != self.id.account {
            return Err(self.no_repository(&name, &registry));
        }
        let removed = self.store.edit(|repos| match repos.get(&name) {
            None => Err(self.no_repository(&name, &registry)),
            Some(r) if !force && !r.images.is_empty() => Err(AwsError::client(
                "RepositoryNotEmptyException",
                format!(
                    "The repository with name '{name}' in registry with id '{registry}' cannot be deleted because it still contains images"
                ),
            )),
            Some(_) => repos
                .remove(&name)
                .ok_or_else(|| self.no_repository(&name, &registry)),
        })?;
        Ok(json!({ "repository": self.repository_json(&removed) }))
    }

    /// Images of `repo` kept by `tagStatus` (`TAGGED`, `UNTAGGED`, `ANY`).
    fn filtered<'r>(input: &Input, repo: &'r Repository) -> Result<Vec<&'r Image>, AwsError> {
        let status = match input.object("filter")? {
            Some(f) => f.str("tagStatus")?.unwrap_or("ANY").to_string(),
            None => "ANY".to_string(),
        };
        let keep = |i: &&Image| match status.as_str() {
            "TAGGED" => !i.tags.is_empty(),
            "UNTAGGED" => i.tags.is_empty(),
            _ => true,
        };
        if !matches!(status.as_str(), "TAGGED" | "UNTAGGED" | "ANY") {
            return Err(invalid(format!(
                "Invalid parameter at 'filter.tagStatus' failed to satisfy constraint: 'Member must satisfy enum value set: [TAGGED, UNTAGGED, ANY]' ({status})"
            )));
        }
        Ok(repo.images.iter().filter(keep).collect())
    }

    fn describe_images(&self, input: &Input) -> Result<Value, AwsError> {
        let repo = self.repo(input)?;
        let ids = input.objects("imageIds")?;
        if ids.is_empty() {
            let details: Vec<Value> = Self::filtered(input, &repo)?
                .into_iter()
                .map(|i| self.image_detail(&repo.name, i))
                .collect();
            let (details, next) = page(details, input)?;
            let mut out = json!({ "imageDetails": details });
            if let Some(n) = next {
                out["nextToken"] = json!(n);
            }
            return Ok(out);
        }
        let mut details: Vec<Value> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for id in &ids {
            let id = ImageId::read(id)?;
            let i = id.find(&repo).map_err(|_| {
                AwsError::client(
                    "ImageNotFoundException",
                    format!(
                        "The image with imageId {} does not exist within the repository with name '{}' in the registry with id '{}'",
                        id.shown(),
                        repo.name,
                        self.id.account
                    ),
                )
            })?;
            if !seen.contains(&i.digest.as_str()) {
                seen.push(&i.digest);
                details.push(self.image_detail(&repo.name, i));
            }
        }
        Ok(json!({ "imageDetails": details }))
    }

    fn list_images(&self, input: &Input) -> Result<Value, AwsError> {
        let repo = self.repo(input)?;
        let mut ids = Vec::new();
        for i in Self::filtered(input, &repo)? {
            if i.tags.is_empty() {
                ids.push(json!({ "imageDigest": i.digest }));
            }
            for t in &i.tags {
                ids.push(json!({ "imageDigest": i.digest, "imageTag": t }));
            }
        }
        let (ids, next) = page(ids, input)?;
        let mut out = json!({ "imageIds": ids });
        if let Some(n) = next {
            out["nextToken"] = json!(n);
        }
        Ok(out)
    }

    fn batch_get(&self, input: &Input) -> Result<Value, AwsError> {
        let repo = self.repo(input)?;
        let ids = input.objects("imageIds")?;
        if ids.is_empty() {
            return Err(AwsError::missing("imageIds"));
        }
        let accepted = input.strings("acceptedMediaTypes")?;
        let mut images = Vec::new();
        let mut failures = Vec::new();
        for id in &ids {
            let id = ImageId::read(id)?;
            match id.find(&repo) {
                Ok(i) => {
                    let media = media_type(&i.manifest);
                    if !accepted.is_empty() && !accepted.contains(&media) {
                        failures.push(json!({
                            "imageId": id.json(),
                            "failureCode": "UnsupportedImageType",
                            "failureReason": format!("The image's manifest is {media}, not one of the accepted media types"),
                        }));
                        continue;
                    }
                    let mut image_id = json!({ "imageDigest": i.digest });
                    if let Some(t) = &id.tag {
                        image_id["imageTag"] = json!(t);
                    }
                    images.push(json!({
                        "registryId": self.id.account,
                        "repositoryName": repo.name,
                        "imageId": image_id,
                        "imageManifest": i.manifest,
                        "imageManifestMediaType": media,
                    }));
                }
                Err(code) => failures.push(json!({
                    "imageId": id.json(),
                    "failureCode": code,
                    "failureReason": if code == "ImageNotFound" { "Requested image not found" } else { "Requested image tag does not match the digest" },
                })),
            }
        }
        Ok(json!({ "images": images, "failures": failures }))
    }

    fn put_image(&self, input: &Input) -> Result<Value, AwsError> {
        let name = input.need_str("repositoryName")?.to_string();
        let registry = self.registry(input)?;
        let manifest = input.need_str("imageManifest")?.to_string();
        let tag = input.str("imageTag")?.map(str::to_string);
        let parsed: Value = serde_json::from_str(&manifest).map_err(|_| {
            invalid("Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
        })?;
        let digest = manifest_digest(&manifest);
        if let Some(given) = input.str("imageDigest")?
            && given != digest
        {
            return Err(AwsError::client(
                "ImageDigestDoesNotMatchException",
                format!(
                    "Invalid parameter at 'imageDigest' failed to satisfy constraint: 'the manifest's digest is {digest}, not {given}'"
                ),
            ));
        }
        let media = match input.str("imageManifestMediaType")? {
            Some(m) => m.to_string(),
            None => media_type(&manifest),
        };
        if registry != self.id.account {
            return Err(self.no_repository(&name, &registry));
        }
        let account = &self.id.account;
        self.store.edit(|repos| {
            let repo = repos
                .get_mut(&name)
                .ok_or_else(|| self.no_repository(&name, &registry))?;
            let same = repo.images.iter().find(|i| i.digest == digest);
            let already = match (&tag, same) {
                (Some(t), Some(i)) => i.tags.contains(t),
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if already {
                return Err(AwsError::client(
                    "ImageAlreadyExistsException",
                    format!(
                        "Image with digest '{digest}' and tag '{}' already exists in the repository with name '{name}' in registry with id '{account}'",
                        tag.as_deref().unwrap_or("null")
                    ),
                ));
            }
            if let Some(t) = &tag
                && repo.tag_mutability.starts_with("IMMUTABLE")
                && repo.images.iter().any(|i| i.tags.contains(t))
            {
                return Err(AwsError::client(
                    "ImageTagAlreadyExistsException",
                    format!(
                        "The image tag '{t}' already exists in the '{name}' repository and cannot be overwritten because the repository is immutable."
                    ),
                ));
            }
            if let Some(t) = &tag {
                for i in &mut repo.images {
                    i.tags.retain(|x| x != t);
                }
            }
            match repo.images.iter_mut().find(|i| i.digest == digest) {
                Some(i) => i.tags.extend(tag.clone()),
                None => repo.images.push(Image {
                    digest: digest.clone(),
                    tags: tag.clone().into_iter().collect(),
                    manifest: manifest.clone(),
                    size: layers_size(&parsed),
                    pushed_at: Utc::now(),
                }),
            }
            Ok(())
        })?;
        let mut image_id = json!({ "imageDigest": digest });
        if let Some(t) = &tag {
            image_id["imageTag"] = json!(t);
        }
        Ok(json!({
            "image": {
                "registryId": account,
                "repositoryName": name,
                "imageId": image_id,
                "imageManifest": manifest,
                "imageManifestMediaType": media,
            }
        }))
    }

    fn batch_delete(&self, input: &Input) -> Result<Value, AwsError> {
        let name = input.need_str("repositoryName")?.to_string();
        let registry = self.registry(input)?;
        let ids = input
            .objects("imageIds")?
            .iter()
            .map(ImageId::read)
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Err(AwsError::missing("imageIds"));
        }
        if registry != self.id.account {
            return Err(self.no_repository(&name, &registry));
        }
        self.store.edit(|repos: &mut BTreeMap<String, Repository>| {
            let repo = repos
                .get_mut(&name)
                .ok_or_else(|| self.no_repository(&name, &registry))?;
            let mut deleted = Vec::new();
            let mut failures = Vec::new();
            for id in &ids {
                let found = id.find(repo).map(|i| i.digest.clone());
                let digest = match found {
                    Ok(d) => d,
                    Err(code) => {
                        failures.push(json!({
                            "imageId": id.json(),
                            "failureCode": code,
                            "failureReason": "Requested image not found",
                        }));
                        continue;
                    }
                };
                let Some(at) = repo.images.iter().position(|i| i.digest == digest) else {
                    continue;
                };
                match (&id.digest, &id.tag) {
                    // By tag alone: the tag goes; the image with it once it has no other.
                    (None, Some(t)) => {
                        repo.images[at].tags.retain(|x| x != t);
                        deleted.push(json!({ "imageDigest": digest, "imageTag": t }));
                        if repo.images[at].tags.is_empty() {
                            repo.images.remove(at);
                        }
                    }
                    _ => {
                        let gone = repo.images.remove(at);
                        if gone.tags.is_empty() {
                            deleted.push(json!({ "imageDigest": digest }));
                        }
                        for t in gone.tags {
                            deleted.push(json!({ "imageDigest": digest, "imageTag": t }));
                        }
                    }
                }
            }
            Ok(json!({ "imageIds": deleted, "failures": failures }))
        })
    }
}
