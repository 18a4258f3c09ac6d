//! The banner's deadline: the time left (`⏱ 3h12m left`, `⏱ 5m over`), in the theme's warning
//! style in the deadline's last fifth and after it, at several times into the run, by the app's
//! clock (no sleeping).

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use tollgate::protocol::{Deadline, Event};
use tollgate::ui::Config;
use tollgate::ui::app::App;
use tollgate::ui::theme::Theme;

use crate::common;

const YAML: &str = r#"
name: dr restore
deadline: 4h
targets:
  environment: dr
phases:
  - id: restore
    steps:
      - { id: snapshot, run: "true" }
      - { id: promote, run: "true" }
"#;

fn app(theme: &Theme) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::spec(dir.path(), YAML, &[], false);
    let frozen = chrono::DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut app = App::new(Config {
        frozen_clock: Some(frozen),
        ..Config::new(spec.runbook.clone(), "run-1", "oncall@ops", theme.clone())
    });
    app.on_engine(Event::RunStarted {
        run_id: "run-1".into(),
        runbook: "dr restore".into(),
        resumed: false,
        deadline: Some(Deadline {
            secs: 4 * 3600,
            started_at: "2025-01-01T12:00:00.000Z".into(),
        }),
    });
    (app, dir)
}

fn draw(app: &mut App, at: Duration, w: u16, h: u16) -> Buffer {
    app.set_clock(app.started() + at);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tollgate::ui::draw(app, f)).unwrap();
    t.backend().buffer().clone()
}

fn row(b: &Buffer, y: u16) -> String {
    (0..b.area.width).map(|x| b[(x, y)].symbol()).collect()
}

fn screen(b: &Buffer) -> String {
    (0..b.area.height).map(|y| row(b, y) + "\n").collect()
}

/// The banner's deadline text and the style of its clock sign.
fn deadline_in_banner(b: &Buffer) -> Option<(String, ratatui::style::Style)> {
    for y in 0..2 {
        let r = row(b, y);
        if let Some(at) = r.find('⏱') {
            let x = r[..at].chars().count() as u16;
            let rest = &r[at..];
            let end = rest.find(" · ").unwrap_or(rest.trim_end().len());
            return Some((rest[..end].trim_end().to_string(), b[(x, y)].style()));
        }
    }
    None
}

const fn hm(h: u64, m: u64) -> Duration {
    Duration::from_secs(h * 3600 + m * 60)
}

#[test]
fn the_banner_counts_down_and_warns_in_the_last_fifth_and_after() {
    let theme = Theme::builtin("dark").unwrap();
    let (mut a, _dir) = app(&theme);
    for (at, text, warning) in [
        (hm(0, 0), "⏱ 4h left", false),
        (hm(0, 48), "⏱ 3h12m left", false),
        (hm(3, 11), "⏱ 49m left", false),
        (hm(3, 12), "⏱ 48m left", true),
        (hm(3, 59) + Duration::from_secs(30), "⏱ 30s left", true),
        (hm(4, 5), "⏱ 5m over", true),
        (hm(6, 30), "⏱ 2h30m over", true),
    ] {
        let b = draw(&mut a, at, 120, 30);
        let (shown, style) = deadline_in_banner(&b).unwrap_or_else(|| panic!("{}", screen(&b)));
        assert_eq!(shown, text, "at {at:?}");
        let expected = if warning {
            theme.banner_production
        } else {
            theme.banner
        };
        assert_eq!(style.fg, expected.fg, "{text}: colour");
        assert!(
            style.add_modifier.contains(expected.add_modifier),
            "{text}: {style:?} has {expected:?}'s modifiers"
        );
        assert_ne!(
            theme.banner.fg, theme.banner_production.fg,
            "the two styles differ, or this proves nothing"
        );
    }
}

#[test]
fn no_deadline_no_clock_sign() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::spec(dir.path(), &YAML.replace("deadline: 4h\n", ""), &[], false);
    let mut a = App::new(Config::new(
        spec.runbook.clone(),
        "run-1",
        "oncall@ops",
        Theme::builtin("dark").unwrap(),
    ));
    a.on_engine(Event::RunStarted {
        run_id: "run-1".into(),
        runbook: "dr restore".into(),
        resumed: false,
        deadline: None,
    });
    let b = draw(&mut a, hm(9, 0), 120, 30);
    assert!(!screen(&b).contains('⏱'), "{}", screen(&b));
}

#[test]
fn the_banner_with_a_deadline_at_80_and_120_columns() {
    let theme = Theme::builtin("dark").unwrap();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d\d:\d\d:\d\d(\.\d{3})?", "[time]");
    for (w, h) in [(80, 24), (120, 40)] {
        let (mut a, _dir) = app(&theme);
        let b = draw(&mut a, hm(3, 20), w, h);
        let s = screen(&b);
        // The deadline fits on the banner at both widths, with the state.
        assert!(row(&b, 1).contains("⏱ 40m left"), "{s}");
        assert!(row(&b, 1).contains("running"), "{s}");
        settings.bind(|| insta::assert_snapshot!(format!("deadline_{w}x{h}"), s));
    }
}
