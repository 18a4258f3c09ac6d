//! Gates that reach people: the engine's events, tapped on their way to the view, told to a
//! webhook (a Slack-compatible JSON message) and the desktop when a gate waits for a person (and
//! again every `remind_after` while it waits), a step fails, or the run ends.
//!
//! Everything sent is built from the events' texts, which the engine has already masked; the
//! webhook's URL (which may be a secret) is never shown beyond its scheme and host. A POST never
//! holds up the run: they go out in order from a task of their own, each with a 5 s timeout, and a
//! failure is logged, never a run failure. In a rehearsal no webhook is sent.
//!
//! Settings come from the runbook's `notify:` and the user's config file (`[notify]`), the
//! runbook's winning. Imported by the command line only.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::exec::http::client::{post_json, shown_webhook};
use crate::protocol::{Event, GateRequest, RunStatus, StepStatus};
use crate::runbook::{Runbook, vars};

/// How long a gate stays undecided before it counts as waiting for a person: an `--approve`d
/// gate is decided at once and tells nobody.
pub const GATE_GRACE: Duration = Duration::from_millis(500);
/// The most a webhook's POST takes.
pub const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// What a rehearsal says once instead of sending the webhook.
pub const REHEARSAL_LINE: &str = "notify: webhook not sent in a rehearsal";

/// Who is told, and when reminded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// The filled URL (maybe a secret): never shown but through [`shown_webhook`]. Empty in a
    /// rehearsal, where it is never sent.
    pub webhook: Option<String>,
    pub remind_after: Option<Duration>,
    pub desktop: bool,
}

impl Settings {
    pub fn is_empty(&self) -> bool {
        self.webhook.is_none() && !self.desktop
    }
}

/// The `[notify]` table of the user's config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNotify {
    pub webhook: Option<String>,
    pub remind_after: Option<String>,
    pub desktop: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    notify: Option<FileNotify>,
}

/// The user's config file: `$TOLLGATE_CONFIG`, else `$XDG_CONFIG_HOME/tollgate/config.toml`
/// (an absolute one), else `~/.config/tollgate/config.toml`.
pub fn config_path(
    var: impl Fn(&str) -> Option<OsString>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let non_empty = |key: &str| var(key).filter(|v| !v.is_empty());
    if let Some(p) = non_empty("TOLLGATE_CONFIG") {
        return Some(PathBuf::from(p));
    }
    if let Some(c) = non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    {
        return Some(c.join("tollgate").join("config.toml"));
    }
    home.filter(|h| !h.as_os_str().is_empty())
        .map(|h| h.join(".config").join("tollgate").join("config.toml"))
}

/// The `[notify]` table of the config file at `path`: none when there is no file; refused (one
/// line) when unreadable, malformed, or readable by group or others while it holds a webhook.
pub fn read_config(path: &Path) -> Result<Option<FileNotify>, String> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "config {shown}: {}",
                crate::text::one_line(&e.to_string())
            ));
        }
    };
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        // toml's message quotes the line, which may be the webhook: only its first line.
        let first = e.message().lines().next().unwrap_or("not TOML").to_string();
        format!("config {shown}: {first}")
    })?;
    let Some(n) = file.notify else {
        return Ok(None);
    };
    #[cfg(unix)]
    if n.webhook.is_some() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(format!(
                "config {shown}: holds a webhook and is readable by group or others (mode {mode:o}); `chmod 600 {shown}` first"
            ));
        }
    }
    Ok(Some(n))
}

/// The settings of a run: the runbook's `notify:` over the config file's, the webhook filled
/// from the run's variables (`lookup` gives a variable's value, secret or not). Refused (one
/// line, never the URL) when a duration does not read or the webhook is not an http(s) URL. In a
/// `rehearsal` the webhook is never sent, so never filled nor checked (its variable may hold a
/// made-up value): only that there is one is kept.
pub fn settings(
    rb: &Runbook,
    file: Option<&FileNotify>,
    lookup: impl Fn(&str) -> Option<String>,
    rehearsal: bool,
) -> Result<Settings, String> {
    let mine = rb.notify.as_ref().map(|n| &n.value);
    let webhook = mine
        .and_then(|n| n.webhook.as_ref().map(|w| w.value.clone()))
        .or_else(|| file.and_then(|f| f.webhook.clone()));
    let remind = mine
        .and_then(|n| n.remind_after.as_ref().map(|r| r.value.clone()))
        .or_else(|| file.and_then(|f| f.remind_after.clone()));
    let desktop = mine
        .and_then(|n| n.desktop)
        .or_else(|| file.and_then(|f| f.desktop))
        .unwrap_or(false);
    let remind_after = match remind {
        None => None,
        Some(r) => match vars::parse_duration(r.trim()) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => return Err("notify: `remind_after` must be more than 0".into()),
            Err(e) => return Err(format!("notify: `remind_after`: {e}")),
        },
    };
    let webhook = match webhook {
        None => None,
        Some(_) if rehearsal => Some(String::new()),
        Some(w) => {
            let filled = vars::render(w.trim(), &lookup);
            let filled = filled.trim().to_string();
            if filled.is_empty() {
                // A variable left empty: nobody to tell.
                None
            } else {
                let scheme = filled
                    .split_once("://")
                    .map(|(s, _)| s.to_ascii_lowercase());
                if !matches!(scheme.as_deref(), Some("http" | "https")) {
                    return Err("notify: the webhook is not an http:// or https:// URL".to_string());
                }
                Some(filled)
            }
        }
    };
    Ok(Settings {
        webhook,
        remind_after,
        desktop,
    })
}

/// What every message says about the run.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    pub run_id: String,
    pub runbook: String,
    /// Who runs it (`user@host`).
    pub driver: String,
    pub rehearsal: bool,
}

/// What a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    GateOpened,
    Reminder,
    StepFailed,
    RunEnded,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::GateOpened => "gate_opened",
            Kind::Reminder => "reminder",
            Kind::StepFailed => "step_failed",
            Kind::RunEnded => "run_ended",
        }
    }
}

/// One message: its one line and the JSON body the webhook gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub kind: Kind,
    pub line: String,
    pub body: serde_json::Value,
}

fn message(
    run: &RunInfo,
    kind: Kind,
    what: Option<(&str, &str)>,
    msg: &str,
    line: String,
) -> Message {
    let line = crate::text::one_line(&if run.rehearsal {
        format!("[REHEARSAL] {line}")
    } else {
        line
    });
    let mut t = serde_json::json!({
        "event": kind.word(),
        "run_id": run.run_id,
        "runbook": run.runbook,
        "driver": run.driver,
        "message": msg,
        "rehearsal": run.rehearsal,
    });
    if let Some((key, id)) = what {
        t[key] = serde_json::Value::String(id.to_string());
    }
    Message {
        kind,
        body: serde_json::json!({"text": line, "tollgate": t}),
        line,
    }
}

fn gate_message(run: &RunInfo, kind: Kind, g: &GateRequest, open_for: Duration) -> Message {
    let msg = g.message.clone().or(g.error.clone()).unwrap_or_default();
    let head = match kind {
        Kind::Reminder => format!(
            "still waiting after {}",
            crate::protocol::short_duration(open_for)
        ),
        _ => "waits for a person".to_string(),
    };
    let tail = if msg.is_empty() {
        String::new()
    } else {
        format!(": {msg}")
    };
    let line = format!(
        "◆ {} · run {}: gate `{}` {head} ({}){tail}",
        run.runbook, run.run_id, g.id, run.driver
    );
    message(run, kind, Some(("gate", &g.id)), &msg, line)
}

/// A gate reached and not yet told.
struct Open {
    gate: GateRequest,
    since: Instant,
    told: bool,
    next: Instant,
}

/// Follows the events and says what is to be told, with when it next needs the clock.
pub struct Watch {
    run: RunInfo,
    remind_after: Option<Duration>,
    open: Option<Open>,
}

impl Watch {
    pub fn new(run: RunInfo, remind_after: Option<Duration>) -> Watch {
        Watch {
            run,
            remind_after,
            open: None,
        }
    }

    /// When [`Watch::tick`] has something to say next.
    pub fn due(&self) -> Option<Instant> {
        self.open.as_ref().map(|o| o.next)
    }

    /// The messages due at `now` (a gate still open after the grace, a reminder).
    pub fn tick(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        let remind = self.remind_after;
        let Some(o) = self.open.as_mut() else {
            return out;
        };
        if now < o.next {
            return out;
        }
        if !o.told {
            o.told = true;
            out.push(gate_message(
                &self.run,
                Kind::GateOpened,
                &o.gate,
                Duration::ZERO,
            ));
        } else {
            out.push(gate_message(
                &self.run,
                Kind::Reminder,
                &o.gate,
                now - o.since,
            ));
        }
        match remind {
            Some(r) => {
                // The next reminder counts from when it was due, not from this late tick.
                let base = if out[0].kind == Kind::GateOpened {
                    o.since
                } else {
                    o.next
                };
                let mut next = base + r;
                while next <= now {
                    next += r;
                }
                o.next = next;
            }
            None => self.open = None,
        }
        out
    }

    /// The messages `event` makes at `now`.
    pub fn see(&mut self, event: &Event, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        match event {
            Event::RunStarted {
                run_id, runbook, ..
            } => {
                self.run.run_id = run_id.clone();
                self.run.runbook = runbook.clone();
            }
            Event::GateReached(g) => {
                self.open = Some(Open {
                    gate: g.clone(),
                    since: now,
                    told: false,
                    next: now + GATE_GRACE,
                });
            }
            Event::GateDecided { gate, .. }
                if self.open.as_ref().is_some_and(|o| &o.gate.id == gate) =>
            {
                self.open = None;
            }
            Event::StepFinished {
                step,
                status: StepStatus::Failed,
                error,
                ..
            } => {
                let msg = error.clone().unwrap_or_else(|| "failed".into());
                let line = format!(
                    "✗ {} · run {}: step `{step}` failed ({}): {msg}",
                    self.run.runbook, self.run.run_id, self.run.driver
                );
                out.push(message(
                    &self.run,
                    Kind::StepFailed,
                    Some(("step", step)),
                    &msg,
                    line,
                ));
            }
            Event::RunPaused { reason } => {
                // Paused at a gate nobody decided: that gate waits for a person.
                if let Some(o) = self.open.take()
                    && !o.told
                {
                    out.push(gate_message(
                        &self.run,
                        Kind::GateOpened,
                        &o.gate,
                        Duration::ZERO,
                    ));
                }
                out.push(self.ended(&format!("paused: {reason}")));
            }
            Event::RunFinished { status } => {
                self.open = None;
                out.push(self.ended(status.word()));
            }
            _ => {}
        }
        out
    }

    fn ended(&self, status: &str) -> Message {
        let mark = if status == RunStatus::Succeeded.word() {
            "✓"
        } else {
            "■"
        };
        let line = format!(
            "{mark} {} · run {}: {status} ({})",
            self.run.runbook, self.run.run_id, self.run.driver
        );
        message(&self.run, Kind::RunEnded, None, status, line)
    }
}

/// A notifier ready to tap a run's events.
pub struct Notifier {
    pub settings: Settings,
    pub run: RunInfo,
}

/// Whether the desktop offers notifications: `notify-send` on PATH, and a display.
fn desktop_offers() -> Option<PathBuf> {
    let display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    if !display {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("notify-send"))
        .find(|p| p.is_file())
}

/// Tells the desktop `m`: spawned, not waited on (the runtime reaps it).
fn desktop(exe: &Path, m: &Message) {
    let summary = match m.kind {
        Kind::GateOpened | Kind::Reminder => "tollgate: a gate waits",
        Kind::StepFailed => "tollgate: a step failed",
        Kind::RunEnded => "tollgate: run ended",
    };
    let spawned = tokio::process::Command::new(exe)
        .args(["--app-name=tollgate", summary, &m.line])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(false)
        .spawn();
    if let Err(e) = spawned {
        tracing::warn!("notify: notify-send: {e}");
    }
}

impl Notifier {
    /// Wraps the engine's event channel: every event reaches the returned receiver unchanged and
    /// in order (with one note added in a rehearsal that has a webhook), and is shown to the
    /// notifier. The handle ends once the run's events have ended and every POST was answered
    /// or timed out (one at a time, in order).
    pub fn tap(self, mut engine: mpsc::Receiver<Event>) -> (mpsc::Receiver<Event>, JoinHandle<()>) {
        // A few events ahead only, so that a slow view still holds the step's output back.
        let (view_tx, view_rx) = mpsc::channel(16);
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let say_rehearsal = self.run.rehearsal && self.settings.webhook.is_some();
        let forward = async move {
            let mut first = true;
            while let Some(ev) = engine.recv().await {
                let _ = seen_tx.send((ev.clone(), Instant::now()));
                if view_tx.send(ev).await.is_err() {
                    // The view is gone: the engine sees its channel close, as without the tap.
                    break;
                }
                if first && say_rehearsal {
                    let _ = view_tx.send(Event::Note(REHEARSAL_LINE.into())).await;
                }
                first = false;
            }
        };
        let task = tokio::spawn(async move {
            let told = tokio::spawn(self.run_on(seen_rx));
            forward.await;
            let _ = told.await;
        });
        (view_rx, task)
    }

    /// Follows `seen` to its end, telling each message to the webhook and the desktop.
    pub async fn run_on(self, mut seen: mpsc::UnboundedReceiver<(Event, Instant)>) {
        let mut watch = Watch::new(self.run.clone(), self.settings.remind_after);
        let webhook = self
            .settings
            .webhook
            .clone()
            .filter(|_| !self.run.rehearsal);
        let desktop_exe = self.settings.desktop.then(desktop_offers).flatten();
        // One POST at a time, in the order told: a gate's opening never arrives after the run's end.
        let (post_tx, mut post_rx) = mpsc::unbounded_channel::<String>();
        let poster = webhook.map(|url| {
            tokio::spawn(async move {
                let shown = shown_webhook(&url);
                while let Some(body) = post_rx.recv().await {
                    match post_json(&url, body, POST_TIMEOUT).await {
                        Ok(code) if (200..300).contains(&code) => {}
                        Ok(code) => tracing::warn!("notify: webhook {shown} answered {code}"),
                        Err(e) => tracing::warn!("notify: webhook {shown}: {e}"),
                    }
                }
            })
        });
        let tell = |ms: Vec<Message>| {
            for m in ms {
                tracing::info!("notify: {}", m.line);
                if let Some(exe) = &desktop_exe {
                    desktop(exe, &m);
                }
                if poster.is_some() {
                    let _ = post_tx.send(m.body.to_string());
                }
            }
        };
        loop {
            let due = watch.due();
            tokio::select! {
                got = seen.recv() => match got {
                    Some((ev, at)) => tell(watch.see(&ev, at)),
                    None => break,
                },
                _ = async {
                    match due {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending::<()>().await,
                    }
                } => tell(watch.tick(Instant::now())),
            }
        }
        drop(post_tx);
        if let Some(p) = poster {
            let _ = p.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Choice, GateKind};

    fn run() -> RunInfo {
        RunInfo {
            run_id: "r".into(),
            runbook: "rb".into(),
            driver: "ann@box".into(),
            rehearsal: false,
        }
    }

    fn gate(id: &str) -> Event {
        Event::GateReached(GateRequest {
            id: id.into(),
            kind: GateKind::Step,
            title: id.into(),
            message: None,
            destructive: false,
            confirm: None,
            commands: vec![],
            checklist: vec![],
            choices: vec![Choice::Approve],
            production: false,
            error: None,
            follow: None,
            approvals: 1,
        })
    }

    fn decided(id: &str, via: &str) -> Event {
        Event::GateDecided {
            gate: id.into(),
            choice: Choice::Approve,
            who: "ann@box".into(),
            via: via.into(),
            checklist: vec![],
        }
    }

    /// An `--approve`d gate is decided as it opens: nothing is told, then or later.
    #[test]
    fn an_approved_gate_tells_nobody() {
        let t0 = Instant::now();
        let mut w = Watch::new(run(), Some(Duration::from_secs(1)));
        assert!(w.see(&gate("deploy"), t0).is_empty());
        assert!(w.see(&decided("deploy", "--approve"), t0).is_empty());
        assert_eq!(w.due(), None);
        assert!(w.tick(t0 + Duration::from_secs(60)).is_empty());
        // The same gate left open: told after the grace, then reminded.
        let mut w = Watch::new(run(), Some(Duration::from_secs(1)));
        w.see(&gate("deploy"), t0);
        assert!(w.tick(t0 + Duration::from_millis(100)).is_empty());
        let told = w.tick(t0 + GATE_GRACE);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].kind, Kind::GateOpened);
        assert_eq!(w.due(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(w.tick(t0 + Duration::from_secs(1))[0].kind, Kind::Reminder);
        assert_eq!(w.due(), Some(t0 + Duration::from_secs(2)));
    }

    /// The rehearsal says so first in every line and in the body.
    #[test]
    fn a_rehearsal_is_marked() {
        let mut r = run();
        r.rehearsal = true;
        let mut w = Watch::new(r, None);
        let m = w.see(
            &Event::RunFinished {
                status: RunStatus::Succeeded,
            },
            Instant::now(),
        );
        assert_eq!(m[0].line, "[REHEARSAL] ✓ rb · run r: succeeded (ann@box)");
        assert_eq!(m[0].body["tollgate"]["rehearsal"], true);
    }

    fn runbook(webhook: Option<&str>, remind_after: Option<&str>) -> Runbook {
        use crate::runbook::{Notify, Pos, Spanned};
        let at = |v: &str| Spanned::new(Pos::default(), v.to_string());
        Runbook {
            notify: Some(Spanned::new(
                Pos::default(),
                Notify {
                    webhook: webhook.map(at),
                    remind_after: remind_after.map(at),
                    desktop: None,
                },
            )),
            ..Runbook::default()
        }
    }

    #[test]
    fn the_runbook_wins_over_the_config_file_and_a_variable_fills_the_webhook() {
        let rb = runbook(Some("{{ hook }}"), Some("10m"));
        let file = FileNotify {
            webhook: Some("https://file.example/".into()),
            remind_after: Some("1h".into()),
            desktop: Some(true),
        };
        let s = settings(
            &rb,
            Some(&file),
            |n| (n == "hook").then(|| "https://hooks.example/T/B/K".to_string()),
            false,
        )
        .unwrap();
        assert_eq!(
            s,
            Settings {
                webhook: Some("https://hooks.example/T/B/K".into()),
                remind_after: Some(Duration::from_secs(600)),
                desktop: true,
            }
        );
        let none = settings(&Runbook::default(), None, |_| None, false).unwrap();
        assert!(none.is_empty());
        let bad = runbook(Some("{{ hook }}"), None);
        let e = settings(&bad, None, |_| Some("ftp://secret-path".into()), false).unwrap_err();
        assert_eq!(e, "notify: the webhook is not an http:// or https:// URL");
        // A rehearsal's made-up value is never checked: the webhook is not sent.
        let r = settings(&bad, None, |_| Some("made-up".into()), true).unwrap();
        assert_eq!(r.webhook.as_deref(), Some(""));
        assert_eq!(
            shown_webhook("https://hooks.slack.com/services/T/B/K"),
            "https://hooks.slack.com/…"
        );
    }

    #[test]
    fn the_config_file_is_found_and_read_only_when_private() {
        use std::os::unix::fs::PermissionsExt;
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let home = Some(PathBuf::from("/home/ann"));
        assert_eq!(
            config_path(env(&[("TOLLGATE_CONFIG", "/c.toml")]), home.clone()),
            Some(PathBuf::from("/c.toml"))
        );
        assert_eq!(
            config_path(env(&[("XDG_CONFIG_HOME", "/x")]), home.clone()),
            Some(PathBuf::from("/x/tollgate/config.toml"))
        );
        assert_eq!(
            config_path(env(&[("XDG_CONFIG_HOME", "rel")]), home),
            Some(PathBuf::from("/home/ann/.config/tollgate/config.toml"))
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        assert!(read_config(&p).unwrap().is_none());
        std::fs::write(
            &p,
            "[notify]\nwebhook = \"https://h.example/K\"\nremind_after = \"5m\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_config(&p).unwrap_err();
        assert!(e.contains("(mode 644)") && !e.contains("h.example"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let n = read_config(&p).unwrap().unwrap();
        assert_eq!(n.remind_after.as_deref(), Some("5m"));
        // Without a webhook, a readable file is fine.
        std::fs::write(&p, "[notify]\ndesktop = true\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_config(&p).unwrap().unwrap().desktop, Some(true));
    }
}
