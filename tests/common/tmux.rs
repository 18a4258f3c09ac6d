//! A private tmux server for end-to-end tests of the real binary's interface: keys in, screens
//! read back, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long any one thing may take to appear on screen.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How often the screen is read while waiting.
pub const POLL: Duration = Duration::from_millis(20);
/// How long a probe key is given to show its effect before it is sent again.
pub const PROBE_RETRY: Duration = Duration::from_millis(150);

pub fn tmux_installed() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // Straight to stderr, past the test harness's capture, so the skip is seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "note: tmux is not installed; skipping the tmux end-to-end test"
        );
    }
    found
}

/// Quotes a string for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A private tmux server, killed on drop (also when an assertion fails).
pub struct Tmux {
    socket: String,
    /// The socket file, removed after the server (tmux leaves it behind).
    socket_path: Option<PathBuf>,
}

impl Tmux {
    pub fn new(test: &str) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let socket = format!(
            "tollgate-test-{test}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        Tmux {
            socket,
            socket_path: None,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            // `-f /dev/null`: the user's configuration plays no part; `-u`: UTF-8 in captures.
            .args(["-L", &self.socket, "-f", "/dev/null", "-u"])
            .args(args)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .output()
            .expect("running tmux")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached 160×45 session `name` running `sh` in `dir`, with TMPDIR pointing at `dir`.
    pub fn shell(&mut self, name: &str, dir: &Path) {
        let dir = dir.to_str().unwrap();
        let tmpdir = format!("TMPDIR={dir}");
        let themes = format!("TOLLGATE_THEMES_DIR={dir}/no-themes");
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "160",
            "-y",
            "45",
            "-c",
            dir,
            "--",
            "env",
            &tmpdir,
            &themes,
            "sh",
        ]);
        if self.socket_path.is_none() {
            let path = self.format(name, "#{socket_path}");
            self.socket_path = Some(PathBuf::from(path));
        }
    }

    pub fn screen(&self, target: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", target])
    }

    pub fn format(&self, target: &str, format: &str) -> String {
        self.ok(&["display-message", "-p", "-t", target, format])
            .trim()
            .to_string()
    }

    /// Sends tmux key names (`a`, `Space`, `Tab`, `Enter`…).
    pub fn keys(&self, target: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Types `text` literally.
    pub fn type_text(&self, target: &str, text: &str) {
        self.ok(&["send-keys", "-t", target, "-l", text]);
    }

    /// Types a command line into the pane's shell and presses Enter.
    pub fn command(&self, target: &str, line: &str) {
        self.type_text(target, line);
        self.keys(target, &["Enter"]);
    }

    /// Polls the screen until `done` holds; fails with the last screen after [`DEADLINE`].
    pub fn wait(&self, target: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.screen(target);
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited {DEADLINE:?} for {what}; the screen shows:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    pub fn wait_text(&self, target: &str, text: &str) -> String {
        self.wait(target, &format!("`{text}`"), |s| s.contains(text))
    }

    /// Sends keys once, then waits for their effect.
    pub fn press(&self, target: &str, keys: &[&str], what: &str, done: impl Fn(&str) -> bool) {
        self.keys(target, keys);
        self.wait(target, what, done);
    }

    /// The first key of a dialog. A dialog ignores keys for 300 ms after it opens, counted from a
    /// moment the screen does not show, so a key sent as soon as the dialog is visible may be
    /// dropped; a fixed sleep would only guess. Instead `key` is sent, and sent again while its
    /// effect has not appeared after [`PROBE_RETRY`]. `key` must be one whose repetition changes
    /// nothing more than one press does (a refused approve, Enter with no button chosen), so a
    /// press that was accepted but not yet drawn when the next one goes out does no harm. Once
    /// its effect is on screen the guard is over, and every later key of this dialog is sent
    /// exactly once, followed by a wait for what it does.
    pub fn probe(&self, target: &str, key: &str, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.keys(target, &[key]);
            let retry = Instant::now() + PROBE_RETRY;
            loop {
                let screen = self.screen(target);
                if done(&screen) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "`{key}` never had its effect ({what}); the screen shows:\n{screen}"
                );
                if Instant::now() >= retry {
                    break;
                }
                std::thread::sleep(POLL);
            }
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The server may already be gone; nothing to report then.
        let _ = self.run(&["kill-server"]);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}
