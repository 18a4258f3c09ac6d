//! AWS-step tests: a `moto_server` (the AWS API emulator from PyPI, in the venv that
//! `tests/moto/setup.sh` makes) started by the test on a free loopback port, stopped by PID when
//! dropped, and a runbook run headless against it with every gate approved.
//!
//! `TOLLGATE_SKIP_MOTO=1` skips these tests, as does a venv that cannot be made (no PyPI): they
//! print why and pass.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tollgate::exec::Router;
use tollgate::exec::aws::AwsExec;
use tollgate::target::account::{Overrides, PinnedAccount};

pub const DEADLINE: Duration = Duration::from_secs(60);
/// The account moto answers for.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// `moto_server` of the venv, after running `tests/moto/setup.sh` once per test process.
fn moto_server() -> Result<PathBuf, String> {
    static SERVER: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            super::venv::setup("moto")?;
            Ok(super::venv::dir("moto", "MOTO_VENV").join("bin/moto_server"))
        })
        .clone()
}

/// A running `moto_server` on 127.0.0.1.
pub struct Moto {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts one, or `None` (after saying why) when moto is skipped or cannot be installed.
    pub fn start() -> Option<Moto> {
        Moto::start_as(MOTO_ACCOUNT)
    }

    /// [`Moto::start`] with the caller's account (what STS answers, what ECR tokens are for).
    pub fn start_as(account: &str) -> Option<Moto> {
        if std::env::var("TOLLGATE_SKIP_MOTO").as_deref() == Ok("1") {
            println!("skipped: TOLLGATE_SKIP_MOTO=1, the moto backend is not run");
            return None;
        }
        let server = match moto_server() {
            Ok(s) => s,
            Err(e) => {
                println!("skipped: moto is not installable here: {e}");
                return None;
            }
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ACCOUNT_ID", account)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let mut moto = Moto {
            child,
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if moto
                .get("/moto-api/")
                .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
            {
                return Some(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited ({status}):\n{}", moto.log());
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 30 s:\n{}",
                moto.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A plain HTTP GET of `path`: the whole response, or `None` when it cannot connect.
    fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// A target for this server with moto's test credentials, pinned to what `wanted` names.
    pub fn target(&self, wanted: Option<&tollgate::runbook::AwsTarget>) -> Arc<PinnedAccount> {
        Arc::new(PinnedAccount::with_overrides(
            wanted,
            Overrides {
                endpoint_url: Some(self.endpoint()),
                credentials: Some(("testing".into(), "testing".into())),
                region: Some(
                    wanted
                        .map(|w| w.region.clone())
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| "us-east-1".into()),
                ),
            },
        ))
    }

    /// An ECR client for what a test sets up and checks itself.
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        let conf = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        aws_sdk_ecr::Client::from_conf(conf)
    }

    /// An SDK client for checks made by the test itself.
    pub async fn client(&self) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let pid = self.child.id() as libc::pid_t;
            // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- moto log ---\n{}", self.log());
        }
    }
}

pub use super::sandbox_cluster::Finished;

/// Runs `yaml` (written as `runbook.yaml` in `dir`) against `target`, approving every gate and
/// aborting at the first failure gate.
pub async fn run_in(
    dir: &Path,
    yaml: &str,
    target: Arc<PinnedAccount>,
    vars: &[(&str, &str)],
) -> Finished {
    run_typing_in(dir, yaml, target, vars, &[]).await
}

/// [`run_in`] as run `run_id` (runs in one `dir` share its state folder: one can revert what
/// another changed); at a failure gate that offers it, `rollback` chooses Rollback.
pub async fn run_as(
    dir: &Path,
    yaml: &str,
    target: Arc<PinnedAccount>,
    run_id: &str,
    vars: &[(&str, &str)],
    rollback: bool,
) -> Finished {
    let mut router = Router::shell_only();
    router.aws = Some(Arc::new(AwsExec { target }));
    super::sandbox_cluster::run_typing(dir, yaml, router, run_id, vars, rollback, &[]).await
}

/// [`run_in`], typing `typed` (step, value) at the masked prompts steps open.
pub async fn run_typing_in(
    dir: &Path,
    yaml: &str,
    target: Arc<PinnedAccount>,
    vars: &[(&str, &str)],
    typed: &[(&str, &str)],
) -> Finished {
    let mut router = Router::shell_only();
    router.aws = Some(Arc::new(AwsExec { target }));
    super::sandbox_cluster::run_typing(dir, yaml, router, "run-1", vars, false, typed).await
}

/// What a runbook's `targets.aws` names: `account` in us-east-1.
pub fn aws_target(account: &str) -> tollgate::runbook::AwsTarget {
    tollgate::runbook::AwsTarget {
        account: account.into(),
        region: "us-east-1".into(),
        ..Default::default()
    }
}

/// A runbook `name` whose target is `account` in us-east-1, with `variables` (lines under
/// `variables:`) and one gated phase of `steps` (lines under `steps:`).
pub fn aws_runbook(name: &str, account: &str, variables: &str, steps: &str) -> String {
    format!(
        "name: {name}\ntargets:\n  environment: production\n  aws: {{ account: \"{account}\", region: us-east-1 }}\nvariables:\n{variables}phases:\n  - id: main\n    gate: true\n    steps:\n{steps}"
    )
}
