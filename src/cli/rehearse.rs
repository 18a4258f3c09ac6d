//! `rehearse`: a runbook run end to end against stand-ins started in process — the Kubernetes
//! sandbox loaded with its cluster fixture and serving its pinned context, the AWS and Docker
//! stand-ins, shell steps in an environment where nothing real is reachable — in the interface,
//! or headless and scripted by a decisions file; everything removed at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::GateFlags;
use super::exit;
use super::load::load_usable;
use super::run::{self, Rehearsal, Wiring};
use super::wiring::check_ids;
use crate::engine::journal::{self, Journal};
use crate::engine::{self, RunSpec, variables};
use crate::rehearsal::decisions::{self, Decisions};
use crate::rehearsal::inject::{self, Injection};
use crate::rehearsal::prepare;
use crate::rehearsal::world::{self, World};
use crate::runbook;
use crate::ui;

/// `rehearse`'s own flags.
pub(super) struct Options {
    pub vars: Vec<(String, String)>,
    pub decisions: Option<PathBuf>,
    pub inject: Vec<String>,
    pub fixtures: Vec<PathBuf>,
    pub speed: f64,
    pub local_docker: bool,
}

pub(super) fn rehearse(state_dir: &Path, file: &Path, o: Options, gates: GateFlags) -> i32 {
    let input = match Input::read(file, o, &gates) {
        Ok(i) => i,
        Err(lines) => {
            for l in lines {
                eprintln!("{l}");
            }
            return exit::USAGE;
        }
    };
    let _guard = crate::logging::init(state_dir);
    let run_id = engine::new_run_id();
    let rt = run::runtime();
    let started = rt.block_on(World::start(
        &input.runbook,
        world::Config {
            dir: rehearsal_dir(&run_id),
            fixtures: input.fixtures.clone(),
            speed: input.speed,
            local_docker: input.local_docker,
        },
    ));
    let world = match started {
        Ok(w) => w,
        Err(e) => {
            eprintln!("tollgate: the rehearsal could not start: {e}");
            return exit::STATE;
        }
    };
    let path = journal::journal_path(state_dir, &run_id);
    let journal = match Journal::open(&path, &run_id) {
        Ok((j, _)) => j,
        Err(e) => {
            eprintln!("tollgate: {e}");
            return exit::STATE;
        }
    };
    let runbook = Arc::new(input.runbook);
    let (router, cluster, aws) = world.wiring(&runbook);
    let spec = RunSpec {
        runbook: runbook.clone(),
        runbook_path: std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()),
        digest: input.digest,
        run_id: run_id.clone(),
        vars: input.vars,
        journal,
        replay: None,
        who: variables::who(),
        rehearsal: true,
    };
    let mut standins = vec![
        ("AWS".to_string(), world.aws_url()),
        ("Docker".to_string(), world.docker_host()),
    ];
    if let Some(up) = &world.docker_upstream {
        standins.push(("Docker builds on the local daemon".into(), up.clone()));
    }
    let expect = input.decisions.as_ref().map(|d| d.expect.clone());
    let wiring = Wiring {
        cluster: Some(cluster),
        aws: Some(aws),
        router,
        rehearsal: Some(Rehearsal {
            rehearsing: world.rehearsing(&input.injections),
            shown: ui::Rehearsal {
                kubeconfig: world.kubeconfig.clone(),
                standins: "sandbox cluster · AWS and Docker stand-ins".into(),
            },
            cluster_url: world.sandbox_url.clone(),
            standins,
            decisions: input.decisions,
        }),
    };
    let ended = run::execute_on(&rt, spec, &gates, wiring);
    drop(world);
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match (expect, &ended.outcome) {
        (Some(expect), Some(outcome)) if !expect.is_empty() => {
            match expect.check_journal(outcome, &path, &runbook) {
                Ok(()) => {
                    // The rehearsal did what its script says: a test of the runbook that passed.
                    println!("rehearsal {run_id}: as expected");
                    exit::OK
                }
                Err(unmet) => {
                    for l in unmet {
                        eprintln!("tollgate: rehearsal {run_id}: {l}");
                    }
                    exit::EXPECTATION
                }
            }
        }
        _ => ended.code,
    }
}

/// What a rehearsal starts from, read and checked before anything starts: the runbook as the
/// rehearsal runs it, its fixtures, variables, faults and decisions file.
struct Input {
    runbook: runbook::Runbook,
    digest: String,
    fixtures: Vec<PathBuf>,
    vars: variables::Vars,
    injections: Vec<Injection>,
    decisions: Option<Decisions>,
    speed: f64,
    local_docker: bool,
}

impl Input {
    /// Every problem as one line (`FILE:LINE:COL: …` for the files); nothing is started.
    fn read(file: &Path, o: Options, gates: &GateFlags) -> Result<Input, Vec<String>> {
        let one = |e: String| vec![format!("tollgate: {e}")];
        if !(o.speed.is_finite() && o.speed > 0.0) {
            return Err(one(format!(
                "--speed must be a positive number, not {}",
                o.speed
            )));
        }
        let injections = o
            .inject
            .iter()
            .map(|s| Injection::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(one)?;
        let decisions = o.decisions.as_deref().map(decisions::load).transpose()?;
        // The runbook's own problems are printed as `check` prints them.
        let loaded = load_usable(file).map_err(|_| Vec::new())?;
        let dir = std::path::absolute(loaded.dir()).unwrap_or_else(|_| loaded.dir());
        check_ids(&loaded.runbook, gates, None)
            .and_then(|_| inject::check_steps(&loaded.runbook, &injections))
            .map_err(one)?;
        if let Some(d) = &decisions {
            let unknown = d.check_ids(&loaded.runbook);
            if !unknown.is_empty() {
                return Err(unknown);
            }
        }
        let fixtures = prepare::fixtures(&loaded.runbook, &dir, &o.fixtures);
        if let Some(missing) = fixtures.iter().find(|f| !f.is_file()) {
            return Err(one(format!("fixture {} does not exist", missing.display())));
        }
        let vars = resolve_vars(&loaded.runbook, &dir, &o.vars, decisions.as_ref()).map_err(one)?;
        Ok(Input {
            runbook: prepare::runbook(&loaded.runbook),
            digest: loaded.digest,
            fixtures,
            vars,
            injections,
            decisions,
            speed: o.speed,
            local_docker: o.local_docker,
        })
    }
}

/// The variables of a rehearsal: its own values (the runbook's `rehearsal.vars`, the decisions
/// file's, `--var`), made-up secrets, and nothing read from the real environment; a prompt only
/// on a terminal, and never when a decisions file scripts the rehearsal.
fn resolve_vars(
    rb: &runbook::Runbook,
    dir: &Path,
    given: &[(String, String)],
    decisions: Option<&Decisions>,
) -> Result<variables::Vars, String> {
    let mut from_script: Vec<(String, String)> = Vec::new();
    let mut secrets: Vec<(String, String)> = Vec::new();
    if let Some(d) = decisions {
        from_script.extend(d.vars.iter().cloned());
        for (name, var) in &rb.variables {
            if let Some(v) = d.prompt(name) {
                if var.secret {
                    secrets.push((name.clone(), v));
                } else {
                    from_script.push((name.clone(), v));
                }
            }
        }
    }
    from_script.extend(given.iter().cloned());
    let overrides = prepare::overrides(rb, dir, &from_script);
    let lookup = prepare::lookup(rb, &secrets);
    let scripted = decisions.is_some();
    let prompt = |name: &str, var: &runbook::Variable| {
        if scripted {
            None
        } else {
            run::prompt_var(name, var)
        }
    };
    let prompt: &dyn Fn(&str, &runbook::Variable) -> Option<String> = &prompt;
    variables::resolve(rb, &overrides, &[], &lookup, Some(prompt)).map_err(|e| {
        if scripted {
            format!("{e} (or give it in the decisions file's `prompts` or `vars`)")
        } else {
            e
        }
    })
}

/// A rehearsal's own folder: short, under the temporary folder (a unix socket's path is
/// limited to about a hundred bytes).
fn rehearsal_dir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tollgate-rehearsal-{run_id}"))
}
