//! Every dialog at 80×24, 100×30, 120×40 and 200×55 with its controls on screen, on LabelMint's
//! production roll-back runbook (its pods and logs panes, its long kube context); the keys of the
//! dialogs (hiding a gate, the text fields, the focus order); `--approve` in the interface.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Modifier;
use tollgate::protocol::approvals::Approvals;
use tollgate::protocol::{
    ChecklistItem, Choice, Command, Event, GateKind, GateRequest, Stream, ValueRequest,
};
use tollgate::ui::app::{Action, App, DialogFocus, Pane};
use tollgate::ui::theme::Theme;
use tollgate::ui::{ClusterPanes, Config};

use crate::common;

const SIZES: [(u16, u16); 4] = [(80, 24), (100, 30), (120, 40), (200, 55)];
const DEADLINE: Duration = Duration::from_secs(20);

fn labelmint() -> Arc<tollgate::runbook::Runbook> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks/labelmint/rollback-application.yaml");
    Arc::new(tollgate::runbook::load(&path).unwrap().runbook)
}

fn app_with(theme: Theme, approvals: Approvals) -> App {
    let frozen = chrono::DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    App::new(Config {
        gate_guard: Duration::ZERO,
        aws: true,
        cluster: Some(ClusterPanes {
            context:
                "arn:aws:eks:us-east-1:288761728065:cluster/labelmint-production (not connected yet)"
                    .into(),
            namespace: "labelmint-production".into(),
            preview: None,
        }),
        frozen_clock: Some(frozen),
        approvals,
        ..Config::new(labelmint(), "20250101-120000-a1b2", "oncall@ops", theme)
    })
}

fn app() -> App {
    app_with(Theme::builtin("dark").unwrap(), Approvals::default())
}

fn key(app: &mut App, code: KeyCode) -> Vec<Action> {
    key_mod(app, code, KeyModifiers::NONE)
}

fn key_mod(app: &mut App, code: KeyCode, m: KeyModifiers) -> Vec<Action> {
    app.on_input(TermEvent::Key(KeyEvent::new(code, m)))
}

fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn buffer(app: &mut App, w: u16, h: u16) -> Buffer {
    app.set_clock(app.started());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tollgate::ui::draw(app, f)).unwrap();
    t.backend().buffer().clone()
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let b = buffer(app, w, h);
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(b[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn row_of(b: &Buffer, text: &str) -> Option<u16> {
    (0..b.area.height).find(|&y| {
        let row: String = (0..b.area.width).map(|x| b[(x, y)].symbol()).collect();
        row.contains(text)
    })
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d\d:\d\d:\d\d(\.\d{3})?", "[time]");
    s
}

fn items(texts: &[&str]) -> Vec<ChecklistItem> {
    texts
        .iter()
        .map(|t| ChecklistItem {
            text: t.to_string(),
            command: None,
        })
        .collect()
}

/// The build gate of a LabelMint deploy: many command lines, one with a value captured later.
fn build_gate() -> GateRequest {
    GateRequest {
        id: "build".into(),
        kind: GateKind::Phase,
        title: "Build and push the images".into(),
        message: Some("Build labelmint-backend and labelmint-web at a1b2c3d and push them to ECR?".into()),
        destructive: false,
        confirm: None,
        commands: vec![
            "aws ecr get-login-password --region us-east-1 | docker login --username AWS --password-stdin 288761728065.dkr.ecr.us-east-1.amazonaws.com".into(),
            "docker build -t labelmint-backend:a1b2c3d -f services/backend/Dockerfile .\ndocker build -t labelmint-web:a1b2c3d -f web/Dockerfile web\ndocker tag labelmint-backend:a1b2c3d 288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-backend:a1b2c3d\ndocker tag labelmint-web:a1b2c3d 288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-web:a1b2c3d".into(),
            "docker push 288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-backend:a1b2c3d\ndocker push 288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-web:a1b2c3d".into(),
            "tar -czf releases/{{ artifact }} build/\nsha256sum releases/{{ artifact }} > releases/{{ artifact }}.sha256\naws s3 cp releases/{{ artifact }} s3://labelmint-releases/".into(),
            "aws ecr describe-images --repository-name labelmint-backend --image-ids imageTag=a1b2c3d\naws ecr describe-images --repository-name labelmint-web --image-ids imageTag=a1b2c3d".into(),
        ],
        checklist: items(&[
            "CI is green on a1b2c3d",
            "The release notes are in the deploy channel",
        ]),
        choices: vec![Choice::Approve, Choice::Reject, Choice::Skip],
        production: true,
        error: None,
        follow: None,
        approvals: 1,
    }
}

/// LabelMint's destructive roll-back gate.
fn rollback_gate() -> GateRequest {
    let mut commands = vec![
        "kube.rollout_undo deployment/labelmint-web in labelmint-production (revision 14 → 13)"
            .to_string(),
    ];
    for d in [
        "api-gateway",
        "labeling-backend",
        "payment-backend",
        "client-bot",
        "worker-bot",
    ] {
        commands.push(format!(
            "kubectl --context \"arn:aws:eks:us-east-1:288761728065:cluster/labelmint-production\" rollout undo deployment/{d} -n labelmint-production\nkubectl --context \"arn:aws:eks:us-east-1:288761728065:cluster/labelmint-production\" rollout status deployment/{d} -n labelmint-production --timeout=120s"
        ));
    }
    GateRequest {
        id: "roll-back".into(),
        kind: GateKind::Phase,
        title: "Roll all back".into(),
        message: Some("Roll all in labelmint-production back (undo)?".into()),
        destructive: true,
        confirm: Some("production".into()),
        commands,
        checklist: items(&[
            "The failing service is identified and the rollback is announced in the incident channel",
            "The database needs no rollback (no migration since the last release)",
        ]),
        choices: vec![Choice::Approve, Choice::Reject, Choice::Rollback],
        production: true,
        error: None,
        follow: None,
        approvals: 1,
    }
}

fn failed_gate() -> GateRequest {
    GateRequest {
        id: "web-health".into(),
        kind: GateKind::Failed,
        title: "https://labelmint.dev/api/health returns 200".into(),
        message: None,
        destructive: false,
        confirm: None,
        commands: vec![
            "curl -sS -o /dev/null -w '%{http_code}\\n' https://labelmint.dev/api/health".into(),
        ],
        checklist: Vec::new(),
        choices: vec![Choice::Retry, Choice::Skip, Choice::Rollback, Choice::Abort],
        production: true,
        error: Some(
            "the output does not contain `200` after 5 attempts (last exit code 0, output `503`)"
                .into(),
        ),
        follow: None,
        approvals: 1,
    }
}

fn survivors_gate() -> GateRequest {
    GateRequest {
        id: "undo-all".into(),
        kind: GateKind::Interrupted,
        title: "Undo the last rollout of every deployment".into(),
        message: Some(
            "1 process this step started still runs: pid 4242 `kubectl rollout undo deployment --all` (since 11:58:01)"
                .into(),
        ),
        destructive: false,
        confirm: None,
        commands: vec!["kubectl --context \"arn:aws:eks:us-east-1:288761728065:cluster/labelmint-production\" rollout undo deployment --all -n labelmint-production".into()],
        checklist: Vec::new(),
        choices: vec![Choice::KillSurvivors, Choice::WaitSurvivors, Choice::Abort],
        production: true,
        error: Some("the step was running when tollgate stopped; it may or may not have finished".into()),
        follow: None,
        approvals: 1,
    }
}

/// `app` with the steps before `gate` done and the gate open.
fn at_gate(gate: GateRequest) -> App {
    let mut a = app();
    a.on_engine(Event::PhaseStarted {
        phase: "assess".into(),
        title: "Identify the failing service".into(),
    });
    if gate.kind == GateKind::Failed {
        a.on_engine(Event::StepStarted {
            step: gate.id.clone(),
            title: gate.title.clone(),
            attempt: 5,
            attempts: 5,
            command: gate.commands[0].clone(),
        });
        a.on_engine(Event::Output {
            step: gate.id.clone(),
            stream: Stream::Stdout,
            text: "503\n".into(),
        });
        a.on_engine(Event::Output {
            step: gate.id.clone(),
            stream: Stream::Stderr,
            text: "expected output to contain `200`\n".into(),
        });
    }
    a.on_engine(Event::GateReached(gate));
    a
}

/// Asserts `texts` are all on the screen at `w`×`h`, and snapshots it.
fn check(app: &mut App, name: &str, texts: &[&str]) {
    for (w, h) in SIZES {
        let s = screen(app, w, h);
        for t in texts {
            assert!(
                s.contains(t),
                "{name} at {w}x{h}: `{t}` is not on screen:\n{s}"
            );
        }
        settings().bind(|| insta::assert_snapshot!(format!("{name}_{w}x{h}"), s));
    }
}

#[test]
fn the_gate_shows_its_controls_at_every_size() {
    let mut a = at_gate(build_gate());
    check(
        &mut a,
        "gate",
        &[
            "▶ [ ] CI is green on a1b2c3d",
            "[ ] The release notes",
            "note:",
            "[a] approve",
            "[s] skip",
            "esc",
            "^C",
        ],
    );
    // The placeholder filled later says so.
    let s = screen(&mut a, 200, 55);
    assert!(s.contains("filled when the step runs"), "{s}");
}

#[test]
fn the_destructive_gate_shows_its_controls_at_every_size() {
    let mut a = at_gate(rollback_gate());
    check(
        &mut a,
        "destructive_gate",
        &[
            "▶ [ ] The failing service",
            "[ ] The database needs no rollback",
            "type `production` to approve:",
            "note:",
            "[a] approve",
            "[b] rollback",
        ],
    );
    let s = screen(&mut a, 80, 24);
    assert!(s.contains("more lines (PgDn)"), "{s}");
    // What will run scrolls: PgDn shows the last command, and the mark says what is above.
    for _ in 0..10 {
        key(&mut a, KeyCode::PageDown);
        buffer(&mut a, 80, 24);
    }
    let s = screen(&mut a, 80, 24);
    assert!(s.contains("above (PgUp)"), "{s}");
    assert!(s.contains("--timeout=120s"), "{s}");
}

#[test]
fn the_failure_dialog_shows_its_controls_at_every_size() {
    let mut a = at_gate(failed_gate());
    check(
        &mut a,
        "failure_dialog",
        &["STEP FAILED", "failed:", "[t] retry", "[x] abort", "note:"],
    );
    let s = screen(&mut a, 200, 55);
    assert!(!s.contains("about to run:"), "{s}");
    assert!(s.contains("│ 503"), "{s}");
}

#[test]
fn the_failure_dialog_offers_to_open_the_runbook_the_failure_leads_to() {
    let mut gate = failed_gate();
    gate.follow = Some("rollback-application".into());
    let mut a = at_gate(gate);
    for (w, h) in SIZES {
        let s = screen(&mut a, w, h);
        assert!(s.contains("[o] open rollback-application"), "{w}x{h}:\n{s}");
    }
    // `o` chooses, Enter decides: the failure path is taken (roll back) and the runbook opens
    // once the run has ended, never before.
    assert!(key(&mut a, KeyCode::Char('o')).is_empty());
    let s = screen(&mut a, 120, 40);
    assert!(
        s.contains("Enter to roll back, then open `rollback-application`"),
        "{s}"
    );
    let sent = key(&mut a, KeyCode::Enter);
    assert!(
        matches!(&sent[..], [Action::Send(Command::Decide(d))] if d.choice == Choice::Rollback && d.gate == "web-health"),
        "{sent:?}"
    );
    assert_eq!(a.take_follow(), None, "the run has not ended");
    a.on_engine(Event::RunFinished {
        status: tollgate::protocol::RunStatus::RolledBack,
    });
    assert_eq!(a.take_follow().as_deref(), Some("rollback-application"));
    // Without a runbook to follow there is no `o`.
    let mut b = at_gate(failed_gate());
    assert!(!screen(&mut b, 200, 55).contains("[o] open"));
    assert!(key(&mut b, KeyCode::Char('o')).is_empty());
    b.on_engine(Event::RunFinished {
        status: tollgate::protocol::RunStatus::Failed,
    });
    assert_eq!(b.take_follow(), None);
}

#[test]
fn the_survivors_dialog_shows_its_controls_at_every_size() {
    let mut a = at_gate(survivors_gate());
    check(
        &mut a,
        "survivors_dialog",
        &[
            "STEP INTERRUPTED",
            "[k] kill-survivors",
            "[w] wait",
            "note:",
        ],
    );
}

#[test]
fn the_value_prompt_shows_its_controls_at_every_size() {
    let mut a = app();
    a.on_engine(Event::ValueRequested(ValueRequest {
        step: "put-jwt".into(),
        prompt: "The new JWT signing secret for labelmint-production (at least 64 characters)"
            .into(),
        purpose: "secrets.put labelmint/production/jwt-secret".into(),
    }));
    check(
        &mut a,
        "value_prompt",
        &["SECRET VALUE", "[enter] use it", "[esc] cancel"],
    );
}

#[test]
fn the_quit_dialog_shows_its_controls_at_every_size() {
    let mut a = app();
    a.on_engine(Event::PhaseStarted {
        phase: "assess".into(),
        title: "Identify the failing service".into(),
    });
    key(&mut a, KeyCode::Char('q'));
    assert!(a.confirm().is_some());
    check(
        &mut a,
        "quit_confirm",
        &["Quit? The run stops here", "[y] yes    [n] no"],
    );
}

#[test]
fn help_lists_the_pods_and_logs_keys_and_fits_or_scrolls() {
    let mut a = app();
    key(&mut a, KeyCode::Char('?'));
    for (w, h) in SIZES {
        let s = screen(&mut a, w, h);
        settings().bind(|| insta::assert_snapshot!(format!("help_{w}x{h}"), s.clone()));
        // Nothing is cut without a mark: either it all fits, or it says there is more.
        if !s.contains("more rows") {
            for t in ["pods pane", "owner", "logs pane", "previous instance"] {
                assert!(s.contains(t), "{w}x{h}: {t}\n{s}");
            }
        }
    }
    // Wide enough: both panes' keys at once.
    let s = screen(&mut a, 200, 55);
    for t in [
        "pods pane",
        "logs of every pod of its owner",
        "logs pane",
        "the previous instance's logs",
    ] {
        assert!(s.contains(t), "{t}\n{s}");
    }
    // At 100×30 it scrolls to the end.
    screen(&mut a, 100, 30);
    for _ in 0..10 {
        key(&mut a, KeyCode::PageDown);
    }
    let s = screen(&mut a, 100, 30);
    assert!(s.contains("clear the search and the filter"), "{s}");
    assert!(s.contains("above"), "{s}");
}

#[test]
fn the_banner_and_footer_fit_keeping_the_state_and_the_keys_to_leave() {
    let mut a = app();
    a.set_focus(Pane::Output);
    let s = screen(&mut a, 80, 24);
    let footer = s.lines().last().unwrap();
    assert!(
        footer.contains("?  help") && footer.contains("q  quit"),
        "{footer}"
    );
    assert!(footer.contains('…'), "{footer}");
    for w in [80, 100, 120, 200] {
        let s = screen(&mut a, w, 30);
        let banner = s.lines().nth(1).unwrap();
        assert!(banner.contains("running"), "{w}: {banner}");
        assert!(!banner.trim_end().ends_with("(not"), "{w}: {banner}");
    }
    let s = screen(&mut a, 120, 40);
    let banner = s.lines().nth(1).unwrap();
    assert!(
        banner.contains("kube …/labelmint-production (not connected yet)"),
        "{banner}"
    );
    assert!(banner.contains("(not pinned"), "{banner}");
}

#[test]
fn esc_hides_the_gate_to_look_at_the_panes_and_d_brings_it_back() {
    let mut a = at_gate(rollback_gate());
    let before = screen(&mut a, 200, 55);
    assert!(before.contains("GATE before phase roll-back"));
    key(&mut a, KeyCode::Esc);
    assert!(a.gate().is_some(), "the gate stays open");
    assert!(!a.gate_shown());
    let s = screen(&mut a, 200, 55);
    assert!(!s.contains("GATE before phase roll-back"), "{s}");
    let banner = s.lines().nth(1).unwrap();
    assert!(
        banner.contains("waiting at gate roll-back (hidden: d shows it)"),
        "{banner}"
    );
    assert!(
        s.lines().last().unwrap().contains("d  back to the gate"),
        "{s}"
    );
    // The panes take keys again: Tab moves between them.
    a.set_focus(Pane::Tree);
    key(&mut a, KeyCode::Tab);
    assert!(
        !a.gate_shown(),
        "Tab is the panes', the dialog stays hidden"
    );
    key(&mut a, KeyCode::Char('d'));
    assert!(a.gate_shown());
    let s = screen(&mut a, 200, 55);
    assert!(s.contains("GATE before phase roll-back"), "{s}");
    // Typed before the dialog was back on screen long enough: nothing; after, keys work again.
    let g = a.gate_mut().unwrap();
    g.opened = Instant::now() - Duration::from_secs(1);
    key(&mut a, KeyCode::Char(' '));
    assert!(a.gate().unwrap().ticks[0]);
    // Ctrl-C at a gate asks to quit.
    key_mod(&mut a, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(a.confirm().is_some());
}

#[test]
fn focus_follows_the_drawn_order_and_shows_in_every_theme_and_without_colour() {
    let mut themes: Vec<(String, Theme)> = Theme::builtin_names()
        .iter()
        .map(|n| (n.to_string(), Theme::builtin(n).unwrap()))
        .collect();
    themes.push(("NO_COLOR".into(), Theme::load("dark", None, true).unwrap()));
    for (name, theme) in themes {
        let mut a = app_with(theme, Approvals::default());
        a.on_engine(Event::GateReached(rollback_gate()));
        let order = [
            DialogFocus::Checklist(0),
            DialogFocus::Checklist(1),
            DialogFocus::Confirm,
            DialogFocus::Note,
            DialogFocus::Choices,
        ];
        let marked = [
            "▶ [ ] The failing",
            "▶ [ ] The database",
            "▶ type `production`",
            "▶ note:",
            "▶ [a] approve",
        ];
        for (f, mark) in order.iter().zip(marked) {
            assert_eq!(a.gate().unwrap().focus, *f, "{name}");
            let b = buffer(&mut a, 120, 40);
            let y = row_of(&b, mark).unwrap_or_else(|| panic!("{name}: no `{mark}`"));
            // The focused control is marked, and drawn reversed, bold or underlined.
            let styled = (0..b.area.width).any(|x| {
                b[(x, y)]
                    .modifier
                    .intersects(Modifier::REVERSED | Modifier::UNDERLINED)
            });
            assert!(styled, "{name}: `{mark}` is not highlighted");
            // Only one control has the mark.
            let s = screen(&mut a, 120, 40);
            assert_eq!(s.matches("▶ ").count(), 1, "{name}\n{s}");
            key(&mut a, KeyCode::Tab);
        }
        // Round to the checklist: Space ticks it, it never reaches the word.
        key(&mut a, KeyCode::Char(' '));
        assert!(a.gate().unwrap().ticks[0], "{name}");
        assert!(a.gate().unwrap().typed.is_empty(), "{name}");
    }
}

#[test]
fn text_fields_take_ctrl_u_and_ctrl_w_and_no_other_control_key() {
    let ctrl = KeyModifiers::CONTROL;
    let mut a = at_gate(rollback_gate());
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.gate().unwrap().focus, DialogFocus::Confirm);
    type_text(&mut a, "prod uction");
    key_mod(&mut a, KeyCode::Char('w'), ctrl);
    assert_eq!(a.gate().unwrap().typed, "prod ");
    key_mod(&mut a, KeyCode::Char('u'), ctrl);
    assert_eq!(a.gate().unwrap().typed, "");
    key_mod(&mut a, KeyCode::Char('a'), ctrl);
    key_mod(&mut a, KeyCode::Char('e'), ctrl);
    key_mod(&mut a, KeyCode::Char('x'), KeyModifiers::ALT);
    assert_eq!(a.gate().unwrap().typed, "");
    // The note.
    key(&mut a, KeyCode::Tab);
    type_text(&mut a, "paged the db team");
    key_mod(&mut a, KeyCode::Char('w'), ctrl);
    assert_eq!(a.gate().unwrap().note, "paged the db ");
    key_mod(&mut a, KeyCode::Char('u'), ctrl);
    assert_eq!(a.gate().unwrap().note, "");

    // The masked prompt.
    let mut a = app();
    a.on_engine(Event::ValueRequested(ValueRequest {
        step: "put-jwt".into(),
        prompt: "JWT secret".into(),
        purpose: "secrets.put".into(),
    }));
    type_text(&mut a, "abc def");
    key_mod(&mut a, KeyCode::Char('w'), ctrl);
    assert_eq!(a.prompt().unwrap().typed_len(), 4);
    key_mod(&mut a, KeyCode::Char('k'), ctrl);
    assert_eq!(a.prompt().unwrap().typed_len(), 4);
    key_mod(&mut a, KeyCode::Char('u'), ctrl);
    assert_eq!(a.prompt().unwrap().typed_len(), 0);

    // The search.
    let mut a = app();
    key(&mut a, KeyCode::Char('/'));
    type_text(&mut a, "disk full");
    key_mod(&mut a, KeyCode::Char('w'), ctrl);
    assert_eq!(a.search().query, "disk ");
    key_mod(&mut a, KeyCode::Char('u'), ctrl);
    assert_eq!(a.search().query, "");
}

#[test]
fn a_wrong_confirmation_word_says_it_does_not_match() {
    let mut a = at_gate(rollback_gate());
    key(&mut a, KeyCode::Char(' '));
    key(&mut a, KeyCode::Down);
    key(&mut a, KeyCode::Char(' '));
    key(&mut a, KeyCode::Tab);
    assert_eq!(a.gate().unwrap().focus, DialogFocus::Confirm);
    type_text(&mut a, "dem");
    let s = screen(&mut a, 120, 40);
    assert!(s.contains("dem▏  ✗ does not match"), "{s}");
    key(&mut a, KeyCode::Enter);
    key(&mut a, KeyCode::Char('a'));
    let actions = key(&mut a, KeyCode::Enter);
    assert!(actions.is_empty());
    assert_eq!(
        a.gate().unwrap().message.as_deref(),
        Some("`dem` does not match: type `production` to approve")
    );
    key_mod(&mut a, KeyCode::Char('u'), KeyModifiers::CONTROL);
    type_text(&mut a, "production");
    let s = screen(&mut a, 120, 40);
    assert!(s.contains("production▏  ✓ matches"), "{s}");
}

fn approve(args: &[&str]) -> Approvals {
    Approvals {
        approve: args
            .iter()
            .map(|a| tollgate::protocol::approvals::approval(a))
            .collect(),
        ..Approvals::default()
    }
}

#[test]
fn approve_flags_decide_gates_in_the_interface_by_the_headless_rule() {
    let theme = || Theme::builtin("dark").unwrap();
    // Named: approved by the flag, no dialog; the events say so.
    let mut a = app_with(theme(), approve(&["build"]));
    a.on_engine(Event::GateReached(build_gate()));
    let sent = a.take_commands();
    assert!(
        matches!(&sent[..], [Command::Decide(d)] if d.choice == Choice::Approve && d.via == "--approve" && d.checklist == vec![true, true]),
        "{sent:?}"
    );
    assert!(
        a.recent()
            .iter()
            .any(|l| l.contains("gate build: approve by the flag --approve (pre-approved)"))
    );
    // A destructive gate needs its word: without it, the dialog asks, and the events say why.
    let mut a = app_with(theme(), approve(&["roll-back"]));
    a.on_engine(Event::GateReached(rollback_gate()));
    assert!(a.take_commands().is_empty());
    assert!(a.gate_shown());
    assert!(
        a.recent()
            .iter()
            .any(|l| l.contains("needs --approve roll-back=WORD"))
    );
    // With it, the word goes to the engine (which checks it).
    let mut a = app_with(theme(), approve(&["roll-back=production"]));
    a.on_engine(Event::GateReached(rollback_gate()));
    let sent = a.take_commands();
    assert!(
        matches!(&sent[..], [Command::Decide(d)] if d.typed.as_deref() == Some("production")),
        "{sent:?}"
    );
    // --approve-all passes no destructive gate; a failure is asked, never decided.
    let mut a = app_with(
        theme(),
        Approvals {
            approve_all: true,
            ..Approvals::default()
        },
    );
    a.on_engine(Event::GateReached(rollback_gate()));
    assert!(a.take_commands().is_empty());
    a.on_engine(Event::GateReached(failed_gate()));
    assert!(a.take_commands().is_empty());
}

#[tokio::test]
async fn approve_runs_a_gated_run_through_the_real_loop() {
    let yaml = r#"
name: approved
phases:
  - id: build
    gate: true
    checklist: [CI is green]
    steps:
      - { id: compile, run: "echo compiled" }
"#;
    let dir = tempfile::tempdir().unwrap();
    let spec = common::spec(dir.path(), yaml, &[], false);
    let runbook = spec.runbook.clone();
    let (ev_tx, ev_rx) = tokio::sync::mpsc::channel(1024);
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(16);
    let handle = tokio::spawn(
        tollgate::engine::Engine::new(spec, Arc::new(tollgate::exec::shell::Shell), ev_tx, cmd_rx)
            .run(),
    );
    let mut app = App::new(Config {
        approvals: approve(&["build"]),
        ..Config::new(runbook, "run-1", "t@h", Theme::builtin("dark").unwrap())
    });
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    // No key is pressed until the run has finished: then `q`.
    let (keys, input) = futures::channel::mpsc::unbounded();
    let jpath = tollgate::engine::journal::journal_path(&dir.path().join("state"), "run-1");
    let feeder = tokio::spawn(async move {
        let journal = || std::fs::read_to_string(&jpath).unwrap_or_default();
        while !journal().contains("run_finished") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // `q` quits a finished run at once; if the loop has not shown the end yet, it asks
        // first, and `y` answers.
        for c in ['q', 'y'] {
            let k = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
            let _ = keys.unbounded_send(Ok(TermEvent::Key(k)));
        }
        (keys, journal())
    });
    let exit = tokio::time::timeout(
        DEADLINE,
        tollgate::ui::run_loop(
            &mut terminal,
            &mut app,
            ev_rx,
            input,
            cmd_tx,
            futures::stream::pending(),
        ),
    )
    .await
    .expect("the run finished without a key at its gate")
    .unwrap();
    assert_eq!(exit, tollgate::ui::Exit::Quit);
    let (_, journal) = feeder.await.unwrap();
    assert!(journal.contains("--approve"), "{journal}");
    assert_eq!(
        handle.await.unwrap().unwrap(),
        tollgate::engine::Outcome::Finished(tollgate::engine::RunStatus::Succeeded)
    );
    assert!(app.recent().iter().any(|l| l.contains("pre-approved")));
}

/// Every dialog, the help and the hidden gate, at sizes from 1×1 to 56×20 and at odd shapes
/// (a strip, a column): drawn without a panic, scrolled to both ends, and at any size where
/// the controls fit, the buttons row is on screen.
#[test]
fn no_terminal_size_breaks_a_dialog() {
    let mut apps: Vec<(&str, App)> = vec![
        ("gate", at_gate(build_gate())),
        ("destructive", at_gate(rollback_gate())),
        ("failure", at_gate(failed_gate())),
        ("survivors", at_gate(survivors_gate())),
    ];
    let mut prompt = app();
    prompt.on_engine(Event::ValueRequested(ValueRequest {
        step: "put-jwt".into(),
        prompt: "The new JWT signing secret".into(),
        purpose: "secrets.put labelmint/production/jwt-secret".into(),
    }));
    apps.push(("prompt", prompt));
    let mut help = app();
    key(&mut help, KeyCode::Char('?'));
    apps.push(("help", help));
    let mut hidden = at_gate(rollback_gate());
    key(&mut hidden, KeyCode::Esc);
    apps.push(("hidden gate", hidden));

    let mut sizes: Vec<(u16, u16)> = Vec::new();
    for w in (1..=60).step_by(11) {
        for h in [1, 2, 3, 4, 5, 7, 9, 12, 16, 20] {
            sizes.push((w, h));
        }
    }
    sizes.extend([(200, 1), (200, 3), (1, 60), (3, 200), (500, 200), (80, 24)]);
    for (name, a) in &mut apps {
        for &(w, h) in &sizes {
            let s = screen(a, w, h);
            for code in [
                KeyCode::PageDown,
                KeyCode::End,
                KeyCode::PageUp,
                KeyCode::Home,
            ] {
                key(a, code);
                let _ = screen(a, w, h);
            }
            if (w, h) == (80, 24) && *name != "help" && *name != "hidden gate" {
                assert!(
                    s.contains("[a] approve")
                        || s.contains("[t] retry")
                        || s.contains("[k] kill")
                        || s.contains("[enter]"),
                    "{name} at 80x24 has no buttons:\n{s}"
                );
            }
        }
    }
}

/// ana@ops's interface following oncall@ops's run (`tollgate follow`), its clock frozen.
fn follower_app() -> App {
    let frozen = chrono::DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    App::new(Config {
        gate_guard: Duration::ZERO,
        frozen_clock: Some(frozen),
        follower: true,
        driver: Some("oncall@ops".into()),
        ..Config::new(
            labelmint(),
            "20250101-120000-a1b2",
            "ana@ops",
            Theme::builtin("dark").unwrap(),
        )
    })
}

/// A follower's interface (`tollgate follow`): the gate is shown with who decides it, and its
/// keys decide nothing; `D` asks to drive. Handed the keys, it decides as the driver does. The
/// driver's interface, asked, answers with `a` or `r`; its banner says who watches.
#[test]
fn a_follower_sees_the_gate_read_only_until_it_holds_the_keys() {
    let mut f = follower_app();
    let mut gate = build_gate();
    gate.checklist.clear();
    gate.destructive = false;
    gate.confirm = None;
    f.on_engine(Event::GateReached(gate));
    let s = screen(&mut f, 120, 40);
    assert!(
        s.contains("oncall@ops decides this gate — D asks to drive"),
        "{s}"
    );
    assert!(s.contains("oncall@ops at the keys"), "{s}");
    assert!(key(&mut f, KeyCode::Char('a')).is_empty());
    assert!(key(&mut f, KeyCode::Enter).is_empty());
    assert!(matches!(
        key(&mut f, KeyCode::Char('D')).as_slice(),
        [Action::Send(Command::AskDrive)]
    ));
    // Handed the keys: the same dialog decides, as ana.
    f.on_engine(Event::Keys { held: true });
    key(&mut f, KeyCode::Char('a'));
    let sent = key(&mut f, KeyCode::Enter);
    assert!(
        matches!(sent.as_slice(), [Action::Send(Command::Decide(d))] if d.gate == "build" && d.who == "ana@ops"),
        "{sent:?}"
    );
    f.on_engine(Event::GateDecided {
        gate: "build".into(),
        choice: Choice::Approve,
        who: "ana@ops".into(),
        via: "follower".into(),
        checklist: vec![],
    });
    // `q` leaves without asking, and sends nothing that would touch the run.
    assert!(matches!(
        key(&mut f, KeyCode::Char('q')).as_slice(),
        [Action::Quit]
    ));

    let mut d = app();
    d.on_engine(Event::Watchers {
        names: vec!["ana@ops".into(), "li@far".into()],
    });
    d.on_engine(Event::DriveRequested {
        who: "ana@ops".into(),
    });
    let s = screen(&mut d, 120, 40);
    assert!(s.contains("watching: ana, li@far"), "{s}");
    assert!(s.contains("ana@ops asks to drive"), "{s}");
    assert!(s.contains("[a]ccept / [r]efuse"), "{s}");
    let sent = key(&mut d, KeyCode::Char('a'));
    assert!(
        matches!(sent.as_slice(), [Action::Send(Command::AnswerDrive { who, accept: true })] if who == "ana@ops"),
        "{sent:?}"
    );
    assert!(!screen(&mut d, 120, 40).contains("asks to drive —"));
}

/// A gate that needs two people is decided by a follower who is not at the keys, as any
/// dialog is: checklist, confirmation word (a typed `D` is part of it, not an ask to drive),
/// then approve; or reject. The dialog says whose decision it is. An ordinary gate stays
/// read-only for the same follower.
#[test]
fn a_follower_not_at_the_keys_decides_a_two_person_gate() {
    let mut gate = build_gate();
    gate.checklist = items(&["The backup finished"]);
    gate.destructive = true;
    gate.confirm = Some("Drop".into());
    gate.approvals = 2;

    let mut f = follower_app();
    f.on_engine(Event::GateReached(gate.clone()));
    let s = screen(&mut f, 120, 40);
    assert!(
        s.contains(
            "oncall@ops at the keys; this gate needs 2 people: your decision counts as yours"
        ),
        "{s}"
    );
    assert!(!s.contains("decides this gate"), "{s}");
    // Approving before the checklist and the word is refused by the dialog itself.
    key(&mut f, KeyCode::Char('a'));
    assert!(key(&mut f, KeyCode::Enter).is_empty());
    key(&mut f, KeyCode::Char(' '));
    key(&mut f, KeyCode::Down);
    assert_eq!(f.gate().unwrap().focus, DialogFocus::Confirm);
    type_text(&mut f, "Drop");
    key(&mut f, KeyCode::Enter);
    key(&mut f, KeyCode::Char('a'));
    let sent = key(&mut f, KeyCode::Enter);
    assert!(
        matches!(sent.as_slice(), [Action::Send(Command::Decide(d))]
            if d.gate == "build" && d.choice == Choice::Approve && d.who == "ana@ops"
                && d.typed.as_deref() == Some("Drop") && d.checklist == vec![true]),
        "{sent:?}"
    );
    // The engine counts it; the dialog stays, and says so.
    f.on_engine(Event::ApprovalCounted {
        gate: "build".into(),
        who: "ana@ops".into(),
        via: "follower".into(),
        have: 1,
        need: 2,
    });
    let s = screen(&mut f, 120, 40);
    assert!(s.contains("1 of 2"), "{s}");

    // Another follower rejects.
    let mut li = follower_app();
    li.on_engine(Event::GateReached(gate.clone()));
    key(&mut li, KeyCode::Char('r'));
    let sent = key(&mut li, KeyCode::Enter);
    assert!(
        matches!(sent.as_slice(), [Action::Send(Command::Decide(d))]
            if d.choice == Choice::Reject && d.who == "ana@ops"),
        "{sent:?}"
    );

    // An ordinary gate: still the driver's to decide; `D` asks to drive.
    let mut o = follower_app();
    gate.approvals = 1;
    o.on_engine(Event::GateReached(gate));
    key(&mut o, KeyCode::Char(' '));
    key(&mut o, KeyCode::Down);
    assert!(matches!(
        key(&mut o, KeyCode::Char('D')).as_slice(),
        [Action::Send(Command::AskDrive)]
    ));
    assert!(screen(&mut o, 120, 40).contains("oncall@ops decides this gate"));
}
