//! `sandbox`: the in-memory Kubernetes API served on 127.0.0.1 until Ctrl-C, with a kubeconfig
//! that points at it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exit;

pub(super) fn sandbox(
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
            history_bytes: None,
            no_default_node: false,
            repos: Vec::new(),
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
        let text = format!("{MARKER}\n{}", sb.kubeconfig_for(namespace, context));
        if let Err(e) = write_kubeconfig(kubeconfig, &text) {
            eprintln!("tollgate: {e}");
            return e.code();
        }
        let stops = Stops::listen();
        println!("sandbox: Kubernetes API on {}", sb.url());
        println!(
            "traffic: Services and Ingress hosts on {} (routed by Host: SERVICE.NAMESPACE.svc, or an Ingress host)",
            sb.traffic_url()
        );
        println!("kubeconfig: {}", kubeconfig.display());
        println!("  export KUBECONFIG={}", kubeconfig.display());
        println!("stop with Ctrl-C");
        let _ = std::io::stdout().flush();
        stops.wait().await;
        drop(sb);
        remove_kubeconfig(kubeconfig, &text);
        exit::OK
    })
}

/// Ctrl-C, SIGTERM and SIGHUP, listened for from the moment this is made: made before the
/// sandbox says it is ready, a signal sent as soon as it does is not lost (nor kills it outright).
struct Stops {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Stops {
    fn listen() -> Stops {
        use tokio::signal::unix::{SignalKind, signal};
        Stops {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// Until one of them arrives.
    async fn wait(mut self) {
        async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
            match s.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = one(&mut self.interrupt) => {}
            _ = one(&mut self.terminate) => {}
            _ = one(&mut self.hangup) => {}
        }
    }
}

/// The first line of every kubeconfig the sandbox writes: a file without it was not written by
/// the sandbox, and is never overwritten nor removed.
const MARKER: &str = "# written by `tollgate sandbox`; removed when it stops";

/// Why the kubeconfig could not be written.
#[derive(Debug, thiserror::Error)]
enum KubeconfigError {
    #[error(
        "{0} is a symbolic link; the sandbox writes its kubeconfig only to a path of its own (give another --kubeconfig)"
    )]
    Symlink(String),
    #[error(
        "{0} exists and was not written by `tollgate sandbox`; it is left as it is (remove it, or give another --kubeconfig)"
    )]
    NotOurs(String),
    #[error("cannot write {0}: {1}")]
    Io(String, std::io::Error),
}

impl KubeconfigError {
    fn code(&self) -> i32 {
        match self {
            KubeconfigError::Symlink(_) | KubeconfigError::NotOurs(_) => exit::USAGE,
            KubeconfigError::Io(..) => exit::STATE,
        }
    }
}

/// Writes the sandbox's kubeconfig at `path`, readable by its owner only: never through a
/// symbolic link, and never over a file the sandbox did not write (one that starts with
/// [`MARKER`] is a sandbox's left over after a crash, and is replaced).
fn write_kubeconfig(path: &Path, text: &str) -> Result<(), KubeconfigError> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let shown = path.display().to_string();
    let io = |e| KubeconfigError::Io(shown.clone(), e);
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(KubeconfigError::Symlink(shown)),
        Ok(_) => {
            let ours = std::fs::read_to_string(path)
                .map(|t| t.lines().next() == Some(MARKER))
                .unwrap_or(false);
            if !ours {
                return Err(KubeconfigError::NotOurs(shown));
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io)?;
    }
    // A new file only (a link or file put there since the check is refused), mode 0600 whatever
    // the umask.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Removes the kubeconfig when it is still the one the sandbox wrote (not replaced since).
fn remove_kubeconfig(path: &Path, text: &str) {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link && std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        let _ = std::fs::remove_file(path);
    }
}
