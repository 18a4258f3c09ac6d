//! The command line's arguments: the commands, their flags, and `--var NAME=VALUE`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueHint};

use crate::runbook::vars;

/// The demo's default `--speed`: a rolling update of its three pods in about ten seconds, the
/// crash-looping release failing in about fifteen.
pub const DEMO_SPEED: f64 = 2.0;

#[derive(Parser, Debug)]
#[command(
    name = "tollgate",
    version,
    about = "Run deployment and incident runbooks, with a gate before anything that changes the world"
)]
pub struct Cli {
    /// Where journals and audit logs live (default: $TOLLGATE_STATE_DIR, $XDG_STATE_HOME/tollgate or ~/.local/state/tollgate).
    #[arg(long, global = true, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub state_dir: Option<PathBuf>,
    /// Without one, on a terminal: the launcher (as `tollgate open`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl GateFlags {
    /// The flags' defaults, as when none is given (`tollgate` alone).
    pub fn defaults() -> GateFlags {
        GateFlags {
            theme: "dark".into(),
            scrollback: 100_000,
            ..GateFlags::default()
        }
    }
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct GateFlags {
    /// Approve this gate (a phase or step id) without asking, its checklist confirmed; a
    /// destructive gate needs its confirmation word: ID=WORD. May be repeated.
    #[arg(long, value_name = "GATE_ID[=WORD]")]
    pub approve: Vec<String>,
    /// Approve every gate that is not destructive without asking (recorded as such in the
    /// journal and audit log); a destructive gate still needs --approve ID=WORD.
    #[arg(long)]
    pub approve_all: bool,
    /// Re-run this step if it was interrupted or failed; may be repeated.
    #[arg(long, value_name = "STEP_ID")]
    pub rerun: Vec<String>,
    /// Mark this interrupted step as done without re-running it; may be repeated.
    #[arg(long, value_name = "STEP_ID")]
    pub mark_done: Vec<String>,
    /// On resume, stop what an interrupted step left running (SIGTERM, then SIGKILL) before
    /// anything re-runs.
    #[arg(long)]
    pub kill_survivors: bool,
    /// On resume, wait until what an interrupted step left running has ended.
    #[arg(long = "wait")]
    pub wait_survivors: bool,
    /// Do not run this phase or step: it is journaled as skipped, by you, via --skip (even a
    /// step that failed before, on resume); may be repeated.
    #[arg(long, value_name = "ID")]
    pub skip: Vec<String>,
    /// Plain line output instead of the interface (always, when there is no terminal).
    #[arg(long)]
    pub headless: bool,
    /// Headless: pass step output on as it is, escape sequences and all (e.g. for output written
    /// to a file); by default colours are kept and every other control sequence dropped.
    #[arg(long)]
    pub raw_output: bool,
    /// Colour theme of the interface: dark, light, presenter, or one from the user themes folder.
    #[arg(long, value_name = "NAME", default_value = "dark")]
    pub theme: String,
    /// Record what the terminal shows as an asciicast v2 file (`asciinema play FILE`), with a
    /// marker at every gate (`asciinema play -m` pauses there); secrets are masked on screen, so
    /// in the recording too.
    #[arg(long, value_name = "FILE.cast")]
    pub record: Option<PathBuf>,
    /// Lines of output kept per step in the interface.
    #[arg(long, value_name = "LINES", default_value_t = 100_000)]
    pub scrollback: usize,
    /// The kube context to run against instead of the runbook's `targets.kube.context`.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Set by `resume --accept-changed-runbook`.
    #[arg(skip)]
    pub accept_changed_runbook: bool,
    /// Set a variable from a file (a secret's way in besides its environment variable and a
    /// prompt): NAME=PATH, refused when the file is readable by group or others; may be repeated.
    #[arg(long = "var-file", value_name = "NAME=PATH", value_parser = parse_var_file)]
    pub var_file: Vec<(String, PathBuf)>,
    /// When the run fails and its failure path leads to another runbook (`on_failure: {runbook:
    /// NAME}`), run that one next, following it: the failed run's id as `{{ from_run }}`, its
    /// targets and shared variables carried; its gates decided as this run's are.
    #[arg(long)]
    pub follow_failure_runbook: bool,
    /// Let the members of GROUP follow the run (`tollgate follow --socket PATH`): its socket
    /// gets that group and mode 0660, and the run's folder, `runs/` and the state folder get
    /// that group and g+x (search, not read). Without it only your user can follow.
    #[arg(long, value_name = "GROUP")]
    pub share_group: Option<String>,
    /// Serve followers over TCP at ADDR too (`127.0.0.1:7420`; port 0 picks a free one), for
    /// `tollgate follow --connect ADDR` with the token printed once as the run starts. Nobody is
    /// named over TCP, so such followers only watch; and nothing is encrypted: prefer
    /// `ssh HOST tollgate follow`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Write the run's events to FILE (`-`: standard output, the plain lines then going to
    /// standard error) as JSON lines, one event a line: `{"at": TIME, "event": EVENT}`
    /// (docs/events.md). Secrets are masked in them as on the screen.
    #[arg(long, value_name = "FILE|-", value_hint = ValueHint::FilePath)]
    pub events: Option<PathBuf>,
    /// The stream `--events` names, opened once for the command.
    #[arg(skip)]
    pub events_out: Option<crate::record::tap::EventsOut>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse and validate runbooks: every problem as `file:line:col: message`.
    Check {
        #[arg(required = true, value_hint = ValueHint::FilePath)]
        files: Vec<PathBuf>,
        /// `text` (`file:line:col: message`) or `json` (one JSON object per problem and line:
        /// file, line, column, severity, message), for editors and CI annotations.
        #[arg(long, value_name = "text|json", default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Show every phase, gate, checklist item and step with variables filled in. Runs nothing.
    Plan {
        #[arg(value_hint = ValueHint::FilePath)]
        file: PathBuf,
        /// Set a variable: NAME=VALUE (not a secret one).
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// Show how each step rehearses under `tollgate rehearse`: real against the stand-ins,
        /// replaced, or skipped (and why), and the rehearsal's coverage.
        #[arg(long)]
        rehearse: bool,
    },
    /// Run a runbook.
    Run {
        #[arg(value_hint = ValueHint::FilePath)]
        file: PathBuf,
        /// Set a variable: NAME=VALUE (not a secret one: see --var-file).
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        #[command(flatten)]
        gates: GateFlags,
    },
    /// Rehearse the built-in demo: ship a release to a sandbox cluster in process (a rolling
    /// update, its pods and logs live), then one that crash-loops on purpose, and roll it back.
    /// Needs no cloud, no Docker and no cluster.
    Demo {
        /// Set a variable: NAME=VALUE.
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// A decisions file scripting the gates (e.g. runbooks/demo/decisions.yaml): headless,
        /// exit 0 when the run ends as the file expects, 7 when not.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        decisions: Option<PathBuf>,
        /// Divide every simulated delay of the sandbox cluster by this.
        #[arg(long, default_value_t = DEMO_SPEED)]
        speed: f64,
        #[command(flatten)]
        gates: GateFlags,
    },
    /// Rehearse a runbook end to end against stand-ins started in process (a Kubernetes sandbox
    /// loaded with the runbook's cluster fixture, AWS and Docker stand-ins), touching nothing
    /// real; all removed at the end.
    Rehearse {
        #[arg(value_hint = ValueHint::FilePath)]
        file: PathBuf,
        /// Set a variable: NAME=VALUE (not a secret one: a rehearsal makes those up).
        #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
        vars: Vec<(String, String)>,
        /// A decisions file: each gate's choice, values for prompts, and what the run must end
        /// as; the rehearsal is then headless, and exits 7 when the expectation does not hold.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        decisions: Option<PathBuf>,
        /// A fault to inject: step=ID:fail[:MESSAGE], crashloop=DEPLOYMENT@STEP,
        /// node-loss=NODE@STEP, api-restart@STEP, secret-missing=ID; may be repeated.
        #[arg(long, value_name = "SPEC")]
        inject: Vec<String>,
        /// More Kubernetes manifests for the rehearsal cluster to start from; may be repeated.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        fixture: Vec<PathBuf>,
        /// Divide every simulated delay of the cluster by this (pods start, roll and crash faster).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Docker builds: on a local daemon when one answers (`auto`), or always in the stand-in.
        #[arg(long, value_name = "auto|stand-in", default_value = "auto", value_parser = ["auto", "stand-in"])]
        docker: String,
        #[command(flatten)]
        gates: GateFlags,
    },
    /// Resume a run where it stopped (default: the latest unfinished run).
    Resume {
        run_id: Option<String>,
        /// Go on with a runbook that changed since the run last ran it (journaled and audited as
        /// your decision).
        #[arg(long)]
        accept_changed_runbook: bool,
        #[command(flatten)]
        gates: GateFlags,
    },
    /// The launcher, on a terminal (also `tollgate` alone): the runbooks under DIR (default:
    /// ./runbooks or the folders of $TOLLGATE_RUNBOOKS) grouped by system and filtered as you
    /// type (names, descriptions, alerts, symptoms), the unfinished runs to resume, and a form
    /// for the chosen runbook's variables before it runs. Without a terminal: exit 2.
    Open {
        /// The folder of runbooks to list.
        #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        gates: GateFlags,
    },
    /// Follow a run another terminal drives: the same interface, read-only until its driver
    /// hands you the keys (`D` asks).
    Follow {
        /// The run to follow (default: the one run in the state folder that can be followed).
        run_id: Option<String>,
        /// The run's socket (e.g. another user's, shared with `--share-group`).
        #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
        socket: Option<PathBuf>,
        /// Follow a run served with `--listen ADDR` over TCP, watching only; the token from
        /// `$TOLLGATE_FOLLOW_TOKEN`, else asked for without echo.
        #[arg(long, value_name = "ADDR", conflicts_with_all = ["socket", "run_id"])]
        connect: Option<String>,
        /// Colour theme (default: the driver's): dark, light, presenter, or a user theme.
        #[arg(long, value_name = "NAME")]
        theme: Option<String>,
        /// Lines of output kept per step.
        #[arg(long, value_name = "LINES", default_value_t = 100_000)]
        scrollback: usize,
    },
    /// List runs with their status.
    Runs {
        /// Only the ids of the runs a `resume` can take (not succeeded, journal readable), newest
        /// first, one per line: what shell completion offers after `tollgate resume`.
        #[arg(long)]
        ids: bool,
        /// Only the ids of every run whose journal exists, newest first, one per line: what shell
        /// completion offers after `tollgate report`.
        #[arg(long, conflicts_with = "ids")]
        all_ids: bool,
    },
    /// Write a run's report, for a postmortem: the runbook and its targets, who drove and who
    /// watched, a timeline of phases and steps, every gate and who decided it how, every change
    /// and revert, the failure path and linked runs, the last lines of each failed step; from
    /// its journal and kept output, secrets masked.
    Report {
        /// The run (as `tollgate runs` lists it).
        run_id: String,
        /// `md` (Markdown that renders on GitHub) or `html` (one self-contained page with a
        /// timeline chart).
        #[arg(long, value_name = "md|html", default_value = "md", value_parser = ["md", "html"])]
        format: String,
        /// Write it to FILE (readable by you only) instead of printing it.
        #[arg(short = 'o', long = "output", value_name = "FILE", value_hint = ValueHint::FilePath)]
        output: Option<PathBuf>,
    },
    /// Check that a run's journal and its audit log lines are as tollgate wrote them: the
    /// journal's hash chain from the runbook digest and its rules, the audit log's chain, and the
    /// two agreeing. Exit 0, or 6 with the first `PATH:LINE: what is wrong`.
    Verify {
        /// The run's id (as `tollgate runs` lists it).
        run_id: String,
    },
    /// Find runbooks by what a responder knows: an alert's name, a symptom, words of the name or
    /// description (a fuzzy match over each runbook's triggers, name, description, owner and
    /// path), under ./runbooks or the folders of $TOLLGATE_RUNBOOKS. One line per runbook, best
    /// first: PATH, name, and what matched. Exit 0 with a match, 1 with none.
    Find {
        /// What to look for; several words match each on its own.
        #[arg(required = true)]
        text: Vec<String>,
        /// Look under this folder instead (may be repeated).
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the runbook format.
    Schema,
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell), e.g. `tollgate
    /// completions bash > ~/.local/share/bash-completion/completions/tollgate`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `tollgate man > ~/.local/share/man/man1/tollgate.1`.
    Man,
    /// Write a starter runbook to edit, and two decisions files that rehearse it (its happy path
    /// and its way back), into DIR (default: runbooks/example). Everything it runs stays in DIR;
    /// nothing that exists is overwritten.
    Init {
        /// The folder to write into, created when missing [default: runbooks/example].
        #[arg(value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
    /// Serve an in-memory Kubernetes API on 127.0.0.1, with controllers, to rehearse runbooks against.
    Sandbox {
        /// A YAML stream of Kubernetes manifests to start from; may be repeated.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
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
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
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

fn parse_var_file(s: &str) -> Result<(String, PathBuf), String> {
    let (k, v) = parse_var(s).map_err(|e| e.replace("NAME=VALUE", "NAME=PATH"))?;
    if v.is_empty() {
        return Err(format!("`{s}` names no file"));
    }
    Ok((k, PathBuf::from(v)))
}
