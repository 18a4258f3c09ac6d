//! `tollgate rehearse` of a committed runbook, run as an operator would: the real binary, headless,
//! a state folder and a HOME of its own, a real `kubectl` and `aws` CLI first on the PATH (the
//! shell steps call them against the rehearsal's stand-ins), and a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How much faster than real time the sandbox runs in these rehearsals.
pub const SPEED: &str = "50";

/// What one `tollgate` command did.
pub struct Rehearsed {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Its temporary folder: `state/` (the state folder), `home/`.
    pub tmp: tempfile::TempDir,
    pub took: Duration,
}

impl Rehearsed {
    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    /// stdout and stderr, for assertion messages.
    pub fn printed(&self) -> String {
        format!(
            "exit {:?} after {:.1}s\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.took.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }

    /// The journal of the one run in the state folder, as its lines.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        let runs: Vec<PathBuf> = std::fs::read_dir(self.state().join("runs"))
            .unwrap_or_else(|e| panic!("no runs folder: {e}\n{}", self.printed()))
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        let text = std::fs::read_to_string(runs[0].join("journal.jsonl")).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// The folder of the crate: runbooks are named relative to it.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// PATH with the folders of the real `kubectl` and `aws` first.
fn path_with_tools() -> std::ffi::OsString {
    let kubectl = super::kubectl::binary();
    let aws = super::awscli::binary().unwrap_or_else(|e| panic!("no aws CLI: {e}"));
    let mut dirs = vec![
        kubectl.parent().unwrap().to_path_buf(),
        aws.parent().unwrap().to_path_buf(),
    ];
    if let Some(p) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(dirs).unwrap()
}

/// `tollgate --state-dir STATE ARGS…` from the crate's folder, with the tools on the PATH, a HOME
/// and TMPDIR of its own and stdin closed; killed (by its PID) if it outlives `deadline`.
pub fn tollgate(args: &[&str], deadline: Duration) -> Rehearsed {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.current_dir(root())
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(args)
        .env("PATH", path_with_tools())
        .env("HOME", &home)
        .env("TMPDIR", tmp.path())
        .env("USER", "ops-tester")
        .env_remove("KUBECONFIG")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing of the machine's AWS set-up is read.
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("TOLLGATE_") {
            cmd.env_remove(k);
        }
    }
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stderr = String::new();
        let reader = std::thread::spawn(move || {
            let _ = err.read_to_string(&mut stderr);
            stderr
        });
        let mut stdout = String::new();
        let _ = out.read_to_string(&mut stdout);
        let stderr = reader.join().unwrap_or_default();
        let status = child.wait().ok();
        let _ = tx.send((status.and_then(|s| s.code()), stdout, stderr));
    });
    match rx.recv_timeout(deadline) {
        Ok((code, stdout, stderr)) => Rehearsed {
            code,
            stdout,
            stderr,
            tmp,
            took: start.elapsed(),
        },
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let (_, stdout, stderr) = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
            panic!(
                "tollgate {args:?} did not finish within {deadline:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
            );
        }
    }
}

/// `tollgate rehearse RUNBOOK --decisions DECISIONS --headless --speed SPEED --docker stand-in
/// EXTRA…`, paths relative to the crate's folder; its wall time printed for the report.
pub fn rehearse(runbook: &str, decisions: &str, extra: &[&str], deadline: Duration) -> Rehearsed {
    // Absolute: `{{ runbook_dir }}` is the runbook's folder as given, and the checkout the
    // runbook's `rehearsal.vars` point at must be an absolute path.
    let runbook_path = root().join(runbook);
    let runbook_arg = runbook_path.to_str().unwrap();
    let mut args = vec![
        "rehearse",
        runbook_arg,
        "--decisions",
        decisions,
        "--headless",
        "--speed",
        SPEED,
        "--docker",
        "stand-in",
    ];
    args.extend_from_slice(extra);
    let r = tollgate(&args, deadline);
    eprintln!(
        "rehearsed {runbook} with {decisions} {extra:?}: exit {:?} in {:.1}s",
        r.code,
        r.took.as_secs_f64()
    );
    r
}
