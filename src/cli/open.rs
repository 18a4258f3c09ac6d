//! `tollgate` alone, and `tollgate open [DIR]`: the launcher on the terminal. It lists the runs
//! and the runbooks (`ui::launcher`), loads the one chosen for its plan (`plan`'s text) and
//! form (`ui::form`), resolves the form's values as `run --var …` does (a secret's as if from
//! its environment variable: never on a command line), and then starts the run — or resumes
//! the one chosen — in the run's own interface, as `run` and `resume` do.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::crossterm::event::{self, Event as TermEvent, KeyEventKind};

use super::args::GateFlags;
use super::{exit, interface, plan, run, runs, wiring};
use crate::catalog;
use crate::engine::journal;
use crate::engine::variables::{self, Vars};
use crate::protocol::{RunStatus, Secret};
use crate::runbook::{self, Loaded};
use crate::ui;
use crate::ui::form::{Field, Form};
use crate::ui::launcher::{Intent, Launcher, RunRow};
use crate::ui::theme::Theme;

/// What the operator chose in the launcher.
enum Choice {
    Quit,
    Start(Box<(PathBuf, Loaded, Vars)>),
    Resume(String),
}

pub(super) fn open(state_dir: &Path, dir: Option<PathBuf>, gates: GateFlags) -> i32 {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        eprintln!(
            "tollgate: the launcher needs a terminal; without one, find a runbook with `tollgate find TEXT` and start it with `tollgate run FILE`"
        );
        return exit::USAGE;
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let roots = match dir {
        Some(d) => vec![d],
        None => catalog::roots(std::env::var_os(catalog::RUNBOOKS_ENV).as_deref(), &cwd),
    };
    if !roots.iter().any(|r| r.is_dir()) {
        eprintln!(
            "tollgate: no folder of runbooks: {} (give `tollgate open DIR`, or set {})",
            shown_roots(&roots),
            catalog::RUNBOOKS_ENV
        );
        return exit::USAGE;
    }
    let theme = match interface::theme(&gates.theme) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::USAGE;
        }
    };
    let mut l = launcher(state_dir, &roots, theme);
    let choice = match drive(&mut l, &gates) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tollgate: the launcher failed: {e}");
            return exit::USAGE;
        }
    };
    match choice {
        Choice::Quit => exit::OK,
        Choice::Start(b) => {
            let (path, loaded, vars) = *b;
            run::start(state_dir, &path, loaded, vars, &gates)
        }
        Choice::Resume(id) => run::resume(state_dir, Some(id), gates),
    }
}

fn shown_roots(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The launcher's state for the runbooks under `roots` and the runs in `state_dir`: what its
/// first frame draws.
pub fn launcher(state_dir: &Path, roots: &[PathBuf], theme: Theme) -> Launcher {
    let entries = catalog::discover(roots);
    Launcher::new(theme, &shown_roots(roots), entries, run_rows(state_dir))
}

/// The runs, newest first, each with whether Enter can resume it (the rule of `resume`).
fn run_rows(state_dir: &Path) -> Vec<RunRow> {
    journal::list_runs(state_dir)
        .into_iter()
        .map(|(id, r)| match r {
            Ok(r) => {
                let status = runs::status(state_dir, &id, &r);
                let refused = if r.rehearsal {
                    Some("a rehearsal is rehearsed again, not resumed".to_string())
                } else if r.status == Some(RunStatus::Succeeded) {
                    Some("it succeeded; nothing to resume".to_string())
                } else if status == "running" {
                    Some("it is running elsewhere".to_string())
                } else if r.run_id.is_empty() {
                    Some("it never started".to_string())
                } else {
                    None
                };
                RunRow {
                    unfinished: r.status.is_none() && !r.rehearsal,
                    runbook: r.runbook_name.clone(),
                    status,
                    started: r.started_at.clone(),
                    id,
                    refused,
                }
            }
            Err(e) => RunRow {
                status: "unreadable".into(),
                runbook: String::new(),
                started: String::new(),
                unfinished: false,
                refused: Some(e.to_string()),
                id,
            },
        })
        .collect()
}

/// Set by SIGTERM and SIGHUP while the launcher is shown: it then ends, the terminal restored.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Catches SIGTERM and SIGHUP while it lives; the default disposition is back when dropped.
struct Signals;

impl Signals {
    fn catch() -> Signals {
        SIGNALLED.store(false, Ordering::SeqCst);
        for s in [libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe {
                libc::signal(s, on_signal as *const () as libc::sighandler_t);
            }
        }
        Signals
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for s in [libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: restoring the default disposition.
            unsafe {
                libc::signal(s, libc::SIG_DFL);
            }
        }
    }
}

/// Shows the launcher until the operator chooses; the terminal is restored before this
/// returns, whatever happened.
fn drive(l: &mut Launcher, gates: &GateFlags) -> std::io::Result<Choice> {
    let _signals = Signals::catch();
    let (mut terminal, guard) = ui::term::enter()?;
    // The runbook of the open form, loaded.
    let mut open: Option<(PathBuf, Loaded)> = None;
    let chosen = loop {
        terminal.draw(|f| ui::launcher::render(l, f))?;
        if SIGNALLED.load(Ordering::SeqCst) {
            break Choice::Quit;
        }
        // A signal arriving while it waits may end the wait early: the loop looks again.
        match event::poll(Duration::from_millis(200)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let read = match event::read() {
            Ok(ev) => ev,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let intent = match read {
            TermEvent::Key(k) if k.kind != KeyEventKind::Release => l.key(&k),
            TermEvent::Paste(s) => {
                l.paste(&s);
                Intent::None
            }
            _ => Intent::None,
        };
        match intent {
            Intent::None => {
                if l.form.is_none() {
                    open = None;
                } else if let (Some((path, loaded)), Some((_, form))) = (&open, &mut l.form) {
                    // The plan follows the values typed (the acceptable ones).
                    if let Ok(lines) = plan::lines(loaded, path, &plan_overrides(form), false) {
                        form.plan = lines;
                    }
                }
            }
            Intent::Quit => break Choice::Quit,
            Intent::Resume(id) => break Choice::Resume(id),
            Intent::Open(path) => match form_for(&path) {
                Ok((loaded, form)) => {
                    l.open_form(path.clone(), form);
                    open = Some((path, loaded));
                }
                Err(why) => l.refuse(&why),
            },
            Intent::Start { path, values } => {
                let Some((_, loaded)) = open.take().filter(|(p, _)| *p == path) else {
                    l.refuse("the runbook is no longer loaded; open it again");
                    continue;
                };
                match resolve(&loaded, &values, gates) {
                    Ok(vars) => break Choice::Start(Box::new((path, loaded, vars))),
                    Err(why) => {
                        l.refuse(&why);
                        open = Some((path, loaded));
                    }
                }
            }
        }
    };
    drop(terminal);
    drop(guard);
    Ok(chosen)
}

/// The form's acceptable values that are not secret, for the plan.
fn plan_overrides(form: &Form) -> Vec<(String, String)> {
    form.fields
        .iter()
        .filter(|f| !f.var.secret && f.error.is_none() && !f.value.is_empty())
        .map(|f| (f.name.clone(), f.value.clone()))
        .collect()
}

/// A runbook loaded for the form: its plan and its variables' fields (each filled from its
/// environment variable or default), or why it cannot be started.
pub fn form_for(path: &Path) -> Result<(Loaded, Form), String> {
    let loaded = runbook::load(path).map_err(|e| crate::text::one_line(&e.to_string()))?;
    if let Some(d) = loaded.errors().next() {
        return Err(format!("cannot be started: it fails check: {d}"));
    }
    let plan = plan::lines(&loaded, path, &[], false)?;
    let rb = &loaded.runbook;
    let later = rb.set_by_steps();
    let fields = rb
        .variables
        .iter()
        .filter(|(name, _)| !later.contains(*name))
        .map(|(name, var)| {
            let value = super::load::env_lookup(&variables::env_name(name, var))
                .or_else(|| var.default.as_ref().map(|d| d.value.clone()));
            Field::new(name, var, value)
        })
        .collect();
    let form = Form::new(&rb.name.value, &path.display().to_string(), plan, fields);
    Ok((loaded, form))
}

/// The form's values resolved as `run` resolves its flags: the ones that are not secret as
/// `--var`, a secret as if from its environment variable; checked again, with the flags' ids.
pub(super) fn resolve(
    loaded: &Loaded,
    values: &[(String, Secret, bool)],
    gates: &GateFlags,
) -> Result<Vars, String> {
    let rb = &loaded.runbook;
    wiring::check_ids(rb, gates, None)?;
    let overrides: Vec<(String, String)> = values
        .iter()
        .filter(|(_, _, secret)| !secret)
        .map(|(k, v, _)| (k.clone(), v.0.clone()))
        .collect();
    // A secret's environment variable answers with the form's value; one left empty has none.
    let secret_env: Vec<(String, Option<String>)> = rb
        .variables
        .iter()
        .filter(|(_, v)| v.secret)
        .map(|(name, var)| {
            let typed = values
                .iter()
                .find(|(k, _, _)| k == name)
                .map(|(_, v, _)| v.0.clone());
            (variables::env_name(name, var), typed)
        })
        .collect();
    let env = |name: &str| -> Option<String> {
        match secret_env.iter().find(|(e, _)| e == name) {
            Some((_, typed)) => typed.clone(),
            None => super::load::env_lookup(name),
        }
    };
    variables::resolve(rb, &overrides, &gates.var_file, &env, None)
}
