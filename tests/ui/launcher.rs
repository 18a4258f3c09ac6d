//! The launcher (`tollgate` alone, `tollgate open DIR`): its list and its form as whole screens
//! at 80, 120 and 200 columns (snapshots), and its state: a runbook found by the alert it
//! declares, one that fails `check` listed with its error and refused, the form refusing a bad
//! pattern and a bad whole number, and a secret never drawn.

use std::path::{Path, PathBuf};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tollgate::catalog;
use tollgate::ui::launcher::{self, Intent, Launcher, RunRow};
use tollgate::ui::theme::Theme;

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 55)];

pub const PAYOUTS: &str = r#"name: Payouts — failures
description: Payouts fail or stall; restart the payout worker and check the queue.
owner: payments team
triggers:
  alerts:
    - "PaymentFailureRate > 10%"
  symptoms:
    - "workers stuck on the payout queue"
variables:
  environment:
    choices: [staging, production]
    default: staging
    description: where to restart
  release:
    pattern: 'v[0-9]+\.[0-9]+'
    default: "v1.0"
  replicas:
    type: int
    default: "3"
  api_token:
    secret: true
    description: the payout API's token
phases:
  - id: restart
    title: Restart the payout worker
    steps:
      - id: restart-worker
        title: Restart it
        run: echo "restarting {{ release }} x{{ replicas }} in {{ environment }}"
"#;

const BROKEN: &str = r#"name: Payouts — replay the queue
description: Replays the payout queue.
phases:
  - id: replay
    title: Replay
    steps:
      - id: replay-queue
        title: Replay it
        run: echo "{{ undeclared_var }}"
"#;

const WEB: &str = r#"name: Web — deploy
description: Ships the web front end.
owner: web team
triggers:
  symptoms:
    - "a new release of the web front end is ready"
phases:
  - id: ship
    title: Ship
    steps:
      - id: ship-it
        title: Ship it
        run: echo shipped
"#;

/// A folder of runbooks: two systems, one runbook that fails `check`.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("payments/payout-failures.yaml", PAYOUTS),
        ("payments/replay.yaml", BROKEN),
        ("web/deploy.yaml", WEB),
    ] {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn runs() -> Vec<RunRow> {
    vec![
        RunRow {
            id: "20261206-101500-0002".into(),
            runbook: "Payouts — failures".into(),
            status: "paused".into(),
            started: "2026-12-06T10:15:00Z".into(),
            unfinished: true,
            refused: None,
        },
        RunRow {
            id: "20261205-090000-0001".into(),
            runbook: "Web — deploy".into(),
            status: "succeeded".into(),
            started: "2026-12-05T09:00:00Z".into(),
            unfinished: false,
            refused: Some("it succeeded; nothing to resume".into()),
        },
    ]
}

fn launcher_in(dir: &Path) -> Launcher {
    let mut entries = catalog::discover(&[dir.to_path_buf()]);
    // The temporary folder's name, which varies, as `runbooks` on screen.
    let shown = dir.display().to_string();
    for e in &mut entries {
        e.problem = e.problem.take().map(|p| p.replace(&shown, "runbooks"));
    }
    Launcher::new(Theme::default(), "runbooks", entries, runs())
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_text(l: &mut Launcher, text: &str) {
    for c in text.chars() {
        assert_eq!(l.key(&key(KeyCode::Char(c))), Intent::None);
    }
}

fn screen(l: &Launcher, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| launcher::render(l, f)).unwrap();
    let b = t.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        let row: String = (0..w).map(|x| b[(x, y)].symbol()).collect();
        s.push_str(row.trim_end());
        s.push('\n');
    }
    s
}

/// The payouts runbook's form, opened from the list as Enter does.
fn open_payouts(l: &mut Launcher, dir: &Path) -> PathBuf {
    type_text(l, "PaymentFailureRate");
    let path = match l.key(&key(KeyCode::Enter)) {
        Intent::Open(p) => p,
        other => panic!("Enter on the payouts runbook: {other:?}"),
    };
    assert_eq!(path, dir.join("payments/payout-failures.yaml"));
    let (_, mut form) = tollgate::cli::form_for(&path).unwrap();
    let shown = dir.display().to_string();
    form.file = form.file.replace(&shown, "runbooks");
    for line in &mut form.plan {
        *line = line.replace(&shown, "runbooks");
    }
    l.open_form(path.clone(), form);
    path
}

/// Moves the form's focus to the field `name`.
fn focus(l: &mut Launcher, name: &str) {
    for _ in 0..8 {
        let (_, f) = l.form.as_ref().unwrap();
        if f.fields[f.focus].name == name {
            return;
        }
        l.key(&key(KeyCode::Tab));
    }
    panic!("no field `{name}`");
}

fn clear(l: &mut Launcher) {
    l.key(&KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
}

#[test]
fn launcher_list_snapshots() {
    let dir = folder();
    let l = launcher_in(dir.path());
    for (w, h) in SIZES {
        let s = screen(&l, w, h);
        for text in [
            "unfinished runs (Enter resumes)",
            "20261206-101500-0002",
            "recent runs",
            "payments",
            "web",
            "Payouts — failures",
            "owner payments team",
            "cannot start:",
            "Esc",
        ] {
            assert!(s.contains(text), "`{text}` not on screen at {w}x{h}:\n{s}");
        }
        insta::assert_snapshot!(format!("launcher_list_{w}x{h}"), s);
    }
}

#[test]
fn launcher_form_snapshots() {
    let dir = folder();
    let mut l = launcher_in(dir.path());
    open_payouts(&mut l, dir.path());
    focus(&mut l, "release");
    clear(&mut l);
    type_text(&mut l, "1.2");
    for (w, h) in SIZES {
        let s = screen(&l, w, h);
        for text in [
            "plan 1/",
            "runbook: Payouts — failures",
            "environment",
            "staging",
            "does not match the pattern",
            "enter",
        ] {
            assert!(s.contains(text), "`{text}` not on screen at {w}x{h}:\n{s}");
        }
        insta::assert_snapshot!(format!("launcher_form_{w}x{h}"), s);
    }
}

#[test]
fn an_alert_typed_finds_the_runbook_that_declares_it() {
    let dir = folder();
    let mut l = launcher_in(dir.path());
    assert_eq!(l.listed().len(), 3);
    type_text(&mut l, "PaymentFailureRate");
    let listed = l.listed();
    assert_eq!(listed.first(), Some(&"Payouts — failures"), "{listed:?}");
    assert!(!listed.contains(&"Web — deploy"), "{listed:?}");
    assert_eq!(l.selected(), Some("Payouts — failures"));
    let s = screen(&l, 80, 24);
    assert!(s.contains("matched alert PaymentFailureRate"), "{s}");
    // Esc clears the filter first; then it quits.
    assert_eq!(l.key(&key(KeyCode::Esc)), Intent::None);
    assert_eq!(l.listed().len(), 3);
    assert_eq!(l.key(&key(KeyCode::Esc)), Intent::Quit);
}

#[test]
fn a_runbook_failing_check_is_listed_with_its_error_and_cannot_be_started() {
    let dir = folder();
    let mut l = launcher_in(dir.path());
    assert!(l.listed().contains(&"Payouts — replay the queue"));
    let s = screen(&l, 120, 40);
    assert!(
        s.contains("cannot start:") && s.contains("unknown variable `undeclared_var`"),
        "{s}"
    );
    type_text(&mut l, "replay the queue");
    assert_eq!(l.selected(), Some("Payouts — replay the queue"));
    assert_eq!(l.key(&key(KeyCode::Enter)), Intent::None);
    let m = l.message.clone().unwrap_or_default();
    assert!(
        m.contains("cannot be started") && m.contains("undeclared_var"),
        "{m}"
    );
    assert!(screen(&l, 80, 24).contains("cannot be started"));
    // The form cannot be reached another way either.
    let err = tollgate::cli::form_for(&dir.path().join("payments/replay.yaml")).unwrap_err();
    assert!(err.contains("fails check"), "{err}");
}

#[test]
fn enter_on_an_unfinished_run_resumes_it_and_on_a_finished_one_says_why_not() {
    let dir = folder();
    let mut l = launcher_in(dir.path());
    assert_eq!(
        l.listed_runs(),
        ["20261206-101500-0002", "20261205-090000-0001"]
    );
    assert_eq!(l.selected(), Some("20261206-101500-0002"));
    assert_eq!(
        l.key(&key(KeyCode::Enter)),
        Intent::Resume("20261206-101500-0002".into())
    );
    l.key(&key(KeyCode::Down));
    assert_eq!(l.selected(), Some("20261205-090000-0001"));
    assert_eq!(l.key(&key(KeyCode::Enter)), Intent::None);
    assert!(
        l.message
            .as_deref()
            .unwrap_or("")
            .contains("nothing to resume")
    );
}

#[test]
fn the_form_refuses_a_bad_pattern_and_a_bad_whole_number() {
    let dir = folder();
    let mut l = launcher_in(dir.path());
    let path = open_payouts(&mut l, dir.path());
    let error = |l: &Launcher, name: &str| {
        let (_, f) = l.form.as_ref().unwrap();
        f.fields
            .iter()
            .find(|x| x.name == name)
            .unwrap()
            .error
            .clone()
    };
    // The defaults are acceptable.
    assert_eq!(error(&l, "release"), None);
    assert_eq!(error(&l, "replicas"), None);

    focus(&mut l, "release");
    clear(&mut l);
    type_text(&mut l, "1.2");
    let e = error(&l, "release").unwrap();
    assert!(e.contains("does not match the pattern"), "{e}");
    focus(&mut l, "replicas");
    type_text(&mut l, "x");
    let e = error(&l, "replicas").unwrap();
    assert!(e.contains("is not a whole number"), "{e}");
    let s = screen(&l, 80, 24);
    assert!(s.contains("is not a whole number"), "{s}");

    // Enter does not submit, says why, and goes to the first refused field.
    assert_eq!(l.key(&key(KeyCode::Enter)), Intent::None);
    let (_, f) = l.form.as_ref().unwrap();
    assert_eq!(f.fields[f.focus].name, "release");
    assert!(
        f.message
            .as_deref()
            .unwrap_or("")
            .contains("cannot run yet"),
        "{:?}",
        f.message
    );

    // A pick list moves with ←/→ and typing does not change it.
    focus(&mut l, "environment");
    type_text(&mut l, "zz");
    l.key(&key(KeyCode::Right));
    focus(&mut l, "release");
    type_text(&mut l, "");
    clear(&mut l);
    type_text(&mut l, "v2.5");
    focus(&mut l, "replicas");
    l.key(&key(KeyCode::Backspace));
    focus(&mut l, "api_token");
    type_text(&mut l, "tok-0123456789");
    match l.key(&key(KeyCode::Enter)) {
        Intent::Start { path: p, values } => {
            assert_eq!(p, path);
            let v = |n: &str| {
                values
                    .iter()
                    .find(|(k, _, _)| k == n)
                    .map(|(_, v, secret)| (v.0.clone(), *secret))
            };
            assert_eq!(v("environment"), Some(("production".into(), false)));
            assert_eq!(v("release"), Some(("v2.5".into(), false)));
            assert_eq!(v("replicas"), Some(("3".into(), false)));
            assert_eq!(v("api_token"), Some(("tok-0123456789".into(), true)));
            // Kept out of `Debug`, and so out of logs and panics.
            let debug = format!("{values:?} {:?}", l.form);
            assert!(!debug.contains("tok-0123456789"), "{debug}");
        }
        other => panic!("Enter with good values: {other:?}"),
    }
}

#[test]
fn a_secret_typed_is_never_drawn() {
    let dir = folder();
    let mut l = launcher_in(dir.path());
    open_payouts(&mut l, dir.path());
    focus(&mut l, "api_token");
    let secret = "s3cr3t-payout-token";
    type_text(&mut l, secret);
    for (w, h) in SIZES {
        let s = screen(&l, w, h);
        assert!(
            !s.contains(secret),
            "the secret is on screen at {w}x{h}:\n{s}"
        );
        assert!(!s.contains("s3cr3t"), "part of the secret at {w}x{h}:\n{s}");
        assert!(s.contains("api_token") && s.contains("•••"), "{s}");
    }
    // Pasted, the same.
    clear(&mut l);
    l.paste(secret);
    assert!(!screen(&l, 200, 55).contains(secret));
}

#[test]
fn no_key_panics_at_any_size() {
    let dir = folder();
    let mut l = launcher_in(dir.path());
    let keys = [
        KeyCode::Down,
        KeyCode::Up,
        KeyCode::PageDown,
        KeyCode::End,
        KeyCode::Home,
        KeyCode::PageUp,
        KeyCode::Char('ä'),
        KeyCode::Backspace,
        KeyCode::Enter,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Char('1'),
        KeyCode::Esc,
    ];
    for round in 0..40 {
        let k = keys[round % keys.len()];
        if let Intent::Open(p) = l.key(&key(k)) {
            let (_, form) = tollgate::cli::form_for(&p).unwrap();
            l.open_form(p, form);
        }
        for (w, h) in [(1, 1), (20, 5), (80, 24)] {
            screen(&l, w, h);
        }
    }
}

#[test]
fn a_long_pick_list_shows_the_choice_and_where_it_is() {
    use tollgate::runbook::Variable;
    use tollgate::ui::form::{Field, Form};
    let var = Variable {
        choices: (1..=12)
            .map(|i| format!("eu-region-number-{i:02}"))
            .collect(),
        ..Variable::default()
    };
    let form = Form::new(
        "Regions",
        "runbooks/regions.yaml",
        vec!["runbook: Regions".into()],
        vec![Field::new("region", &var, None)],
    );
    let mut l = launcher_in(folder().path());
    l.open_form(PathBuf::from("runbooks/regions.yaml"), form);
    l.key(&key(KeyCode::Right));
    l.key(&key(KeyCode::Right));
    let s = screen(&l, 80, 24);
    assert!(
        s.contains("eu-region-number-03") && s.contains("3/12"),
        "{s}"
    );
    // Wide enough, every choice is drawn side by side.
    let wide = screen(&l, 400, 24);
    assert!(
        wide.contains("eu-region-number-12") && !wide.contains("3/12"),
        "{wide}"
    );
}
