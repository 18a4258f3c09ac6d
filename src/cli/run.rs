//! `run`, `resume` and `demo`: the runbook loaded, its variables resolved, the journal opened,
//! the engine started and shown (in the interface or headless), and the exit code from how the
//! run ended.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::args::GateFlags;
use super::exit;
use super::follow::{self, Following};
use super::interface;
use super::load::{env_lookup, load_usable};
use super::wiring::{check_ids, executor, pin_aws, pin_cluster};
use crate::engine::journal::{self, Journal, Replay};
use crate::engine::survivors;
use crate::engine::variables;
use crate::engine::{self, Command, Engine, Event, Outcome, Rehearsing, RunSpec, RunStatus};
use crate::exec::Router;
use crate::headless::{self, Approvals, Printer};
use crate::notify::{self, Notifier};
use crate::record::tap::Recorder;
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
    let checked = if gates.follow_failure_runbook {
        check_ids(
            &follow::with_linked(&loaded.runbook, &loaded.dir()),
            &gates,
            None,
        )
    } else {
        check_ids(&loaded.runbook, &gates, None)
    };
    if let Err(e) = checked {
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
    start(state_dir, file, loaded, vars, &gates)
}

/// Starts a new run of a loaded runbook with its variables resolved (by `run`, or by the
/// launcher's form), shown in the interface on a terminal, or headless.
pub(super) fn start(
    state_dir: &Path,
    file: &Path,
    loaded: runbook::Loaded,
    vars: variables::Vars,
    gates: &GateFlags,
) -> i32 {
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
    execute(spec, gates)
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
    // Nothing acts on a journal that tollgate could not have written, nor on records the audit
    // log does not hold as they are (a record added with its chain computed, the last one edited).
    if let Err(e) =
        journal::checked(&path, &lines).and_then(|()| journal::audited(&path, &run_id, &lines))
    {
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
        say(
            &gates,
            &format!("run {run_id} already succeeded; nothing to resume"),
        );
        return exit::OK;
    }
    if let Some(line) = survivors_refused(&replay, &gates) {
        eprintln!("tollgate: {line}");
        return exit::STATE;
    }
    let file = PathBuf::from(&replay.runbook);
    let mut loaded = match load_usable(&file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    // A run that follows a failed one keeps the targets it carried from it.
    if let Some(c) = &replay.carried {
        c.apply(&mut loaded.runbook.targets);
    }
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

/// A line for the person at the terminal: on standard output, unless the event stream goes
/// there (`--events -`).
pub(super) fn say(gates: &GateFlags, line: &str) {
    if gates.events_out.as_ref().is_some_and(|e| e.is_stdout()) {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
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
    let hint = variables::default_of(var, "")
        .filter(|_| !var.secret)
        .map(|d| format!(" [{d}]"))
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
        return variables::default_of(var, "");
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
    /// The run follows a failed one (its `on_failure: {runbook: …}`).
    pub following: Option<Following>,
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
    /// The runbook's own targets (`context`, from `--context`, overriding its cluster), against
    /// the real world.
    fn of_context(runbook: &runbook::Runbook, context: Option<&str>) -> Wiring {
        let cluster = pin_cluster(runbook, context);
        let aws = pin_aws(runbook);
        let router = executor(&cluster, &aws);
        Wiring {
            cluster,
            aws,
            router,
            rehearsal: None,
            following: None,
        }
    }
}

/// How a run ended: its exit code, and the outcome when the engine got that far.
pub(super) struct Ended {
    pub code: i32,
    pub outcome: Option<Outcome>,
    /// The failed run is to be followed by the runbook its failure path leads to (its name in
    /// `links`): chosen in the interface (`o`), or by `--follow-failure-runbook`.
    pub follow: Option<String>,
}

impl Ended {
    /// A run refused before it started: `line` said on standard error, the usage exit code.
    fn refused(line: impl std::fmt::Display) -> Ended {
        eprintln!("tollgate: {line}");
        Ended {
            code: exit::USAGE,
            outcome: None,
            follow: None,
        }
    }

    /// The exit code of a run and the one that followed it: the failed run's, unless the
    /// followed run did not succeed (then its own: it failed, paused, was aborted).
    pub fn then(self, next: Ended) -> Ended {
        if next.code == exit::OK {
            Ended {
                follow: None,
                ..self
            }
        } else {
            next
        }
    }
}

/// Runs the engine, shown in the interface on a terminal, or headless; then, when the run
/// failed and is to be followed, the runbook its failure path leads to, and so on.
fn execute(spec: RunSpec, gates: &GateFlags) -> i32 {
    let rt = if headless_view(gates) {
        headless_runtime()
    } else {
        runtime()
    };
    let mut spec = spec;
    let mut following: Option<Following> = None;
    let mut total: Option<Ended> = None;
    loop {
        // A followed run's runbook already holds the targets carried from the failed one.
        let context = if following.is_some() {
            None
        } else {
            gates.context.as_deref()
        };
        let prev = follow::Prev::of(&spec, context);
        let mut wiring = Wiring::of_context(&spec.runbook, context);
        wiring.following = following.take();
        let ended = execute_on(&rt, spec, gates, wiring);
        let name = ended.follow.clone();
        let sofar = match total.take() {
            Some(t) => t.then(ended),
            None => ended,
        };
        let Some(name) = name else {
            total = Some(sofar);
            break;
        };
        match next_run(&prev, &name, gates) {
            Ok((next, f)) => {
                say(gates, &follow::opening(&prev, &next, &f, &name));
                spec = next;
                following = Some(f);
                total = Some(sofar);
            }
            Err(line) => {
                if let Some(l) = line {
                    eprintln!("tollgate: {l}");
                }
                total = Some(Ended {
                    code: exit::USAGE,
                    ..sofar
                });
                break;
            }
        }
    }
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    total.map_or(exit::STATE, |t| t.code)
}

/// The run that follows failed run `prev` with the runbook `name` of its `links`: variables
/// carried or resolved as `run` resolves them (`--var-file` for the ones it declares, the
/// environment, prompts).
fn next_run(
    prev: &follow::Prev,
    name: &str,
    gates: &GateFlags,
) -> Result<(RunSpec, Following), Option<String>> {
    let linked = follow::linked(prev, name)?;
    let overrides = follow::carried_vars(prev, &linked.runbook);
    let files: Vec<(String, PathBuf)> = gates
        .var_file
        .iter()
        .filter(|(k, _)| linked.runbook.variables.contains_key(k))
        .cloned()
        .collect();
    let prompt: &dyn Fn(&str, &runbook::Variable) -> Option<String> = &prompt_var;
    let vars = variables::resolve(
        &linked.runbook,
        &overrides,
        &files,
        &env_lookup,
        Some(prompt),
    )
    .map_err(|e| Some(format!("runbook `{name}`: {e}")))?;
    let runbook = linked.runbook.clone();
    follow::start(prev, linked, runbook, vars).map_err(Some)
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
    if let Some(g) = &gates.share_group
        && crate::share::peer::group_id(g).is_none()
    {
        return Ended::refused(format_args!("--share-group {g}: no such group"));
    }
    if let Some(a) = &gates.listen
        && a.parse::<std::net::SocketAddr>().is_err()
    {
        return Ended::refused(format_args!(
            "--listen {a}: not an address (IP:PORT, e.g. 127.0.0.1:7420)"
        ));
    }
    let notifier = match notifier(&spec) {
        Ok(n) => n,
        Err(line) => return Ended::refused(line),
    };
    // The interface's theme, when the run is shown in it: checked before anything is made.
    let theme = if !scripted && !headless_view(gates) {
        if gates.events_out.as_ref().is_some_and(|e| e.is_stdout()) {
            return Ended::refused(
                "--events - writes to standard output, where the interface draws; name a file, or add --headless",
            );
        }
        match interface::theme(&gates.theme) {
            Ok(t) => Some(t),
            Err(e) => return Ended::refused(e),
        }
    } else {
        None
    };
    let cast = match interface::recording(gates.record.as_deref(), &spec.runbook.name.value) {
        Ok(c) => c,
        Err(line) => return Ended::refused(line),
    };
    match theme {
        Some(theme) => execute_interface(rt, spec, gates, wiring, notifier, theme, cast),
        None => execute_headless(rt, spec, gates, wiring, notifier, cast),
    }
}

/// Who the run tells of its gates, failures and end: the runbook's `notify:` over the user's
/// config file; none when neither says. One line when either is refused.
fn notifier(spec: &RunSpec) -> Result<Option<Notifier>, String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = match notify::config_path(|k| std::env::var_os(k), home) {
        Some(p) => notify::read_config(&p)?,
        None => None,
    };
    let settings = notify::settings(
        &spec.runbook,
        file.as_ref(),
        |name| spec.vars.get(name).map(|v| v.value.clone()),
        spec.rehearsal,
    )?;
    if settings.is_empty() {
        return Ok(None);
    }
    Ok(Some(Notifier {
        settings,
        run: notify::RunInfo {
            run_id: spec.run_id.clone(),
            runbook: spec.runbook.name.value.clone(),
            driver: spec.who.clone(),
            rehearsal: spec.rehearsal,
        },
    }))
}

/// Runs the engine shown in the terminal interface.
fn execute_interface(
    rt: &tokio::runtime::Runtime,
    spec: RunSpec,
    gates: &GateFlags,
    wiring: Wiring,
    notifier: Option<Notifier>,
    theme: crate::ui::theme::Theme,
    cast: Option<crate::record::cast::Cast>,
) -> Ended {
    let run_id = spec.run_id.clone();
    let Wiring {
        cluster,
        aws,
        router,
        rehearsal,
        following,
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
    // `{{ from_run }}` in what the interface draws, as the engine fills it.
    let from_run = following
        .as_ref()
        .map(|f| f.from_run.clone())
        .or_else(|| spec.replay.as_ref().and_then(|r| r.from_run.clone()))
        .unwrap_or_default();
    config.vars.set("from_run", from_run, false);
    let rehearsed = rehearsal.is_some();
    let rehearsing = rehearsal.map(|r| r.rehearsing);
    rt.block_on(async move {
        let (handle, events, commands, taps) =
            start_engine(spec, router, gates, rehearsing, following, notifier, false);
        let channels = ui::Channels { events, commands };
        let shown = interface::show(
            config,
            channels,
            cluster.as_ref(),
            aws.as_ref(),
            cast.clone(),
        )
        .await;
        if let Some(why) = cast.as_ref().and_then(|c| c.failure()) {
            eprintln!("tollgate: the recording stopped early: {why}");
        }
        // With the interface gone, the engine pauses at the next gate (or finishes an abort).
        let result = handle.await;
        taps.finish().await;
        let follow = match shown {
            Err(e) => {
                eprintln!("tollgate: the interface failed: {e}");
                None
            }
            Ok(ui::Exit::Follow(name)) => Some(name),
            Ok(_) => None,
        };
        let mut ended = conclude(result, &run_id, true, rehearsed);
        ended.follow = follow.filter(|_| failed(ended.outcome.as_ref()));
        ended
    })
}

/// Runs the engine with plain line output: gates decided by the flags (or a rehearsal's
/// script), or asked on the terminal.
fn execute_headless(
    rt: &tokio::runtime::Runtime,
    spec: RunSpec,
    gates: &GateFlags,
    wiring: Wiring,
    notifier: Option<Notifier>,
    cast: Option<crate::record::cast::Cast>,
) -> Ended {
    let run_id = spec.run_id.clone();
    let Wiring {
        cluster,
        aws,
        router,
        rehearsal,
        following,
    } = wiring;
    let approvals = approvals(gates, &spec.who, rehearsal.as_ref());
    rt.block_on(async move {
        // With the event stream on standard output, the plain lines go to standard error.
        let events_stdout = gates.events_out.as_ref().is_some_and(|e| e.is_stdout());
        let out: Box<dyn std::io::Write> = if events_stdout {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        let mut printer = Printer::new(crate::record::cast::Tee::new(out, cast.clone()))
            .recording(cast)
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
        let (handle, ev_rx, cmd_tx, taps) =
            start_engine(spec, router, gates, rehearsing, following, notifier, true);
        let mut drove = headless::drive(ev_rx, cmd_tx, approvals, &mut printer).await;
        taps.finish().await;
        let terminal = if events_stdout {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        if drove.is_ok() && terminal {
            drove = printer.restore_terminal();
        }
        let result = handle.await;
        if let Err(e) = drove {
            eprintln!("tollgate: writing output: {e}");
        }
        let mut ended = conclude(result, &run_id, false, rehearsed);
        // Without the flag the command to type was printed, as the failure path says it.
        ended.follow = printer
            .follow()
            .filter(|_| gates.follow_failure_runbook && failed(ended.outcome.as_ref()))
            .map(str::to_string);
        ended
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

/// The runtime of the interface, a rehearsal (its sandbox and stand-ins run in it) and a
/// follower: two workers.
pub(super) fn runtime() -> tokio::runtime::Runtime {
    runtime_with(2)
}

/// The runtime of a headless run: one worker. The view is the main thread (it prints), the
/// kept output has a thread of its own, and what is left (the engine, a step's pipes, the
/// taps) is a chain of tasks each handing the next an event: on one worker a hand-over is a
/// queue push, on two it wakes the other worker, which on a busy machine costs more than the
/// work it hands over (fewer cross-thread wake-ups: BENCHMARKS.md, headless output).
fn headless_runtime() -> tokio::runtime::Runtime {
    runtime_with(1)
}

fn runtime_with(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

type EngineTask = tokio::task::JoinHandle<Result<Outcome, engine::EngineError>>;

/// How long the share tap and the notifier may go on once the view has every event: the
/// share tap's followers told the run ended, the notifier's last POST answered.
const SHARE_GRACE: Duration = Duration::from_secs(5);
const TELL_GRACE: Duration = notify::POST_TIMEOUT.saturating_add(Duration::from_secs(1));

/// The taps on the engine's events, running on the runtime's workers beside the engine and the
/// step's pipes (the view's thread draws or prints: in a headless run that printer is the
/// slowest stage of a step's output, BENCHMARKS.md, headless output); to wait for once the run
/// has ended.
pub(super) struct Taps {
    /// The record tap: the run's output kept, the event stream written.
    recorded: tokio::task::JoinHandle<()>,
    /// The share tap: its followers told the run ended, its socket removed.
    shared: Option<tokio::task::JoinHandle<()>>,
    /// The notifier, telling the run's last messages.
    told: Option<tokio::task::JoinHandle<()>>,
}

impl Taps {
    /// Waits until what the run printed is kept and its events written, and its last messages
    /// told (each POST bounded by its timeout).
    pub(super) async fn finish(self) {
        let _ = self.recorded.await;
        if let Some(s) = self.shared {
            let _ = tokio::time::timeout(SHARE_GRACE, s).await;
        }
        if let Some(t) = self.told {
            let _ = tokio::time::timeout(TELL_GRACE, t).await;
        }
    }
}

/// Starts the engine; a view consumes its events and sends it commands. The events pass through
/// the record tap (output kept, `--events` written), the share tap (followers in other
/// terminals, `tollgate follow`), then the notifier when there is one, on their way to the view;
/// the view's commands through the share tap.
fn start_engine(
    spec: RunSpec,
    executor: Router,
    gates: &GateFlags,
    rehearsing: Option<Rehearsing>,
    following: Option<Following>,
    notifier: Option<Notifier>,
    headless: bool,
) -> (
    EngineTask,
    mpsc::Receiver<Event>,
    mpsc::Sender<Command>,
    Taps,
) {
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let recorder = Recorder {
        run_dir: spec
            .journal
            .path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        events: gates.events_out.clone(),
    };
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let share = share_options(&spec, gates, headless).and_then(|o| {
        crate::share::bind(o)
            .map_err(|e| {
                eprintln!("tollgate: the run cannot be followed from other terminals: {e}")
            })
            .ok()
    });
    // The token is shown here, once: never journaled, recorded or sent as an event.
    if let Some((addr, token)) = share.as_ref().and_then(|b| b.listening()) {
        eprintln!(
            "tollgate: followers may watch over TCP at {addr} with this token, shown only now: TOLLGATE_FOLLOW_TOKEN={token} tollgate follow --connect {addr}"
        );
    }
    let mut engine = Engine::new(spec, Arc::new(executor), ev_tx, cmd_rx)
        .skipping(gates.skip.iter().cloned(), "--skip");
    if gates.accept_changed_runbook {
        engine = engine.accepting_changed_runbook("--accept-changed-runbook");
    }
    if let Some(r) = rehearsing {
        engine = engine.rehearsing(r);
    }
    if let Some(f) = following {
        engine = engine.following(&f.from_run, f.carried);
    }
    let handle = tokio::spawn(engine.run());
    let (ev_rx, recorded) = recorder.tap(ev_rx);
    let (ev_rx, cmd_tx, shared) = match share {
        Some(b) => {
            let s = crate::share::start(b, ev_rx, cmd_tx);
            (s.events, s.commands, Some(s.task))
        }
        None => (ev_rx, cmd_tx, None),
    };
    let (ev_rx, told) = match notifier {
        Some(n) => {
            let (ev_rx, told) = n.tap(ev_rx);
            (ev_rx, Some(told))
        }
        None => (ev_rx, None),
    };
    (
        handle,
        ev_rx,
        cmd_tx,
        Taps {
            recorded: tokio::spawn(recorded),
            shared: shared.map(tokio::spawn),
            told,
        },
    )
}

/// What the share tap serves for a run: its socket in the run's folder, the `hello` followers
/// read; `None` when the run's folder is unknown.
fn share_options(
    spec: &RunSpec,
    gates: &GateFlags,
    headless: bool,
) -> Option<crate::share::Options> {
    let dir = spec.journal.path().parent()?.to_path_buf();
    let runbook = std::fs::read_to_string(&spec.runbook_path).unwrap_or_default();
    let hello = crate::share::wire::Hello {
        run_id: spec.run_id.clone(),
        runbook_path: spec.runbook_path.display().to_string(),
        runbook,
        digest: spec.digest.clone(),
        vars: spec.vars.public(),
        driver: spec.who.clone(),
        you: String::new(),
        theme: gates.theme.clone(),
    };
    let group = gates
        .share_group
        .as_deref()
        .and_then(crate::share::peer::group_id);
    // The run's folder, `runs/`, the state folder: what a member of the group passes through.
    let reach = dir.ancestors().take(3).map(Path::to_path_buf).collect();
    Some(crate::share::Options {
        socket: dir.join(crate::share::SOCKET),
        hello,
        host: variables::hostname(),
        headless,
        group,
        reach,
        listen: gates.listen.clone(),
    })
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
        follow: None,
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
                follow: None,
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

/// Whether a run ended failed (or rolled back), the end a failure path's runbook follows.
fn failed(outcome: Option<&Outcome>) -> bool {
    matches!(
        outcome,
        Some(Outcome::Finished(RunStatus::Failed | RunStatus::RolledBack))
    )
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
