//! The runbook as data. Every field is optional at the serde level so that a file with several
//! problems reports all of them; `validate` then checks what is required, with positions.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::de::Spanned;

/// A runbook: targets, variables and phases, run in order with a gate before anything that
/// changes the world.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Editors' schema pointer; ignored by tollgate.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// What this runbook does, in a few words.
    #[serde(default)]
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// Who owns this procedure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Who to call: people, channels, pagers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// The environment this runbook is pinned to.
    #[serde(default)]
    pub targets: Targets,
    /// Inputs of the run, in the order they are asked for.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub variables: IndexMap<String, Spanned<Variable>>,
    /// Other runbooks this one refers to, by name (e.g. `rollback: ../rollback.yaml`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub links: IndexMap<String, Spanned<String>>,
    /// What to do when a step fails and neither it nor its phase says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Spanned<OnFailure>>,
    /// The phases, in order.
    #[serde(default)]
    pub phases: Vec<Spanned<Phase>>,
}

/// A file of shared phases and variables, included from a runbook's phase list.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fragment {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub variables: IndexMap<String, Spanned<Variable>>,
    #[serde(default)]
    pub phases: Vec<Spanned<Phase>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// The environment's name, e.g. `production`; the default word a destructive gate asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Marks the targets as production: shown in a warning colour, and every gate says so.
    #[serde(default)]
    pub production: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<KubeTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsTarget>,
}

impl Targets {
    /// The targets in a few words each, e.g. `env production`, `kube prod-eks ns orders`,
    /// `aws 123456789012 us-east-1`.
    pub fn summary(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(e) = &self.environment {
            parts.push(format!("env {e}"));
        }
        if let Some(k) = &self.kube {
            parts.push(format!(
                "kube {} ns {}",
                k.context,
                k.namespace.as_deref().unwrap_or("default")
            ));
        }
        if let Some(a) = &self.aws {
            parts.push(format!("aws {} {}", a.account, a.region));
        }
        parts
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeTarget {
    #[serde(default)]
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsTarget {
    /// The 12-digit account id.
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Another endpoint for every AWS API (e.g. a local emulator); `AWS_ENDPOINT_URL` does the
    /// same from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    #[default]
    String,
    Int,
    Bool,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default, rename = "type")]
    pub ty: VarType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Spanned<String>>,
    #[serde(default)]
    pub description: String,
    /// Never shown, logged or journaled; reaches steps only through their environment.
    #[serde(default)]
    pub secret: bool,
    /// Ask for it when the run starts (masked when secret).
    #[serde(default)]
    pub prompt: bool,
    /// Environment variable to read it from (default `TOLLGATE_VAR_<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Allowed values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Inserts the phases of another file here; nothing else may be set beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Spanned<String>>,
    #[serde(default)]
    pub id: Spanned<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Asked before the phase starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Spanned<Gate>>,
    /// Manual items to tick before the gate is passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<Spanned<ChecklistItem>>,
    #[serde(default)]
    pub steps: Vec<Spanned<Step>>,
    /// Steps that check the phase worked, run after its steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation: Vec<Spanned<Step>>,
    /// Condition on variables; the phase is skipped when false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Spanned<String>>,
    /// A rollback phase runs only when a failure leads to it (`on_failure: {goto: ID}`).
    #[serde(default)]
    pub rollback: bool,
    /// The operator may skip this phase at its gate.
    #[serde(default)]
    pub allow_skip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Spanned<OnFailure>>,
    /// The file this phase came from (set by the loader).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: PathBuf,
}

/// A gate: the run stops here until a person decides. `gate: true` is a plain gate.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// What the approver is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Approval needs the confirmation word typed.
    #[serde(default)]
    pub destructive: bool,
    /// The word to type for a destructive gate (default: the target environment's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GateFields {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    destructive: bool,
    #[serde(default)]
    confirm: Option<String>,
}

/// A manual item; a plain string is an item without a command.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItem {
    pub text: String,
    /// A command that helps verify the item (shown, run on request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecklistFields {
    #[serde(default)]
    text: String,
    #[serde(default)]
    command: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub id: Spanned<String>,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// What the step does. A string is a shell command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Spanned<Run>>,
    #[serde(default)]
    pub expect: Expect,
    /// Extra attempts after a failure. A number is the count, with the default delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Spanned<Retries>>,
    /// Variables set from the step's output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capture: Vec<Spanned<Capture>>,
    /// Asked before the step runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<Spanned<Gate>>,
    /// The step changes something that is hard to undo: its gate needs the confirmation word.
    #[serde(default)]
    pub destructive: bool,
    /// The operator may skip this step at its gate or after it fails.
    #[serde(default)]
    pub allow_skip: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<Spanned<OnFailure>>,
    /// How to reverse the step (shown to the operator; run from a rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<Spanned<Run>>,
    /// Condition on variables; the step is skipped when false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Spanned<String>>,
}

/// How a step runs. A plain string is a shell command.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// A shell command or script, run by `interpreter` (default `sh -e -c`) in its own process group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Spanned<String>>,
    /// The program and flags that run the script, e.g. `[bash, -euo, pipefail, -c]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpreter: Vec<String>,
    /// Working directory, relative to the runbook's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Extra environment for the command (values may use `{{ var }}`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Server-side apply of manifests.
    #[serde(
        rename = "kube.apply",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_apply: Option<Spanned<super::kube::Apply>>,
    /// Wait for a rollout to complete.
    #[serde(
        rename = "kube.rollout_status",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_rollout_status: Option<Spanned<super::kube::RolloutStatus>>,
    /// Roll a deployment back.
    #[serde(
        rename = "kube.rollout_undo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_rollout_undo: Option<Spanned<super::kube::RolloutUndo>>,
    /// Set a container's image.
    #[serde(
        rename = "kube.set_image",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_set_image: Option<Spanned<super::kube::SetImage>>,
    /// Scale a deployment (or all of a namespace).
    #[serde(
        rename = "kube.scale",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_scale: Option<Spanned<super::kube::Scale>>,
    /// Restart a deployment's pods.
    #[serde(
        rename = "kube.restart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_restart: Option<Spanned<super::kube::Restart>>,
    /// Wait for a condition on resources.
    #[serde(rename = "kube.wait", default, skip_serializing_if = "Option::is_none")]
    pub kube_wait: Option<Spanned<super::kube::Wait>>,
    /// Read resources (JSONPath output).
    #[serde(rename = "kube.get", default, skip_serializing_if = "Option::is_none")]
    pub kube_get: Option<Spanned<super::kube::Get>>,
    /// Run a Job in the cluster.
    #[serde(rename = "kube.job", default, skip_serializing_if = "Option::is_none")]
    pub kube_job: Option<Spanned<super::kube::KubeJob>>,
    /// Put back what an earlier step changed.
    #[serde(
        rename = "kube.revert",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kube_revert: Option<Spanned<Revert>>,
    /// Check that AWS Secrets Manager secrets exist.
    #[serde(
        rename = "secrets.require",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secrets_require: Option<Spanned<super::aws::SecretsRequire>>,
    /// Create or update a secret from a secret variable or a file.
    #[serde(
        rename = "secrets.put",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secrets_put: Option<Spanned<super::aws::SecretsPut>>,
    /// Read a secret into a secret variable.
    #[serde(
        rename = "secrets.get",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secrets_get: Option<Spanned<super::aws::SecretsGet>>,
    /// Put a new version of a secret, verify it, and roll back on failure.
    #[serde(
        rename = "secrets.rotate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secrets_rotate: Option<Spanned<super::aws::SecretsRotate>>,
    /// Put back what an earlier AWS step changed.
    #[serde(
        rename = "secrets.revert",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secrets_revert: Option<Spanned<Revert>>,
    /// Get an ECR login token; its password goes into a secret variable.
    #[serde(rename = "ecr.login", default, skip_serializing_if = "Option::is_none")]
    pub ecr_login: Option<Spanned<super::aws::EcrLogin>>,
    /// Create an ECR repository unless it exists.
    #[serde(
        rename = "ecr.ensure_repository",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ecr_ensure_repository: Option<Spanned<super::aws::EcrEnsureRepository>>,
    /// List an ECR repository's images; check that tags exist (with a digest).
    #[serde(
        rename = "ecr.describe_images",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ecr_describe_images: Option<Spanned<super::aws::EcrDescribeImages>>,
    /// Show the AWS account, identity and region in use (`aws.identity: {}`).
    #[serde(
        rename = "aws.identity",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aws_identity: Option<Spanned<super::aws::AwsIdentity>>,
    /// Build an image from a Dockerfile and context.
    #[serde(
        rename = "docker.build",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub docker_build: Option<Spanned<super::docker::DockerBuild>>,
    /// Give an image another name.
    #[serde(
        rename = "docker.tag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub docker_tag: Option<Spanned<super::docker::DockerTag>>,
    /// Push an image to a registry (the pushed digest is captured).
    #[serde(
        rename = "docker.push",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub docker_push: Option<Spanned<super::docker::DockerPush>>,
    /// Check registry credentials with the Docker daemon, as `docker login` does.
    #[serde(
        rename = "docker.login",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub docker_login: Option<Spanned<super::docker::DockerLogin>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunFields {
    #[serde(default)]
    shell: Option<Spanned<String>>,
    #[serde(default)]
    interpreter: Vec<String>,
    #[serde(default)]
    workdir: Option<String>,
    #[serde(default)]
    env: IndexMap<String, String>,
    #[serde(rename = "kube.apply", default)]
    kube_apply: Option<Spanned<super::kube::Apply>>,
    #[serde(rename = "kube.rollout_status", default)]
    kube_rollout_status: Option<Spanned<super::kube::RolloutStatus>>,
    #[serde(rename = "kube.rollout_undo", default)]
    kube_rollout_undo: Option<Spanned<super::kube::RolloutUndo>>,
    #[serde(rename = "kube.set_image", default)]
    kube_set_image: Option<Spanned<super::kube::SetImage>>,
    #[serde(rename = "kube.scale", default)]
    kube_scale: Option<Spanned<super::kube::Scale>>,
    #[serde(rename = "kube.restart", default)]
    kube_restart: Option<Spanned<super::kube::Restart>>,
    #[serde(rename = "kube.wait", default)]
    kube_wait: Option<Spanned<super::kube::Wait>>,
    #[serde(rename = "kube.get", default)]
    kube_get: Option<Spanned<super::kube::Get>>,
    #[serde(rename = "kube.job", default)]
    kube_job: Option<Spanned<super::kube::KubeJob>>,
    #[serde(rename = "kube.revert", default)]
    kube_revert: Option<Spanned<Revert>>,
    #[serde(rename = "secrets.require", default)]
    secrets_require: Option<Spanned<super::aws::SecretsRequire>>,
    #[serde(rename = "secrets.put", default)]
    secrets_put: Option<Spanned<super::aws::SecretsPut>>,
    #[serde(rename = "secrets.get", default)]
    secrets_get: Option<Spanned<super::aws::SecretsGet>>,
    #[serde(rename = "secrets.rotate", default)]
    secrets_rotate: Option<Spanned<super::aws::SecretsRotate>>,
    #[serde(rename = "secrets.revert", default)]
    secrets_revert: Option<Spanned<Revert>>,
    #[serde(rename = "ecr.login", default)]
    ecr_login: Option<Spanned<super::aws::EcrLogin>>,
    #[serde(rename = "ecr.ensure_repository", default)]
    ecr_ensure_repository: Option<Spanned<super::aws::EcrEnsureRepository>>,
    #[serde(rename = "ecr.describe_images", default)]
    ecr_describe_images: Option<Spanned<super::aws::EcrDescribeImages>>,
    /// Present even when written without a value (`aws.identity:`).
    #[serde(rename = "aws.identity", default)]
    aws_identity: Present<Spanned<super::aws::AwsIdentity>>,
    #[serde(rename = "docker.build", default)]
    docker_build: Option<Spanned<super::docker::DockerBuild>>,
    #[serde(rename = "docker.tag", default)]
    docker_tag: Option<Spanned<super::docker::DockerTag>>,
    #[serde(rename = "docker.push", default)]
    docker_push: Option<Spanned<super::docker::DockerPush>>,
    #[serde(rename = "docker.login", default)]
    docker_login: Option<Spanned<super::docker::DockerLogin>>,
}

/// A field whose key, once written, counts as given even with an empty value: `Option` would
/// read `key:` (null) as absent.
struct Present<T>(Option<T>);

impl<T> Default for Present<T> {
    fn default() -> Self {
        Present(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Present<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(|t| Present(Some(t)))
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exit code that means success (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// stdout must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_contains: Option<String>,
    /// stdout must not contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_not_contains: Option<String>,
    /// stdout must match this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_matches: Option<Spanned<String>>,
    /// The step fails if it runs longer, e.g. `30s`, `5m`, `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Spanned<String>>,
}

/// Retries after a failure. A number is the count of extra attempts.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[derive(Default)]
pub struct Retries {
    /// Extra attempts after the first.
    pub attempts: u32,
    /// Wait before the first retry (default `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Spanned<String>>,
    /// Each wait is the previous one times this (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetriesFields {
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    delay: Option<Spanned<String>>,
    #[serde(default)]
    backoff: Option<f64>,
}

/// Sets a variable from a step's stdout: the whole of it (trimmed), a regex's first group, or a
/// JSON path.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    #[serde(default)]
    pub var: Spanned<String>,
    /// A regular expression; its first group (or the whole match) is the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<Spanned<String>>,
    /// A path into stdout parsed as JSON, e.g. `.items[0].metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Spanned<String>>,
    /// The value is a secret: masked everywhere and passed on only through the environment.
    #[serde(default)]
    pub secret: bool,
}

/// Where a failure leads: steps to run, a rollback phase, or another runbook.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnFailure {
    /// Steps run after the failure (e.g. collect diagnostics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Spanned<Step>>,
    /// The id of a rollback phase to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<Spanned<String>>,
    /// A runbook to follow next, by name from `links`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<Spanned<String>>,
    /// First run the `undo` of every step of the failing phase that had succeeded, newest first.
    #[serde(default)]
    pub undo: bool,
}

/// Puts back what a step changed, newest change first, from the journal: an earlier step of this
/// run, or of another run.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revert {
    /// The id of the step whose changes are reverted.
    #[serde(default)]
    pub step: String,
    /// Another run's id (e.g. the deploy a rollback runbook undoes, given as a variable): its
    /// journal holds the changes. This run's, when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl Revert {
    /// `step=ID`, with ` run=RUN` when it names another run.
    pub fn describe(&self) -> String {
        match self.run.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => format!("step={} run={r}", self.step),
            None => format!("step={}", self.step),
        }
    }
}

/// The actions that put back what a step journaled, one per family of steps that journal
/// changes they can undo: each family says which one undoes its actions
/// ([`super::kube::KubeAction::reverted_by`], [`super::aws::AwsAction::reverted_by`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevertAction {
    /// `kube.revert`: what a kube step changed in the cluster.
    Kube,
    /// `secrets.revert`: what an AWS step changed in the account.
    Aws,
}

impl RevertAction {
    /// The key it is written under.
    pub fn key(self) -> &'static str {
        match self {
            RevertAction::Kube => "kube.revert",
            RevertAction::Aws => "secrets.revert",
        }
    }

    /// A `run` holding just this action, reverting `revert`.
    pub fn run(self, pos: super::Pos, revert: Revert) -> Run {
        let revert = Some(Spanned::new(pos, revert));
        match self {
            RevertAction::Kube => Run {
                kube_revert: revert,
                ..Run::default()
            },
            RevertAction::Aws => Run {
                secrets_revert: revert,
                ..Run::default()
            },
        }
    }
}

// ---- shorthand forms -------------------------------------------------------------------------
//
// A name starting with "$short:" tells the YAML deserializer that a scalar is acceptable here; a
// mapping still goes through the field checks so unknown keys are reported with positions.

pub(crate) const SHORTHAND: &str = "$short:";

trait Shorthand: Sized {
    const NAME: &'static str;
    const FIELDS: &'static [&'static str];
    const EXPECTING: &'static str;
    fn from_bool<E: de::Error>(_: bool) -> Result<Self, E> {
        Err(E::custom(format!("expected {}", Self::EXPECTING)))
    }
    fn from_u64<E: de::Error>(_: u64) -> Result<Self, E> {
        Err(E::custom(format!("expected {}", Self::EXPECTING)))
    }
    fn from_str<E: de::Error>(_: &str) -> Result<Self, E> {
        Err(E::custom(format!("expected {}", Self::EXPECTING)))
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

struct ShortVisitor<T>(PhantomData<T>);

impl<'de, T: Shorthand> Visitor<'de> for ShortVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        T::from_bool(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_u64(v)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Err(E::custom(format!("expected {}", T::EXPECTING)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Err(E::custom(format!("expected {}", T::EXPECTING)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_str(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom(format!("expected {}", T::EXPECTING)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

fn fields_of<'de, T: Deserialize<'de>, A: MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(de::value::MapAccessDeserializer::new(map))
}

macro_rules! shorthand_deserialize {
    ($ty:ty) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_struct(
                    <$ty as Shorthand>::NAME,
                    <$ty as Shorthand>::FIELDS,
                    ShortVisitor::<$ty>(PhantomData),
                )
            }
        }
    };
}

impl Shorthand for Gate {
    const NAME: &'static str = "$short:gate";
    const FIELDS: &'static [&'static str] = &["message", "destructive", "confirm"];
    const EXPECTING: &'static str = "`true` or a gate mapping";
    fn from_bool<E: de::Error>(v: bool) -> Result<Self, E> {
        if v {
            Ok(Gate::default())
        } else {
            Err(E::custom(
                "`gate: false` is not a gate; remove the key instead",
            ))
        }
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let f: GateFields = fields_of(map)?;
        Ok(Gate {
            message: f.message,
            destructive: f.destructive,
            confirm: f.confirm,
        })
    }
}
shorthand_deserialize!(Gate);

impl Shorthand for ChecklistItem {
    const NAME: &'static str = "$short:checklist";
    const FIELDS: &'static [&'static str] = &["text", "command"];
    const EXPECTING: &'static str = "a string or a mapping with `text`";
    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        Ok(ChecklistItem {
            text: v.to_string(),
            command: None,
        })
    }
    fn from_u64<E: de::Error>(v: u64) -> Result<Self, E> {
        Self::from_str(&v.to_string())
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let f: ChecklistFields = fields_of(map)?;
        Ok(ChecklistItem {
            text: f.text,
            command: f.command,
        })
    }
}
shorthand_deserialize!(ChecklistItem);

impl Shorthand for Run {
    const NAME: &'static str = "$short:run";
    const FIELDS: &'static [&'static str] = &[
        "shell",
        "interpreter",
        "workdir",
        "env",
        "kube.apply",
        "kube.rollout_status",
        "kube.rollout_undo",
        "kube.set_image",
        "kube.scale",
        "kube.restart",
        "kube.wait",
        "kube.get",
        "kube.job",
        "kube.revert",
        "secrets.require",
        "secrets.put",
        "secrets.get",
        "secrets.rotate",
        "secrets.revert",
        "ecr.login",
        "ecr.ensure_repository",
        "ecr.describe_images",
        "aws.identity",
        "docker.build",
        "docker.tag",
        "docker.push",
        "docker.login",
    ];
    const EXPECTING: &'static str = "a shell command or a mapping with `shell`, a `kube.*`, `secrets.*`, `ecr.*`, `aws.identity` or `docker.*` action";
    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        // The position of a shorthand command is the position of the `run` value, filled in by
        // the Spanned wrapper around it.
        Ok(Run {
            shell: Some(Spanned::new(Default::default(), v.to_string())),
            ..Run::default()
        })
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let f: RunFields = fields_of(map)?;
        Ok(Run {
            shell: f.shell,
            interpreter: f.interpreter,
            workdir: f.workdir,
            env: f.env,
            kube_apply: f.kube_apply,
            kube_rollout_status: f.kube_rollout_status,
            kube_rollout_undo: f.kube_rollout_undo,
            kube_set_image: f.kube_set_image,
            kube_scale: f.kube_scale,
            kube_restart: f.kube_restart,
            kube_wait: f.kube_wait,
            kube_get: f.kube_get,
            kube_job: f.kube_job,
            kube_revert: f.kube_revert,
            secrets_require: f.secrets_require,
            secrets_put: f.secrets_put,
            secrets_get: f.secrets_get,
            secrets_rotate: f.secrets_rotate,
            secrets_revert: f.secrets_revert,
            ecr_login: f.ecr_login,
            ecr_ensure_repository: f.ecr_ensure_repository,
            ecr_describe_images: f.ecr_describe_images,
            aws_identity: f.aws_identity.0,
            docker_build: f.docker_build,
            docker_tag: f.docker_tag,
            docker_push: f.docker_push,
            docker_login: f.docker_login,
        })
    }
}
shorthand_deserialize!(Run);

impl Shorthand for Retries {
    const NAME: &'static str = "$short:retries";
    const FIELDS: &'static [&'static str] = &["attempts", "delay", "backoff"];
    const EXPECTING: &'static str = "a number of retries or a mapping with `attempts`";
    fn from_u64<E: de::Error>(v: u64) -> Result<Self, E> {
        Ok(Retries {
            attempts: u32::try_from(v).map_err(|_| E::custom("too many retries"))?,
            ..Retries::default()
        })
    }
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let f: RetriesFields = fields_of(map)?;
        Ok(Retries {
            attempts: f.attempts,
            delay: f.delay,
            backoff: f.backoff,
        })
    }
}
shorthand_deserialize!(Retries);

impl Run {
    /// The script to run, if this is a shell step.
    pub fn script(&self) -> Option<&str> {
        self.shell.as_ref().map(|s| s.value.as_str())
    }

    /// Every `kube.*` action given, with its position (a valid run has at most one, and then
    /// no `shell`).
    pub fn kube_actions(&self) -> Vec<(super::Pos, super::kube::KubeAction)> {
        use super::kube::KubeAction as K;
        let mut out = Vec::new();
        if let Some(a) = &self.kube_apply {
            out.push((a.pos, K::Apply(a.value.clone())));
        }
        if let Some(a) = &self.kube_rollout_status {
            out.push((a.pos, K::RolloutStatus(a.value.clone())));
        }
        if let Some(a) = &self.kube_rollout_undo {
            out.push((a.pos, K::RolloutUndo(a.value.clone())));
        }
        if let Some(a) = &self.kube_set_image {
            out.push((a.pos, K::SetImage(a.value.clone())));
        }
        if let Some(a) = &self.kube_scale {
            out.push((a.pos, K::Scale(a.value.clone())));
        }
        if let Some(a) = &self.kube_restart {
            out.push((a.pos, K::Restart(a.value.clone())));
        }
        if let Some(a) = &self.kube_wait {
            out.push((a.pos, K::Wait(a.value.clone())));
        }
        if let Some(a) = &self.kube_get {
            out.push((a.pos, K::Get(a.value.clone())));
        }
        if let Some(a) = &self.kube_job {
            out.push((a.pos, K::Job(a.value.clone())));
        }
        if let Some(a) = &self.kube_revert {
            out.push((a.pos, K::Revert(a.value.clone())));
        }
        out
    }

    /// The `kube.*` action of this run, if it is a Kubernetes step.
    pub fn kube(&self) -> Option<super::kube::KubeAction> {
        self.kube_actions().into_iter().next().map(|(_, a)| a)
    }

    /// Every AWS action given (`secrets.*`, `ecr.*`, `aws.identity`), with its position (a valid
    /// run has at most one action of any kind, and then no `shell`).
    pub fn aws_actions(&self) -> Vec<(super::Pos, super::aws::AwsAction)> {
        use super::aws::AwsAction as A;
        let mut out = Vec::new();
        if let Some(a) = &self.secrets_require {
            out.push((a.pos, A::SecretsRequire(a.value.clone())));
        }
        if let Some(a) = &self.secrets_put {
            out.push((a.pos, A::SecretsPut(a.value.clone())));
        }
        if let Some(a) = &self.secrets_get {
            out.push((a.pos, A::SecretsGet(a.value.clone())));
        }
        if let Some(a) = &self.secrets_rotate {
            out.push((a.pos, A::SecretsRotate(a.value.clone())));
        }
        if let Some(a) = &self.secrets_revert {
            out.push((a.pos, A::SecretsRevert(a.value.clone())));
        }
        if let Some(a) = &self.ecr_login {
            out.push((a.pos, A::EcrLogin(a.value.clone())));
        }
        if let Some(a) = &self.ecr_ensure_repository {
            out.push((a.pos, A::EcrEnsureRepository(a.value.clone())));
        }
        if let Some(a) = &self.ecr_describe_images {
            out.push((a.pos, A::EcrDescribeImages(a.value.clone())));
        }
        if let Some(a) = &self.aws_identity {
            out.push((a.pos, A::Identity(a.value.clone())));
        }
        out
    }

    /// Every Docker action given (`docker.*`), with its position.
    pub fn docker_actions(&self) -> Vec<(super::Pos, super::docker::DockerAction)> {
        use super::docker::DockerAction as D;
        let mut out = Vec::new();
        if let Some(a) = &self.docker_build {
            out.push((a.pos, D::Build(a.value.clone())));
        }
        if let Some(a) = &self.docker_tag {
            out.push((a.pos, D::Tag(a.value.clone())));
        }
        if let Some(a) = &self.docker_push {
            out.push((a.pos, D::Push(a.value.clone())));
        }
        if let Some(a) = &self.docker_login {
            out.push((a.pos, D::Login(a.value.clone())));
        }
        out
    }

    /// The Docker action of this run, if it is a Docker step (and nothing else).
    pub fn docker(&self) -> Option<super::docker::DockerAction> {
        if self.kube().is_some() || !self.aws_actions().is_empty() {
            return None;
        }
        self.docker_actions().into_iter().next().map(|(_, a)| a)
    }

    /// The action that puts back what this run's action journals, when its family has one and
    /// the action changes anything (see [`RevertAction`]).
    pub fn reverted_by(&self) -> Option<RevertAction> {
        if let Some(a) = self.kube() {
            return a.reverted_by();
        }
        self.aws().and_then(|a| a.reverted_by())
    }

    /// The AWS action of this run, if it is an AWS step (and not also a kube one).
    pub fn aws(&self) -> Option<super::aws::AwsAction> {
        if self.kube().is_some() {
            return None;
        }
        self.aws_actions().into_iter().next().map(|(_, a)| a)
    }
}

impl Runbook {
    /// The variables that steps set (`secrets.get`'s `var`, `ecr.login`'s `password_var`): they
    /// have no value until such a step runs, so the start of a run neither asks for them nor
    /// requires them.
    pub fn set_by_steps(&self) -> Vec<String> {
        fn steps(s: &[Spanned<Step>], out: &mut Vec<String>) {
            for s in s {
                for r in [&s.run, &s.undo].into_iter().flatten() {
                    if let Some(action) = r.aws()
                        && let Some(var) = action.sets_var()
                        && !out.iter().any(|v| v == var)
                    {
                        out.push(var.to_string());
                    }
                }
                if let Some(f) = &s.on_failure {
                    steps(&f.steps, out);
                }
            }
        }
        let mut out = Vec::new();
        for p in &self.phases {
            steps(&p.steps, &mut out);
            steps(&p.validation, &mut out);
            if let Some(f) = &p.on_failure {
                steps(&f.steps, &mut out);
            }
        }
        if let Some(f) = &self.on_failure {
            steps(&f.steps, &mut out);
        }
        out
    }
}

impl Step {
    pub fn attempts(&self) -> u32 {
        1 + self.retries.as_ref().map_or(0, |r| r.attempts)
    }

    /// The gate before this step, if any: its own, or the implied one of a destructive step.
    pub fn effective_gate(&self) -> Option<Gate> {
        match (&self.gate, self.destructive) {
            (Some(g), d) => {
                let mut g = g.value.clone();
                g.destructive |= d;
                Some(g)
            }
            (None, true) => Some(Gate {
                destructive: true,
                ..Gate::default()
            }),
            (None, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::Pos;

    #[test]
    fn each_family_names_the_revert_that_undoes_its_steps() {
        let revert = |step: &str| Revert {
            step: step.into(),
            run: None,
        };
        let pos = Pos::new(3, 7);
        let kube = RevertAction::Kube.run(pos, revert("down"));
        assert_eq!(
            kube.kube(),
            Some(super::super::kube::KubeAction::Revert(revert("down")))
        );
        let aws = RevertAction::Aws.run(pos, revert("put-jwt"));
        assert_eq!(
            aws.aws(),
            Some(super::super::aws::AwsAction::SecretsRevert(revert(
                "put-jwt"
            )))
        );
        assert_eq!(aws.secrets_revert.as_ref().map(|r| r.pos), Some(pos));
        // A kube revert changes the cluster and is put back in turn; an AWS one is not.
        assert_eq!(kube.reverted_by(), Some(RevertAction::Kube));
        assert_eq!(aws.reverted_by(), None);
        let put = Run {
            secrets_put: Some(Spanned::new(pos, Default::default())),
            ..Run::default()
        };
        assert_eq!(put.reverted_by(), Some(RevertAction::Aws));
        let shell = Run {
            shell: Some(Spanned::new(pos, "echo hi".into())),
            ..Run::default()
        };
        assert_eq!(shell.reverted_by(), None);
        assert_eq!(
            [RevertAction::Kube.key(), RevertAction::Aws.key()],
            ["kube.revert", "secrets.revert"]
        );
    }
}
