//! The logs pane drawn on a test terminal: the screen as a snapshot, prefix colours checked cell by
//! cell, pause and follow, search, the filter, and the bound on kept lines.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Modifier;
use tollgate::live::logs::{LogLine, LogsUpdate, Source};
use tollgate::ui::logs_pane::{LogsPane, source_style};
use tollgate::ui::theme::Theme;

const PODS: [&str; 3] = [
    "payment-backend-7c9d5f-x2kq",
    "payment-backend-7c9d5f-m8zt",
    "payment-backend-5b6d8c-q4rw",
];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn line(n: usize, pod: usize, text: &str) -> LogLine {
    LogLine {
        pod: PODS[pod].to_string(),
        container: "app".into(),
        ts: Some(t0() + ChronoDuration::milliseconds(n as i64 * 250)),
        text: text.to_string(),
        source: pod,
    }
}

fn pane() -> LogsPane {
    let source = Source::Deployment {
        namespace: "payments".into(),
        name: "payment-backend".into(),
    };
    let mut p = LogsPane::new(20_000);
    p.set_source_label(source.label());
    p.set_pod_prefix(source.pod_prefix());
    for pod in &PODS[..2] {
        p.apply(LogsUpdate::Joined {
            pod: pod.to_string(),
            container: "app".into(),
        });
    }
    p
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn typed(p: &mut LogsPane, s: &str) {
    for c in s.chars() {
        assert!(p.on_key(key(c)));
    }
}

fn draw(p: &LogsPane, w: u16, h: u16) -> Buffer {
    let theme = Theme::default();
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| p.render(f, f.area(), &theme, true)).unwrap();
    t.backend().buffer().clone()
}

fn screen(b: &Buffer) -> String {
    let mut s = String::new();
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            s.push_str(b[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn row_of(b: &Buffer, text: &str) -> Option<u16> {
    screen(b)
        .lines()
        .position(|l| l.contains(text))
        .map(|y| y as u16)
}

fn title(b: &Buffer) -> String {
    screen(b).lines().next().unwrap_or("").to_string()
}

#[test]
fn lines_are_prefixed_and_coloured_per_pod() {
    let mut p = pane();
    p.apply(LogsUpdate::Lines(vec![
        line(0, 0, "INFO  starting payment-backend version=1.4.2"),
        line(1, 1, "INFO  starting payment-backend version=1.4.2"),
        line(2, 0, "INFO  GET /healthz 200 0.4ms"),
        line(
            3,
            1,
            "\x1b[33mWARN\x1b[0m  slow request GET /api/v1/search took 812ms",
        ),
        line(4, 0, "INFO  POST /api/v1/charges 201 23.1ms"),
    ]));
    p.apply(LogsUpdate::Joined {
        pod: PODS[2].into(),
        container: "app".into(),
    });
    p.apply(LogsUpdate::Lines(vec![line(
        5,
        2,
        "INFO  starting payment-backend version=1.5.0",
    )]));
    p.apply(LogsUpdate::Left {
        pod: PODS[0].into(),
        container: "app".into(),
    });
    let b = draw(&p, 80, 12);
    insta::assert_snapshot!("logs_pane_deployment", screen(&b));

    let theme = Theme::default();
    for (text, source) in [
        ("starting payment-backend version=1.4.2", 0),
        ("slow request", 1),
        ("1.5.0", 2),
    ] {
        let y = row_of(&b, text).unwrap();
        // The prefix starts right after the border.
        for x in 1..=13 {
            assert_eq!(
                b[(x, y)].style().fg,
                source_style(&theme, source).fg,
                "prefix colour of {text:?} at column {x}"
            );
        }
        assert_ne!(source_style(&theme, source).fg, theme.text.fg);
    }
    // ANSI colours in the text are drawn, not printed.
    let y = row_of(&b, "slow request").unwrap();
    let x = screen(&b)
        .lines()
        .nth(y as usize)
        .unwrap()
        .chars()
        .position(|c| c == 'W')
        .unwrap() as u16;
    assert_eq!(b[(x, y)].symbol(), "W");
    assert_eq!(b[(x, y)].style().fg, Some(ratatui::style::Color::Yellow));
    assert!(!screen(&b).contains("[33m"));

    // Timestamps on.
    assert!(p.on_key(key('t')));
    let b = draw(&p, 80, 12);
    assert!(screen(&b).contains("12:00:00.500 "), "{}", screen(&b));
    let y = row_of(&b, "12:00:00.500").unwrap();
    assert_eq!(b[(1, y)].style().fg, theme.timestamp.fg);
}

#[test]
fn pause_keeps_the_view_and_counts_new_lines() {
    let mut p = pane();
    p.apply(LogsUpdate::Lines(
        (0..50)
            .map(|n| line(n, n % 2, &format!("line {n}")))
            .collect(),
    ));
    let b = draw(&p, 100, 8);
    assert!(title(&b).contains("following"), "{}", title(&b));
    assert!(row_of(&b, "line 49").is_some());

    assert!(p.on_key(key(' ')));
    assert!(!p.is_following());
    p.apply(LogsUpdate::Lines(
        (50..173)
            .map(|n| line(n, 0, &format!("line {n}")))
            .collect(),
    ));
    let b = draw(&p, 100, 8);
    assert!(title(&b).contains("paused (+123 new)"), "{}", title(&b));
    assert!(row_of(&b, "line 49").is_some(), "{}", screen(&b));
    assert!(row_of(&b, "line 172").is_none());

    // Scrolling up a page and back down by lines.
    assert!(p.on_key(code(KeyCode::PageUp)));
    let b = draw(&p, 100, 8);
    assert!(row_of(&b, "line 49").is_none());
    assert!(row_of(&b, "line 44").is_some(), "{}", screen(&b));
    for _ in 0..5 {
        assert!(p.on_key(key('j')));
    }
    let b = draw(&p, 100, 8);
    assert!(row_of(&b, "line 49").is_some(), "{}", screen(&b));

    // G follows again.
    assert!(p.on_key(key('G')));
    let b = draw(&p, 100, 8);
    assert!(title(&b).contains("following"));
    assert!(row_of(&b, "line 172").is_some());
    // g goes to the oldest line.
    assert!(p.on_key(key('g')));
    let b = draw(&p, 100, 8);
    assert!(screen(&b).contains("joined"), "{}", screen(&b));
    assert!(row_of(&b, "line 0").is_some(), "{}", screen(&b));
    // Space follows again.
    assert!(p.on_key(key(' ')));
    assert!(p.is_following());
    // Keys that are not the pane's are left to the app.
    assert!(!p.on_key(key('q')));
    assert!(!p.on_key(code(KeyCode::Tab)));
    assert!(!p.wants_previous());
    assert!(p.on_key(key('p')));
    assert!(p.wants_previous());
    assert!(!p.wants_previous(), "asked once");
}

#[test]
fn search_highlights_and_jumps_and_the_filter_hides_the_rest() {
    let theme = Theme::default();
    let mut p = pane();
    p.apply(LogsUpdate::Lines(
        (0..40)
            .map(|n| {
                let text = if n % 10 == 3 {
                    format!("ERROR charge {n} declined")
                } else {
                    format!("INFO  charge {n} ok")
                };
                line(n, n % 2, &text)
            })
            .collect(),
    ));
    assert!(p.on_key(key('/')));
    typed(&mut p, "declined");
    let b = draw(&p, 100, 8);
    assert!(screen(&b).contains("/declined▏"), "{}", screen(&b));
    assert!(p.on_key(code(KeyCode::Enter)));
    // Enter jumps to the newest match; the match is highlighted (the current one reversed).
    let b = draw(&p, 100, 8);
    let y = row_of(&b, "charge 33 declined").unwrap();
    let x = screen(&b)
        .lines()
        .nth(y as usize)
        .unwrap()
        .find("declined")
        .unwrap();
    let x = screen(&b).lines().nth(y as usize).unwrap()[..x]
        .chars()
        .count() as u16;
    assert_eq!(b[(x, y)].style().fg, theme.search_match.fg);
    assert!(b[(x, y)].style().add_modifier.contains(Modifier::REVERSED));
    assert!(!p.is_following());
    // N goes to older matches, n to newer ones.
    assert!(p.on_key(key('N')));
    assert!(p.on_key(key('N')));
    let b = draw(&p, 100, 8);
    assert!(row_of(&b, "charge 13 declined").is_some(), "{}", screen(&b));
    assert!(row_of(&b, "charge 33 declined").is_none(), "{}", screen(&b));
    assert!(p.on_key(key('n')));
    let b = draw(&p, 100, 8);
    assert!(row_of(&b, "charge 23 declined").is_some(), "{}", screen(&b));

    // The filter shows only matching lines.
    assert!(p.on_key(key('F')));
    assert!(p.on_key(key('G')));
    let b = draw(&p, 100, 8);
    let s = screen(&b);
    assert!(title(&b).contains("filter \"declined\""), "{s}");
    for n in [3, 13, 23, 33] {
        assert!(s.contains(&format!("charge {n} declined")), "{s}");
    }
    assert!(!s.contains(" ok"), "{s}");
    // Esc clears search and filter.
    assert!(p.on_key(code(KeyCode::Esc)));
    let s = screen(&draw(&p, 100, 8));
    assert!(s.contains("charge 39 ok"), "{s}");
    // F without a query starts typing one.
    assert!(p.on_key(key('F')));
    typed(&mut p, "charge 7 ");
    assert!(p.on_key(code(KeyCode::Enter)));
    let s = screen(&draw(&p, 100, 8));
    assert!(s.contains("charge 7 ok"), "{s}");
    assert!(!s.contains("charge 8 ok"), "{s}");
}

#[test]
fn the_ring_keeps_the_newest_lines_and_counts_the_rest() {
    let mut p = LogsPane::new(20_000);
    p.set_source_label("app=web".into());
    for chunk in 0..(50_000 / 250) {
        p.apply(LogsUpdate::Lines(
            (0..250)
                .map(|k| {
                    let n = chunk * 250 + k;
                    line(n, 0, &format!("line {n}"))
                })
                .collect(),
        ));
    }
    assert_eq!(p.len(), 20_000);
    assert_eq!(p.dropped(), 30_000);
    let b = draw(&p, 100, 6);
    assert!(title(&b).contains("30000 older dropped"), "{}", title(&b));
    assert!(row_of(&b, "line 49999").is_some());
    assert!(p.on_key(key('g')));
    let b = draw(&p, 100, 6);
    assert!(row_of(&b, "line 30000").is_some(), "{}", screen(&b));
}

#[test]
fn reconnecting_shows_in_the_title_until_the_follow_is_back() {
    let mut p = pane();
    p.apply(LogsUpdate::Reconnecting {
        pod: PODS[0].into(),
        container: "app".into(),
        error: "connection refused".into(),
    });
    p.apply(LogsUpdate::Reconnecting {
        pod: PODS[0].into(),
        container: "app".into(),
        error: "connection refused".into(),
    });
    let b = draw(&p, 80, 8);
    assert!(title(&b).contains("reconnecting"), "{}", title(&b));
    assert_eq!(
        screen(&b)
            .matches("reconnecting: connection refused")
            .count(),
        1
    );
    p.apply(LogsUpdate::Joined {
        pod: PODS[0].into(),
        container: "app".into(),
    });
    let b = draw(&p, 80, 8);
    assert!(title(&b).contains("following"), "{}", title(&b));
    assert!(title(&b).contains("2 pods"), "{}", title(&b));
    assert!(screen(&b).contains("reconnected"));
}

#[test]
fn a_line_longer_than_the_pane_ends_in_a_mark_and_wraps_whole() {
    let mut p = pane();
    let long =
        "GET /api/v1/payments/7f3c2a/refunds/00000000-0000-0000-0000-000000000042/status 200";
    p.apply(LogsUpdate::Lines(vec![line(0, 0, long)]));
    let b = draw(&p, 60, 6);
    let s = screen(&b);
    let row = s.lines().find(|l| l.contains("GET /api")).unwrap();
    assert!(
        row.trim_end().ends_with("…│") || row.trim_end().ends_with("…┃"),
        "{s}"
    );
    // Wrapped, the whole line is there, its end included.
    assert!(p.on_key(key('w')));
    let s = screen(&draw(&p, 60, 8));
    assert!(s.contains("/status 200"), "{s}");
}
