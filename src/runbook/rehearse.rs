//! How a runbook rehearses (`tollgate rehearse`): a step's `rehearse:` key (as written against the
//! stand-ins, skipped with a reason, or replaced by another action) and the runbook's
//! `rehearsal:` section (the cluster fixture, the AWS stand-in's starting state, values for the
//! rehearsal's variables).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, MapAccess};
use serde::{Deserialize, Serialize};

use super::action::Run;
use super::de::Spanned;
use super::shorthand::{Shorthand, fields_of, shorthand_deserialize};

/// How a step rehearses: `run` (as written, against the stand-ins: the default), `{skip:
/// REASON}` (shown, not run, journaled as skipped in rehearsal with the reason), or `{run:
/// ACTION}` (a stand-in command or native action runs instead).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Rehearse {
    #[default]
    Run,
    Skip(String),
    Replace(Box<Run>),
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RehearseFields {
    /// Why the step is not run in a rehearsal (what it would reach that no stand-in covers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skip: Option<String>,
    /// What runs instead in a rehearsal: a shell command or a native action, as `run` takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run: Option<Run>,
}

impl Shorthand for Rehearse {
    const NAME: &'static str = "$short:rehearse";
    const FIELDS: &'static [&'static str] = &["skip", "run"];
    const EXPECTING: &'static str = "`run`, `{skip: REASON}` or `{run: ACTION}`";
    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        match v {
            "run" => Ok(Rehearse::Run),
            "skip" => Err(E::custom(
                "`rehearse: skip` needs its reason: `rehearse: {skip: \"what it reaches that no stand-in covers\"}`",
            )),
            other => Err(E::custom(format!(
                "`rehearse: {other}` is not known; expected {}",
                Self::EXPECTING
            ))),
        }
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Self::from_map_checked(map, false)
    }
    fn from_map_checked<'de, A: MapAccess<'de>>(
        map: A,
        keys_were_wrong: bool,
    ) -> Result<Self, A::Error> {
        let f: RehearseFields = fields_of(map)?;
        match (f.skip, f.run) {
            (Some(reason), None) if reason.trim().is_empty() => Err(de::Error::custom(
                "`rehearse: {skip: …}` needs a reason that says why",
            )),
            (Some(reason), None) => Ok(Rehearse::Skip(reason)),
            (None, Some(run)) => Ok(Rehearse::Replace(Box::new(run))),
            (Some(_), Some(_)) => Err(de::Error::custom(
                "`rehearse` takes `skip` or `run`, not both",
            )),
            // The misspelt key was reported: that says what is wrong.
            (None, None) if keys_were_wrong => Ok(Rehearse::Run),
            (None, None) => Err(de::Error::custom(format!(
                "`rehearse` needs `skip` or `run`: expected {}",
                Self::EXPECTING
            ))),
        }
    }
}
shorthand_deserialize!(Rehearse);

impl Serialize for Rehearse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rehearse::Run => s.serialize_str("run"),
            Rehearse::Skip(reason) => RehearseFields {
                skip: Some(reason.clone()),
                run: None,
            }
            .serialize(s),
            Rehearse::Replace(run) => RehearseFields {
                skip: None,
                run: Some((**run).clone()),
            }
            .serialize(s),
        }
    }
}

impl JsonSchema for Rehearse {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rehearse".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = generator.subschema_for::<RehearseFields>();
        schemars::json_schema!({
            "description": "How the step rehearses under `tollgate rehearse`: `run` (as written, against the stand-ins; the default), `{skip: REASON}` or `{run: ACTION}` (a stand-in that runs instead).",
            "anyOf": [{"const": "run"}, fields]
        })
    }
}

impl Rehearse {
    /// For `plan --rehearse` and the views: what the rehearsal does with the step.
    pub fn describe(&self, default_ns: &str) -> String {
        match self {
            Rehearse::Run => "real, against the stand-ins".into(),
            Rehearse::Skip(reason) => format!("skipped: {}", crate::text::one_line(reason)),
            Rehearse::Replace(run) => format!("replaced by {}", run.action.describe(default_ns)),
        }
    }
}

/// The runbook's `rehearsal:` section: what a rehearsal starts from.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rehearsal {
    /// Kubernetes manifests the rehearsal cluster starts from, relative to the runbook's folder
    /// (default: `cluster.yaml` next to the runbook, when there is one; `[]` for an empty cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixtures: Option<Vec<Spanned<String>>>,
    /// CustomResourceDefinitions the rehearsal cluster serves before its fixtures load, from the
    /// upstream manifests tollgate carries, each with its controller: `argo-rollouts` (Argo
    /// Rollouts' `Rollout`), `argocd` (Argo CD's `Application`), `external-secrets` (External
    /// Secrets Operator's `ExternalSecret`, `SecretStore`, `ClusterSecretStore`, with a controller
    /// that syncs ExternalSecrets from the AWS stand-in's Secrets Manager). A fixture's custom
    /// object whose CRD is served by neither this nor a fixture is refused, naming the CRD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crds: Vec<Spanned<String>>,
    /// The AWS stand-in's starting state.
    #[serde(default)]
    pub aws: RehearsalAws,
    /// Values of (non-secret) variables in a rehearsal, e.g. a checkout folder that exists only as
    /// a stub next to the runbook; `--var` and a decisions file's `vars` still win. Secret
    /// variables get made-up values in a rehearsal.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub vars: IndexMap<String, Spanned<String>>,
    /// Git repositories the rehearsal serves under their remote URLs, made from folders next to
    /// the runbook: an Argo CD Application whose `repoURL` is one reads it, and so does `git`
    /// in a shell step (clone, commit, push). Every other git remote is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<RehearsalRepo>,
}

/// A git repository a rehearsal serves under a remote's URL.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RehearsalRepo {
    /// The URL the runbook and the cluster's Argo CD Applications name, e.g.
    /// `https://github.com/normaldance/deploy.git`.
    pub url: Spanned<String>,
    /// Its history, oldest first: one commit per folder (relative to the runbook's folder), whose
    /// tree is the folder's files and whose message is the folder's name.
    pub commits: Vec<Spanned<String>>,
    /// The branch the commits are on, which the repository's HEAD names (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Spanned<String>>,
}

impl RehearsalRepo {
    /// The branch, `main` unless given.
    pub fn branch(&self) -> &str {
        self.branch.as_ref().map_or("main", |b| b.as_str())
    }
}

/// The names `rehearsal.crds` takes.
pub const CRDS: &[&str] = &["argo-rollouts", "argocd", "external-secrets"];

/// What already exists in the account the rehearsal stands in for.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RehearsalAws {
    /// Secrets Manager secrets that exist before the run, by name; each gets a made-up value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Spanned<String>>,
    /// Secrets that exist before the run with the made-up value each holds, for a step that
    /// reads its shape (a URL, a token's form). Never a real value: `check` flags what looks like
    /// one.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub values: IndexMap<String, Spanned<String>>,
    /// ECR repositories that exist before the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<Spanned<String>>,
}

/// A branch name as `git check-ref-format --branch` takes it (the common rules): not empty, no
/// leading `-` or `/`, no `..`, `@{`, `//`, control characters, spaces or any of `~^:?*[\`, and
/// no component starting with `.` or ending with `.lock`.
pub fn is_branch_name(b: &str) -> bool {
    !b.is_empty()
        && !b.starts_with(['-', '/'])
        && !b.ends_with(['/', '.'])
        && !b.contains("..")
        && !b.contains("@{")
        && !b.contains("//")
        && b != "@"
        && !b
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
        && b.split('/')
            .all(|part| !part.starts_with('.') && !part.ends_with(".lock"))
}
