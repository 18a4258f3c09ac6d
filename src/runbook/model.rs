//! The runbook as data. Every field is optional at the serde level so that a file with several
//! problems reports all of them; `validate` then checks what is required, with positions.

use std::path::PathBuf;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, MapAccess};
use serde::{Deserialize, Serialize};

use super::action::Run;
use super::de::Spanned;
use super::shorthand::{Shorthand, fields_of, shorthand_deserialize};

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
    /// What should lead a responder here: the alerts that fire and the symptoms seen. Shown by
    /// `plan`; what a search for an alert finds the runbook by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggers: Option<Spanned<Triggers>>,
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
    /// How long the whole run should take, counted from its first start (e.g. `4h`, a recovery
    /// time objective): the interface shows the time left and warns in its last fifth. Never
    /// stops a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Spanned<String>>,
    /// Who hears of the run while nobody watches it: a webhook and the desktop told when a gate
    /// waits for a person (and reminded while it waits), a step fails, or the run ends. Wins over
    /// the user's config file (`[notify]` in `~/.config/tollgate/config.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Spanned<Notify>>,
    /// Gates that need a second, distinct person's approval besides the driver's:
    /// `destructive` (every destructive gate) or `all`. A gate's own `approvals` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub four_eyes: Option<Spanned<FourEyes>>,
    /// The phases, in order.
    #[serde(default)]
    pub phases: Vec<Spanned<Phase>>,
    /// What `tollgate rehearse` starts from: the cluster fixture, the AWS stand-in's state,
    /// values of variables in a rehearsal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<Spanned<super::rehearse::Rehearsal>>,
}

/// Who is told what a run needs (`notify:`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Where a Slack-compatible JSON message is POSTed (`{"text": …, "tollgate": {…}}`): an
    /// http:// or https:// URL, or `{{ var }}` naming a variable (a secret one keeps the URL out
    /// of every log and screen). Never sent in a rehearsal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Spanned<String>>,
    /// Remind again while a gate still waits this long (e.g. `10m`), and every time as long
    /// after. Unset: no reminders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after: Option<Spanned<String>>,
    /// A desktop notification (`notify-send`) when the desktop offers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desktop: Option<bool>,
}

/// The alerts and symptoms a runbook answers.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Alert names as the alerting system calls them, each maybe followed by its condition, e.g.
    /// `PaymentFailureRate > 10%`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<Spanned<String>>,
    /// What a person sees, e.g. `CrashLoopBackOff in payment-backend`, `payouts stuck in pending`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symptoms: Vec<Spanned<String>>,
}

impl Triggers {
    /// The alert's name: the first word of an `alerts` entry.
    pub fn alert_names(&self) -> impl Iterator<Item = &str> {
        self.alerts
            .iter()
            .filter_map(|a| a.value.split_whitespace().next())
    }
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
    /// How many distinct people must approve: `2` for a two-person gate (the driver, and a
    /// second person from `tollgate follow`). Default 1, or 2 where the runbook's `four_eyes`
    /// says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<u32>,
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
    #[serde(default)]
    approvals: Option<u32>,
}

/// Which gates need a second, distinct person's approval (`four_eyes:`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FourEyes {
    /// Every destructive gate (a gate with `destructive: true`, or before a destructive step).
    #[default]
    Destructive,
    /// Every gate before a phase or a step.
    All,
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
    /// How the step rehearses under `tollgate rehearse`: `run` (as written, against the
    /// stand-ins; the default), `{skip: REASON}`, or `{run: ACTION}` (a stand-in runs instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearse: Option<Spanned<super::rehearse::Rehearse>>,
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
    /// The value is meant to be shown and journaled although the step sees a secret (e.g. an
    /// address a deploy prints): `check` does not warn. A value that holds a secret is masked
    /// and kept out of the journal all the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
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

impl Shorthand for Gate {
    const NAME: &'static str = "$short:gate";
    const FIELDS: &'static [&'static str] = &["message", "destructive", "confirm", "approvals"];
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
            approvals: f.approvals,
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

impl Runbook {
    /// The run's deadline in whole seconds, when it declares a valid one.
    pub fn deadline_secs(&self) -> Option<u64> {
        let d = super::vars::parse_duration(self.deadline.as_deref()?).ok()?;
        (!d.is_zero()).then(|| d.as_secs().max(1))
    }

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

impl Gate {
    /// How many distinct people must approve this gate under the runbook's `four_eyes`.
    pub fn approvals_needed(&self, four_eyes: Option<FourEyes>) -> u32 {
        self.approvals.unwrap_or(match four_eyes {
            Some(FourEyes::All) => 2,
            Some(FourEyes::Destructive) if self.destructive => 2,
            _ => 1,
        })
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
