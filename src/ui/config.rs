//! What the interface starts with: the run it shows, and how. The caller says what it knows in
//! one value; the interface builds its state from it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::engine::journal::Replay;
use crate::engine::variables::Vars;
use crate::protocol::approvals::Approvals;
use crate::runbook::Runbook;
use crate::runbook::kube::KubeAction;
use crate::ui::theme::Theme;

/// Keys that arrive this soon after a dialog opens were typed before it was seen: ignored.
pub const GATE_GUARD: Duration = Duration::from_millis(300);

/// Lines of output kept per step unless said otherwise.
pub const SCROLLBACK: usize = 100_000;

/// How the interface is started for one run.
pub struct Config {
    pub runbook: Arc<Runbook>,
    pub run_id: String,
    /// Who decides the gates (recorded with each decision).
    pub who: String,
    pub theme: Theme,
    /// Lines of output kept per step.
    pub scrollback: usize,
    /// Values to fill into commands not yet run (secrets masked).
    pub vars: Vars,
    /// What a resumed run had already done before this session.
    pub replay: Option<Replay>,
    /// Whether the run has anything to do with AWS: the banner then shows the account and region
    /// (what `targets.aws` names until they are pinned).
    pub aws: bool,
    /// The pods and logs panes, when the run has a cluster.
    pub cluster: Option<ClusterPanes>,
    /// Keys this soon after a dialog opens are ignored.
    pub gate_guard: Duration,
    /// A fixed wall clock for pod ages (snapshots); the system's when `None`.
    pub frozen_clock: Option<DateTime<Utc>>,
    /// Gates decided by the command line's flags (`--approve`), by the same rule as headless.
    pub approvals: Approvals,
    /// A rehearsal against stand-ins (`tollgate rehearse`): the banner and the terminal's title
    /// say so, and the help says how to look at the sandbox from another terminal.
    pub rehearsal: Option<Rehearsal>,
    /// This interface follows a run another terminal drives (`tollgate follow`): read-only
    /// until it is handed the keys; `q` leaves without touching the run.
    pub follower: bool,
    /// Who is at the keys when the interface starts (the driver's `who` when not said).
    pub driver: Option<String>,
}

/// What the interface says of a rehearsal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rehearsal {
    /// The kubeconfig of the rehearsal's sandbox cluster (`export KUBECONFIG=…` in another
    /// terminal to look around with kubectl).
    pub kubeconfig: std::path::PathBuf,
    /// The stand-ins in one line, e.g. `sandbox cluster · AWS and Docker stand-ins`.
    pub standins: String,
}

/// The mark the banner and the terminal's title carry during a rehearsal.
pub const REHEARSAL: &str = "REHEARSAL";

impl Config {
    /// The terminal's title while the interface runs, when it sets one: a rehearsal's says so
    /// (`REHEARSAL · NAME · tollgate`); a real run leaves the title alone.
    pub fn title(&self) -> Option<String> {
        self.rehearsal
            .as_ref()
            .map(|_| format!("{REHEARSAL} · {} · tollgate", self.runbook.name.value))
    }
}

impl Config {
    /// A run with no cluster, no AWS, no variables and nothing done before.
    pub fn new(
        runbook: Arc<Runbook>,
        run_id: impl Into<String>,
        who: impl Into<String>,
        theme: Theme,
    ) -> Config {
        Config {
            runbook,
            run_id: run_id.into(),
            who: who.into(),
            theme,
            scrollback: SCROLLBACK,
            vars: Vars::default(),
            replay: None,
            aws: false,
            cluster: None,
            gate_guard: GATE_GUARD,
            frozen_clock: None,
            approvals: Approvals::default(),
            rehearsal: None,
            follower: false,
            driver: None,
        }
    }
}

/// The pods and logs panes of a run with a cluster.
pub struct ClusterPanes {
    /// The pinned context as the panes name it until the watch reports the live one.
    pub context: String,
    /// The namespace of kube steps that name none.
    pub namespace: String,
    /// The kube step whose pods and logs are shown before any step runs (its variables are
    /// filled in from [`Config::vars`]).
    pub preview: Option<KubeAction>,
}
