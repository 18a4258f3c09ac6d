//! What a step does: one [`Action`] of one family (a shell command, a `kube.*`, an AWS, a
//! `docker.*` or an `http.*` action), decoded once when the runbook is read, with "one action per step" enforced
//! there. The YAML form is a mapping of keys, one per action ([`RunFields`], also the schema);
//! everything after loading sees the sum type.
//!
//! A family's actions are declared in its own file (`kube.rs`, `aws.rs`, `docker.rs`, `http.rs`), each with
//! `key`, `filled`, `describe` and `reverted_by`; the families are listed in [`Action`] and in the
//! table of keys below ([`action_keys!`]), and nowhere else in this layer.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de;
use serde::{Deserialize, Serialize};

use super::aws::AwsAction;
use super::de::{Spanned, report};
use super::docker::DockerAction;
use super::http::HttpAction;
use super::kube::KubeAction;
use super::revert::{Revert, RevertAction};
use super::shorthand::{Present, Shorthand, fields_of, shorthand_deserialize};
use super::yaml::Pos;

/// The one thing a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A shell command or script.
    Shell(String),
    Kube(KubeAction),
    Aws(AwsAction),
    Docker(DockerAction),
    Http(HttpAction),
}

impl Default for Action {
    fn default() -> Action {
        Action::Shell(String::new())
    }
}

/// How a step runs: its action, and for a shell command how to run it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub action: Action,
    /// Where the action was written (line 0 when it is the `run` value itself, `run: "cmd"`).
    pub pos: Pos,
    /// The program and flags that run a script, e.g. `[bash, -euo, pipefail, -c]`.
    pub interpreter: Vec<String>,
    /// Working directory, relative to the runbook's folder.
    pub workdir: Option<String>,
    /// Extra environment for the command (values may use `{{ var }}`).
    pub env: IndexMap<String, String>,
}

impl Action {
    /// The key the action is written under: `shell`, `kube.scale`, `secrets.put`, …
    pub fn key(&self) -> &'static str {
        match self {
            Action::Shell(_) => "shell",
            Action::Kube(a) => a.key(),
            Action::Aws(a) => a.key(),
            Action::Docker(a) => a.key(),
            Action::Http(a) => a.key(),
        }
    }

    /// The action with every string passed through `f` (filling `{{ var }}` templates).
    pub fn filled(&self, f: &dyn Fn(&str) -> String) -> Action {
        match self {
            Action::Shell(s) => Action::Shell(f(s)),
            Action::Kube(a) => Action::Kube(a.filled(f)),
            Action::Aws(a) => Action::Aws(a.filled(f)),
            Action::Docker(a) => Action::Docker(a.filled(f)),
            Action::Http(a) => Action::Http(a.filled(f)),
        }
    }

    /// The one line shown before the action runs (a script as it is); `default_ns` is the
    /// namespace of kube actions that name none.
    pub fn describe(&self, default_ns: &str) -> String {
        match self {
            Action::Shell(s) => s.clone(),
            Action::Kube(a) => a.describe(default_ns),
            Action::Aws(a) => a.describe(),
            Action::Docker(a) => a.describe(),
            Action::Http(a) => a.describe(),
        }
    }

    /// The action that puts back what this one journals, when its family has one and the action
    /// changes anything (see [`RevertAction`]).
    pub fn reverted_by(&self) -> Option<RevertAction> {
        match self {
            Action::Kube(a) => a.reverted_by(),
            Action::Aws(a) => a.reverted_by(),
            Action::Shell(_) | Action::Docker(_) | Action::Http(_) => None,
        }
    }

    /// The action of family `by` that reverts `revert`.
    pub fn reverting(by: RevertAction, revert: Revert) -> Action {
        match by {
            RevertAction::Kube => Action::Kube(KubeAction::Revert(revert)),
            RevertAction::Aws => Action::Aws(AwsAction::SecretsRevert(revert)),
        }
    }

    pub fn script(&self) -> Option<&str> {
        match self {
            Action::Shell(s) => Some(s),
            _ => None,
        }
    }

    pub fn kube(&self) -> Option<&KubeAction> {
        match self {
            Action::Kube(a) => Some(a),
            _ => None,
        }
    }

    pub fn aws(&self) -> Option<&AwsAction> {
        match self {
            Action::Aws(a) => Some(a),
            _ => None,
        }
    }

    pub fn docker(&self) -> Option<&DockerAction> {
        match self {
            Action::Docker(a) => Some(a),
            _ => None,
        }
    }

    pub fn http(&self) -> Option<&HttpAction> {
        match self {
            Action::Http(a) => Some(a),
            _ => None,
        }
    }
}

impl Run {
    /// A run of just `action`.
    pub fn of(action: Action) -> Run {
        Run {
            action,
            ..Run::default()
        }
    }

    /// The script to run, if this is a shell step.
    pub fn script(&self) -> Option<&str> {
        self.action.script()
    }

    /// The `kube.*` action of this run, if it is a Kubernetes step.
    pub fn kube(&self) -> Option<&KubeAction> {
        self.action.kube()
    }

    /// The AWS action of this run, if it is an AWS step.
    pub fn aws(&self) -> Option<&AwsAction> {
        self.action.aws()
    }

    /// The Docker action of this run, if it is a Docker step.
    pub fn docker(&self) -> Option<&DockerAction> {
        self.action.docker()
    }

    /// The HTTP action of this run, if it is an HTTP step.
    pub fn http(&self) -> Option<&HttpAction> {
        self.action.http()
    }

    /// See [`Action::reverted_by`].
    pub fn reverted_by(&self) -> Option<RevertAction> {
        self.action.reverted_by()
    }

    /// Where the action was written, else `run_pos` (the position of the `run` value).
    pub fn pos_or(&self, run_pos: Pos) -> Pos {
        if self.pos.line == 0 {
            run_pos
        } else {
            self.pos
        }
    }
}

/// The families' action keys, each with the variant it decodes to: the one table the decoding
/// and the encoding of [`RunFields`] share.
macro_rules! action_keys {
    ($apply:ident) => {
        $apply! {
            kube_apply => Kube(KubeAction::Apply),
            kube_rollout_status => Kube(KubeAction::RolloutStatus),
            kube_rollout_undo => Kube(KubeAction::RolloutUndo),
            kube_set_image => Kube(KubeAction::SetImage),
            kube_scale => Kube(KubeAction::Scale),
            kube_restart => Kube(KubeAction::Restart),
            kube_wait => Kube(KubeAction::Wait),
            kube_get => Kube(KubeAction::Get),
            kube_job => Kube(KubeAction::Job),
            kube_revert => Kube(KubeAction::Revert),
            kube_patch => Kube(KubeAction::Patch),
            argo_status => Kube(KubeAction::ArgoStatus),
            argo_promote => Kube(KubeAction::ArgoPromote),
            argo_abort => Kube(KubeAction::ArgoAbort),
            argo_retry => Kube(KubeAction::ArgoRetry),
            argo_undo => Kube(KubeAction::ArgoUndo),
            argo_set_image => Kube(KubeAction::ArgoSetImage),
            argocd_sync => Kube(KubeAction::ArgocdSync),
            argocd_wait => Kube(KubeAction::ArgocdWait),
            argocd_auto_sync => Kube(KubeAction::ArgocdAutoSync),
            secrets_require => Aws(AwsAction::SecretsRequire),
            secrets_put => Aws(AwsAction::SecretsPut),
            secrets_get => Aws(AwsAction::SecretsGet),
            secrets_rotate => Aws(AwsAction::SecretsRotate),
            secrets_revert => Aws(AwsAction::SecretsRevert),
            ecr_login => Aws(AwsAction::EcrLogin),
            ecr_ensure_repository => Aws(AwsAction::EcrEnsureRepository),
            ecr_describe_images => Aws(AwsAction::EcrDescribeImages),
            aws_identity => Aws(AwsAction::Identity),
            docker_build => Docker(DockerAction::Build),
            docker_tag => Docker(DockerAction::Tag),
            docker_push => Docker(DockerAction::Push),
            docker_login => Docker(DockerAction::Login),
            http_check => Http(HttpAction::Check),
        }
    };
}

/// How a step runs. A plain string is a shell command.
#[derive(Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Run")]
struct RunFields {
    /// A shell command or script, run by `interpreter` (default `sh -e -c`) in its own process group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shell: Option<Spanned<String>>,
    /// The program and flags that run the script, e.g. `[bash, -euo, pipefail, -c]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    interpreter: Vec<String>,
    /// Working directory, relative to the runbook's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    workdir: Option<String>,
    /// Extra environment for the command (values may use `{{ var }}`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    env: IndexMap<String, String>,
    /// Server-side apply of manifests.
    #[serde(
        rename = "kube.apply",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_apply: Option<Spanned<super::kube::Apply>>,
    /// Wait for a rollout to complete.
    #[serde(
        rename = "kube.rollout_status",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_rollout_status: Option<Spanned<super::kube::RolloutStatus>>,
    /// Roll a deployment back.
    #[serde(
        rename = "kube.rollout_undo",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_rollout_undo: Option<Spanned<super::kube::RolloutUndo>>,
    /// Set a container's image.
    #[serde(
        rename = "kube.set_image",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_set_image: Option<Spanned<super::kube::SetImage>>,
    /// Scale a deployment (or all of a namespace).
    #[serde(
        rename = "kube.scale",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_scale: Option<Spanned<super::kube::Scale>>,
    /// Restart a deployment's pods.
    #[serde(
        rename = "kube.restart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_restart: Option<Spanned<super::kube::Restart>>,
    /// Wait for a condition on resources.
    #[serde(rename = "kube.wait", default, skip_serializing_if = "Option::is_none")]
    kube_wait: Option<Spanned<super::kube::Wait>>,
    /// Read resources (JSONPath output).
    #[serde(rename = "kube.get", default, skip_serializing_if = "Option::is_none")]
    kube_get: Option<Spanned<super::kube::Get>>,
    /// Run a Job in the cluster.
    #[serde(rename = "kube.job", default, skip_serializing_if = "Option::is_none")]
    kube_job: Option<Spanned<super::kube::KubeJob>>,
    /// Put back what an earlier step changed.
    #[serde(
        rename = "kube.revert",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_revert: Option<Spanned<Revert>>,
    /// Patch any object (custom resources too); the object before is journaled.
    #[serde(
        rename = "kube.patch",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    kube_patch: Option<Spanned<super::argo::KubePatch>>,
    /// Follow an Argo Rollout until it is paused, healthy, at a step or a weight.
    #[serde(
        rename = "argo.status",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argo_status: Option<Spanned<super::argo::ArgoStatus>>,
    /// Promote an Argo Rollout (to its next step, or fully).
    #[serde(
        rename = "argo.promote",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argo_promote: Option<Spanned<super::argo::ArgoPromote>>,
    /// Abort an Argo Rollout: back to the stable version.
    #[serde(
        rename = "argo.abort",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argo_abort: Option<Spanned<super::argo::ArgoRollout>>,
    /// Retry an aborted Argo Rollout.
    #[serde(
        rename = "argo.retry",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argo_retry: Option<Spanned<super::argo::ArgoRollout>>,
    /// Roll an Argo Rollout's template back to a revision.
    #[serde(rename = "argo.undo", default, skip_serializing_if = "Option::is_none")]
    argo_undo: Option<Spanned<super::argo::ArgoUndo>>,
    /// Set a container's image in an Argo Rollout.
    #[serde(
        rename = "argo.set_image",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argo_set_image: Option<Spanned<super::argo::ArgoSetImage>>,
    /// Sync an Argo CD Application and wait for the operation.
    #[serde(
        rename = "argocd.sync",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argocd_sync: Option<Spanned<super::argo::ArgocdSync>>,
    /// Wait for an Argo CD Application's sync and health status.
    #[serde(
        rename = "argocd.wait",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argocd_wait: Option<Spanned<super::argo::ArgocdWait>>,
    /// Turn an Argo CD Application's automated sync on or off.
    #[serde(
        rename = "argocd.auto_sync",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    argocd_auto_sync: Option<Spanned<super::argo::ArgocdAutoSync>>,
    /// Check that AWS Secrets Manager secrets exist.
    #[serde(
        rename = "secrets.require",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    secrets_require: Option<Spanned<super::aws::SecretsRequire>>,
    /// Create or update a secret from a secret variable or a file.
    #[serde(
        rename = "secrets.put",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    secrets_put: Option<Spanned<super::aws::SecretsPut>>,
    /// Read a secret into a secret variable.
    #[serde(
        rename = "secrets.get",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    secrets_get: Option<Spanned<super::aws::SecretsGet>>,
    /// Put a new version of a secret, verify it, and roll back on failure.
    #[serde(
        rename = "secrets.rotate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    secrets_rotate: Option<Spanned<super::aws::SecretsRotate>>,
    /// Put back what an earlier AWS step changed.
    #[serde(
        rename = "secrets.revert",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    secrets_revert: Option<Spanned<Revert>>,
    /// Get an ECR login token; its password goes into a secret variable.
    #[serde(rename = "ecr.login", default, skip_serializing_if = "Option::is_none")]
    ecr_login: Option<Spanned<super::aws::EcrLogin>>,
    /// Create an ECR repository unless it exists.
    #[serde(
        rename = "ecr.ensure_repository",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    ecr_ensure_repository: Option<Spanned<super::aws::EcrEnsureRepository>>,
    /// List an ECR repository's images; check that tags exist (with a digest).
    #[serde(
        rename = "ecr.describe_images",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    ecr_describe_images: Option<Spanned<super::aws::EcrDescribeImages>>,
    /// Show the AWS account, identity and region in use (`aws.identity: {}`).
    #[serde(
        rename = "aws.identity",
        default,
        skip_serializing_if = "Present::is_none"
    )]
    aws_identity: Present<Spanned<super::aws::AwsIdentity>>,
    /// Build an image from a Dockerfile and context.
    #[serde(
        rename = "docker.build",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    docker_build: Option<Spanned<super::docker::DockerBuild>>,
    /// Give an image another name.
    #[serde(
        rename = "docker.tag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    docker_tag: Option<Spanned<super::docker::DockerTag>>,
    /// Push an image to a registry (the pushed digest is captured).
    #[serde(
        rename = "docker.push",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    docker_push: Option<Spanned<super::docker::DockerPush>>,
    /// Check registry credentials with the Docker daemon, as `docker login` does.
    #[serde(
        rename = "docker.login",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    docker_login: Option<Spanned<super::docker::DockerLogin>>,
    /// Send HTTP requests and check their statuses, error rate and latency.
    #[serde(
        rename = "http.check",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    http_check: Option<Spanned<super::http::HttpCheck>>,
}

impl RunFields {
    /// The run these keys describe. A run with no action is an error; one with more than one is
    /// reported with its position as the file is read, and its first action kept so the rest of
    /// the file is still checked.
    fn into_run<E: de::Error>(self, keys_were_wrong: bool) -> Result<Run, E> {
        let mut actions: Vec<(Pos, Action)> = Vec::new();
        macro_rules! take {
            ($($field:ident => $family:ident($variant:path),)*) => {
                $(
                    if let Some(a) = Present::from(self.$field).0 {
                        actions.push((a.pos, Action::$family($variant(a.value))));
                    }
                )*
            };
        }
        action_keys!(take);
        let mut run = Run {
            interpreter: self.interpreter,
            workdir: self.workdir,
            env: self.env,
            ..Run::default()
        };
        let positioned = |pos: Pos| (pos.line != 0).then_some(pos);
        match (actions.len(), self.shell) {
            (0, Some(shell)) => {
                run.action = Action::Shell(shell.value);
                run.pos = shell.pos;
                return Ok(run);
            }
            // A misspelt action key was already reported: that says what is wrong.
            (0, None) if keys_were_wrong => return Ok(run),
            (0, None) => {
                return Err(E::custom(
                    "`run` needs `shell` (the command to run), a `kube.*`, `argo.*`, `argocd.*`, `secrets.*`, `ecr.*`, `aws.identity`, `docker.*` or `http.*` action",
                ));
            }
            (1, Some(_)) => report(
                positioned(actions[0].0),
                format!(
                    "`{}` and `shell` in one step: give each its own step",
                    actions[0].1.key()
                ),
            ),
            (1, None) => {}
            _ => {
                let keys: Vec<&str> = actions.iter().map(|(_, a)| a.key()).collect();
                report(
                    positioned(actions[1].0),
                    format!("a step runs one action; this one has {}", keys.join(", ")),
                );
            }
        }
        if let Some((pos, action)) = actions.into_iter().next() {
            run.action = action;
            run.pos = pos;
        }
        Ok(run)
    }

    /// The keys of `run`, to write it back out.
    fn of(run: &Run) -> RunFields {
        let mut fields = RunFields {
            interpreter: run.interpreter.clone(),
            workdir: run.workdir.clone(),
            env: run.env.clone(),
            ..RunFields::default()
        };
        let pos = run.pos;
        macro_rules! put {
            ($($field:ident => $family:ident($variant:path),)*) => {
                match &run.action {
                    Action::Shell(s) => fields.shell = Some(Spanned::new(pos, s.clone())),
                    $(Action::$family($variant(a)) => {
                        fields.$field = Some(Spanned::new(pos, a.clone())).into();
                    })*
                }
            };
        }
        action_keys!(put);
        fields
    }
}

impl<T> From<Option<T>> for Present<T> {
    fn from(o: Option<T>) -> Present<T> {
        Present(o)
    }
}

impl Serialize for Run {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RunFields::of(self).serialize(s)
    }
}

/// The schema of a run is the schema of its keys.
impl JsonSchema for Run {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        RunFields::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        RunFields::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RunFields::json_schema(generator)
    }
}

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
        "kube.patch",
        "argo.status",
        "argo.promote",
        "argo.abort",
        "argo.retry",
        "argo.undo",
        "argo.set_image",
        "argocd.sync",
        "argocd.wait",
        "argocd.auto_sync",
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
        "http.check",
    ];
    const EXPECTING: &'static str = "a shell command or a mapping with `shell`, a `kube.*`, `argo.*`, `argocd.*`, `secrets.*`, `ecr.*`, `aws.identity`, `docker.*` or `http.*` action";
    fn from_str<E: de::Error>(v: &str) -> Result<Self, E> {
        // The position of a shorthand command is the position of the `run` value.
        Ok(Run::of(Action::Shell(v.to_string())))
    }
    fn from_map<'de, A: de::MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Self::from_map_checked(map, false)
    }
    fn from_map_checked<'de, A: de::MapAccess<'de>>(
        map: A,
        keys_were_wrong: bool,
    ) -> Result<Self, A::Error> {
        let f: RunFields = fields_of(map)?;
        f.into_run(keys_were_wrong)
    }
}
shorthand_deserialize!(Run);

#[cfg(test)]
mod tests {
    use super::*;

    fn revert(step: &str) -> Revert {
        Revert {
            step: step.into(),
            run: None,
        }
    }

    #[test]
    fn each_family_names_the_revert_that_undoes_its_steps() {
        let kube = Run::of(Action::reverting(RevertAction::Kube, revert("down")));
        assert_eq!(kube.kube(), Some(&KubeAction::Revert(revert("down"))));
        let aws = Run::of(Action::reverting(RevertAction::Aws, revert("put-jwt")));
        assert_eq!(
            aws.aws(),
            Some(&AwsAction::SecretsRevert(revert("put-jwt")))
        );
        // A kube revert changes the cluster and is put back in turn; an AWS one is not.
        assert_eq!(kube.reverted_by(), Some(RevertAction::Kube));
        assert_eq!(aws.reverted_by(), None);
        let put = Run::of(Action::Aws(AwsAction::SecretsPut(Default::default())));
        assert_eq!(put.reverted_by(), Some(RevertAction::Aws));
        let shell = Run::of(Action::Shell("echo hi".into()));
        assert_eq!(shell.reverted_by(), None);
        assert_eq!(
            [RevertAction::Kube.key(), RevertAction::Aws.key()],
            ["kube.revert", "secrets.revert"]
        );
    }

    #[test]
    fn a_run_written_back_out_has_the_keys_it_was_read_from() {
        let pos = Pos::new(3, 7);
        for (run, key) in [
            (Run::of(Action::Shell("echo hi".into())), "shell"),
            (
                Run::of(Action::reverting(RevertAction::Kube, revert("down"))),
                "kube.revert",
            ),
            (
                Run::of(Action::Aws(AwsAction::Identity(Default::default()))),
                "aws.identity",
            ),
        ] {
            let run = Run { pos, ..run };
            let v = serde_json::to_value(&run).expect("serialises");
            let keys: Vec<&String> = v.as_object().expect("a mapping").keys().collect();
            assert_eq!(keys, [key], "{v}");
        }
    }
}
