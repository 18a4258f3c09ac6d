//! The real binary on a pseudo-terminal: gates and secret variables asked at the keyboard.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate::engine::Choice;
use tollgate::engine::journal::{self, Record};

struct Pty {
    master: std::fs::File,
    screen: Arc<Mutex<String>>,
}

/// A pseudo-terminal's master and slave, both close-on-exec from the moment they are opened.
/// The other tests of this binary run in the same process and fork children of their own (shell
/// steps, tmux, the binary); `openpty` would hand those children both ends too.
fn openpty() -> (OwnedFd, OwnedFd) {
    // SAFETY: plain libc calls; each descriptor is owned as soon as it is opened, and `name`
    // is a NUL-terminated path once `ptsname_r` succeeds.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt failed");
        let master = OwnedFd::from_raw_fd(master);
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt failed");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt failed");
        let mut name = [0 as libc::c_char; 128];
        let rc = libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len());
        assert_eq!(rc, 0, "ptsname_r failed");
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(slave >= 0, "opening the pty's slave failed");
        (master, OwnedFd::from_raw_fd(slave))
    }
}

impl Pty {
    fn spawn(cmd: &mut Command) -> (Pty, std::process::Child) {
        let (master, slave) = openpty();
        let child = cmd
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        (Pty { master, screen }, child)
    }

    /// Waits until `text` has appeared `nth` times on the terminal.
    fn wait_for(&self, text: &str, nth: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.screen.lock().unwrap().matches(text).count() >= nth {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{text}` never appeared; the terminal shows:\n{}",
                self.screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn type_line(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\n").unwrap();
    }
}

#[test]
fn gates_and_secrets_are_asked_on_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = tmp.path().join("asked.yaml");
    std::fs::write(
        &rb,
        r#"
name: asked
targets: { environment: staging }
variables:
  token: { secret: true, prompt: true, description: the API token }
phases:
  - id: ship
    title: Ship it
    gate: { destructive: true }
    steps:
      - id: use-token
        run: echo "using $token now"
"#,
    )
    .unwrap();
    let state = tmp.path().join("state");
    let (mut pty, mut child) = Pty::spawn(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("--state-dir")
            .arg(&state)
            .args(["run", rb.to_str().unwrap(), "--headless"])
            .env("USER", "keyboard-user"),
    );
    pty.wait_for("token (the API token): ", 1);
    pty.type_line("Tok-3xample-9931");
    pty.wait_for("ship — approve / reject? ", 1);
    pty.type_line("a");
    pty.wait_for("type `staging` to approve: ", 1);
    pty.type_line("production");
    pty.wait_for("that is not `staging`; the gate stays closed", 1);
    pty.wait_for("ship — approve / reject? ", 2);
    pty.type_line("approve");
    pty.wait_for("type `staging` to approve: ", 2);
    pty.type_line("staging");
    pty.wait_for("note (optional): ", 1);
    pty.type_line("dashboards green");
    pty.wait_for("== run succeeded", 1);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let screen = pty.screen.lock().unwrap().clone();
    assert!(
        !screen.contains("Tok-3xample-9931"),
        "the secret was echoed:\n{screen}"
    );
    assert!(screen.contains("use-token | using •••••• now"), "{screen}");

    let runs = journal::list_runs(&state);
    let lines = journal::read_lines(&journal::journal_path(&state, &runs[0].0))
        .unwrap()
        .0;
    let decided: Vec<_> = lines
        .iter()
        .filter_map(|l| match &l.record {
            Record::GateDecided {
                gate,
                choice,
                via,
                note,
                who,
                ..
            } => Some((
                gate.clone(),
                *choice,
                via.clone(),
                note.clone(),
                who.clone(),
            )),
            _ => None,
        })
        .collect();
    let who = format!("keyboard-user@{}", tollgate::engine::variables::hostname());
    assert_eq!(
        decided,
        vec![(
            "ship".to_string(),
            Choice::Approve,
            "terminal".to_string(),
            Some("dashboards green".to_string()),
            who
        )]
    );
    let journal_text = std::fs::read_to_string(journal::journal_path(&state, &runs[0].0)).unwrap();
    assert!(!journal_text.contains("Tok-3xample-9931"));
}

#[test]
fn raw_output_leaves_the_terminal_modes_as_it_found_them() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = tmp.path().join("modes.yaml");
    std::fs::write(
        &rb,
        r#"
name: modes
phases:
  - id: p
    steps:
      - id: grab
        run: printf 'mouse\033[?1000h\033[?1006h paste\033[?2004h alt\033[?1049h hidden\033[?25l shown\033[?1006l\n'
"#,
    )
    .unwrap();
    let (pty, mut child) = Pty::spawn(
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .args(["run", rb.to_str().unwrap(), "--headless", "--raw-output"]),
    );
    pty.wait_for("== run succeeded", 1);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // After the run's last line: each mode the step left changed put back, newest first; the
    // one it put back itself (1006) left alone.
    pty.wait_for("\x1b[?1000l", 1);
    let screen = pty.screen.lock().unwrap().clone();
    let end = &screen[screen.find("== run succeeded").unwrap()..];
    assert!(
        end.contains("\x1b[?25h\x1b[?1049l\x1b[?2004l\x1b[?1000l\x1b[0m"),
        "{end:?}"
    );
    assert!(!end.contains("1006"), "{end:?}");
}
