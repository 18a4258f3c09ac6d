//! The real `tollgate` binary run headless on a state folder, and waiting on its journal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A temporary folder with a state folder `state/` in it.
pub struct Bin {
    pub tmp: tempfile::TempDir,
}

impl Bin {
    pub fn new() -> Bin {
        Bin {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// `tollgate rehearse --headless RUNBOOK`, which must refuse to start with exit 5 and one line
    /// on stderr, printing nothing; that line.
    pub fn rehearsal_refused(&self, runbook: &Path) -> String {
        let out = self
            .command(&["rehearse", "--headless", runbook.to_str().unwrap()])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line:\n{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        stderr
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub fn state(&self) -> PathBuf {
        self.dir().join("state")
    }

    /// `tollgate --state-dir STATE ARGS…`, from the crate's folder, stdin closed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env("TMPDIR", self.dir())
            .env("USER", "ops-tester")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `yaml` written as `NAME` in the folder; its path.
    pub fn runbook(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// The one run in the state folder: its id and journal's path.
    pub fn only_run(&self) -> (String, PathBuf) {
        let runs: Vec<String> = std::fs::read_dir(self.state().join("runs"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        assert_eq!(runs.len(), 1, "{runs:?}");
        let path = tollgate::engine::journal::journal_path(&self.state(), &runs[0]);
        (runs[0].clone(), path)
    }

    /// Every audit log line so far.
    pub fn audit(&self) -> String {
        let mut all = String::new();
        for e in std::fs::read_dir(self.state().join("logs"))
            .unwrap()
            .flatten()
        {
            all.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
        all
    }
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Waits until `done()` holds, failing with `what` after `deadline`.
pub fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
