//! `run`, `resume` and `demo`: the runbook loaded, its variables resolved, the journal opened,
//! the engine started and shown (in the interface or headless), and the exit code from how the
//! run ended.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::args::GateFlags;
use super::exit;
use super::interface;
use super::load::{env_lookup, load_usable};
use super::wiring::{check_ids, executor, pin_aws, pin_cluster};
use crate::engine::journal::{self, Journal, Replay};
use crate::engine::survivors;
use crate::engine::variables;
use crate::engine::{self, Command, Engine, Event, Outcome, Rehearsing, RunSpec, RunStatus};
use crate::exec::Router;
use crate::headless::{self, Approvals, Printer};
use crate::rehearsal::decisions::Decisions;
use crate::runbook;
use crate::target::{PinnedAccount, PinnedCluster};
use crate::ui;

/// The built-in demo, rehearsed: the runbook, the cluster it starts from, the folder it builds.
const DEMO: &[(&str, &str)] = &[
    (
        "first-deploy.yaml",
        include_str!("../../runbooks/demo/first-deploy.yaml"),
    ),
    (
        "cluster.yaml",
        include_str!("../../runbooks/demo/cluster.yaml"),
    ),
    (
        "app/Dockerfile",
        include_str!("../../runbooks/demo/app/Dockerfile"),
    ),
    (
        "app/serve.sh",
        include_str!("../../runbooks/demo/app/serve.sh"),
    ),
];

/// The fault the demo injects, on purpose: the second release's new pods crash-loop, so its
/// rollout fails and is rolled back.
pub(super) const DEMO_INJECT: &str = "crashloop=web@set-image-next";

/// The built-in demo's files written to the state folder (`STATE/demo/`), to be rehearsed from
/// there against the sandbox and the stand-ins, with [`DEMO_INJECT`]; the runbook's path, or the
/// exit code when they cannot be written.
pub(super) fn demo(state_dir: &Path) -> Result<PathBuf, i32> {
    let dir = state_dir.join("demo");
    let written = DEMO.iter().try_for_each(|(name, text)| {
        let path = dir.join(name);
        journal::create_private_dir(path.parent().unwrap_or(&dir))?;
        journal::write_private(&path, text)
    });
    match written {
        Ok(()) => Ok(dir.join(DEMO[0].0)),
        Err(e) => {
            eprintln!(
                "tollgate: cannot write the demo runbook to {}: {e}",
                dir.display()
            );
            Err(exit::STATE)
        }
    }
}

pub(super) fn run(
    state_dir: &Path,
    file: &Path,
    overrides: &[(String, String)],
    gates: GateFlags,
) -> i32 {
    let loaded = match load_usable(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = check_ids(&loaded.runbook, &gates, None) {
        eprintln!("tollgate: {e}");
        return exit::USAGE;
    }
    let prompt: &dyn Fn(&str, &runbook::Variable) -> Option<String> = &prompt_var;
    let vars = match variables::resolve(
        &loaded.runbook,
        overrides,
        &gates.var_file,
        &env_lookup,
        Some(prompt),
    ) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::USAGE;
        }
    };
    let _guard = crate::logging::init(state_dir);
    let run_id = engine::new_run_id();
    let path = journal::journal_path(state_dir, &run_id);
    let journal = match Journal::open(&path, &run_id) {
        Ok((j, _)) => j,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::STATE;
        }
    };
    let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let spec = RunSpec {
        runbook: Arc::new(loaded.runbook),
        runbook_path: abs,
        digest: loaded.digest,
        run_id,
        vars,
        journal,
        replay: None,
        who: variables::who(),
        rehearsal: false,
    };
    execute(spec, &gates)
}

pub(super) fn resume(state_dir: &Path, run_id: Option<String>, gates: GateFlags) -> i32 {
    let run_id = match run_id {
        Some(id) => id,
        None => {
            // The latest run not known to have succeeded: one whose journal cannot be read is
            // named with the reason, never passed over for an older one.
            // Rehearsals are rehearsed again, never resumed.
            let latest = journal::list_runs(state_dir).into_iter().find(|(_, r)| {
                r.as_ref().map_or(true, |r| {
                    r.status != Some(RunStatus::Succeeded) && !r.rehearsal
                })
            });
            match latest {
                Some((id, Ok(_))) => id,
                Some((id, Err(e))) => {
                    eprintln!("tollgate: the latest unfinished run, {id}, cannot be resumed: {e}");
                    return exit::STATE;
                }
                None => {
                    eprintln!("tollgate: no unfinished run in {}", state_dir.display());
                    return exit::STATE;
                }
            }
        }
    };
    let path = journal::journal_path(state_dir, &run_id);
    if !path.is_file() {
        eprintln!("tollgate: no run `{run_id}` in {}", state_dir.display());
        return exit::STATE;
    }
    let (journal, lines) = match Journal::open(&path, &run_id) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::STATE;
        }
    };
    // Nothing acts on a journal that tollgate could not have written.
    if let Err(e) = journal::checked(&path, &lines) {
        eprintln!("tollgate: {e}");
        return exit::STATE;
    }
    let replay = Replay::from_lines(&lines);
    if replay.run_id.is_empty() {
        eprintln!("tollgate: run `{run_id}` never started; start it again with `tollgate run`");
        return exit::STATE;
    }
    if replay.rehearsal {
        eprintln!(
            "tollgate: run {run_id} was a rehearsal, and its stand-ins ended with it; rehearse again with: tollgate rehearse {}",
            replay.runbook
        );
        return exit::USAGE;
    }
    if replay.status == Some(RunStatus::Succeeded) {
        println!("run {run_id} already succeeded; nothing to resume");
        return exit::OK;
    }
    if let Some(line) = survivors_refused(&replay, &gates) {
        eprintln!("tollgate: {line}");
        return exit::STATE;
    }
    let file = PathBuf::from(&replay.runbook);
    let loaded = match load_usable(&file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = check_ids(&loaded.runbook, &gates, Some(&replay)) {
        eprintln!("tollgate: {e}");
        return exit::USAGE;
    }
    if let Err(e) = replay.same_runbook(&path, &file, &loaded.digest, gates.accept_changed_runbook)
    {
        eprintln!("tollgate: {e}");
        return exit::STATE;
    }
    let overrides: Vec<(String, String)> = replay
        .vars
        .iter()
        .filter(|(k, _)| loaded.runbook.variables.get(*k).is_some_and(|v| !v.secret))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let prompt: &dyn Fn(&str, &runbook::Variable) -> Option<String> = &prompt_var;
    let vars = match variables::resolve(
        &loaded.runbook,
        &overrides,
        &gates.var_file,
        &env_lookup,
        Some(prompt),
    ) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::USAGE;
        }
    };
    let _guard = crate::logging::init(state_dir);
    let spec = RunSpec {
        runbook: Arc::new(loaded.runbook),
        runbook_path: file,
        digest: loaded.digest,
        run_id,
        vars,
        journal,
        replay: Some(replay),
        who: variables::who(),
        rehearsal: false,
    };
    execute(spec, &gates)
}

/// Why a headless resume may not go on: an interrupted step's processes still run and neither
/// `--kill-survivors` nor `--wait` says what to do about them (the interface asks instead).
fn survivors_refused(replay: &Replay, gates: &GateFlags) -> Option<String> {
    if gates.kill_survivors || gates.wait_survivors || !headless_view(gates) {
        return None;
    }
    let found: Vec<String> = replay
        .steps
        .iter()
        .filter(|(_, s)| **s == engine::StepStatus::Interrupted)
        .filter_map(|(id, _)| {
            let found = survivors::still_running(replay.processes.get(id)?);
            (!found.is_empty()).then(|| format!("{id}: {}", survivors::describe(&found)))
        })
        .collect();
    (!found.is_empty()).then(|| {
        format!(
            "interrupted step still running ({}); resume with --kill-survivors or --wait",
            found.join("; ")
        )
    })
}

/// Whether the run is shown as plain lines (no terminal, or `--headless`).
pub(super) fn headless_view(gates: &GateFlags) -> bool {
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    !terminal || gates.headless
}

/// Asks for a variable on the terminal; secrets without echo.
pub(super) fn prompt_var(name: &str, var: &runbook::Variable) -> Option<String> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let mut err = std::io::stderr();
    let hint = var
        .default
        .as_ref()
        .filter(|_| !var.secret)
        .map(|d| format!(" [{}]", d.value))
        .unwrap_or_default();
    let desc = if var.description.is_empty() {
        String::new()
    } else {
        format!(" ({})", var.description)
    };
    let _ = write!(err, "{name}{desc}{hint}: ");
    let _ = err.flush();
    let line = if var.secret {
        headless::read_hidden()
    } else {
        let mut s = String::new();
        std::io::stdin().read_line(&mut s).ok().map(|_| s)
    }?;
    let line = line.trim_end_matches(['\n', '\r']).to_string();
    if line.is_empty() {
        return var.default.as_ref().map(|d| d.value.clone());
    }
    Some(line)
}

/// What a run is wired to beyond its spec and flags: its targets and executor (read from the
/// runbook for `run` and `resume`, the stand-ins' for `rehearse`), and a rehearsal's parts.
pub(super) struct Wiring {
    pub cluster: Option<Arc<PinnedCluster>>,
    pub aws: Option<Arc<PinnedAccount>>,
    pub router: Router,
    pub rehearsal: Option<Rehearsal>,
}

/// A rehearsal's part of a run: what the engine injects and skips, and what the views say.
pub(super) struct Rehearsal {
    pub rehearsing: Rehearsing,
    /// What the interface says (the banner's mark, the help's `export KUBECONFIG`).
    pub shown: ui::Rehearsal,
    /// Where the sandbox is, and each stand-in (name, address), for headless's first lines.
    pub cluster_url: String,
    pub standins: Vec<(String, String)>,
    /// The decisions file: gates decided, prompts answered, the rehearsal headless.
    pub decisions: Option<Decisions>,
}

impl Wiring {
    /// The runbook's own targets (`--context` overriding its cluster), against the real world.
    fn of(runbook: &runbook::Runbook, gates: &GateFlags) -> Wiring {
        let cluster = pin_cluster(runbook, gates.context.as_deref());
        let aws = pin_aws(runbook);
        let router = executor(&cluster, &aws);
        Wiring {
            cluster,
            aws,
            router,
            rehearsal: None,
        }
    }
}

/// How a run ended: its exit code, and the outcome when the engine got that far.
pub(super) struct Ended {
    pub code: i32,
    pub outcome: Option<Outcome>,
}

/// Runs the engine, shown in the interface on a terminal, or headless.
fn execute(spec: RunSpec, gates: &GateFlags) -> i32 {
    let wiring = Wiring::of(&spec.runbook, gates);
    let rt = runtime();
    let ended = execute_on(&rt, spec, gates, wiring);
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    ended.code
}

/// [`execute`] with its wiring, on a runtime the caller made (and shuts down).
pub(super) fn execute_on(
    rt: &tokio::runtime::Runtime,
    spec: RunSpec,
    gates: &GateFlags,
    wiring: Wiring,
) -> Ended {
    let scripted = wiring
        .rehearsal
        .as_ref()
        .is_some_and(|r| r.decisions.is_some());
    if !scripted && !headless_view(gates) {
        return execute_interface(rt, spec, gates, wiring);
    }
    execute_headless(rt, spec, gates, wiring)
}

/// Runs the engine shown in the terminal interface.
fn execute_interface(
    rt: &tokio::runtime::Runtime,
    spec: RunSpec,
    gates: &GateFlags,
    wiring: Wiring,
) -> Ended {
    let theme = match interface::theme(&gates.theme) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return Ended {
                code: exit::USAGE,
                outcome: None,
            };
        }
    };
    let run_id = spec.run_id.clone();
    let Wiring {
        cluster,
        aws,
        router,
        rehearsal,
    } = wiring;
    let mut config = interface::config(
        &spec,
        theme,
        gates.scrollback,
        cluster.as_deref(),
        aws.is_some(),
        approvals(gates, &spec.who, rehearsal.as_ref()),
    );
    config.rehearsal = rehearsal.as_ref().map(|r| r.shown.clone());
    let rehearsed = rehearsal.is_some();
    let rehearsing = rehearsal.map(|r| r.rehearsing);
    rt.block_on(async move {
        let (handle, events, commands) = start_engine(spec, router, gates, rehearsing);
        let channels = ui::Channels { events, commands };
        let shown = interface::show(config, channels, cluster.as_ref(), aws.as_ref()).await;
        // With the interface gone, the engine pauses at the next gate (or finishes an abort).
        let result = handle.await;
        if let Err(e) = shown {
            eprintln!("tollgate: the interface failed: {e}");
        }
        conclude(result, &run_id, true, rehearsed)
    })
}

/// Runs the engine with plain line output: gates decided by the flags (or a rehearsal's
/// script), or asked on the terminal.
fn execute_headless(
    rt: &tokio::runtime::Runtime,
    spec: RunSpec,
    gates: &GateFlags,
    wiring: Wiring,
) -> Ended {
    let run_id = spec.run_id.clone();
    let Wiring {
        cluster,
        aws,
        router,
        rehearsal,
    } = wiring;
    let approvals = approvals(gates, &spec.who, rehearsal.as_ref());
    rt.block_on(async move {
        let mut printer = Printer::new(std::io::stdout())
            .raw(gates.raw_output)
            .rehearsal(rehearsal.is_some());
        if let Some(r) = &rehearsal {
            let standins: Vec<(&str, &str)> = r
                .standins
                .iter()
                .map(|(n, a)| (n.as_str(), a.as_str()))
                .collect();
            let _ = printer.rehearsal_opening(&r.cluster_url, &r.shown.kubeconfig, &standins);
        }
        if let Some(t) = &cluster {
            let note = match t.pin() {
                Ok(_) => format!("kube context {}", t.describe()),
                // Maybe an early step creates it: kube steps say so again when they run.
                Err(e) => format!("kube context not pinned yet: {e}"),
            };
            let _ = printer.event(&Event::Note(note));
        }
        if let Some(t) = &aws {
            let note = match t.checked().await {
                Ok((_, p)) => format!("aws account {} region {}", p.account, p.region),
                // AWS steps check again, and say so, when they run.
                Err(e) => format!("aws account not pinned yet: {e}"),
            };
            let _ = printer.event(&Event::Note(note));
        }
        let rehearsed = rehearsal.is_some();
        let rehearsing = rehearsal.map(|r| r.rehearsing);
        let (handle, ev_rx, cmd_tx) = start_engine(spec, router, gates, rehearsing);
        let mut drove = headless::drive(ev_rx, cmd_tx, approvals, &mut printer).await;
        if drove.is_ok() && std::io::stdout().is_terminal() {
            drove = printer.restore_terminal();
        }
        let result = handle.await;
        if let Err(e) = drove {
            eprintln!("tollgate: writing output: {e}");
        }
        conclude(result, &run_id, false, rehearsed)
    })
}

/// How a headless run's gates are decided: by the flags, else asked when there is a terminal.
fn approvals(gates: &GateFlags, who: &str, rehearsal: Option<&Rehearsal>) -> Approvals {
    let mut a = Approvals {
        approve: gates
            .approve
            .iter()
            .map(|a| headless::approval(a))
            .collect(),
        approve_all: gates.approve_all,
        rerun: gates.rerun.clone(),
        mark_done: gates.mark_done.clone(),
        kill_survivors: gates.kill_survivors,
        wait_survivors: gates.wait_survivors,
        interactive: std::io::stdin().is_terminal(),
        who: who.to_string(),
        ..Default::default()
    };
    if let Some(d) = rehearsal.and_then(|r| r.decisions.as_ref()) {
        d.apply(&mut a);
        // A scripted rehearsal asks nobody: a gate its script does not name pauses the run.
        a.interactive = false;
    }
    a
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

type EngineTask = tokio::task::JoinHandle<Result<Outcome, engine::EngineError>>;

/// Starts the engine; a view consumes its events and sends it commands.
fn start_engine(
    spec: RunSpec,
    executor: Router,
    gates: &GateFlags,
    rehearsing: Option<Rehearsing>,
) -> (EngineTask, mpsc::Receiver<Event>, mpsc::Sender<Command>) {
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let mut engine = Engine::new(spec, Arc::new(executor), ev_tx, cmd_rx)
        .skipping(gates.skip.iter().cloned(), "--skip");
    if gates.accept_changed_runbook {
        engine = engine.accepting_changed_runbook("--accept-changed-runbook");
    }
    if let Some(r) = rehearsing {
        engine = engine.rehearsing(r);
    }
    (tokio::spawn(engine.run()), ev_rx, cmd_tx)
}

/// Says how the run ended and returns the exit code. After the interface has gone, the
/// outcome is also printed, since the screen that showed it is no longer there.
fn conclude(
    result: Result<Result<Outcome, engine::EngineError>, tokio::task::JoinError>,
    run_id: &str,
    interface: bool,
    rehearsal: bool,
) -> Ended {
    let failed = |code| Ended {
        code,
        outcome: None,
    };
    match result {
        Ok(Ok(outcome)) => {
            match &outcome {
                Outcome::Paused(reason) => eprintln!("tollgate: run {run_id} paused: {reason}"),
                Outcome::Finished(s) if interface => {
                    println!("run {run_id}: {}", s.word());
                }
                Outcome::Finished(_) => {}
            }
            // A rehearsal's stand-ins end with it: it is rehearsed again, not resumed.
            if !rehearsal && !matches!(outcome, Outcome::Finished(RunStatus::Succeeded)) {
                eprintln!("tollgate: resume with: tollgate resume {run_id}");
            }
            Ended {
                code: exit_for(&outcome),
                outcome: Some(outcome),
            }
        }
        Ok(Err(e)) => {
            eprintln!("tollgate: {e}");
            failed(exit::STATE)
        }
        Err(e) => {
            eprintln!("tollgate: the engine stopped unexpectedly: {e}");
            failed(exit::STATE)
        }
    }
}

/// The exit code of how a run ended.
fn exit_for(outcome: &Outcome) -> i32 {
    match outcome {
        Outcome::Finished(RunStatus::Succeeded) => exit::OK,
        Outcome::Finished(RunStatus::Failed | RunStatus::RolledBack) => exit::FAILED,
        Outcome::Finished(RunStatus::Aborted | RunStatus::Rejected) => exit::ABORTED,
        Outcome::Paused(_) => exit::PAUSED,
    }
}
