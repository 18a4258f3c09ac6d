//! Native AWS steps, as data. Each is one key of a step's `run` — `secrets.*` on AWS Secrets
//! Manager, `ecr.*` on ECR, `aws.identity` — acting in the runbook's pinned account and region
//! (`targets.aws`). Names may use `{{ var }}` of non-secret variables; the values a step stores
//! come from variables or files and are never shown, and the secrets it reads go only into secret
//! variables.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::revert::{Revert, RevertAction};

/// Checks that secrets exist; reports the missing ones (never a value).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsRequire {
    /// Secret names or ARNs, e.g. `labelmint/production/jwt-secret`.
    #[serde(default)]
    pub ids: Vec<String>,
}

/// Creates a secret, or puts a new version of it, from a secret variable, a file, or a value
/// typed at a masked prompt.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsPut {
    /// The secret's name or ARN.
    #[serde(default)]
    pub id: String,
    /// A variable holding the value: a secret one, or any other (e.g. a captured contract
    /// address). The value is never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_var: Option<String>,
    /// A file holding the value, relative to the runbook's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_file: Option<String>,
    /// Ask for the value when the step runs, typed at a masked prompt that shows this text; the
    /// value is masked like a secret variable's and never written down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The secret's description (set on create and on update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The KMS key that encrypts it (id, ARN or alias); the account's default key when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// Reads a secret's value into a secret variable: later steps get it through their environment.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsGet {
    /// The secret's name or ARN.
    #[serde(default)]
    pub id: String,
    /// The variable to set; it must be declared `secret: true`.
    #[serde(default)]
    pub var: String,
    /// The staging label of the version to read (default `AWSCURRENT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_stage: Option<String>,
    /// The value is a JSON object: take this key's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_key: Option<String>,
}

/// Puts a new version of a secret (generated, or from a secret variable), optionally checks it
/// with `verify`, and moves `AWSCURRENT` back to the previous version if the check fails.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsRotate {
    /// The secret's name or ARN; it must exist.
    #[serde(default)]
    pub id: String,
    /// A variable holding the new value (a secret one, or any other); never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_var: Option<String>,
    /// Generate a random value of this many characters (letters and digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<u32>,
    /// A shell command run with the new value in its environment (`TOLLGATE_SECRET_VALUE`);
    /// when it fails, the previous version is made current again and the step fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
}

/// Gets an ECR authorization token (`GetAuthorizationToken`) and puts its password into a secret
/// variable; prints `registry=HOST`, `username=AWS` and `expires=…`, never the token.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcrLogin {
    /// The variable the registry password goes into; it must be declared `secret: true`.
    #[serde(default)]
    pub password_var: String,
    /// The registry host to print (`registry=HOST`), as written; the host of the token's proxy
    /// endpoint when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The registry (an account id) to get the token for; the pinned account when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
}

/// Whether an ECR repository's tags may be moved to another image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum TagMutability {
    #[serde(rename = "MUTABLE")]
    Mutable,
    #[serde(rename = "IMMUTABLE")]
    Immutable,
}

impl TagMutability {
    pub fn as_str(self) -> &'static str {
        match self {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
        }
    }
}

/// Creates an ECR repository unless it exists; prints `created NAME (URI)` or `exists NAME (URI)`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcrEnsureRepository {
    /// The repository's name, e.g. `labelmint-web`.
    #[serde(default)]
    pub name: String,
    /// Scan each image when it is pushed (when creating; ECR's default is no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_on_push: Option<bool>,
    /// `MUTABLE` or `IMMUTABLE` tags (when creating; ECR's default is `MUTABLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_mutability: Option<TagMutability>,
}

/// Lists a repository's images, one line each (`TAG… digest=sha256:… pushed=… size=…`); fails
/// when a wanted tag is missing or points to another digest than `digest`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcrDescribeImages {
    /// The repository's name.
    #[serde(default)]
    pub repository: String,
    /// Tags that must exist; every image of the repository is listed when left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The digest the tags must point to (`sha256:…`, e.g. what `docker.push` captured); without
    /// `tags`, an image with this digest must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Shows who the credentials are (STS `GetCallerIdentity`): `account=… arn=… region=…`. Written
/// `aws.identity: {}`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsIdentity {}

/// One native AWS action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AwsAction {
    SecretsRequire(SecretsRequire),
    SecretsPut(SecretsPut),
    SecretsGet(SecretsGet),
    SecretsRotate(SecretsRotate),
    /// `secrets.revert`: puts back what an AWS step changed, from the journal.
    SecretsRevert(Revert),
    EcrLogin(EcrLogin),
    EcrEnsureRepository(EcrEnsureRepository),
    EcrDescribeImages(EcrDescribeImages),
    Identity(AwsIdentity),
}

/// The environment variable a `secrets.rotate` `verify` command finds the new value in.
pub const VERIFY_ENV: &str = "TOLLGATE_SECRET_VALUE";

impl AwsAction {
    /// The action with every string passed through `f` (filling `{{ var }}` templates).
    pub fn filled(&self, f: &dyn Fn(&str) -> String) -> AwsAction {
        super::vars::fill_strings(self, f)
    }

    /// The key it is written under, e.g. `secrets.put`.
    pub fn key(&self) -> &'static str {
        match self {
            AwsAction::SecretsRequire(_) => "secrets.require",
            AwsAction::SecretsPut(_) => "secrets.put",
            AwsAction::SecretsGet(_) => "secrets.get",
            AwsAction::SecretsRotate(_) => "secrets.rotate",
            AwsAction::SecretsRevert(_) => "secrets.revert",
            AwsAction::EcrLogin(_) => "ecr.login",
            AwsAction::EcrEnsureRepository(_) => "ecr.ensure_repository",
            AwsAction::EcrDescribeImages(_) => "ecr.describe_images",
            AwsAction::Identity(_) => "aws.identity",
        }
    }

    /// Whether it changes the AWS account.
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            AwsAction::SecretsPut(_)
                | AwsAction::SecretsRotate(_)
                | AwsAction::SecretsRevert(_)
                | AwsAction::EcrEnsureRepository(_)
        )
    }

    /// The action that puts back what it journaled: `secrets.revert`, for any that changes the
    /// account, except `secrets.revert` itself (what a revert did is not put back again).
    pub fn reverted_by(&self) -> Option<RevertAction> {
        (self.mutates() && !matches!(self, AwsAction::SecretsRevert(_)))
            .then_some(RevertAction::Aws)
    }

    /// The secret variable it sets (`secrets.get`'s `var`, `ecr.login`'s `password_var`).
    pub fn sets_var(&self) -> Option<&str> {
        match self {
            AwsAction::SecretsGet(a) => Some(a.var.as_str()),
            AwsAction::EcrLogin(a) => Some(a.password_var.as_str()),
            _ => None,
        }
    }

    /// The variable whose value it reads (`from_var`).
    pub fn reads_var(&self) -> Option<&str> {
        match self {
            AwsAction::SecretsPut(a) => a.from_var.as_deref(),
            AwsAction::SecretsRotate(a) => a.from_var.as_deref(),
            _ => None,
        }
    }

    /// The action as one line, the way an operator would read it before approving, e.g.
    /// `secrets.put labelmint/production/jwt-secret from-var=JWT`. Never a value.
    pub fn describe(&self) -> String {
        let key = self.key();
        let opt = |name: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| format!(" {name}={v}"))
                .unwrap_or_default()
        };
        match self {
            AwsAction::SecretsRequire(a) => format!("{key} {}", a.ids.join(" ")),
            AwsAction::SecretsPut(a) => format!(
                "{key} {}{}{}{}{}{}",
                a.id,
                opt("from-var", &a.from_var),
                opt("from-file", &a.from_file),
                a.prompt
                    .as_ref()
                    .map(|p| format!(" from a masked prompt ({p:?})"))
                    .unwrap_or_default(),
                opt(
                    "description",
                    &a.description.as_ref().map(|d| format!("{d:?}"))
                ),
                opt("kms-key-id", &a.kms_key_id),
            ),
            AwsAction::SecretsGet(a) => format!(
                "{key} {} into={}{}{}",
                a.id,
                a.var,
                opt("version-stage", &a.version_stage),
                opt("json-key", &a.json_key),
            ),
            AwsAction::SecretsRotate(a) => format!(
                "{key} {}{}{}{}",
                a.id,
                opt("from-var", &a.from_var),
                opt("generate", &a.generate.map(|n| n.to_string())),
                opt("verify", &a.verify.as_ref().map(|v| format!("{v:?}"))),
            ),
            AwsAction::SecretsRevert(a) => format!("{key} {}", a.describe()),
            AwsAction::EcrLogin(a) => format!(
                "{key} into={}{}{}",
                a.password_var,
                opt("registry-id", &a.registry_id),
                opt("registry", &a.registry),
            ),
            AwsAction::EcrEnsureRepository(a) => format!(
                "{key} {}{}{}",
                a.name,
                opt("scan-on-push", &a.scan_on_push.map(|b| b.to_string())),
                opt(
                    "tag-mutability",
                    &a.tag_mutability.map(|m| m.as_str().to_string())
                ),
            ),
            AwsAction::EcrDescribeImages(a) => format!(
                "{key} {}{}{}",
                a.repository,
                opt("tags", &(!a.tags.is_empty()).then(|| a.tags.join(","))),
                opt("digest", &a.digest),
            ),
            AwsAction::Identity(_) => key.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_and_identity_keys_mutation_and_variables() {
        let login = AwsAction::EcrLogin(EcrLogin {
            password_var: "ECR_PASSWORD".into(),
            ..EcrLogin::default()
        });
        let ensure = AwsAction::EcrEnsureRepository(EcrEnsureRepository::default());
        let images = AwsAction::EcrDescribeImages(EcrDescribeImages::default());
        let who = AwsAction::Identity(AwsIdentity {});
        assert_eq!(
            [login.key(), ensure.key(), images.key(), who.key()],
            [
                "ecr.login",
                "ecr.ensure_repository",
                "ecr.describe_images",
                "aws.identity"
            ]
        );
        assert!(ensure.mutates());
        assert!(!login.mutates() && !images.mutates() && !who.mutates());
        assert_eq!(login.sets_var(), Some("ECR_PASSWORD"));
        assert_eq!(login.reads_var(), None);
    }

    #[test]
    fn describe_is_one_line_without_values() {
        let f = |s: &str| s.replace("{{ version }}", "1.4.2");
        let login = AwsAction::EcrLogin(EcrLogin {
            password_var: "ECR_PASSWORD".into(),
            registry: Some("127.0.0.1:5000".into()),
            registry_id: Some("123456789012".into()),
        });
        assert_eq!(
            login.describe(),
            "ecr.login into=ECR_PASSWORD registry-id=123456789012 registry=127.0.0.1:5000"
        );
        let ensure = AwsAction::EcrEnsureRepository(EcrEnsureRepository {
            name: "labelmint-web".into(),
            scan_on_push: Some(true),
            tag_mutability: Some(TagMutability::Immutable),
        });
        assert_eq!(
            ensure.describe(),
            "ecr.ensure_repository labelmint-web scan-on-push=true tag-mutability=IMMUTABLE"
        );
        let images = AwsAction::EcrDescribeImages(EcrDescribeImages {
            repository: "labelmint-web".into(),
            tags: vec!["{{ version }}".into(), "latest".into()],
            digest: Some("sha256:abc".into()),
        });
        assert_eq!(
            images.filled(&f).describe(),
            "ecr.describe_images labelmint-web tags=1.4.2,latest digest=sha256:abc"
        );
        assert_eq!(
            AwsAction::Identity(AwsIdentity {}).describe(),
            "aws.identity"
        );
    }

    #[test]
    fn what_changes_the_account_is_reverted_by_secrets_revert_except_a_revert() {
        let revert = AwsAction::SecretsRevert(Revert {
            step: "put-jwt".into(),
            run: Some("{{ from_run }}".into()),
        });
        assert_eq!(revert.key(), "secrets.revert");
        assert!(revert.mutates());
        assert_eq!(revert.reverted_by(), None);
        assert_eq!(
            revert
                .filled(&|s| s.replace("{{ from_run }}", "run-7"))
                .describe(),
            "secrets.revert step=put-jwt run=run-7"
        );
        for a in [
            AwsAction::SecretsPut(SecretsPut::default()),
            AwsAction::SecretsRotate(SecretsRotate::default()),
            AwsAction::EcrEnsureRepository(EcrEnsureRepository::default()),
        ] {
            assert_eq!(a.reverted_by(), Some(RevertAction::Aws), "{}", a.key());
        }
        for a in [
            AwsAction::SecretsRequire(SecretsRequire::default()),
            AwsAction::SecretsGet(SecretsGet::default()),
            AwsAction::EcrLogin(EcrLogin::default()),
            AwsAction::EcrDescribeImages(EcrDescribeImages::default()),
            AwsAction::Identity(AwsIdentity {}),
        ] {
            assert_eq!(a.reverted_by(), None, "{}", a.key());
        }
    }

    #[test]
    fn tag_mutability_is_written_in_capitals() {
        let e: EcrEnsureRepository =
            serde_json::from_str(r#"{"name":"web","tag_mutability":"IMMUTABLE"}"#).unwrap();
        assert_eq!(e.tag_mutability, Some(TagMutability::Immutable));
        assert!(
            serde_json::from_str::<EcrEnsureRepository>(
                r#"{"name":"w","tag_mutability":"immutable"}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<AwsIdentity>("{}").is_ok());
        assert!(serde_json::from_str::<AwsIdentity>(r#"{"account":"1"}"#).is_err());
    }
}
