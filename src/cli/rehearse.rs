//! `rehearse`: a runbook run end to end against stand-ins started in process — the Kubernetes
//! sandbox loaded with its cluster fixture and serving its pinned context, the AWS and Docker
//! stand-ins, shell steps in an environment where nothing real is reachable — in the interface,
//! or headless and scripted by a decisions file; everything removed at the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::GateFlags;
use super::exit;
use super::follow;
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
            repos: input.repos.clone(),
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
    let mut follow_decisions = input.decisions.as_ref().and_then(|d| d.follow.clone());
    let shown = ui::Rehearsal {
        kubeconfig: world.kubeconfig.clone(),
        standins: "sandbox cluster · AWS and Docker stand-ins".into(),
    };
    let part = |rehearsing, decisions| Rehearsal {
        rehearsing,
        shown: shown.clone(),
        cluster_url: world.sandbox_url.clone(),
        standins: standins.clone(),
        decisions,
    };
    let wiring = Wiring {
        cluster: Some(cluster),
        aws: Some(aws),
        router,
        rehearsal: Some(part(world.rehearsing(&input.injections), input.decisions)),
        following: None,
    };
    let mut prev = follow::Prev::of(&spec, None);
    let mut ended = run::execute_on(&rt, spec, &gates, wiring);
    let mut code = judged(expect, &ended, &path, &runbook, &run_id, &gates);
    // The runbook the failure path leads to, rehearsed in the same world: what the failed run
    // changed in the sandbox is there for its revert to put back.
    while let Some(name) = ended.follow.take() {
        let decisions = follow_decisions.take().map(|d| *d);
        let next = match next_rehearsal(&prev, &name, decisions) {
            Ok(n) => n,
            Err(lines) => {
                for l in lines {
                    eprintln!("{l}");
                }
                code = code.max_severity(exit::USAGE);
                break;
            }
        };
        let (spec, following, prepared, decisions) = next;
        run::say(&gates, &follow::opening(&prev, &spec, &following, &name));
        let expect = decisions.as_ref().map(|d| d.expect.clone());
        follow_decisions = decisions.as_ref().and_then(|d| d.follow.clone());
        let (router, cluster, aws) = world.wiring(&prepared);
        let wiring = Wiring {
            cluster: Some(cluster),
            aws: Some(aws),
            router,
            rehearsal: Some(part(world.rehearsing(&[]), decisions)),
            following: Some(following),
        };
        let (next_id, next_path) = (spec.run_id.clone(), spec.journal.path().to_path_buf());
        prev = follow::Prev::of(&spec, None);
        ended = run::execute_on(&rt, spec, &gates, wiring);
        code = code.max_severity(judged(expect, &ended, &next_path, &prepared, &next_id, &gates).0);
    }
    drop(world);
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code.0
}

/// A rehearsal's exit code so far: the first that is not OK stays.
#[derive(Clone, Copy)]
struct Code(i32);

impl Code {
    fn max_severity(self, next: i32) -> Code {
        if self.0 == exit::OK { Code(next) } else { self }
    }
}

/// A rehearsed run's exit code: its decisions file's `expect` checked against its journal when
/// it expects anything (`as expected`, or each unmet point), else how the run ended.
fn judged(
    expect: Option<decisions::Expectation>,
    ended: &run::Ended,
    path: &Path,
    runbook: &runbook::Runbook,
    run_id: &str,
    gates: &GateFlags,
) -> Code {
    match (expect, &ended.outcome) {
        (Some(expect), Some(outcome)) if !expect.is_empty() => {
            match expect.check_journal(outcome, path, runbook) {
                Ok(()) => {
                    // The rehearsal did what its script says: a test of the runbook that passed.
                    run::say(gates, &format!("rehearsal {run_id}: as expected"));
                    Code(exit::OK)
                }
                Err(unmet) => {
                    for l in unmet {
                        eprintln!("tollgate: rehearsal {run_id}: {l}");
                    }
                    Code(exit::EXPECTATION)
                }
            }
        }
        _ => Code(ended.code),
    }
}

/// A followed rehearsal: its spec, the engine's part, its runbook as rehearsed, its decisions.
type NextRehearsal = (
    RunSpec,
    follow::Following,
    Arc<runbook::Runbook>,
    Option<Decisions>,
);

/// The rehearsal of the runbook `name` the failed run `prev` is followed by: loaded, its
/// decisions (the `follow:` section) checked against it, its variables resolved as a
/// rehearsal's (the carried ones first), prepared for rehearsal, both journals linked.
fn next_rehearsal(
    prev: &follow::Prev,
    name: &str,
    decisions: Option<Decisions>,
) -> Result<NextRehearsal, Vec<String>> {
    let one = |e: String| vec![format!("tollgate: {e}")];
    let linked = follow::linked(prev, name).map_err(|e| e.map(one).unwrap_or_default())?;
    if let Some(d) = &decisions {
        let unknown = d.check_ids(&linked.runbook);
        if !unknown.is_empty() {
            return Err(unknown
                .into_iter()
                .map(|l| format!("{l} (in `follow`, for the runbook `{name}`)"))
                .collect());
        }
    }
    let carried = follow::carried_vars(prev, &linked.runbook);
    let dir = std::path::absolute(linked.dir()).unwrap_or_else(|_| linked.dir());
    let vars = resolve_vars(&linked.runbook, &dir, &carried, &[], decisions.as_ref())
        .map_err(|e| one(format!("runbook `{name}`: {e}")))?;
    let prepared = prepare::runbook(&linked.runbook);
    let (spec, following) = follow::start(prev, linked, prepared, vars).map_err(one)?;
    let prepared = spec.runbook.clone();
    Ok((spec, following, prepared, decisions))
}

/// What a rehearsal starts from, read and checked before anything starts: the runbook as the
/// rehearsal runs it, its fixtures, variables, faults and decisions file.
struct Input {
    runbook: runbook::Runbook,
    digest: String,
    fixtures: Vec<PathBuf>,
    repos: Vec<crate::rehearsal::repos::Repo>,
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
        // A gate's `after` is simulated time, like every delay of the rehearsal.
        let decisions = o
            .decisions
            .as_deref()
            .map(decisions::load)
            .transpose()?
            .map(|d| d.at_speed(o.speed));
        // The runbook's own problems are printed as `check` prints them.
        let loaded = load_usable(file).map_err(|_| Vec::new())?;
        let dir = std::path::absolute(loaded.dir()).unwrap_or_else(|_| loaded.dir());
        let ids = if gates.follow_failure_runbook {
            follow::with_linked(&loaded.runbook, &dir)
        } else {
            loaded.runbook.clone()
        };
        check_ids(&ids, gates, None)
            .and_then(|_| inject::check_steps(&loaded.runbook, &injections))
            .map_err(one)?;
        if let Some(d) = &decisions {
            let mut unknown = d.check_ids(&loaded.runbook);
            // The `follow:` section names the gates of a runbook the failure path leads to.
            if let Some(f) = &d.follow {
                let linked = follow::linked_phases(&loaded.runbook, &dir);
                unknown.extend(
                    f.check_ids(&linked)
                        .into_iter()
                        .map(|l| format!("{l} (in `follow`: no runbook in `links` has it)")),
                );
            }
            if !unknown.is_empty() {
                return Err(unknown);
            }
        }
        let fixtures = prepare::fixtures(&loaded.runbook, &dir, &o.fixtures);
        if let Some(missing) = fixtures.iter().find(|f| !f.is_file()) {
            return Err(one(format!("fixture {} does not exist", missing.display())));
        }
        let vars =
            resolve_vars(&loaded.runbook, &dir, &[], &o.vars, decisions.as_ref()).map_err(one)?;
        Ok(Input {
            runbook: prepare::runbook(&loaded.runbook),
            digest: loaded.digest,
            fixtures,
            repos: crate::rehearsal::repos::of(&loaded.runbook, &dir),
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
    carried: &[(String, String)],
    given: &[(String, String)],
    decisions: Option<&Decisions>,
) -> Result<variables::Vars, String> {
    // Carried from the run this one follows: above the runbook's `rehearsal.vars`, below what
    // the decisions file and `--var` say.
    let mut from_script: Vec<(String, String)> = carried.to_vec();
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
