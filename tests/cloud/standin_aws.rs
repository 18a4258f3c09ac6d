//! The rehearsal's AWS stand-in (`tollgate_standin::aws`) held against moto, call for call, as
//! `tests/kube/kube_compat.rs` holds the sandbox against kmock: the same requests, made with
//! aws-sdk-rust's Secrets Manager, ECR and STS clients, go to a fresh moto and a fresh stand-in,
//! and what matters in the answers (names, staging labels, version ids moving, error codes, ARN
//! shapes, repository URIs, image digests and tags) must be the same. tollgate's own `secrets.*`,
//! `ecr.*` and `aws.identity` steps then run, with one test body, against each. Without moto
//! (`TOLLGATE_SKIP_MOTO=1`, or no PyPI) the stand-in's half still runs and is checked against
//! what moto answered when this file was written.
//!
//! Known differences, each normalised or checked apart below:
//! - STS's caller: moto is `arn:aws:sts::ACCOUNT:user/moto`, the stand-in
//!   `arn:aws:iam::ACCOUNT:user/tollgate-rehearsal` (an IAM user's ARN, as AWS gives one); the
//!   account is the same.
//! - ECR login tokens: moto's password is `ACCOUNT-auth-token` and its expiry is in 2015; the
//!   stand-in's password is made up (`rehearsal-…`) and expires 12 hours on.
//! - The ARN suffix of a secret: six random characters in moto, six that look random but are the
//!   same for the same account, region and name in the stand-in.
//! - A version left with no staging label (deprecated): moto still lists it in `DescribeSecret`'s
//!   `VersionIdsToStages` with no labels; AWS and the stand-in leave it out (AWS's documentation:
//!   the map lists the versions that have staging labels). Compared without such versions.
//! - `PutImage` with an `imageDigest` that is not the manifest's: moto stores it as given; ECR and
//!   the stand-in refuse it (`ImageDigestDoesNotMatchException`). The comparison gives the right
//!   digest; the refusal is checked on the stand-in alone.
//! - An image's size: moto makes one up; the stand-in adds up the manifest's layers, as ECR does.

use std::sync::Arc;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use base64::Engine as _;
use tollgate::target::account::{Overrides, PinnedAccount};
use tollgate_standin::Identity;
use tollgate_standin::aws::{AwsStandIn, Config};

use crate::common::moto::{MOTO_ACCOUNT, Moto, aws_runbook, aws_target, run_in};

const REGION: &str = "us-east-1";

enum Kind {
    /// Kept for its drop, which stops it.
    #[allow(dead_code)]
    Moto(Moto),
    StandIn(AwsStandIn),
}

/// moto or the stand-in, answering as [`MOTO_ACCOUNT`] in us-east-1.
struct Backend {
    kind: Kind,
    endpoint: String,
}

fn http_client() -> aws_sdk_secretsmanager::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

impl Backend {
    fn moto() -> Option<Backend> {
        let m = Moto::start()?;
        Some(Backend {
            endpoint: m.endpoint(),
            kind: Kind::Moto(m),
        })
    }

    async fn standin() -> Backend {
        let s = AwsStandIn::start(Config {
            identity: Identity {
                account: MOTO_ACCOUNT.into(),
                region: REGION.into(),
            },
            port: 0,
            secrets: Vec::new(),
            repositories: Vec::new(),
            ecr: Default::default(),
        })
        .await
        .expect("the stand-in starts");
        Backend::of(s)
    }

    fn of(s: AwsStandIn) -> Backend {
        Backend {
            endpoint: s.url(),
            kind: Kind::StandIn(s),
        }
    }

    fn as_standin(&self) -> Option<&AwsStandIn> {
        match &self.kind {
            Kind::StandIn(s) => Some(s),
            Kind::Moto(_) => None,
        }
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Moto(_) => "moto",
            Kind::StandIn(_) => "stand-in",
        }
    }

    fn is_standin(&self) -> bool {
        self.as_standin().is_some()
    }

    /// What tollgate's AWS steps run against: this endpoint, made-up credentials.
    fn target(&self) -> Arc<PinnedAccount> {
        Arc::new(PinnedAccount::with_overrides(
            Some(&aws_target(MOTO_ACCOUNT)),
            Overrides {
                endpoint_url: Some(self.endpoint.clone()),
                credentials: Some(("AKIDREHEARSAL".into(), "made-up".into())),
                region: Some(REGION.into()),
            },
        ))
    }

    /// One configuration for the three clients: this backend's endpoint, made-up keys.
    fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_config::{BehaviorVersion, Region};
        use aws_sdk_secretsmanager::config::{Credentials, SharedCredentialsProvider};
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKID", "made-up", None, None, "test",
            )))
            .http_client(http_client())
            .build()
    }

    fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config())
    }

    fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk_config())
    }

    fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk_config())
    }
}

/// What one call answered, as compared: `ok …` or `error CODE`.
fn outcome<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: &Result<T, E>,
    ok: impl FnOnce(&T) -> String,
) -> String {
    match r {
        Ok(v) => format!("ok {}", ok(v)),
        Err(e) => format!("error {}", e.code().unwrap_or("<no code>")),
    }
}

/// A map of version ids to labels, as `id:LABEL,LABEL` sorted, without unlabelled versions (see
/// the doc comment), with ids shown by the token that made them.
fn stages_text(
    m: Option<&std::collections::HashMap<String, Vec<String>>>,
    tokens: &[(&str, &str)],
) -> String {
    let mut v: Vec<String> = m
        .into_iter()
        .flatten()
        .filter(|(_, l)| !l.is_empty())
        .map(|(id, l)| {
            let mut l = l.clone();
            l.sort();
            let name = tokens
                .iter()
                .find(|(t, _)| *t == id)
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| format!("<other {id}>"));
            format!("{name}:{}", l.join(","))
        })
        .collect();
    v.sort();
    v.join(" ")
}

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const T3: &str = "33333333-3333-4333-8333-333333333333";

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-` and six letters or digits.
fn secret_arn_shape(arn: &str, name: &str) -> String {
    let prefix = format!("arn:aws:secretsmanager:{REGION}:{MOTO_ACCOUNT}:secret:{name}-");
    match arn.strip_prefix(&prefix) {
        Some(s) if s.len() == 6 && s.chars().all(|c| c.is_ascii_alphanumeric()) => {
            format!("{prefix}XXXXXX")
        }
        _ => format!("<unexpected {arn}>"),
    }
}

/// The Secrets Manager calls, in order, with what each answered.
async fn secrets_transcript(b: &Backend) -> Vec<(String, String)> {
    let c = b.secrets();
    let mut t: Vec<(String, String)> = Vec::new();
    let tokens = [(T1, "T1"), (T2, "T2"), (T3, "T3")];
    let id = "compat/jwt-secret";
    macro_rules! rec {
        ($step:expr, $r:expr, $ok:expr) => {{
            let r = $r;
            t.push(($step.to_string(), outcome(&r, $ok)));
        }};
    }
    rec!(
        "CreateSecret",
        c.create_secret()
            .name(id)
            .secret_string("value-one")
            .client_request_token(T1)
            .description("compat")
            .send()
            .await,
        |o| format!(
            "{} {} {}",
            o.name().unwrap_or_default(),
            o.version_id().unwrap_or_default(),
            secret_arn_shape(o.arn().unwrap_or_default(), id)
        )
    );
    rec!(
        "CreateSecret again",
        c.create_secret().name(id).secret_string("x").send().await,
        |_| String::new()
    );
    rec!(
        "PutSecretValue T2",
        c.put_secret_value()
            .secret_id(id)
            .secret_string("value-two")
            .client_request_token(T2)
            .send()
            .await,
        |o| format!(
            "{} {:?}",
            o.version_id().unwrap_or_default(),
            o.version_stages()
        )
    );
    let describe = |label: &'static str| {
        let c = c.clone();
        async move {
            let r = c.describe_secret().secret_id(id).send().await;
            (
                label.to_string(),
                outcome(&r, |d| stages_text(d.version_ids_to_stages(), &tokens)),
            )
        }
    };
    t.push(describe("DescribeSecret after T2").await);
    rec!(
        "PutSecretValue T2 again, same value",
        c.put_secret_value()
            .secret_id(id)
            .secret_string("value-two")
            .client_request_token(T2)
            .send()
            .await,
        |o| o.version_id().unwrap_or_default().to_string()
    );
    t.push(describe("DescribeSecret after the repeat").await);
    rec!(
        "GetSecretValue",
        c.get_secret_value().secret_id(id).send().await,
        |o| format!(
            "{} {} {:?}",
            o.secret_string().unwrap_or_default(),
            o.version_id().unwrap_or_default(),
            o.version_stages()
        )
    );
    rec!(
        "GetSecretValue AWSPREVIOUS",
        c.get_secret_value()
            .secret_id(id)
            .version_stage("AWSPREVIOUS")
            .send()
            .await,
        |o| format!(
            "{} {}",
            o.secret_string().unwrap_or_default(),
            o.version_id().unwrap_or_default()
        )
    );
    rec!(
        "GetSecretValue by VersionId T1",
        c.get_secret_value()
            .secret_id(id)
            .version_id(T1)
            .send()
            .await,
        |o| o.secret_string().unwrap_or_default().to_string()
    );
    rec!(
        "GetSecretValue of a secret that is not there",
        c.get_secret_value()
            .secret_id("compat/nothing")
            .send()
            .await,
        |_| String::new()
    );
    rec!(
        "DescribeSecret of a secret that is not there",
        c.describe_secret().secret_id("compat/nothing").send().await,
        |_| String::new()
    );
    rec!(
        "PutSecretValue T3",
        c.put_secret_value()
            .secret_id(id)
            .secret_string("value-three")
            .client_request_token(T3)
            .send()
            .await,
        |o| o.version_id().unwrap_or_default().to_string()
    );
    t.push(describe("DescribeSecret after T3").await);
    rec!(
        "ListSecretVersionIds",
        c.list_secret_version_ids().secret_id(id).send().await,
        |o| {
            let mut v: Vec<String> = o
                .versions()
                .iter()
                .filter(|v| !v.version_stages().is_empty())
                .map(|v| {
                    format!(
                        "{}:{}",
                        tokens
                            .iter()
                            .find(|(t, _)| Some(*t) == v.version_id())
                            .map(|(_, n)| *n)
                            .unwrap_or("?"),
                        v.version_stages().join(",")
                    )
                })
                .collect();
            v.sort();
            v.join(" ")
        }
    );
    rec!(
        "UpdateSecretVersionStage AWSCURRENT to T2 from T3",
        c.update_secret_version_stage()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(T2)
            .remove_from_version_id(T3)
            .send()
            .await,
        |o| o.name().unwrap_or_default().to_string()
    );
    t.push(describe("DescribeSecret after the move").await);
    rec!(
        "GetSecretValue after the move",
        c.get_secret_value().secret_id(id).send().await,
        |o| o.secret_string().unwrap_or_default().to_string()
    );
    rec!("ListSecrets", c.list_secrets().send().await, |o| o
        .secret_list()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s.name().unwrap_or_default(),
                s.description().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(","));
    rec!(
        "GetRandomPassword 24 without punctuation",
        c.get_random_password()
            .password_length(24)
            .exclude_punctuation(true)
            .include_space(false)
            .send()
            .await,
        |o| {
            let p = o.random_password().unwrap_or_default();
            format!(
                "{} alphanumeric={}",
                p.len(),
                p.chars().all(|c| c.is_ascii_alphanumeric())
            )
        }
    );
    let now = chrono::Utc::now().timestamp();
    rec!(
        "DeleteSecret with a 7-day window",
        c.delete_secret()
            .secret_id(id)
            .recovery_window_in_days(7)
            .send()
            .await,
        |o| {
            let days = o
                .deletion_date()
                .map(|d| (d.secs() - now + 3600) / 86400)
                .unwrap_or(-1);
            format!("{} in {days} days", o.name().unwrap_or_default())
        }
    );
    rec!(
        "GetSecretValue of a secret scheduled for deletion",
        c.get_secret_value().secret_id(id).send().await,
        |_| String::new()
    );
    rec!(
        "DescribeSecret of a secret scheduled for deletion",
        c.describe_secret().secret_id(id).send().await,
        |d| format!("deleted={}", d.deleted_date().is_some())
    );
    rec!(
        "RestoreSecret",
        c.restore_secret().secret_id(id).send().await,
        |o| o.name().unwrap_or_default().to_string()
    );
    rec!(
        "GetSecretValue after the restore",
        c.get_secret_value().secret_id(id).send().await,
        |o| o.secret_string().unwrap_or_default().to_string()
    );
    rec!(
        "DeleteSecret without recovery",
        c.delete_secret()
            .secret_id(id)
            .force_delete_without_recovery(true)
            .send()
            .await,
        |o| o.name().unwrap_or_default().to_string()
    );
    rec!(
        "DescribeSecret after the forced delete",
        c.describe_secret().secret_id(id).send().await,
        |_| String::new()
    );
    t
}

/// A Docker image manifest whose layers add up to 32654 + 1000 bytes.
fn manifest() -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": format!("sha256:{}", "c".repeat(64)),
        },
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": format!("sha256:{}", "e".repeat(64))},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1000, "digest": format!("sha256:{}", "f".repeat(64))},
        ],
    })
    .to_string()
}

/// The ECR and STS calls, in order, with what each answered.
async fn ecr_transcript(b: &Backend) -> Vec<(String, String)> {
    use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration};
    let c = b.ecr();
    let mut t: Vec<(String, String)> = Vec::new();
    macro_rules! rec {
        ($step:expr, $r:expr, $ok:expr) => {{
            let r = $r;
            t.push(($step.to_string(), outcome(&r, $ok)));
        }};
    }
    let repo = "compat/web";
    let manifest = manifest();
    let digest = tollgate_standin::aws::manifest_digest(&manifest);
    let tag = |t: &str| ImageIdentifier::builder().image_tag(t).build();
    rec!(
        "CreateRepository",
        c.create_repository()
            .repository_name(repo)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build()
            )
            .send()
            .await,
        |o| {
            let r = o.repository().unwrap();
            format!(
                "{} {} {} {} scan={}",
                r.repository_name().unwrap_or_default(),
                r.repository_uri().unwrap_or_default(),
                r.repository_arn().unwrap_or_default(),
                r.registry_id().unwrap_or_default(),
                r.image_scanning_configuration()
                    .map(|c| c.scan_on_push())
                    .unwrap_or_default()
            )
        }
    );
    rec!(
        "CreateRepository again",
        c.create_repository().repository_name(repo).send().await,
        |_| String::new()
    );
    rec!(
        "DescribeRepositories of one that is not there",
        c.describe_repositories()
            .repository_names("compat/nothing")
            .send()
            .await,
        |_| String::new()
    );
    rec!(
        "DescribeRepositories",
        c.describe_repositories()
            .repository_names(repo)
            .send()
            .await,
        |o| o
            .repositories()
            .iter()
            .map(|r| r.repository_uri().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    rec!(
        "DescribeImages of an empty repository",
        c.describe_images().repository_name(repo).send().await,
        |o| o.image_details().len().to_string()
    );
    rec!(
        "PutImage 1.0",
        c.put_image()
            .repository_name(repo)
            .image_manifest(&manifest)
            .image_tag("1.0")
            .image_digest(&digest)
            .send()
            .await,
        |o| {
            let i = o.image().unwrap();
            let id = i.image_id().unwrap();
            format!(
                "{} {} same-manifest={}",
                id.image_digest().unwrap_or_default(),
                id.image_tag().unwrap_or_default(),
                i.image_manifest() == Some(manifest.as_str())
            )
        }
    );
    rec!(
        "PutImage latest",
        c.put_image()
            .repository_name(repo)
            .image_manifest(&manifest)
            .image_tag("latest")
            .image_digest(&digest)
            .send()
            .await,
        |o| o
            .image()
            .and_then(|i| i.image_id())
            .and_then(|i| i.image_digest())
            .unwrap_or_default()
            .to_string()
    );
    rec!(
        "PutImage into a repository that is not there",
        c.put_image()
            .repository_name("compat/nothing")
            .image_manifest(&manifest)
            .image_tag("1.0")
            .send()
            .await,
        |_| String::new()
    );
    let detail = |o: &aws_sdk_ecr::operation::describe_images::DescribeImagesOutput| {
        o.image_details()
            .iter()
            .map(|d| {
                let mut tags = d.image_tags().to_vec();
                tags.sort();
                format!(
                    "{} [{}] {} pushed={}",
                    d.image_digest().unwrap_or_default(),
                    tags.join(","),
                    d.repository_name().unwrap_or_default(),
                    d.image_pushed_at().is_some()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    rec!(
        "DescribeImages by tag",
        c.describe_images()
            .repository_name(repo)
            .image_ids(tag("latest"))
            .send()
            .await,
        detail
    );
    rec!(
        "DescribeImages by digest",
        c.describe_images()
            .repository_name(repo)
            .image_ids(ImageIdentifier::builder().image_digest(&digest).build())
            .send()
            .await,
        detail
    );
    rec!(
        "DescribeImages of a tag that is not there",
        c.describe_images()
            .repository_name(repo)
            .image_ids(tag("2.0"))
            .send()
            .await,
        |_| String::new()
    );
    rec!(
        "DescribeImages of a repository that is not there",
        c.describe_images()
            .repository_name("compat/nothing")
            .send()
            .await,
        |_| String::new()
    );
    rec!(
        "ListImages",
        c.list_images().repository_name(repo).send().await,
        |o| {
            let mut v: Vec<String> = o
                .image_ids()
                .iter()
                .map(|i| {
                    format!(
                        "{}:{}",
                        i.image_tag().unwrap_or_default(),
                        i.image_digest().unwrap_or_default()
                    )
                })
                .collect();
            v.sort();
            v.join(" ")
        }
    );
    rec!(
        "BatchGetImage",
        c.batch_get_image()
            .repository_name(repo)
            .image_ids(tag("1.0"))
            .image_ids(tag("9.9"))
            .send()
            .await,
        |o| format!(
            "images={:?} same-manifest={} failures={:?}",
            o.images()
                .iter()
                .map(|i| i
                    .image_id()
                    .and_then(|i| i.image_digest())
                    .unwrap_or_default())
                .collect::<Vec<_>>(),
            o.images()
                .iter()
                .all(|i| i.image_manifest() == Some(manifest.as_str())),
            o.failures()
                .iter()
                .map(|f| f.failure_code().map(|c| c.as_str()).unwrap_or_default())
                .collect::<Vec<_>>()
        )
    );
    #[allow(deprecated)]
    let token = c
        .get_authorization_token()
        .registry_ids(MOTO_ACCOUNT)
        .send()
        .await;
    t.push((
        "GetAuthorizationToken".into(),
        outcome(&token, |o| {
            let d = &o.authorization_data()[0];
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(d.authorization_token().unwrap_or_default())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            format!(
                "user={} {}",
                decoded.split(':').next().unwrap_or_default(),
                d.proxy_endpoint().unwrap_or_default()
            )
        }),
    ));
    if let Ok(o) = &token {
        let expires = o.authorization_data()[0].expires_at().map(|e| e.secs());
        let now = chrono::Utc::now().timestamp();
        // The known difference: moto's token expired in 2015.
        let as_known = if b.is_standin() {
            expires.is_some_and(|e| e > now + 11 * 3600)
        } else {
            expires.is_some_and(|e| e < now)
        };
        assert!(as_known, "{}: token expiry {expires:?}", b.name());
    }
    rec!(
        "DeleteRepository with images",
        c.delete_repository().repository_name(repo).send().await,
        |_| String::new()
    );
    rec!(
        "BatchDeleteImage by digest",
        c.batch_delete_image()
            .repository_name(repo)
            .image_ids(ImageIdentifier::builder().image_digest(&digest).build())
            .send()
            .await,
        |o| {
            let mut v: Vec<String> = o
                .image_ids()
                .iter()
                .map(|i| {
                    format!(
                        "{}:{}",
                        i.image_tag().unwrap_or_default(),
                        i.image_digest().unwrap_or_default()
                    )
                })
                .collect();
            v.sort();
            format!("{} failures={}", v.join(" "), o.failures().len())
        }
    );
    rec!(
        "DeleteRepository once empty",
        c.delete_repository().repository_name(repo).send().await,
        |o| o
            .repository()
            .and_then(|r| r.repository_name())
            .unwrap_or_default()
            .to_string()
    );
    let who = b.sts().get_caller_identity().send().await;
    t.push((
        "GetCallerIdentity".into(),
        match &who {
            Ok(o) => format!(
                "ok {} arn-account={}",
                o.account().unwrap_or_default(),
                o.arn()
                    .and_then(|a| a.split(':').nth(4))
                    .unwrap_or_default()
            ),
            Err(e) => format!("error {}", e.code().unwrap_or("<no code>")),
        },
    ));
    if b.is_standin() {
        assert_eq!(
            who.as_ref().ok().and_then(|o| o.arn()),
            Some("arn:aws:iam::123456789012:user/tollgate-rehearsal")
        );
    }
    t
}

/// Steps where moto and the stand-in are known to answer differently: (step, moto's answer, the
/// stand-in's). Both are held to what is written here.
type Known = [(&'static str, &'static str, &'static str)];

/// moto answers `GetSecretValue` without a stage from the version the last put made, not from the
/// one `UpdateSecretVersionStage` made `AWSCURRENT` (its `default_version_id`); AWS and the
/// stand-in answer `AWSCURRENT`'s value. tollgate always names the stage, so it meets no difference.
const SECRETS_KNOWN: &Known = &[
    (
        "GetSecretValue after the move",
        "ok value-three",
        "ok value-two",
    ),
    (
        "GetSecretValue after the restore",
        "ok value-three",
        "ok value-two",
    ),
];

/// moto fails `PutImage` into a repository that does not exist with a 500 and no error code (an
/// uncaught exception, retried by the SDK); ECR and the stand-in answer
/// `RepositoryNotFoundException`.
const ECR_KNOWN: &Known = &[(
    "PutImage into a repository that is not there",
    "error <no code>",
    "error RepositoryNotFoundException",
)];

/// Fails with every step where the two transcripts differ, but for the `known` differences, which
/// must be exactly as written.
fn assert_same(what: &str, moto: &[(String, String)], standin: &[(String, String)], known: &Known) {
    let mut diffs = Vec::new();
    for (m, s) in moto.iter().zip(standin) {
        assert_eq!(m.0, s.0, "the transcripts' steps differ");
        if let Some((_, km, ks)) = known.iter().find(|k| k.0 == m.0) {
            if (m.1.as_str(), s.1.as_str()) != (*km, *ks) {
                diffs.push(format!(
                    "{} (a known difference, now otherwise):\n  moto:     {}\n  stand-in: {}",
                    m.0, m.1, s.1
                ));
            }
            continue;
        }
        if m.1 != s.1 {
            diffs.push(format!(
                "{}:\n  moto:     {}\n  stand-in: {}",
                m.0, m.1, s.1
            ));
        }
    }
    assert_eq!(moto.len(), standin.len());
    assert!(
        diffs.is_empty(),
        "{what}: the stand-in answers differently from moto:\n{}",
        diffs.join("\n")
    );
}

/// What moto answered (`MOTO_SECRETS` and `MOTO_ECR`): held against the stand-in when moto cannot
/// run here.
fn expected(lines: &str) -> Vec<(String, String)> {
    lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (a, b) = l.split_once(" => ").expect("`step => outcome`");
            (a.trim().to_string(), b.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_answers_as_moto_does() {
    let standin = Backend::standin().await;
    let s = secrets_transcript(&standin).await;
    if let Some(moto) = Backend::moto() {
        let m = secrets_transcript(&moto).await;
        assert_same("Secrets Manager", &m, &s, SECRETS_KNOWN);
    }
    assert_same(
        "Secrets Manager",
        &expected(MOTO_SECRETS),
        &s,
        SECRETS_KNOWN,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_and_sts_answer_as_moto_does() {
    let standin = Backend::standin().await;
    let s = ecr_transcript(&standin).await;
    if let Some(moto) = Backend::moto() {
        let m = ecr_transcript(&moto).await;
        assert_same("ECR and STS", &m, &s, ECR_KNOWN);
    }
    assert_same("ECR and STS", &expected(MOTO_ECR), &s, ECR_KNOWN);
}

const MOTO_SECRETS: &str = r#"
CreateSecret => ok compat/jwt-secret 11111111-1111-4111-8111-111111111111 arn:aws:secretsmanager:us-east-1:123456789012:secret:compat/jwt-secret-XXXXXX
CreateSecret again => error ResourceExistsException
PutSecretValue T2 => ok 22222222-2222-4222-8222-222222222222 ["AWSCURRENT"]
DescribeSecret after T2 => ok T1:AWSPREVIOUS T2:AWSCURRENT
PutSecretValue T2 again, same value => ok 22222222-2222-4222-8222-222222222222
DescribeSecret after the repeat => ok T1:AWSPREVIOUS T2:AWSCURRENT
GetSecretValue => ok value-two 22222222-2222-4222-8222-222222222222 ["AWSCURRENT"]
GetSecretValue AWSPREVIOUS => ok value-one 11111111-1111-4111-8111-111111111111
GetSecretValue by VersionId T1 => ok value-one
GetSecretValue of a secret that is not there => error ResourceNotFoundException
DescribeSecret of a secret that is not there => error ResourceNotFoundException
PutSecretValue T3 => ok 33333333-3333-4333-8333-333333333333
DescribeSecret after T3 => ok T2:AWSPREVIOUS T3:AWSCURRENT
ListSecretVersionIds => ok T2:AWSPREVIOUS T3:AWSCURRENT
UpdateSecretVersionStage AWSCURRENT to T2 from T3 => ok compat/jwt-secret
DescribeSecret after the move => ok T2:AWSCURRENT T3:AWSPREVIOUS
GetSecretValue after the move => ok value-three
ListSecrets => ok compat/jwt-secret compat
GetRandomPassword 24 without punctuation => ok 24 alphanumeric=true
DeleteSecret with a 7-day window => ok compat/jwt-secret in 7 days
GetSecretValue of a secret scheduled for deletion => error InvalidRequestException
DescribeSecret of a secret scheduled for deletion => ok deleted=true
RestoreSecret => ok compat/jwt-secret
GetSecretValue after the restore => ok value-three
DeleteSecret without recovery => ok compat/jwt-secret
DescribeSecret after the forced delete => error ResourceNotFoundException
"#;

const MOTO_ECR: &str = r#"
CreateRepository => ok compat/web 123456789012.dkr.ecr.us-east-1.amazonaws.com/compat/web arn:aws:ecr:us-east-1:123456789012:repository/compat/web 123456789012 scan=true
CreateRepository again => error RepositoryAlreadyExistsException
DescribeRepositories of one that is not there => error RepositoryNotFoundException
DescribeRepositories => ok 123456789012.dkr.ecr.us-east-1.amazonaws.com/compat/web
DescribeImages of an empty repository => ok 0
PutImage 1.0 => ok sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c 1.0 same-manifest=true
PutImage latest => ok sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c
PutImage into a repository that is not there => error <no code>
DescribeImages by tag => ok sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c [1.0,latest] compat/web pushed=true
DescribeImages by digest => ok sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c [1.0,latest] compat/web pushed=true
DescribeImages of a tag that is not there => error ImageNotFoundException
DescribeImages of a repository that is not there => error RepositoryNotFoundException
ListImages => ok 1.0:sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c latest:sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c
BatchGetImage => ok images=["sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c"] same-manifest=true failures=["ImageNotFound"]
GetAuthorizationToken => ok user=AWS https://123456789012.dkr.ecr.us-east-1.amazonaws.com
DeleteRepository with images => error RepositoryNotEmptyException
BatchDeleteImage by digest => ok 1.0:sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c latest:sha256:7d621d22ab49198d4a94033b71448891b06aff488d0870ce4a0439d9c75c3e9c failures=0
DeleteRepository once empty => ok compat/web
GetCallerIdentity => ok 123456789012 arn-account=123456789012
"#;

/// tollgate's own AWS steps, one body for either backend: identity, a secret put, required,
/// rotated (verified), its previous version read back, a repository ensured, a login, the images
/// of a repository described, and the rotation and the repository put back by `secrets.revert`.
async fn tollgate_steps(b: &Backend) {
    let manifest = manifest();
    let digest = tollgate_standin::aws::manifest_digest(&manifest);
    let ecr = b.ecr();
    ecr.create_repository()
        .repository_name("labelmint/api")
        .send()
        .await
        .unwrap();
    ecr.put_image()
        .repository_name("labelmint/api")
        .image_manifest(&manifest)
        .image_tag("1.4.2")
        .image_digest(&digest)
        .send()
        .await
        .unwrap();
    let jwt = "jwt-Rq81-first-value-77";
    let yaml = aws_runbook(
        "steps",
        MOTO_ACCOUNT,
        "  JWT: { secret: true }\n  JWT_READ: { secret: true }\n  ECR_PASSWORD: { secret: true }\n",
        r#"      - id: who
        run:
          aws.identity: {}
      - id: put
        run:
          secrets.put: { id: labelmint/production/jwt-secret, from_var: JWT, description: the API's signing key }
      - id: require
        run:
          secrets.require: { ids: [labelmint/production/jwt-secret] }
      - id: rotate
        run:
          secrets.rotate:
            id: labelmint/production/jwt-secret
            generate: 32
            verify: 'test ${#TOLLGATE_SECRET_VALUE} -eq 32'
      - id: get
        run:
          secrets.get: { id: labelmint/production/jwt-secret, var: JWT_READ, version_stage: AWSPREVIOUS }
      - id: check
        run: test "$JWT_READ" = "$JWT" && echo previous-is-the-first
      - id: repo
        run:
          ecr.ensure_repository: { name: labelmint/web, scan_on_push: true }
      - id: login
        run:
          ecr.login: { password_var: ECR_PASSWORD }
      - id: images
        run:
          ecr.describe_images: { repository: labelmint/api, tags: ["1.4.2"] }
      - id: undo
        run:
          secrets.revert: { step: rotate }
      - id: undo-repo
        run:
          secrets.revert: { step: repo }
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let f = run_in(dir.path(), &yaml, b.target(), &[("JWT", jwt)]).await;
    let name = b.name();
    assert!(f.succeeded(), "{name}: {:?}\n{}", f.outcome, f.output);
    let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    for line in [
        "account=123456789012 ".to_string(),
        "created labelmint/production/jwt-secret (version ".to_string(),
        "secret labelmint/production/jwt-secret exists\n".to_string(),
        "verify passed\n".to_string(),
        "previous-is-the-first\n".to_string(),
        format!("created labelmint/web ({registry}/labelmint/web)\n"),
        format!("registry={registry}\n"),
        "username=AWS\n".to_string(),
        format!("1.4.2 digest={digest} pushed="),
        "labelmint/production/jwt-secret: AWSCURRENT is back on ".to_string(),
        "deleted repository labelmint/web (the step had created it; it had no images)\n"
            .to_string(),
    ] {
        assert!(
            f.output.contains(&line),
            "{name}: no {line:?} in:\n{}",
            f.output
        );
    }
    // The size is the layers' in the stand-in, made up in moto.
    if b.is_standin() {
        assert!(f.output.contains(" size=32.9KiB\n"), "{}", f.output);
        assert!(
            !f.output.contains("warning: the token expired"),
            "{}",
            f.output
        );
    } else {
        assert!(
            f.output.contains("warning: the token expired at 2015-"),
            "{}",
            f.output
        );
    }
    assert!(
        !f.output.contains(jwt) && !f.journal.contains(jwt),
        "{name}"
    );
    // What the run left: AWSCURRENT back on the version `put` made, the new repository gone.
    let put_version = f
        .changes_of("put")
        .first()
        .and_then(|c| c["version"].as_str().map(str::to_string))
        .expect("put journaled its version");
    let current = b
        .secrets()
        .get_secret_value()
        .secret_id("labelmint/production/jwt-secret")
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    assert_eq!(current.version_id(), Some(put_version.as_str()), "{name}");
    assert_eq!(current.secret_string(), Some(jwt), "{name}");
    let gone = ecr
        .describe_repositories()
        .repository_names("labelmint/web")
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("RepositoryNotFoundException"), "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tollgate_steps_against_moto() {
    let Some(moto) = Backend::moto() else { return };
    tollgate_steps(&moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tollgate_steps_against_the_standin() {
    let standin = Backend::standin().await;
    tollgate_steps(&standin).await;
    let calls = standin.as_standin().unwrap().calls();
    assert!(calls > 20, "{calls} calls");
}

/// Fault injection: a secret the stand-in is told to lose is missing for the next run, which
/// fails saying so; the same runbook passed while it was there. Seeded secrets and repositories
/// exist from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_removed_from_the_standin_is_missing_for_the_steps() {
    let b = Backend::of(
        AwsStandIn::start(Config {
            identity: Identity {
                account: MOTO_ACCOUNT.into(),
                region: REGION.into(),
            },
            port: 0,
            secrets: vec![(
                "labelmint/production/db-url".into(),
                "postgres://made-up-Vb71".into(),
            )],
            repositories: vec!["labelmint/web".into()],
            ecr: Default::default(),
        })
        .await
        .unwrap(),
    );
    let yaml = aws_runbook(
        "fault",
        MOTO_ACCOUNT,
        "  DB_URL: { secret: true }\n",
        r#"      - id: repo
        run:
          ecr.ensure_repository: { name: labelmint/web }
      - id: need
        run:
          secrets.require: { ids: [labelmint/production/db-url] }
      - id: get
        run:
          secrets.get: { id: labelmint/production/db-url, var: DB_URL }
      - id: use
        run: test "$DB_URL" = postgres://made-up-Vb71 && echo read-the-seeded-value
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("there")).unwrap();
    std::fs::create_dir_all(dir.path().join("gone")).unwrap();
    let there = run_in(&dir.path().join("there"), &yaml, b.target(), &[]).await;
    assert!(there.succeeded(), "{:?}\n{}", there.outcome, there.output);
    assert!(
        there.output.contains(
            "exists labelmint/web (123456789012.dkr.ecr.us-east-1.amazonaws.com/labelmint/web)\n"
        ),
        "{}",
        there.output
    );
    assert!(
        there.output.contains("read-the-seeded-value\n"),
        "{}",
        there.output
    );
    assert!(!there.output.contains("postgres://made-up-Vb71"));

    let standin = b.as_standin().unwrap();
    assert!(standin.remove_secret("labelmint/production/db-url"));
    let gone = run_in(&dir.path().join("gone"), &yaml, b.target(), &[]).await;
    assert!(!gone.succeeded(), "{:?}", gone.outcome);
    let error = gone.error_of("need").expect("`need` failed");
    assert!(
        error.contains("1 of 1 secrets missing: labelmint/production/db-url"),
        "{error}"
    );
}

/// The `aws` CLI of the venv `tests/awscli/setup.sh` makes, or why there is none.
fn aws_cli() -> Result<std::path::PathBuf, String> {
    crate::common::awscli::binary()
}

/// Runs the `aws` CLI against `endpoint` with made-up keys in its own config and credentials files
/// (nothing of the machine's AWS set-up is read): (exit code, stdout, stderr).
async fn aws(
    cli: &std::path::Path,
    home: &std::path::Path,
    endpoint: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(cli);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_PAGER", "")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("the aws CLI starts");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the aws CLI answers within 60 s")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `aws` CLI (awscli 1.x, `AWS_ENDPOINT_URL` at the stand-in) runs the commands LabelMint's
/// runbooks and their checklists type, and gets the account's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_against_the_standin() {
    let cli = match aws_cli() {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: the aws CLI is not installable here: {e}");
            return;
        }
    };
    let store = tollgate_standin::ecr::Store::default();
    let standin = AwsStandIn::start(Config {
        identity: Identity {
            account: "288761728065".into(),
            region: REGION.into(),
        },
        port: 0,
        secrets: Vec::new(),
        repositories: vec!["labelmint/web".into()],
        ecr: store.clone(),
    })
    .await
    .unwrap();
    // An image as the Docker stand-in's push leaves it.
    let manifest = manifest();
    let digest = tollgate_standin::aws::manifest_digest(&manifest);
    store
        .put_image("labelmint/web", Some("1.4.2"), &digest, &manifest, 33654)
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config"),
        "[default]\nregion = us-east-1\noutput = json\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("credentials"),
        "[default]\naws_access_key_id = AKIDMADEUP\naws_secret_access_key = made-up-secret-key\n",
    )
    .unwrap();
    let url = standin.url();
    let run = |args: &'static [&'static str], stdin: Option<&'static str>| {
        let (cli, home, url) = (cli.clone(), home.path().to_path_buf(), url.clone());
        async move { aws(&cli, &home, &url, args, stdin).await }
    };
    let json = |out: &str| -> serde_json::Value {
        serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };

    let (code, out, err) = run(&["sts", "get-caller-identity"], None).await;
    assert_eq!(code, 0, "{err}");
    let who = json(&out);
    assert_eq!(who["Account"], "288761728065");
    assert_eq!(
        who["Arn"],
        "arn:aws:iam::288761728065:user/tollgate-rehearsal"
    );
    let called = standin.calls();
    assert_eq!(called, 1, "AWS_ENDPOINT_URL was not honoured");

    // As first-deploy.yaml's store-connection-secrets does it: the value on stdin.
    let id = "labelmint/production/redis-url";
    let value = "redis://made-up-Jx41:6379";
    let (code, _, err) = run(
        &[
            "secretsmanager",
            "describe-secret",
            "--region",
            "us-east-1",
            "--secret-id",
            "labelmint/production/redis-url",
        ],
        None,
    )
    .await;
    assert_eq!(
        code, 255,
        "a missing secret is a service error (awscli 1 exits 255)"
    );
    assert!(err.contains("(ResourceNotFoundException)"), "{err}");
    let (code, out, err) = run(
        &[
            "secretsmanager",
            "create-secret",
            "--region",
            "us-east-1",
            "--name",
            "labelmint/production/redis-url",
            "--kms-key-id",
            "arn:aws:kms:us-east-1:288761728065:key/made-up",
            "--secret-string",
            "file:///dev/stdin",
        ],
        Some(value),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let made = json(&out);
    assert!(
        made["ARN"].as_str().unwrap().starts_with(&format!(
            "arn:aws:secretsmanager:us-east-1:288761728065:secret:{id}-"
        )),
        "{made}"
    );
    let first = made["VersionId"].as_str().unwrap().to_string();
    let (code, out, err) = run(
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            "labelmint/production/redis-url",
            "--query",
            "SecretString",
            "--output",
            "text",
        ],
        None,
    )
    .await;
    assert_eq!((code, out.trim_end()), (0, value), "{err}");
    let (code, out, err) = run(
        &[
            "secretsmanager",
            "put-secret-value",
            "--secret-id",
            "labelmint/production/redis-url",
            "--secret-string",
            "file:///dev/stdin",
        ],
        Some("redis://made-up-second:6379"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let put = json(&out);
    let second = put["VersionId"].as_str().unwrap().to_string();
    assert_eq!(put["VersionStages"], serde_json::json!(["AWSCURRENT"]));
    assert!(!out.contains("made-up-second"), "{out}");
    // rotate-secrets.yaml's versions-before: the AWSCURRENT version, through --query and jq's view.
    let (code, out, err) = run(
        &[
            "secretsmanager",
            "describe-secret",
            "--region",
            "us-east-1",
            "--secret-id",
            "labelmint/production/redis-url",
            "--query",
            "VersionIdsToStages",
            "--output",
            "json",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&out),
        serde_json::json!({ first.clone(): ["AWSPREVIOUS"], second.clone(): ["AWSCURRENT"] })
    );
    let (code, out, err) = run(
        &[
            "secretsmanager",
            "list-secret-version-ids",
            "--secret-id",
            "labelmint/production/redis-url",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["Versions"].as_array().unwrap().len(), 2, "{out}");
    // rotate-secrets.yaml's restore step: AWSCURRENT moved back.
    let args: Vec<String> = [
        "secretsmanager",
        "update-secret-version-stage",
        "--region",
        "us-east-1",
        "--secret-id",
        id,
        "--version-stage",
        "AWSCURRENT",
        "--move-to-version-id",
        &first,
        "--remove-from-version-id",
        &second,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = aws(&cli, home.path(), &url, &args, None).await;
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(
        &[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            "labelmint/production/redis-url",
            "--query",
            "[VersionId,SecretString]",
            "--output",
            "text",
        ],
        None,
    )
    .await;
    assert_eq!(out.trim_end(), format!("{first}\t{value}"));
    // An error names the code, and never the value.
    let (code, _, err) = run(
        &[
            "secretsmanager",
            "create-secret",
            "--name",
            "labelmint/production/redis-url",
            "--secret-string",
            "redis://made-up-again",
        ],
        None,
    )
    .await;
    assert_eq!(code, 255);
    assert!(err.contains("(ResourceExistsException)"), "{err}");
    assert!(!err.contains("made-up-again"), "{err}");
    // What the stand-in does not answer says so, and what to do.
    let (code, _, err) = run(
        &[
            "secretsmanager",
            "rotate-secret",
            "--secret-id",
            "labelmint/production/redis-url",
        ],
        None,
    )
    .await;
    assert_eq!(code, 255);
    assert!(
        err.contains("the rehearsal's AWS stand-in does not answer secretsmanager.RotateSecret; give the step a rehearse: key"),
        "{err}"
    );

    let (code, out, err) = run(
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "labelmint/web",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&out)["repositories"][0]["repositoryUri"],
        "288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint/web"
    );
    let (code, _, err) = run(
        &[
            "ecr",
            "describe-repositories",
            "--repository-names",
            "labelmint/none",
        ],
        None,
    )
    .await;
    assert_eq!(code, 255);
    assert!(err.contains("(RepositoryNotFoundException)"), "{err}");
    let (code, out, err) = run(
        &[
            "ecr",
            "describe-images",
            "--repository-name",
            "labelmint/web",
            "--image-ids",
            "imageTag=1.4.2",
        ],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let images = json(&out);
    assert_eq!(
        images["imageDetails"][0]["imageDigest"],
        serde_json::json!(digest)
    );
    assert_eq!(
        images["imageDetails"][0]["imageTags"],
        serde_json::json!(["1.4.2"])
    );
    let (code, _, err) = run(
        &[
            "ecr",
            "describe-images",
            "--repository-name",
            "labelmint/web",
            "--image-ids",
            "imageTag=9.9.9",
        ],
        None,
    )
    .await;
    assert_eq!(code, 255);
    assert!(err.contains("(ImageNotFoundException)"), "{err}");
    let (code, out, err) = run(
        &["ecr", "get-login-password", "--region", "us-east-1"],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim_end(),
        tollgate_standin::aws::ecr_password(standin.identity())
    );
    assert!(standin.calls() > called + 10, "{}", standin.calls());
}
