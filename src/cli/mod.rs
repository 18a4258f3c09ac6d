//! The command line: check, plan, run, resume, demo, runs, report, verify, schema, init, sandbox. The arguments are
//! in [`args`]; each command in its own file; this file only dispatches.

mod args;
mod completions;
pub mod exit;
mod find;
mod follow;
mod init;
mod interface;
mod load;
mod open;
mod plan;
mod rehearse;
mod report;
mod run;
mod runs;
mod sandbox;
mod verify;
mod watch;
mod wiring;

pub use args::{Cli, Command, GateFlags};
pub use open::{form_for, launcher};
pub use wiring::{executor, namespaces_of, pin_aws, pin_cluster};

use crate::engine::journal;
use crate::runbook;

/// Runs a command; returns the process's exit code (see [`exit`]).
pub fn main_with(cli: Cli) -> i32 {
    let state_dir = cli
        .state_dir
        .clone()
        .unwrap_or_else(journal::default_state_dir);
    let Some(mut command) = cli.command else {
        return open::open(&state_dir, None, GateFlags::defaults());
    };
    if let Command::Run { gates, .. }
    | Command::Demo { gates, .. }
    | Command::Rehearse { gates, .. }
    | Command::Resume { gates, .. }
    | Command::Open { gates, .. } = &mut command
        && let Some(path) = &gates.events
    {
        match crate::record::tap::EventsOut::open(path) {
            Ok(out) => gates.events_out = Some(out),
            Err(e) => {
                eprintln!("tollgate: --events {}: {e}", path.display());
                return exit::USAGE;
            }
        }
    }
    match command {
        Command::Open { dir, gates } => open::open(&state_dir, dir, gates),
        Command::Check { files, format } => load::check(&files, format == "json"),
        Command::Plan {
            file,
            vars,
            rehearse,
        } => plan::plan(&file, &vars, rehearse),
        Command::Find { text, dir } => find::find(&text.join(" "), dir),
        Command::Completions { shell } => completions::print(shell),
        Command::Man => {
            let cmd = <args::Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            match clap_mangen::Man::new(cmd).render(&mut page) {
                Ok(()) => {
                    use std::io::Write as _;
                    let _ = std::io::stdout().write_all(&page);
                    exit::OK
                }
                Err(e) => {
                    eprintln!("tollgate: the manual page could not be written: {e}");
                    exit::FAILED
                }
            }
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&runbook::schema()).unwrap_or_default()
            );
            exit::OK
        }
        Command::Init { dir } => init::init(dir),
        Command::Runs { ids, all_ids } => runs::runs(&state_dir, ids, all_ids),
        Command::Report {
            run_id,
            format,
            output,
        } => report::report(&state_dir, &run_id, &format, output.as_deref()),
        Command::Verify { run_id } => verify::verify(&state_dir, &run_id),
        Command::Follow {
            run_id,
            socket,
            connect,
            theme,
            scrollback,
        } => match connect {
            Some(addr) => watch::follow_tcp(&state_dir, &addr, theme, scrollback),
            None => watch::follow(&state_dir, run_id, socket, theme, scrollback),
        },
        Command::Run { file, vars, gates } => run::run(&state_dir, &file, &vars, gates),
        Command::Demo {
            vars,
            decisions,
            speed,
            gates,
        } => match run::demo(&state_dir) {
            Ok(file) => rehearse::rehearse(
                &state_dir,
                &file,
                rehearse::Options {
                    vars,
                    decisions,
                    inject: vec![run::DEMO_INJECT.to_string()],
                    fixtures: Vec::new(),
                    speed,
                    // Builds in the Docker stand-in, whatever daemon is around: the same
                    // every time.
                    local_docker: false,
                },
                gates,
            ),
            Err(code) => code,
        },
        Command::Rehearse {
            file,
            vars,
            decisions,
            inject,
            fixture,
            speed,
            docker,
            gates,
        } => rehearse::rehearse(
            &state_dir,
            &file,
            rehearse::Options {
                vars,
                decisions,
                inject,
                fixtures: fixture,
                speed,
                local_docker: docker == "auto",
            },
            gates,
        ),
        Command::Resume {
            run_id,
            accept_changed_runbook,
            mut gates,
        } => {
            gates.accept_changed_runbook = accept_changed_runbook;
            run::resume(&state_dir, run_id, gates)
        }
        Command::Sandbox {
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
            sandbox::sandbox(
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
