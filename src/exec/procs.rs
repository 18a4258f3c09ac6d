//! The processes a step started, told apart from any later process that reuses their ids: what
//! an executor reports before a step's process may run ([`Started`]), and, after tollgate died,
//! which of them still run ([`survivors`]) and stopping them ([`stop`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// A step's process as started: its group, its pid, and its start time (field 22 of
/// `/proc/PID/stat`, in clock ticks since boot) on this boot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcStart {
    pub pgid: i32,
    pub pid: i32,
    pub start_ticks: u64,
    pub boot_id: String,
}

/// A process started and held until the receiver has recorded it and answered on `ack`;
/// dropping `ack` unanswered stops the step before it runs.
#[derive(Debug)]
pub struct Started {
    pub proc: ProcStart,
    pub ack: oneshot::Sender<()>,
}

/// Where executors report the processes they start.
pub type StartedTx = mpsc::Sender<Started>;

/// A process of an interrupted step that still runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survivor {
    pub pid: i32,
    /// Its command line, arguments separated by spaces.
    pub command: String,
    /// When it started, local time.
    pub since: String,
}

impl Survivor {
    /// `pid 123 `sleep 30` since 22:01:05`.
    pub fn describe(&self) -> String {
        // A script's command line spans lines: said on one, as every message is.
        let command = crate::text::one_line(&crate::text::terminal_safe(&self.command));
        format!("pid {} `{command}` since {}", self.pid, self.since)
    }
}

/// This boot's id; start times compare only within one boot.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A process's group and start time, from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // `rest` starts at field 3 (state): field N is fields[N - 3].
    let state = fields.first()?;
    if *state == "Z" || *state == "X" {
        return None;
    }
    Some((fields.get(2)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// The start time of `pid` (clock ticks since boot), if it runs.
pub fn start_ticks(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, t)| t)
}

/// Which processes of `p`'s group still run: the recorded process itself (same pid and start
/// time) and every process in its group started no earlier. Nothing when the group id has been
/// reused (its leader's pid runs with another start time) or the machine has rebooted.
pub fn survivors(p: &ProcStart) -> Vec<Survivor> {
    if p.pgid <= 0 || p.boot_id != boot_id() {
        return Vec::new();
    }
    if let Some((_, t)) = stat(p.pgid)
        && t != p.start_ticks
        && p.pgid == p.pid
    {
        return Vec::new();
    }
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Some((pgid, ticks)) = stat(pid) else {
            continue;
        };
        let ours =
            (pid == p.pid && ticks == p.start_ticks) || (pgid == p.pgid && ticks >= p.start_ticks);
        if ours {
            found.push(Survivor {
                pid,
                command: command_line(pid),
                since: since(ticks),
            });
        }
    }
    found.sort_by_key(|s| s.pid);
    found
}

fn command_line(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let parts: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    if parts.is_empty() {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| format!("[{}]", s.trim()))
            .unwrap_or_default()
    } else {
        parts.join(" ")
    }
}

/// The local time `ticks` after boot. From the uptime (which, like start times, counts time
/// suspended), not `btime`, which drifts from it on a machine that has slept.
fn since(ticks: u64) -> String {
    let uptime = std::fs::read_to_string("/proc/uptime").ok().and_then(|s| {
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
    });
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    match uptime {
        Some(up) => {
            let ago = (up - ticks as f64 / hz).max(0.0);
            let at = chrono::Local::now() - chrono::Duration::milliseconds((ago * 1000.0) as i64);
            at.format("%Y-%m-%d %H:%M:%S").to_string()
        }
        None => String::new(),
    }
}

/// Waits until none of `p`'s processes runs.
pub async fn gone(p: &ProcStart) {
    let mut pause = Duration::from_millis(5);
    while !survivors(p).is_empty() {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// SIGTERM to `p`'s group and each survivor, SIGKILL after `grace`, and back once they are
/// gone (or `deadline` passed: then those still there are returned).
pub async fn stop(p: &ProcStart, grace: Duration, deadline: Duration) -> Vec<Survivor> {
    let signal = |sig: i32| {
        let found = survivors(p);
        // SAFETY: kill signals processes; no memory is involved.
        unsafe {
            if !found.is_empty() {
                libc::kill(-p.pgid, sig);
            }
            for s in &found {
                libc::kill(s.pid, sig);
            }
        }
    };
    signal(libc::SIGTERM);
    if tokio::time::timeout(grace, gone(p)).await.is_ok() {
        return Vec::new();
    }
    signal(libc::SIGKILL);
    match tokio::time::timeout(deadline, gone(p)).await {
        Ok(()) => Vec::new(),
        Err(_) => survivors(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_survivor_is_described_on_one_line_without_escapes() {
        let s = Survivor {
            pid: 7,
            command: "sh -e -c sleep 30 &\necho start\n\u{1b}[2Jwait\n".into(),
            since: "2026-12-05 10:00:00".into(),
        };
        let d = s.describe();
        assert_eq!(d.lines().count(), 1, "{d}");
        assert!(!d.contains('\u{1b}'), "{d}");
        assert!(
            d.starts_with("pid 7 `sh -e -c sleep 30 &; echo start;"),
            "{d}"
        );
    }
}
