//! The diagnostic log (`tracing`, level from `TOLLGATE_LOG`, default info): rolling daily files
//! `STATE/logs/tollgate.DATE.log`, never the terminal. The audit log is the engine's own
//! (`engine/audit.rs`), written line by line before the engine acts.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Starts the diagnostic log; keep the guard alive for the life of the process so lines are flushed.
pub fn init(state_dir: &Path) -> Option<WorkerGuard> {
    let dir = state_dir.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("tollgate")
        .filename_suffix("log")
        .max_log_files(90)
        .build(&dir)
        .ok()?;
    // A few lines per step at most; a small queue starts faster and keeps RSS low.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(1024)
        .lossy(false)
        .finish(appender);
    let mut filter =
        EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The AWS SDK's trace lines describe requests and responses (the ones that carry secret
    // values): they never reach the log, whatever TOLLGATE_LOG asks for.
    for target in [
        "aws_smithy_runtime",
        "aws_smithy_runtime_api",
        "aws_smithy_http_client",
        "aws_sigv4",
        "aws_runtime",
        "aws_sdk_secretsmanager",
    ] {
        if let Ok(d) = format!("{target}=debug").parse() {
            filter = filter.add_directive(d);
        }
    }
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_span_events(FmtSpan::NONE)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
