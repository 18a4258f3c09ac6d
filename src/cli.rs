//! The command line: check, plan, run, resume, runs, schema.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio::sync::mpsc;

use crate::engine::context::{self, MASK, Vars};
use crate::engine::journal::{self, Journal, Replay};
use crate::engine::{self, Command, Engine, Event, Outcome, RunSpec, RunStatus};
use crate::exec::Router;
use crate::exec::aws::AwsExec;
use crate::exec::kube::KubeExec;
use crate::headless::{self, Approvals, Printer};
use crate::runbook::{self, Loaded, Runbook, vars};
use crate::target::PinnedAccount;
use crate::target::PinnedCluster;
use crate::ui;
use crate::ui::theme::{Theme, ThemeError};

/// Exit codes, as documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    /// `check`: problems found. `run`/`resume`: a step failed (a rollback may have run).
    pub const FAILED: i32 = 1;
    /// Bad usage, an unreadable file, or a runbook with errors.
    pub const USAGE: i32 = 2;
    /// Stopped at a gate no one could decide; the run is resumable.
    pub const PAUSED: i32 = 3;
    /// Rejected at a gate or aborted by the operator; the run is resumable.
    pub const ABORTED: i32 = 4;
    /// The journal could not be written or read, the run is not found, or it is in use.
    pub const STATE: i32 = 5;
}

const DEMO: &str = include_str!("../runbooks/demo/first-deploy.yaml");

#[derive(Parser, Debug)]
#[command(
    name = "tollgate",
    version,
    about = "Run deployment and incident runbooks, with a gate before anything that changes the world"
)]
pub struct Cli {
    /// Where journals and audit logs live (default: $TOLLGATE_STATE_DIR, $XDG_STATE_HOME/tollgate or ~/.local/state/tollgate).
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct GateFlags {
    /// Approve this gate (a phase or step id) without asking; may be repeated.
    #[arg(long, value_name = "GATE_ID")]
    pub approve: Vec<String>,
    /// Approve every gate without asking (recorded as such in the journal and audit log).
    #[arg(long)]
    pub approve_all: bool,
    /// Re-run this step if it was interrupted or failed; may be repeated.
    #[arg(long, value_name = "STEP_ID")]
    pub rerun: Vec<String>,
    /// Mark this interrupted step as done without re-running it; may be repeated.
    #[arg(long, value_name = "STEP_ID")]
    pub mark_done: Vec<String>,
    /// Do not run this phase or step: it is journaled as skipped, by you, via --skip (even a
    /// step that failed before, on resume); may be repeated.
    #[arg(long, value_name = "ID")]
    pub skip: Vec<String>,
    /// Plain line output instead of the interface (always, when there is no terminal).
    #[arg(long)]
    pub headless: bool,
    /// Colour theme of the interface: dark, light, presenter, or one from the user themes folder.
    #[arg(long, value_name = "NAME", default_value = "dark")]
    pub theme: String,
    /// Lines of output kept per step in the interface.
    #[arg(long, value_name = "LINES", default_value_t = 100_000)]
    pub scrollback: usize,
    /// The kube context to run against instead of the runbook's `targets.kube.context`.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Parse and validate runbooks: every problem as `file:line:col: message`.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Show every phase, gate, checklist item and step with variables filled in. Runs nothing.
    Plan {
        file: PathBuf,
        /// Set a variable: NAME=VALUE.
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
    },
    /// Run a runbook.
    Run {
        file: PathBuf,
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        #[command(flatten)]
        gates: GateFlags,
    },
    /// Run the built-in demo runbook (needs only `sh`).
    Demo {
        #[command(flatten)]
        gates: GateFlags,
    },
    /// Resume a run where it stopped (default: the latest unfinished run).
    Resume {
        run_id: Option<String>,
        #[command(flatten)]
        gates: GateFlags,
    },
    /// List runs with their status.
    Runs,
    /// Print the JSON Schema of the runbook format.
    Schema,
    /// Serve an in-memory Kubernetes API on 127.0.0.1, with controllers, to rehearse runbooks against.
    Sandbox {
        /// A YAML stream of Kubernetes manifests to start from; may be repeated.
        #[arg(long, value_name = "FILE")]
        fixture: Vec<PathBuf>,
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Divide every simulated delay by this (pods start, roll and crash faster).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Log lines each running container writes per simulated second.
        #[arg(long, value_name = "LINES", default_value_t = 1.0)]
        log_rate: f64,
        /// Where to write the kubeconfig (default: STATE_DIR/sandbox/kubeconfig).
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
        /// The kubeconfig context's namespace.
        #[arg(long, default_value = "default")]
        namespace: String,
        /// The kubeconfig context's name, e.g. the context a runbook is pinned to.
        #[arg(long, value_name = "NAME", default_value = "tollgate-sandbox")]
        context: String,
        /// Serve the API alone: no controllers (nothing schedules, starts or rolls out).
        #[arg(long)]
        no_controllers: bool,
    },
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    if !vars::is_var_name(k) {
        return Err(format!("`{k}` is not a variable name"));
    }
    Ok((k.to_string(), v.to_string()))
}

pub fn main_with(cli: Cli) -> i32 {
    let state_dir = cli
        .state_dir
        .clone()
        .unwrap_or_else(journal::default_state_dir);
    match cli.command {
        Cmd::Check { files } => check(&files),
        Cmd::Plan { file, vars } => plan(&file, &vars),
        Cmd::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&runbook::schema()).unwrap_or_default()
            );
            exit::OK
        }
        Cmd::Runs => runs(&state_dir),
        Cmd::Run { file, vars, gates } => run(&state_dir, &file, &vars, gates),
        Cmd::Demo { gates } => {
            let dir = state_dir.join("demo");
            let path = dir.join("first-deploy.yaml");
            if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, DEMO))
            {
                eprintln!(
                    "tollgate: cannot write the demo runbook to {}: {e}",
                    dir.display()
                );
                return exit::STATE;
            }
            run(&state_dir, &path, &[], gates)
        }
        Cmd::Resume { run_id, gates } => resume(&state_dir, run_id, gates),
        Cmd::Sandbox {
            fixture,
            port,
            speed,
            log_rate,
            kubeconfig,
            namespace,
            context,
            no_controllers,
        } => {
            let kubeconfig =
                kubeconfig.unwrap_or_else(|| state_dir.join("sandbox").join("kubeconfig"));
            let timing = tollgate_sandbox::Timing { speed, log_rate };
            sandbox(
                fixture,
                port,
                timing,
                no_controllers,
                &kubeconfig,
                (&namespace, &context),
            )
        }
    }
}

fn sandbox(
    fixtures: Vec<PathBuf>,
    port: u16,
    timing: tollgate_sandbox::Timing,
    no_controllers: bool,
    kubeconfig: &Path,
    (namespace, context): (&str, &str),
) -> i32 {
    use tollgate_sandbox::{Config, Sandbox, StartError};
    if !(timing.speed.is_finite() && timing.speed > 0.0) {
        eprintln!(
            "tollgate: --speed must be a positive number, not {}",
            timing.speed
        );
        return exit::USAGE;
    }
    if !(timing.log_rate.is_finite() && timing.log_rate >= 0.0) {
        eprintln!(
            "tollgate: --log-rate must be zero or more, not {}",
            timing.log_rate
        );
        return exit::USAGE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tollgate: cannot start the runtime: {e}");
            return exit::STATE;
        }
    };
    rt.block_on(async {
        let config = Config {
            port,
            timing,
            fixtures,
            no_controllers,
            history: None,
        };
        let sb = match Sandbox::start(config).await {
            Ok(sb) => sb,
            Err(e @ StartError::Fixture(_)) => {
                eprintln!("{e}");
                return exit::USAGE;
            }
            Err(e) => {
                eprintln!("tollgate: {e}");
                return exit::STATE;
            }
        };
        let written = kubeconfig
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(kubeconfig, sb.kubeconfig_for(namespace, context)));
        if let Err(e) = written {
            eprintln!("tollgate: cannot write {}: {e}", kubeconfig.display());
            return exit::STATE;
        }
        println!("sandbox: Kubernetes API on {}", sb.url());
        println!("kubeconfig: {}", kubeconfig.display());
        println!("  export KUBECONFIG={}", kubeconfig.display());
        println!("stop with Ctrl-C");
        let _ = std::io::stdout().flush();
        wait_for_stop().await;
        drop(sb);
        let _ = std::fs::remove_file(kubeconfig);
        exit::OK
    })
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let term = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let hup = async {
        match hup.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = hup => {}
    }
}

fn print_diags(loaded: &Loaded) {
    for d in &loaded.diags {
        eprintln!("{d}");
    }
}

fn check(files: &[PathBuf]) -> i32 {
    let mut code = exit::OK;
    for f in files {
        match runbook::load(f) {
            Err(e) => {
                eprintln!("{e}");
                code = exit::USAGE;
            }
            Ok(loaded) => {
                for d in &loaded.diags {
                    println!("{d}");
                }
                if !loaded.ok() && code == exit::OK {
                    code = exit::FAILED;
                }
            }
        }
    }
    code
}

/// Loads a runbook for plan/run; prints what is wrong and returns the exit code if unusable.
fn load_usable(file: &Path) -> Result<Loaded, i32> {
    let loaded = runbook::load(file).map_err(|e| {
        eprintln!("{e}");
        exit::USAGE
    })?;
    print_diags(&loaded);
    if loaded.errors().next().is_some() {
        eprintln!("tollgate: {} has errors; nothing was run", file.display());
        return Err(exit::USAGE);
    }
    Ok(loaded)
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn plan(file: &Path, overrides: &[(String, String)]) -> i32 {
    let loaded = match load_usable(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let rb = &loaded.runbook;
    for (k, _) in overrides {
        if !rb.variables.contains_key(k) {
            eprintln!("tollgate: --var {k}: the runbook declares no variable `{k}`");
            return exit::USAGE;
        }
    }
    let mut vars = Vars::default();
    let mut lines = Vec::new();
    lines.push(format!("runbook: {}  ({})", rb.name.value, file.display()));
    lines.push(format!("targets: {}", describe_targets(rb)));
    if !rb.variables.is_empty() {
        lines.push("variables:".into());
    }
    let set_later = rb.set_by_steps();
    for (name, var) in &rb.variables {
        let env_name = var
            .env
            .clone()
            .unwrap_or_else(|| format!("TOLLGATE_VAR_{name}"));
        let found = overrides
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| (v.clone(), "--var"))
            .or_else(|| env_lookup(&env_name).map(|v| (v, "environment")))
            .or_else(|| var.default.as_ref().map(|d| (d.value.clone(), "default")));
        let (shown, source) = match &found {
            Some((v, src)) => {
                vars.set(name, v.clone(), var.secret);
                (
                    if var.secret {
                        MASK.to_string()
                    } else {
                        v.clone()
                    },
                    *src,
                )
            }
            None if set_later.contains(name) => ("<set by a step>".to_string(), "step"),
            None if var.prompt => ("<asked at start>".to_string(), "prompt"),
            None => (format!("<unset: --var {name}=… or {env_name}>"), "missing"),
        };
        let secret = if var.secret { ", secret" } else { "" };
        lines.push(format!("  {name} = {shown}  ({source}{secret})"));
    }
    if !rb.description.is_empty() {
        lines.insert(1, format!("  {}", vars.render(rb.description.trim())));
    }
    vars.set("run_id", "<run id>".into(), false);
    vars.set("runbook_dir", loaded.dir().display().to_string(), false);
    vars.set("runbook_name", rb.name.value.clone(), false);
    let all = vars.all();
    let skipped = |when: &Option<runbook::Spanned<String>>| -> Option<String> {
        let w = when.as_ref()?;
        let expr = vars::parse_when(w).ok()?;
        let mut used = Vec::new();
        expr.vars(&mut used);
        if used.iter().any(|u| !all.contains_key(u)) {
            return Some(format!("runs only if `{}` (decided at run time)", w.value));
        }
        (!expr.eval(&all)).then(|| format!("SKIPPED: `{}` is false", w.value))
    };
    let mut n = 0;
    for phase in &rb.phases {
        n += 1;
        let kind = if phase.rollback {
            "rollback phase"
        } else {
            "phase"
        };
        lines.push(String::new());
        lines.push(format!(
            "{kind} {n}. {} — {}",
            phase.id.value,
            vars.render(&phase.title)
        ));
        if let Some(s) = skipped(&phase.when) {
            lines.push(format!("  ({s})"));
        }
        if !phase.description.is_empty() {
            for l in phase.description.trim().lines() {
                lines.push(format!("  {l}"));
            }
        }
        if let Some(g) = &phase.gate {
            lines.push(format!("  GATE {}", describe_gate(&vars, rb, g, &phase.id)));
        }
        for item in &phase.checklist {
            lines.push(format!("  [ ] {}", vars.render(&item.text)));
            if let Some(c) = &item.command {
                lines.push(format!("      verify: {}", vars.render(c)));
            }
        }
        for step in &phase.steps {
            plan_step(&mut lines, &vars, rb, step, "  ", &skipped);
        }
        if !phase.validation.is_empty() {
            lines.push("  validation:".into());
            for step in &phase.validation {
                plan_step(&mut lines, &vars, rb, step, "    ", &skipped);
            }
        }
        if let Some(f) = &phase.on_failure {
            lines.push(format!("  on failure: {}", describe_failure(f)));
        }
    }
    if let Some(f) = &rb.on_failure {
        lines.push(String::new());
        lines.push(format!("on failure (any step): {}", describe_failure(f)));
    }
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{}", vars.masker().mask(&l));
    }
    exit::OK
}

fn describe_targets(rb: &Runbook) -> String {
    let mut parts = rb.targets.summary();
    if rb.targets.production {
        parts.insert(1.min(parts.len()), "PRODUCTION".into());
    }
    if parts.is_empty() {
        "none (local)".into()
    } else {
        parts.join(", ")
    }
}

fn describe_gate(vars: &Vars, rb: &Runbook, g: &runbook::Gate, owner: &str) -> String {
    let mut s = format!("`{owner}`");
    if let Some(m) = &g.message {
        s.push_str(&format!(": {}", vars.render(m)));
    }
    if g.destructive {
        let word = g
            .confirm
            .as_ref()
            .map(|c| vars.render(c))
            .or_else(|| rb.targets.environment.clone())
            .unwrap_or_else(|| owner.to_string());
        s.push_str(&format!(" [destructive: type `{word}`]"));
    }
    s
}

fn describe_failure(f: &runbook::OnFailure) -> String {
    let mut parts = Vec::new();
    if f.undo {
        parts.push("undo the phase's finished steps".to_string());
    }
    if !f.steps.is_empty() {
        let ids: Vec<&str> = f.steps.iter().map(|s| s.id.as_str()).collect();
        parts.push(format!("run {}", ids.join(", ")));
    }
    if let Some(g) = &f.goto {
        parts.push(format!("roll back with phase `{}`", g.value));
    }
    if let Some(r) = &f.runbook {
        parts.push(format!("follow runbook `{}`", r.value));
    }
    parts.join(", then ")
}

fn plan_step(
    lines: &mut Vec<String>,
    vars: &Vars,
    rb: &Runbook,
    step: &runbook::Step,
    indent: &str,
    skipped: &dyn Fn(&Option<runbook::Spanned<String>>) -> Option<String>,
) {
    lines.push(format!(
        "{indent}step {} — {}",
        step.id.value,
        vars.render(&step.title)
    ));
    if let Some(s) = skipped(&step.when) {
        lines.push(format!("{indent}  ({s})"));
    }
    if let Some(g) = step.effective_gate() {
        lines.push(format!(
            "{indent}  GATE {}",
            describe_gate(vars, rb, &g, &step.id)
        ));
    }
    if let Some(run) = &step.run {
        if let Some(action) = run.kube() {
            let ns = rb
                .targets
                .kube
                .as_ref()
                .and_then(|k| k.namespace.as_deref())
                .unwrap_or("default");
            let action = action.filled(&|s| vars.render(s));
            lines.push(format!("{indent}  $ {}", action.describe(ns)));
        }
        if let Some(action) = run.aws() {
            let action = action.filled(&|s| vars.render(s));
            lines.push(format!("{indent}  $ {}", action.describe()));
        }
        if let Some(action) = run.docker() {
            let action = action.filled(&|s| vars.render(s));
            lines.push(format!("{indent}  $ {}", action.describe()));
        }
        for l in vars.render(run.script().unwrap_or_default()).lines() {
            lines.push(format!("{indent}  $ {l}"));
        }
    }
    let e = &step.expect;
    let mut expect = vec![format!("exit {}", e.exit_code.unwrap_or(0))];
    if let Some(s) = &e.output_contains {
        expect.push(format!("output contains `{}`", vars.render(s)));
    }
    if let Some(s) = &e.output_not_contains {
        expect.push(format!("output lacks `{}`", vars.render(s)));
    }
    if let Some(s) = &e.output_matches {
        expect.push(format!("output matches `{}`", s.value));
    }
    if let Some(t) = &e.timeout {
        expect.push(format!("within {}", t.value));
    }
    lines.push(format!("{indent}  expect: {}", expect.join(", ")));
    if let Some(r) = &step.retries {
        let delay = r.delay.as_ref().map_or("1s", |d| d.as_str());
        lines.push(format!(
            "{indent}  retries: {} (first after {delay}, backoff ×{})",
            r.attempts,
            r.backoff.unwrap_or(2.0)
        ));
    }
    for c in &step.capture {
        let how = match (&c.regex, &c.json) {
            (Some(r), _) => format!("regex `{}`", r.value),
            (_, Some(j)) => format!("json `{}`", j.value),
            _ => "whole output".into(),
        };
        let secret = if c.secret { ", secret" } else { "" };
        lines.push(format!(
            "{indent}  capture: {} from {how}{secret}",
            c.var.value
        ));
    }
    if let Some(f) = &step.on_failure {
        lines.push(format!("{indent}  on failure: {}", describe_failure(f)));
        for s in &f.steps {
            plan_step(lines, vars, rb, s, &format!("{indent}    "), skipped);
        }
    }
    if let Some(u) = &step.undo {
        lines.push(format!("{indent}  undo:"));
        for l in vars.render(u.script().unwrap_or_default()).lines() {
            lines.push(format!("{indent}    $ {l}"));
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Asks for a variable on the terminal; secrets without echo.
fn prompt_var(name: &str, var: &runbook::Variable) -> Option<String> {
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

fn approvals(gates: &GateFlags, who: &str) -> Approvals {
    Approvals {
        approve: gates.approve.clone(),
        approve_all: gates.approve_all,
        rerun: gates.rerun.clone(),
        mark_done: gates.mark_done.clone(),
        interactive: std::io::stdin().is_terminal(),
        who: who.to_string(),
    }
}

fn exit_for(outcome: &Outcome) -> i32 {
    match outcome {
        Outcome::Finished(RunStatus::Succeeded) => exit::OK,
        Outcome::Finished(RunStatus::Failed | RunStatus::RolledBack) => exit::FAILED,
        Outcome::Finished(RunStatus::Aborted | RunStatus::Rejected) => exit::ABORTED,
        Outcome::Paused(_) => exit::PAUSED,
    }
}

fn execute(spec: RunSpec, gates: &GateFlags) -> i32 {
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if terminal && !gates.headless {
        return execute_tui(spec, gates);
    }
    let run_id = spec.run_id.clone();
    let approvals = approvals(gates, &spec.who);
    let cluster = pin_cluster(&spec.runbook, gates.context.as_deref());
    let aws = pin_aws(&spec.runbook);
    let rt = runtime();
    let code = rt.block_on(async move {
        let mut printer = Printer::new(std::io::stdout());
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
        let (handle, ev_rx, cmd_tx) = start_engine(spec, executor(&cluster, &aws), &gates.skip);
        let drove = headless::drive(ev_rx, cmd_tx, approvals, &mut printer).await;
        let result = handle.await;
        if let Err(e) = drove {
            eprintln!("tollgate: writing output: {e}");
        }
        conclude(result, &run_id, false)
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

type EngineTask = tokio::task::JoinHandle<Result<Outcome, engine::EngineError>>;

/// The run's cluster, when the runbook has anything to do with one (a kube target, a kube step,
/// or `--context`); pinned at its first use.
pub fn pin_cluster(rb: &Runbook, context: Option<&str>) -> Option<Arc<PinnedCluster>> {
    let wanted = context.is_some() || rb.targets.kube.is_some() || uses_kube(rb);
    let runbook_ctx = rb.targets.kube.as_ref().map(|k| k.context.as_str());
    wanted.then(|| Arc::new(PinnedCluster::new(context, runbook_ctx)))
}

/// The namespace of kube steps that name none, and every namespace the runbook's kube steps
/// touch (the pods pane watches them).
pub fn namespaces_of(rb: &Runbook) -> (String, Vec<String>) {
    let default = rb
        .targets
        .kube
        .as_ref()
        .and_then(|k| k.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let mut all = vec![default.clone()];
    fn steps(s: &[runbook::Spanned<runbook::Step>], out: &mut Vec<String>) {
        for s in s {
            for r in [&s.run, &s.undo].into_iter().flatten() {
                if let Some(ns) = r
                    .kube()
                    .as_ref()
                    .and_then(|a| a.namespace().map(str::to_string))
                    && !ns.contains("{{")
                    && !out.contains(&ns)
                {
                    out.push(ns);
                }
            }
            if let Some(f) = &s.on_failure {
                steps(&f.steps, out);
            }
        }
    }
    for p in &rb.phases {
        steps(&p.steps, &mut all);
        steps(&p.validation, &mut all);
    }
    (default, all)
}

/// The runbook's first kube step that names a deployment or job (in phase order, skipping
/// rollback phases).
fn first_kube_target(rb: &Runbook) -> Option<crate::runbook::kube::KubeAction> {
    rb.phases
        .iter()
        .filter(|p| !p.rollback)
        .flat_map(|p| p.steps.iter().chain(&p.validation))
        .filter_map(|s| s.run.as_ref().and_then(|r| r.kube()))
        .find(|a| a.deployment().is_some())
}

fn uses_kube(rb: &Runbook) -> bool {
    any_run(rb, &|r| r.kube().is_some())
}

/// The executor of a run: shell steps, kube steps against the pinned cluster, AWS steps against
/// the pinned account, and docker steps against the local daemon.
pub fn executor(cluster: &Option<Arc<PinnedCluster>>, aws: &Option<Arc<PinnedAccount>>) -> Router {
    let mut r = Router::shell_only();
    if let Some(t) = cluster {
        r.kube = Some(Arc::new(KubeExec { target: t.clone() }));
    }
    if let Some(t) = aws {
        r.aws = Some(Arc::new(AwsExec { target: t.clone() }));
    }
    // The daemon is reached at the first docker step, if there is one.
    r.docker = Some(Arc::new(crate::exec::docker::DockerExec::default()));
    r
}

/// The run's AWS account, when the runbook has anything to do with one (`targets.aws` or a
/// `secrets.*`, `ecr.*` or `aws.identity` step); pinned at the first AWS step, through the standard credential chain.
pub fn pin_aws(rb: &Runbook) -> Option<Arc<PinnedAccount>> {
    let wanted = rb.targets.aws.is_some() || uses_aws(rb);
    wanted.then(|| Arc::new(PinnedAccount::new(rb.targets.aws.as_ref())))
}

/// Every `--skip` names a phase or a step (of a phase, or its validation) of the runbook.
fn check_skip(rb: &Runbook, ids: &[String]) -> Result<(), String> {
    for id in ids {
        let known = rb.phases.iter().any(|p| {
            p.id.value == *id
                || p.steps
                    .iter()
                    .chain(&p.validation)
                    .any(|s| s.id.value == *id)
        });
        if !known {
            return Err(format!(
                "--skip {id}: the runbook has no phase or step `{id}`"
            ));
        }
    }
    Ok(())
}

fn uses_aws(rb: &Runbook) -> bool {
    any_run(rb, &|r| r.aws().is_some())
}

/// Whether any step's `run` or `undo`, anywhere in the runbook (failure paths included), is `is`.
fn any_run(rb: &Runbook, is: &dyn Fn(&runbook::Run) -> bool) -> bool {
    fn steps(s: &[runbook::Spanned<runbook::Step>], is: &dyn Fn(&runbook::Run) -> bool) -> bool {
        s.iter().any(|s| {
            [&s.run, &s.undo].into_iter().flatten().any(|r| is(r))
                || s.on_failure.as_ref().is_some_and(|f| steps(&f.steps, is))
        })
    }
    rb.phases.iter().any(|p| {
        steps(&p.steps, is)
            || steps(&p.validation, is)
            || p.on_failure.as_ref().is_some_and(|f| steps(&f.steps, is))
    }) || rb.on_failure.as_ref().is_some_and(|f| steps(&f.steps, is))
}

/// Starts the engine; a view consumes its events and sends it commands.
fn start_engine(
    spec: RunSpec,
    executor: Router,
    skip: &[String],
) -> (EngineTask, mpsc::Receiver<Event>, mpsc::Sender<Command>) {
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let engine = Engine::new(spec, Arc::new(executor), ev_tx, cmd_rx)
        .skipping(skip.iter().cloned(), "--skip");
    (tokio::spawn(engine.run()), ev_rx, cmd_tx)
}

/// Says how the run ended and returns the exit code. After the interface has gone, the
/// outcome is also printed, since the screen that showed it is no longer there.
fn conclude(
    result: Result<Result<Outcome, engine::EngineError>, tokio::task::JoinError>,
    run_id: &str,
    interface: bool,
) -> i32 {
    match result {
        Ok(Ok(outcome)) => {
            match &outcome {
                Outcome::Paused(reason) => eprintln!("tollgate: run {run_id} paused: {reason}"),
                Outcome::Finished(s) if interface => {
                    println!("run {run_id}: {}", s.word());
                }
                Outcome::Finished(_) => {}
            }
            if !matches!(outcome, Outcome::Finished(RunStatus::Succeeded)) {
                eprintln!("tollgate: resume with: tollgate resume {run_id}");
            }
            exit_for(&outcome)
        }
        Ok(Err(e)) => {
            eprintln!("tollgate: {e}");
            exit::STATE
        }
        Err(e) => {
            eprintln!("tollgate: the engine stopped unexpectedly: {e}");
            exit::STATE
        }
    }
}

fn signals() -> std::io::Result<impl futures::Stream<Item = ()> + Unpin> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate())?;
    let hup = signal(SignalKind::hangup())?;
    let one = |s: tokio::signal::unix::Signal| {
        futures::stream::unfold(s, |mut s| async move { s.recv().await.map(|_| ((), s)) })
    };
    Ok(futures::stream::select(
        Box::pin(one(term)),
        Box::pin(one(hup)),
    ))
}

fn execute_tui(spec: RunSpec, gates: &GateFlags) -> i32 {
    let theme = match interface_theme(&gates.theme) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::USAGE;
        }
    };
    let run_id = spec.run_id.clone();
    let cluster = pin_cluster(&spec.runbook, gates.context.as_deref());
    let aws = pin_aws(&spec.runbook);
    let config = interface_config(
        &spec,
        theme,
        gates.scrollback,
        cluster.as_deref(),
        aws.is_some(),
    );
    let rt = runtime();
    let code = rt.block_on(async move {
        let (handle, events, commands) = start_engine(spec, executor(&cluster, &aws), &gates.skip);
        let channels = ui::Channels { events, commands };
        let shown = show_interface(config, channels, cluster.as_ref(), aws.as_ref()).await;
        // With the interface gone, the engine pauses at the next gate (or finishes an abort).
        let result = handle.await;
        if let Err(e) = shown {
            eprintln!("tollgate: the interface failed: {e}");
        }
        conclude(result, &run_id, true)
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// The interface's theme by name: built in, or from the user's themes folder; without colour
/// when `NO_COLOR` is set.
fn interface_theme(name: &str) -> Result<Theme, ThemeError> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    Theme::load(name, Theme::user_dir().as_deref(), no_color)
}

/// What the interface starts with: the run, its variables (and its id among them), what a
/// resumed run had done, and the AWS banner and cluster panes when the run reaches them.
fn interface_config(
    spec: &RunSpec,
    theme: Theme,
    scrollback: usize,
    cluster: Option<&PinnedCluster>,
    aws: bool,
) -> ui::Config {
    let mut vars = spec.vars.clone();
    vars.set("run_id", spec.run_id.clone(), false);
    let cluster = cluster.map(|t| ui::ClusterPanes {
        context: t.describe(),
        namespace: namespaces_of(&spec.runbook).0,
        preview: first_kube_target(&spec.runbook),
    });
    ui::Config {
        scrollback: scrollback.max(100),
        vars,
        replay: spec.replay.clone(),
        aws,
        cluster,
        ..ui::Config::new(
            spec.runbook.clone(),
            spec.run_id.clone(),
            spec.who.clone(),
            theme,
        )
    }
}

/// Shows the interface on the terminal until the operator quits or a signal arrives, with the
/// AWS banner and the pods and logs panes fed from the run's targets.
async fn show_interface(
    config: ui::Config,
    channels: ui::Channels,
    cluster: Option<&Arc<PinnedCluster>>,
    aws: Option<&Arc<PinnedAccount>>,
) -> std::io::Result<ui::Exit> {
    let aws = aws.map(|t| {
        // Pinned now if it can be, as a headless run does, so the banner shows the account
        // before the first gate; AWS steps check again when they run.
        let early = t.clone();
        tokio::spawn(async move {
            let _ = early.checked().await;
        });
        t.watch_pin()
    });
    let cluster = cluster.map(|t| {
        let (_, namespaces) = namespaces_of(&config.runbook);
        crate::live::Link::start(t.clone(), namespaces)
    });
    match (ui::term::enter(), signals()) {
        (Ok((mut terminal, guard)), Ok(signals)) => {
            let input = ratatui::crossterm::event::EventStream::new();
            let feeds = ui::Feeds { cluster, aws };
            let shown = ui::run(&mut terminal, config, channels, input, signals, feeds).await;
            drop(guard);
            shown
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

fn run(state_dir: &Path, file: &Path, overrides: &[(String, String)], gates: GateFlags) -> i32 {
    let loaded = match load_usable(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = check_skip(&loaded.runbook, &gates.skip) {
        eprintln!("tollgate: {e}");
        return exit::USAGE;
    }
    let prompt: &dyn Fn(&str, &runbook::Variable) -> Option<String> = &prompt_var;
    let vars = match context::resolve(&loaded.runbook, overrides, &env_lookup, Some(prompt)) {
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
        who: context::who(),
    };
    execute(spec, &gates)
}

fn resume(state_dir: &Path, run_id: Option<String>, gates: GateFlags) -> i32 {
    let run_id = match run_id {
        Some(id) => id,
        None => {
            let latest = journal::list_runs(state_dir).into_iter().find(|(_, r)| {
                r.as_ref()
                    .is_ok_and(|r| r.status != Some(RunStatus::Succeeded))
            });
            match latest {
                Some((id, _)) => id,
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
    let replay = Replay::from_lines(&lines);
    if replay.run_id.is_empty() {
        eprintln!("tollgate: run `{run_id}` never started; start it again with `tollgate run`");
        return exit::STATE;
    }
    if replay.status == Some(RunStatus::Succeeded) {
        println!("run {run_id} already succeeded; nothing to resume");
        return exit::OK;
    }
    let file = PathBuf::from(&replay.runbook);
    let loaded = match load_usable(&file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = check_skip(&loaded.runbook, &gates.skip) {
        eprintln!("tollgate: {e}");
        return exit::USAGE;
    }
    if loaded.digest != replay.digest {
        eprintln!(
            "tollgate: warning: {} changed since run {run_id} started; finished steps stay finished",
            file.display()
        );
    }
    let overrides: Vec<(String, String)> = replay
        .vars
        .iter()
        .filter(|(k, _)| loaded.runbook.variables.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let prompt: &dyn Fn(&str, &runbook::Variable) -> Option<String> = &prompt_var;
    let vars = match context::resolve(&loaded.runbook, &overrides, &env_lookup, Some(prompt)) {
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
        who: context::who(),
    };
    execute(spec, &gates)
}

fn runs(state_dir: &Path) -> i32 {
    let list = journal::list_runs(state_dir);
    if list.is_empty() {
        println!("no runs in {}", state_dir.display());
        return exit::OK;
    }
    println!("{:<22} {:<14} {:<25} RUNBOOK", "RUN", "STATUS", "STARTED");
    for (id, r) in list {
        match r {
            Ok(r) => {
                let status = match (r.status, &r.paused) {
                    (Some(s), _) => s.word().to_string(),
                    (None, Some(_)) => "paused".to_string(),
                    (None, None) if is_locked(state_dir, &id) => "running".to_string(),
                    (None, None) => "interrupted".to_string(),
                };
                println!(
                    "{id:<22} {status:<14} {:<25} {}",
                    r.started_at, r.runbook_name
                );
            }
            Err(e) => println!("{id:<22} {:<14} {:<25} {e}", "unreadable", ""),
        }
    }
    exit::OK
}

fn is_locked(state_dir: &Path, id: &str) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::File::open(journal::journal_path(state_dir, id)) else {
        return false;
    };
    // SAFETY: flock on a valid descriptor; released when `f` is dropped.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}
