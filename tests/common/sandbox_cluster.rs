//! Kube-step tests: a sandbox started by the test, a kubeconfig for it in a folder, and a runbook
//! run headless against it with every gate approved.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tollgate::engine::journal::{self, Record};
use tollgate::engine::{Choice, Command, Decision, Engine, Event, GateKind, Outcome};
use tollgate::exec::Router;
use tollgate::exec::kube::KubeExec;
use tollgate::protocol::Secret;
use tollgate::target::PinnedCluster;
use tollgate_sandbox::{Config, Sandbox};

pub const DEADLINE: Duration = Duration::from_secs(60);

/// A sandbox (fast timing) with a kubeconfig whose context is `context`, default namespace `ns`.
pub struct Cluster {
    pub sb: Sandbox,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    pub async fn start(context: &str, ns: &str) -> Cluster {
        Cluster::start_with(Config::fast(), context, ns).await
    }

    pub async fn start_with(config: Config, context: &str, ns: &str) -> Cluster {
        let sb = Sandbox::start(config).await.expect("sandbox starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sb.kubeconfig_for(ns, context)).unwrap();
        Cluster {
            sb,
            dir,
            kubeconfig,
        }
    }

    /// A target pinned through this cluster's kubeconfig (`--context` = `flag`).
    pub fn target(&self, flag: Option<&str>, runbook: Option<&str>) -> Arc<PinnedCluster> {
        Arc::new(PinnedCluster::pin_in_file(Some(&self.kubeconfig), flag, runbook).expect("pins"))
    }

    /// Creates namespace `ns` (through the store, as a fixture would).
    pub fn namespace(&self, ns: &str) {
        let rt = tollgate_sandbox::resources::by_kind("Namespace");
        let _ =
            self.sb
                .store()
                .create(rt, "", serde_json::json!({"metadata": {"name": ns}}), false);
    }

    /// Loads a fixture (a YAML stream of manifests) into the store.
    pub fn load(&self, yaml: &str) {
        tollgate_sandbox::fixture::load_str(self.sb.store(), yaml, "fixture.yaml")
            .expect("fixture loads");
    }
}

/// A fixture: namespace `ns` and, in it, one single-container deployment per `(name, replicas,
/// image)`, its pods labelled `app: NAME`.
pub fn shop_fixture(ns: &str, deployments: &[(&str, i32, &str)]) -> String {
    let mut out = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{ name: {ns} }}\n");
    for (name, replicas, image) in deployments {
        out.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: {name}, namespace: {ns} }}\nspec:\n  replicas: {replicas}\n  selector: {{ matchLabels: {{ app: {name} }} }}\n  template:\n    metadata: {{ labels: {{ app: {name} }} }}\n    spec:\n      containers: [{{ name: {name}, image: \"{image}\" }}]\n"
        ));
    }
    out
}

/// The end of a headless run: its events, outcome and journal records.
pub struct Finished {
    pub events: Vec<Event>,
    pub outcome: Outcome,
    pub records: Vec<Record>,
    /// Everything the steps printed (stdout and stderr), in order.
    pub output: String,
    /// The journal file as written.
    pub journal: String,
}

impl Finished {
    /// The error of the step `id`'s last finish, if it failed.
    pub fn succeeded(&self) -> bool {
        matches!(
            self.outcome,
            tollgate::engine::Outcome::Finished(tollgate::engine::RunStatus::Succeeded)
        )
    }

    pub fn error_of(&self, id: &str) -> Option<String> {
        self.events.iter().rev().find_map(|e| match e {
            Event::StepFinished { step, error, .. } if step == id => Some(error.clone()),
            _ => None,
        })?
    }

    /// Every event, as its debug text (what any view could show).
    pub fn events_text(&self) -> String {
        self.events.iter().map(|e| format!("{e:?}\n")).collect()
    }

    /// The changes the journal holds for step `id`.
    pub fn changes_of(&self, id: &str) -> Vec<serde_json::Value> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Changed { step, change } if step == id => Some(change.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Runs `yaml` (written as `runbook.yaml` in `dir`) against `target`, approving every gate
/// (typing the confirmation word where asked) and aborting at the first failure gate.
pub async fn run_in(dir: &Path, yaml: &str, target: Arc<PinnedCluster>) -> Finished {
    run_as(dir, yaml, target, "run-1", &[]).await
}

/// A runbook of one phase `main` holding `steps` (YAML indented as a phase's steps), pinned to
/// context `prod-east` and namespace `namespace`.
pub fn one_phase(name: &str, namespace: &str, steps: &str) -> String {
    format!(
        "name: {name}\ntargets:\n  kube: {{ context: prod-east, namespace: {namespace} }}\nphases:\n  - id: main\n    steps:\n{steps}"
    )
}

/// [`one_phase`] (namespace `shop`) run as `run_id` in the cluster's folder (the runs share a
/// state folder), against the cluster pinned as `prod-east`.
pub async fn run_steps(c: &Cluster, name: &str, run_id: &str, steps: &str) -> Finished {
    run_as(
        c.dir.path(),
        &one_phase(name, "shop", steps),
        c.target(None, Some("prod-east")),
        run_id,
        &[],
    )
    .await
}

/// [`run_in`] as run `run_id` (several runs share `dir/state`), with variables set.
pub async fn run_as(
    dir: &Path,
    yaml: &str,
    target: Arc<PinnedCluster>,
    run_id: &str,
    vars: &[(&str, &str)],
) -> Finished {
    let mut router = Router::shell_only();
    router.kube = Some(Arc::new(KubeExec { target }));
    run_with(dir, yaml, router, run_id, vars).await
}

/// A headless run of `yaml` with the executors of `router` (every gate approved, the first
/// failure gate aborted).
pub async fn run_with(
    dir: &Path,
    yaml: &str,
    router: Router,
    run_id: &str,
    vars: &[(&str, &str)],
) -> Finished {
    run_deciding(dir, yaml, router, run_id, vars, false).await
}

/// [`run_with`]; at a failure gate that offers it, `rollback` chooses Rollback instead of Abort.
pub async fn run_deciding(
    dir: &Path,
    yaml: &str,
    router: Router,
    run_id: &str,
    vars: &[(&str, &str)],
    rollback: bool,
) -> Finished {
    run_typing(dir, yaml, router, run_id, vars, rollback, &[]).await
}

/// [`run_deciding`], answering the masked prompts steps open with `typed` (step, value); a prompt
/// of a step not listed is declined.
pub async fn run_typing(
    dir: &Path,
    yaml: &str,
    router: Router,
    run_id: &str,
    vars: &[(&str, &str)],
    rollback: bool,
    typed: &[(&str, &str)],
) -> Finished {
    let spec = super::spec_as(dir, yaml, vars, false, run_id);
    let at_failure = if rollback {
        Choice::Rollback
    } else {
        Choice::Abort
    };
    run_spec(spec, router, at_failure, typed).await
}

/// [`run_as`] as a rehearsal (`RunSpec::rehearsal`), or a resume of run `run_id` when `resume`
/// (with `RunSpec::rehearsal` false: the journal says what the run was), retrying once at the
/// first failure gate.
#[allow(dead_code)]
pub async fn rehearse_as(
    dir: &Path,
    yaml: &str,
    target: Arc<PinnedCluster>,
    run_id: &str,
    vars: &[(&str, &str)],
    resume: bool,
) -> Finished {
    let mut spec = super::spec_as(dir, yaml, vars, resume, run_id);
    spec.rehearsal = !resume;
    let mut router = Router::shell_only();
    router.kube = Some(Arc::new(KubeExec { target }));
    run_spec(spec, router, Choice::Retry, &[]).await
}

/// Runs `spec` headless with the executors of `router`, approving every gate; at the first
/// failure gate that offers `at_failure` it is chosen (once, when it is Retry), else Abort.
pub async fn run_spec(
    spec: tollgate::engine::RunSpec,
    router: Router,
    at_failure: Choice,
    typed: &[(&str, &str)],
) -> Finished {
    let mut retried = false;
    let jpath = spec.journal.path().to_path_buf();
    let (ev_tx, mut events) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let engine = Engine::new(spec, Arc::new(router), ev_tx, cmd_rx);
    let handle = tokio::spawn(engine.run());
    let mut seen = Vec::new();
    let mut output = String::new();
    let drive = async {
        while let Some(ev) = events.recv().await {
            match &ev {
                Event::GateReached(g) => {
                    let choice = match g.kind {
                        GateKind::Failed
                            if g.choices.contains(&at_failure)
                                && !(at_failure == Choice::Retry && retried) =>
                        {
                            retried = true;
                            at_failure
                        }
                        GateKind::Failed => Choice::Abort,
                        _ => Choice::Approve,
                    };
                    let _ = cmd_tx
                        .send(Command::Decide(Decision {
                            gate: g.id.clone(),
                            choice,
                            who: "tester@host".into(),
                            via: "test".into(),
                            note: None,
                            typed: g.confirm.clone(),
                            checklist: vec![true; g.checklist.len()],
                        }))
                        .await;
                }
                Event::ValueRequested(req) => {
                    let value = typed
                        .iter()
                        .find(|(step, _)| *step == req.step)
                        .map(|(_, v)| Secret(v.to_string()))
                        .ok_or_else(|| "the test types nothing here".to_string());
                    let _ = cmd_tx
                        .send(Command::Value {
                            step: req.step.clone(),
                            value,
                        })
                        .await;
                }
                Event::Output { text, .. } => output.push_str(text),
                _ => {}
            }
            seen.push(ev);
        }
    };
    tokio::time::timeout(DEADLINE, drive)
        .await
        .expect("the run ends within the deadline");
    let outcome = handle.await.unwrap().unwrap();
    let journal_text = std::fs::read_to_string(&jpath).unwrap_or_default();
    // Read, not opened for writing: a step's child of another test, forked at the moment the
    // engine closed the journal, can hold its lock until it execs.
    let (lines, _) = journal::read_lines(&jpath).unwrap();
    Finished {
        events: seen,
        outcome,
        records: lines.into_iter().map(|l| l.record).collect(),
        output,
        journal: journal_text,
    }
}
