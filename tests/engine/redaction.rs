//! Secrets never reach output in any form: a run whose steps print a planted secret as it is,
//! base64-encoded (alone and inside basic-auth credentials), URL-encoded, JSON-escaped and line by
//! line leaves none of those forms in the headless output, on any screen of the interface (the
//! real binary in tmux, every step's output looked at, scrolled back and wrapped), in the journal
//! or in the audit log.

use std::process::{Command, Stdio};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::common;
use crate::common::tmux::{DEADLINE, POLL, Tmux, sh_quote, tmux_installed};

const SECRET: &str = "pl4nted s3cret/with+chars?&=";
const KEY: &str = "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQ\nAASCBKcwggSjAgEAAoIBAQC7\n-----END TEST KEY-----";

const RUNBOOK: &str = r#"
name: redaction
variables:
  token: { secret: true, env: REDACTION_TOKEN }
  key: { secret: true, env: REDACTION_KEY }
phases:
  - id: leak
    title: Steps that try to show the secrets
    steps:
      - id: plain
        run: { shell: 'echo "token=$token"' }
      - id: base64
        run: { shell: 'printf %s "$token" | base64; printf "%s\n" "$token" | base64' }
      - id: basic-auth
        run: { shell: 'printf "deploy:%s" "$token" | base64 -w0; echo; printf "x%s" "$token" | base64 -w0; echo' }
      - id: url
        run: { shell: 'python3 -c "import os,urllib.parse as u; print(u.quote(os.environ[\"token\"], safe=\"\")); print(u.quote_plus(os.environ[\"token\"]))"' }
      - id: json
        run: { shell: 'python3 -c "import os,json; print(json.dumps({\"key\": os.environ[\"key\"]}))"' }
      - id: key-lines
        run: { shell: 'printf "%s\n" "$key"; printf "%s\n" "$key" | sed -n 2p | base64' }
      - id: scrolled
        run: { shell: 'printf "%s\n" "$token"; i=1; while [ $i -le 80 ]; do echo "filler $i"; i=$((i+1)); done' }
      - id: stderr-and-fail
        run: { shell: 'echo "bad token $token" >&2; exit 3' }
"#;

/// The steps of [`RUNBOOK`], in the order they run.
const STEPS: &[&str] = &[
    "plain",
    "base64",
    "basic-auth",
    "url",
    "json",
    "key-lines",
    "scrolled",
    "stderr-and-fail",
];

const MASK: &str = "••••••";

fn forms() -> Vec<String> {
    let mut out = vec![
        SECRET.to_string(),
        STANDARD.encode(SECRET),
        STANDARD.encode(format!("{SECRET}\n")),
        URL_SAFE_NO_PAD.encode(SECRET),
        form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
        percent_encoding::utf8_percent_encode(SECRET, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        serde_json::to_string(KEY)
            .unwrap()
            .trim_matches('"')
            .to_string(),
        "MIIEvQIBADANBgkqhkiG9w0BAQ".to_string(),
        "AASCBKcwggSjAgEAAoIBAQC7".to_string(),
        STANDARD.encode("MIIEvQIBADANBgkqhkiG9w0BAQ\n"),
    ];
    // Inside basic-auth credentials: the run of characters that encodes only the secret.
    for prefix in ["deploy:", "x"] {
        let enc = STANDARD.encode(format!("{prefix}{SECRET}"));
        let skip = (prefix.len() * 4).div_ceil(3) + 1;
        out.push(enc[skip..enc.len() - 4].to_string());
    }
    out
}

#[test]
fn no_form_of_a_secret_reaches_screen_journal_or_log() {
    if Command::new("python3").arg("-V").output().is_err() {
        panic!("python3 is needed by this test (installed by .ci/run)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let runbook = tmp.path().join("redaction.yaml");
    std::fs::write(&runbook, RUNBOOK).unwrap();
    let state = tmp.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--state-dir")
        .arg(&state)
        .args(["run", "--headless", "--approve-all"])
        .arg(&runbook)
        .env("REDACTION_TOKEN", SECRET)
        .env("REDACTION_KEY", KEY)
        .env("TOLLGATE_LOG", "trace")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the last step fails: {stdout}\n{stderr}"
    );
    // The steps did print: their masked lines are there.
    for step in STEPS {
        assert!(
            stdout.contains(step) || stderr.contains(step),
            "{step} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("token=••••••"), "{stdout}");
    let places = common::places(&stdout, &stderr, &state);
    for form in forms() {
        assert!(form.len() >= 8, "{form}");
        for (place, text) in &places {
            assert!(!text.contains(&form), "{form:?} reached {place}:\n{text}");
        }
    }
}

/// Text without whitespace and the interface's box and bar characters: a form that the interface
/// wrapped over two rows is whole again.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !('\u{2500}'..='\u{259F}').contains(c))
        .collect()
}

/// The screens of the interface as a test drives it: every one read is checked for every form
/// of the planted secrets.
struct Screens<'a> {
    t: &'a Tmux,
    pane: &'a str,
    forms: Vec<String>,
    read: usize,
}

impl Screens<'_> {
    fn capture(&mut self) -> String {
        let screen = self.t.screen(self.pane);
        let flat = squash(&screen);
        for form in &self.forms {
            assert!(
                !screen.contains(form.as_str()) && !flat.contains(&squash(form)),
                "{form:?} is on the screen:\n{screen}"
            );
        }
        self.read += 1;
        screen
    }

    /// Reads the screen until `done` holds; fails with the last screen after [`DEADLINE`].
    fn wait(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.capture();
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

    fn press(&mut self, keys: &[&str], what: &str, done: impl Fn(&str) -> bool) -> String {
        self.t.keys(self.pane, keys);
        self.wait(what, done)
    }
}

/// The first `filler N` line the output pane shows (0 if none).
fn first_filler(screen: &str) -> u32 {
    (1..=80)
        .find(|n| shows(screen, &format!("filler {n}")))
        .unwrap_or(0)
}

/// Whether the output pane shows `line` as one of its lines.
fn shows(screen: &str, line: &str) -> bool {
    screen.contains(&format!("┃{line} ")) || screen.contains(&format!("│{line} "))
}

/// The same run in the real interface: the screens while the steps run, the failure dialog,
/// then every step's output selected in turn, unwrapped and wrapped, the long one scrolled
/// through from its first line to its last; and every file under the state folder.
#[test]
fn no_form_of_a_secret_reaches_a_screen_of_the_interface() {
    if !tmux_installed() {
        return;
    }
    if Command::new("python3").arg("-V").output().is_err() {
        panic!("python3 is needed by this test (installed by .ci/run)");
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("redaction.yaml"), RUNBOOK).unwrap();
    let state = tmp.path().join("state");
    // The secrets reach tollgate through a wrapper's environment, never through the typed
    // command line that the pane shows.
    let wrapper = tmp.path().join("tollgate");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport REDACTION_TOKEN={token}\nexport REDACTION_KEY={key}\nexport TOLLGATE_LOG=trace\nexec {bin} --state-dir {state} \"$@\"\n",
            token = sh_quote(SECRET),
            key = sh_quote(KEY),
            bin = sh_quote(env!("CARGO_BIN_EXE_tollgate")),
            state = sh_quote(state.to_str().unwrap()),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut t = Tmux::new("redaction");
    t.shell("ui", tmp.path());
    t.command("ui", "./tollgate run redaction.yaml");
    let mut s = Screens {
        t: &t,
        pane: "ui",
        forms: forms(),
        read: 0,
    };
    // Every screen while the steps run, up to the last one's failure.
    let failed = s.wait("the last step's failure", |x| {
        x.contains("STEP FAILED stderr-and-fail")
    });
    assert!(failed.contains("bad token ••••••"), "{failed}");
    // Enter with no button chosen only says so (pressed again until the dialog takes keys).
    t.probe("ui", "Enter", "Enter asks for a choice", |x| {
        x.contains("choose with ←/→ or a key first")
    });
    s.press(&["x", "Enter"], "the run ended as failed", |x| {
        x.lines()
            .nth(1)
            .is_some_and(|banner| banner.trim_end().ends_with("· failed"))
    });

    // Each step's output, in the tree's order: as it is, then wrapped.
    s.press(&["BTab", "g"], "the tree, on the phase", |x| {
        x.contains("phase leak")
    });
    for wrapped in [false, true] {
        if wrapped {
            s.press(&["w", "g"], "long lines wrapped", |x| {
                x.contains("phase leak") && x.contains("follow wrap")
            });
        }
        for step in STEPS {
            let screen = s.press(&["j"], &format!("the output of {step}"), |x| {
                x.contains(&format!("output: {step} ·"))
            });
            // What each step printed is there, masked (the long one's first line is scrolled
            // off: it is looked at below).
            assert!(*step == "scrolled" || screen.contains(MASK), "{screen}");
            if *step == "scrolled" && !wrapped {
                // From its first line (the secret) down to its last, 20 lines a page.
                // A full page from the first line (the secret), then a page at a time to the
                // last line, every screen read on the way.
                s.press(&["Tab", "Home"], "the first line of the output", |x| {
                    shows(x, MASK) && shows(x, "filler 1")
                });
                let mut top = 0;
                let mut pages = 0;
                while !shows(&s.capture(), "filler 80") {
                    pages += 1;
                    assert!(pages < 20, "PageDown never reached filler 80");
                    let x = s.press(&["PageDown"], "the next page", |x| {
                        !shows(x, MASK) && first_filler(x) > top
                    });
                    top = first_filler(&x);
                }
                t.keys("ui", &["BTab"]);
            }
        }
    }
    assert!(s.read > 20, "{} screens read", s.read);

    s.press(&["q"], "the shell back", |x| {
        x.contains("tollgate: resume with: tollgate resume")
    });

    common::assert_in_none(&common::places("", "", &state), &forms());
}
