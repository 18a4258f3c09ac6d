//! The diagnostic log (`tracing`, level from `TOLLGATE_LOG`, default info): daily files
//! `STATE/logs/tollgate.YYYY-MM-DD.log` (0600), never the terminal. The audit log is the engine's
//! own (`engine/audit.rs`), written line by line before the engine acts.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Starts the diagnostic log; keep the guard alive for the life of the process so lines are flushed.
pub fn init(state_dir: &Path) -> Option<WorkerGuard> {
    let dir = state_dir.join("logs");
    crate::engine::journal::create_private_dir(&dir).ok()?;
    let appender = DailyFile {
        dir,
        day: String::new(),
        file: None,
    };
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

/// How many daily audit files are kept.
const KEEP: usize = 90;

/// The diagnostic log's files, `tollgate.YYYY-MM-DD.log` (UTC days), each created readable and writable
/// by its owner only (0600) whatever the umask, the oldest beyond [`KEEP`] removed.
struct DailyFile {
    dir: PathBuf,
    day: String,
    file: Option<File>,
}

impl DailyFile {
    fn today(&mut self) -> io::Result<&mut File> {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        if self.file.is_none() || day != self.day {
            let path = self.dir.join(format!("tollgate.{day}.log"));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)?;
            // A file an earlier version made keeps its mode when opened: set it.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            self.file = Some(file);
            self.day = day;
            self.prune();
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    fn prune(&self) {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("tollgate.") && n.ends_with(".log"))
            .collect();
        names.sort();
        let extra = names.len().saturating_sub(KEEP);
        for name in &names[..extra] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }
}

impl Write for DailyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.today()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}
