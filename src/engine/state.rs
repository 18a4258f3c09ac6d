//! The engine's state: what a run needs to start or resume, the [`Engine`] itself, and the small
//! helpers every part of it uses.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::audit::AuditLog;
use super::journal::{Journal, Replay};
use super::variables::Vars;
use crate::exec::Executor;
use crate::protocol::{Command, Event};
use crate::runbook::{Gate, Runbook, Step, vars};

/// Everything a run needs to start or resume.
pub struct RunSpec {
    pub runbook: Arc<Runbook>,
    pub runbook_path: PathBuf,
    pub digest: String,
    pub run_id: String,
    pub vars: Vars,
    pub journal: Journal,
    pub replay: Option<Replay>,
    pub who: String,
    /// A rehearsal against stand-ins (`tollgate rehearse`): journaled in `run_started`, so a
    /// resumed rehearsal stays one and its changes are never reverted on a real target.
    pub rehearsal: bool,
}

/// A run in progress: its runbook, variables, journal and channels. Its behaviour is spread by
/// concern over `run.rs` (phases and steps), `gates.rs`, `attempts.rs`, `rollback.rs` and
/// `transition.rs` (what every transition writes).
pub struct Engine {
    pub(super) runbook: Arc<Runbook>,
    pub(super) dir: PathBuf,
    pub(super) run_id: String,
    pub(super) vars: Vars,
    pub(super) journal: Journal,
    /// Where the audit lines go: the state folder's `logs/`.
    pub(super) audit: AuditLog,
    pub(super) replay: Replay,
    pub(super) resumed: bool,
    pub(super) who: String,
    pub(super) runbook_path: PathBuf,
    pub(super) digest: String,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) commands_open: bool,
    pub(super) executor: Arc<dyn Executor>,
    /// Set when the operator aborts while no gate is open.
    pub(super) aborted: bool,
    /// What each step changed (from the journal and this session), for `kube.revert`,
    /// `secrets.revert` and undo.
    pub(super) changes: std::collections::BTreeMap<String, Vec<serde_json::Value>>,
    /// Phases and steps the operator chose not to run (`--skip`).
    pub(super) skip: std::collections::BTreeSet<String>,
    pub(super) skip_via: String,
    /// How the operator accepted going on with a changed runbook (`--accept-changed-runbook`).
    pub(super) accept_change_via: Option<String>,
    /// A rehearsal: this run's, or the resumed run's as journaled.
    pub(super) rehearsal: bool,
    /// Set by `tollgate rehearse`: steps skipped in rehearsal, faults injected.
    pub(super) rehearsing: Option<Rehearsing>,
    /// The failed run this one follows (`{{ from_run }}`), and the targets carried from it.
    pub(super) from_run: Option<String>,
    pub(super) carried: Option<super::journal::Carried>,
}

/// A new run id: time-ordered, unique enough for one operator's machine.
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    let nanos = now.timestamp_subsec_nanos();
    let mix = (nanos ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{mix:04x}", now.format("%Y%m%d-%H%M%S"))
}

impl Engine {
    pub fn new(
        spec: RunSpec,
        executor: Arc<dyn Executor>,
        events: mpsc::Sender<Event>,
        commands: mpsc::Receiver<Command>,
    ) -> Engine {
        let dir = spec
            .runbook_path
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let mut vars = spec.vars;
        vars.set("run_id", spec.run_id.clone(), false);
        vars.set("runbook_dir", dir.display().to_string(), false);
        vars.set("runbook_name", spec.runbook.name.value.clone(), false);
        let from_run = spec.replay.as_ref().and_then(|r| r.from_run.clone());
        let carried = spec.replay.as_ref().and_then(|r| r.carried.clone());
        // Empty when the run follows none: `{{ from_run }}` is always defined.
        vars.set("from_run", from_run.clone().unwrap_or_default(), false);
        let resumed = spec.replay.is_some();
        let rehearsal = spec.rehearsal || spec.replay.as_ref().is_some_and(|r| r.rehearsal);
        let changes = spec
            .replay
            .as_ref()
            .map(|r| r.changes.clone())
            .unwrap_or_default();
        Engine {
            runbook: spec.runbook,
            dir,
            run_id: spec.run_id,
            vars,
            audit: AuditLog::of_journal(spec.journal.path()),
            journal: spec.journal,
            replay: spec.replay.unwrap_or_default(),
            resumed,
            who: spec.who,
            runbook_path: spec.runbook_path,
            digest: spec.digest,
            events,
            commands,
            commands_open: true,
            executor,
            aborted: false,
            changes,
            skip: Default::default(),
            skip_via: String::new(),
            accept_change_via: None,
            rehearsal,
            rehearsing: None,
            from_run,
            carried,
        }
    }

    /// A run started to follow failed run `from_run` (its `on_failure: {runbook: …}`): the
    /// built-in variable `from_run` is its id, and `run_started` journals it with the targets
    /// carried from it (already in this run's runbook).
    pub fn following(mut self, from_run: &str, carried: Option<super::journal::Carried>) -> Engine {
        self.vars.set("from_run", from_run.to_string(), false);
        self.from_run = Some(from_run.to_string());
        self.carried = carried;
        self
    }

    /// Phases and steps not to run: each is journaled as skipped, with who chose it and `via`
    /// (e.g. `--skip`) as a decision, when the run reaches it. Ids the runbook lacks are ignored
    /// (the caller checks them).
    pub fn skipping(mut self, ids: impl IntoIterator<Item = String>, via: &str) -> Engine {
        self.skip = ids.into_iter().collect();
        self.skip_via = via.to_string();
        self
    }

    /// Accepts, on resume, a runbook that changed since the run last ran it: journaled and
    /// audited as a decision by the operator, `via` (e.g. `--accept-changed-runbook`).
    pub fn accepting_changed_runbook(mut self, via: &str) -> Engine {
        self.accept_change_via = Some(via.to_string());
        self
    }

    pub(super) async fn emit(&self, ev: Event) {
        let _ = self.events.send(ev).await;
    }

    pub(super) fn when_false(&self, when: &Option<crate::runbook::Spanned<String>>) -> bool {
        match when {
            None => false,
            Some(w) => match vars::parse_when(w) {
                Ok(expr) => !expr.eval(&self.vars.all()),
                Err(_) => false,
            },
        }
    }

    /// The runbook's `four_eyes`: which gates need a second person.
    pub(super) fn four_eyes(&self) -> Option<crate::runbook::FourEyes> {
        self.runbook.four_eyes.as_ref().map(|f| f.value)
    }

    pub(super) fn confirm_word(&self, gate: &Gate, owner: &str) -> String {
        gate.confirm
            .as_ref()
            .map(|c| self.vars.render(c))
            .or_else(|| self.runbook.targets.environment.clone())
            .unwrap_or_else(|| owner.to_string())
    }

    /// The one line shown for a step before it runs: its action, variables filled (secret ones
    /// masked).
    pub(super) fn step_command(&self, step: &Step) -> String {
        let Some(run) = step.run.as_ref() else {
            return String::new();
        };
        let ns = self
            .runbook
            .targets
            .kube
            .as_ref()
            .and_then(|k| k.namespace.clone())
            .unwrap_or_else(|| "default".into());
        run.action.filled(&|s| self.vars.render(s)).describe(&ns)
    }
}

/// Faults armed at a step: called as the step is about to run (after its gate), it injects them
/// (a deployment's new pods crash, a node is lost, the API server restarts) and says what it did.
pub type AtStep =
    std::sync::Arc<dyn Fn(&str) -> futures::future::BoxFuture<'static, Vec<String>> + Send + Sync>;

/// How the engine rehearses.
#[derive(Clone, Default)]
pub struct Rehearsing {
    /// Steps that fail once, without running, with this message (`--inject step=ID:fail[:MSG]`).
    pub fail: std::collections::BTreeMap<String, String>,
    /// Faults injected in the world as a step starts.
    pub at_step: Option<AtStep>,
    /// Injected before the first phase (e.g. a secret removed from the AWS stand-in).
    pub at_start: Vec<String>,
}
