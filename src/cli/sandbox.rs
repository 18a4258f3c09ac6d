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
        let written = kubeconfig
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(kubeconfig, sb.kubeconfig_for(namespace, context)));
        if let Err(e) = written {
            eprintln!("tollgate: cannot write {}: {e}", kubeconfig.display());
            return exit::STATE;
        }
        println!("sandbox: Kubernetes API on {}", sb.url());
        println!("kubeconfig: {}", kubeconfig.display());
        println!("  export KUBECONFIG={}", kubeconfig.display());
        println!("stop with Ctrl-C");
        let _ = std::io::stdout().flush();
        wait_for_stop().await;
        drop(sb);
        let _ = std::fs::remove_file(kubeconfig);
        exit::OK
    })
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let term = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let hup = async {
        match hup.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = hup => {}
    }
}
