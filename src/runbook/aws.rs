//! Native AWS steps, as data. Each is one `secrets.*` key of a step's `run`, acting on AWS Secrets
//! Manager in the runbook's pinned account and region (`targets.aws`). Secret ids may use
//! `{{ var }}` of non-secret variables; secret values come only from secret variables or files,
//! and go only into secret variables.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// A variable (declared `secret: true`) holding the value.
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
    /// A variable (declared `secret: true`) holding the new value.
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

/// One native AWS action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AwsAction {
    SecretsRequire(SecretsRequire),
    SecretsPut(SecretsPut),
    SecretsGet(SecretsGet),
    SecretsRotate(SecretsRotate),
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
        }
    }

    /// Whether it changes the AWS account.
    pub fn mutates(&self) -> bool {
        matches!(self, AwsAction::SecretsPut(_) | AwsAction::SecretsRotate(_))
    }

    /// The variables whose values it reads (`from_var`).
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
        }
    }
}
