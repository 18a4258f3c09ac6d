//! `--record FILE.cast`: what the terminal showed, as an asciicast v2 recording (asciinema's
//! format: a JSON header line, then `[seconds, "o", text]` for output and `[seconds, "m", label]`
//! for a marker), with a marker at every gate so that `asciinema play -m` pauses there. What is
//! recorded is what the screen showed: secrets are masked before they reach it.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A recording in progress; clones write to the same file.
#[derive(Clone)]
pub struct Cast {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    out: BufWriter<File>,
    start: Instant,
    /// The start of a UTF-8 character cut by the end of the last write.
    pending: Vec<u8>,
    /// The first error writing the file: the recording stops there, the run goes on.
    failed: Option<String>,
}

impl Cast {
    /// Starts a recording of a `width`×`height` terminal at `path` (owner-only, replaced if it
    /// exists).
    pub fn create(path: &Path, width: u16, height: u16, title: &str) -> io::Result<Cast> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        let mut out = BufWriter::new(file);
        let header = serde_json::json!({
            "version": 2,
            "width": width.max(1),
            "height": height.max(1),
            "timestamp": chrono::Utc::now().timestamp(),
            "title": title,
            "env": {"TERM": std::env::var("TERM").unwrap_or_default()},
        });
        writeln!(out, "{header}")?;
        out.flush()?;
        Ok(Cast {
            inner: Arc::new(Mutex::new(Inner {
                out,
                start: Instant::now(),
                pending: Vec::new(),
                failed: None,
            })),
        })
    }

    fn with(&self, f: impl FnOnce(&mut Inner) -> io::Result<()>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.failed.is_none()
            && let Err(e) = f(&mut inner)
        {
            inner.failed = Some(e.to_string());
        }
    }

    /// Bytes written to the terminal.
    pub fn output(&self, bytes: &[u8]) {
        self.with(|i| {
            i.pending.extend_from_slice(bytes);
            let valid = match std::str::from_utf8(&i.pending) {
                Ok(_) => i.pending.len(),
                // A character cut at the end waits for its rest; invalid bytes go as U+FFFD.
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => i.pending.len(),
            };
            if valid == 0 {
                return Ok(());
            }
            let rest = i.pending.split_off(valid);
            let text = String::from_utf8_lossy(&i.pending).into_owned();
            i.pending = rest;
            let t = i.start.elapsed().as_secs_f64();
            let line = serde_json::json!([t, "o", text]);
            writeln!(i.out, "{line}")?;
            i.out.flush()
        });
    }

    /// A marker (`asciinema play -m` pauses at each).
    pub fn marker(&self, label: &str) {
        self.with(|i| {
            let t = i.start.elapsed().as_secs_f64();
            let line = serde_json::json!([t, "m", label]);
            writeln!(i.out, "{line}")?;
            i.out.flush()
        });
    }

    /// Why the recording stopped early, if it did.
    pub fn failure(&self) -> Option<String> {
        self.inner.lock().ok().and_then(|i| i.failed.clone())
    }
}

/// A writer that also records what it writes.
pub struct Tee<W> {
    out: W,
    cast: Option<Cast>,
}

impl<W> Tee<W> {
    pub fn new(out: W, cast: Option<Cast>) -> Tee<W> {
        Tee { out, cast }
    }
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(c) = &self.cast {
            c.output(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file is asciicast v2: a header, then output events whose texts put back together
    /// are what was written (a character cut between two writes included), and markers.
    #[test]
    fn a_recording_is_asciicast_v2_and_keeps_cut_characters_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.cast");
        let cast = Cast::create(&path, 100, 30, "deploy").expect("create");
        let mut tee = Tee::new(Vec::new(), Some(cast.clone()));
        let text = "gate ◆ deploy\r\n";
        let bytes = text.as_bytes();
        let cut = text.find('◆').expect("the diamond") + 1;
        tee.write_all(&bytes[..cut]).expect("write");
        tee.write_all(&bytes[cut..]).expect("write");
        cast.marker("gate: deploy");
        assert_eq!(tee.out, bytes);
        let file = std::fs::read_to_string(&path).expect("read");
        let mut lines = file.lines();
        let header: serde_json::Value =
            serde_json::from_str(lines.next().expect("header")).expect("json");
        assert_eq!(header["version"], 2);
        assert_eq!(
            (header["width"].as_u64(), header["height"].as_u64()),
            (Some(100), Some(30))
        );
        let events: Vec<serde_json::Value> = lines
            .map(|l| serde_json::from_str(l).expect("an event"))
            .collect();
        let out: String = events
            .iter()
            .filter(|e| e[1] == "o")
            .map(|e| e[2].as_str().unwrap_or_default())
            .collect();
        assert_eq!(out, text);
        let markers: Vec<&str> = events
            .iter()
            .filter(|e| e[1] == "m")
            .filter_map(|e| e[2].as_str())
            .collect();
        assert_eq!(markers, ["gate: deploy"]);
        assert!(cast.failure().is_none());
    }
}
