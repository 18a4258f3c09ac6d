//! A rehearsal in the interface: the banner's `REHEARSAL` mark (reversed and bold, in every theme
//! and without colours, kept when the banner is shortened), the terminal's title, and the help's
//! `export KUBECONFIG=…`.

use std::sync::Arc;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Modifier;
use tollgate::ui::app::App;
use tollgate::ui::theme::Theme;
use tollgate::ui::{ClusterPanes, Config, REHEARSAL, Rehearsal};

const KUBECONFIG: &str = "/tmp/tollgate-rehearsal-7f3a/kubeconfig";

fn labelmint() -> Arc<tollgate::runbook::Runbook> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks/labelmint/rollback-application.yaml");
    Arc::new(tollgate::runbook::load(&path).unwrap().runbook)
}

fn config(theme: Theme, rehearsal: bool) -> Config {
    let frozen = chrono::DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    Config {
        gate_guard: Duration::ZERO,
        aws: true,
        cluster: Some(ClusterPanes {
            context: "labelmint-production (not connected yet)".into(),
            namespace: "labelmint-production".into(),
            preview: None,
        }),
        frozen_clock: Some(frozen),
        rehearsal: rehearsal.then(|| Rehearsal {
            kubeconfig: KUBECONFIG.into(),
            standins: "sandbox cluster · AWS and Docker stand-ins".into(),
        }),
        ..Config::new(labelmint(), "20250101-120000-a1b2", "oncall@ops", theme)
    }
}

fn buffer(app: &mut App, w: u16, h: u16) -> Buffer {
    app.set_clock(app.started());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tollgate::ui::draw(app, f)).unwrap();
    t.backend().buffer().clone()
}

fn rows(b: &Buffer, from: u16, to: u16) -> String {
    let mut s = String::new();
    for y in from..to {
        for x in 0..b.area.width {
            s.push_str(b[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

/// The cells of the first `REHEARSAL` on row `y`, if any.
fn mark_cells(b: &Buffer, y: u16) -> Option<Vec<(u16, u16)>> {
    let row: Vec<&str> = (0..b.area.width).map(|x| b[(x, y)].symbol()).collect();
    let text: String = row.concat();
    let at = text.find(REHEARSAL)?;
    // Every cell before the mark is one column of one byte (the mark comes first).
    let x0 = text[..at].chars().count() as u16;
    Some((x0..x0 + REHEARSAL.len() as u16).map(|x| (x, y)).collect())
}

#[test]
fn the_banner_says_rehearsal_at_every_size_and_theme() {
    for theme in ["dark", "presenter"] {
        for (w, h) in [(80u16, 24u16), (120, 40)] {
            let mut app = App::new(config(Theme::builtin(theme).unwrap(), true));
            let b = buffer(&mut app, w, h);
            let banner = rows(&b, 0, 2);
            insta::assert_snapshot!(format!("rehearsal_banner_{theme}_{w}x{h}"), banner);
            // First on the banner, whole, whatever else is shortened.
            let cells = mark_cells(&b, 0).unwrap_or_else(|| panic!("{theme} {w}x{h}:\n{banner}"));
            assert!(cells[0].0 <= 1, "{banner}");
            for c in cells {
                let m = b[c].modifier;
                assert!(
                    m.contains(Modifier::REVERSED | Modifier::BOLD),
                    "{theme} {w}x{h}: {m:?}"
                );
            }
        }
    }
    // The mark does not depend on colour: without colours it is still reversed and bold.
    let mut app = App::new(config(
        Theme::builtin("dark").unwrap().without_colors(),
        true,
    ));
    let b = buffer(&mut app, 80, 24);
    for c in mark_cells(&b, 0).expect("the mark without colours") {
        assert!(b[c].modifier.contains(Modifier::REVERSED | Modifier::BOLD));
    }
    // A run that is not a rehearsal has none.
    let mut app = App::new(config(Theme::builtin("dark").unwrap(), false));
    let b = buffer(&mut app, 120, 40);
    assert!(!rows(&b, 0, 40).contains(REHEARSAL));
}

#[test]
fn the_help_says_how_to_look_at_the_sandbox_with_kubectl() {
    for (w, h) in [(80u16, 24u16), (200, 55)] {
        let mut app = App::new(config(Theme::builtin("dark").unwrap(), true));
        app.on_input(TermEvent::Key(KeyEvent::new(
            KeyCode::Char('?'),
            KeyModifiers::NONE,
        )));
        let s = rows(&buffer(&mut app, w, h), 0, h);
        assert!(
            s.contains(&format!("export KUBECONFIG={KUBECONFIG}")),
            "{s}"
        );
        assert!(
            s.contains("rehearsal against stand-ins: sandbox cluster"),
            "{s}"
        );
    }
    let mut app = App::new(config(Theme::builtin("dark").unwrap(), false));
    app.on_input(TermEvent::Key(KeyEvent::new(
        KeyCode::Char('?'),
        KeyModifiers::NONE,
    )));
    assert!(!rows(&buffer(&mut app, 200, 55), 0, 55).contains("KUBECONFIG"));
}

#[test]
fn the_terminal_title_says_rehearsal_and_is_taken_back_on_exit() {
    let c = config(Theme::builtin("dark").unwrap(), true);
    let title = c.title().expect("a rehearsal sets the title");
    assert!(title.starts_with("REHEARSAL · "), "{title}");
    assert!(title.contains(&c.runbook.name.value), "{title}");
    assert_eq!(config(Theme::builtin("dark").unwrap(), false).title(), None);

    let mut out = Vec::new();
    tollgate::ui::term::set_title(&mut out, &title).unwrap();
    let set = String::from_utf8(out).unwrap();
    // Saved first, then set (OSC 0).
    assert!(set.starts_with("\x1b[22;0t"), "{set:?}");
    assert!(set.contains(&format!("\x1b]0;{title}\x07")), "{set:?}");
    let mut out = Vec::new();
    tollgate::ui::term::clear_title(&mut out).unwrap();
    let cleared = String::from_utf8(out).unwrap();
    assert_eq!(cleared, "\x1b]0;\x07\x1b[23;0t");
    // A name cannot smuggle a sequence of its own into the title.
    let mut out = Vec::new();
    tollgate::ui::term::set_title(&mut out, "REHEARSAL · a\x07\x1b]52;c;aGk=\x07").unwrap();
    let set = String::from_utf8(out).unwrap();
    assert_eq!(set.matches('\x07').count(), 1, "{set:?}");
    assert_eq!(set.matches('\x1b').count(), 2, "{set:?}");
}
