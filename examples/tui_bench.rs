//! In-process timings of the interface, with the real `App` and `render` drawing into ratatui's
//! `TestBackend`:
//!
//! 1. first frame of a 500-step runbook: load the file, `App::new`, one `render` at 160×45;
//! 2. one frame at 200×60 with 100,000 lines in the shown step's output (fed as engine `Output`
//!    events), wrap off, wrap on, and with a search active, against the same frame with an empty
//!    output pane;
//! 3. the interface's own share of a 2,000,000-line step: `seq 1 2000000` as `Output` events
//!    into `App::on_engine`.
//!
//! ```sh
//! cargo run --release --example tui_bench [-- --runbook FILE] [--frames N] [--first-runs N]
//! cargo run --release --example tui_bench -- --write-runbook FILE
//! ```
//!
//! Without `--runbook`, the 500-step runbook is generated in a temporary directory;
//! `--write-runbook` writes it and stops (`bench/tui.sh` starts that file in tmux too).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tollgate::engine::Event;
use tollgate::protocol::Stream;
use tollgate::ui::Config;
use tollgate::ui::app::App;
use tollgate::ui::render;
use tollgate::ui::theme::Theme;

const LINES: usize = 100_000;
/// Lines per `Output` event while filling the scrollback, about what a 64 KiB read holds.
const CHUNK_LINES: usize = 1_000;

/// The benchmark's runbook: 50 phases of 10 steps; phases 1, 6, 11, … have a gate and a
/// two-item checklist, the gates of phases 1, 11, 21, … destructive.
fn runbook_yaml() -> String {
    let mut y = String::from(
        "name: Bench runbook — 500 steps\n\
         targets:\n  environment: staging\n\
         phases:\n",
    );
    for p in 1..=50 {
        let _ = writeln!(y, "  - id: phase-{p:02}\n    title: Phase {p:02}");
        if p % 5 == 1 {
            let destructive = if p % 10 == 1 { "true" } else { "false" };
            let _ = writeln!(
                y,
                "    gate: {{ message: \"Go on with phase {p:02}?\", destructive: {destructive} }}\n    \
                 checklist:\n      - Dashboards are open\n      - The on-call knows"
            );
        }
        y.push_str("    steps:\n");
        for s in 1..=10 {
            let _ = writeln!(
                y,
                "      - id: s{p:02}-{s:02}\n        title: Step {s:02} of phase {p:02}\n        \
                 run: echo \"phase {p:02} step {s:02}\""
            );
        }
    }
    y
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median = us(v[v.len() / 2]);
    let p99 = us(v[(v.len() * 99).div_ceil(100) - 1]);
    let max = us(v[v.len() - 1]);
    (median, p99, max)
}

fn load_app(path: &Path) -> App {
    let loaded = tollgate::runbook::load(path).expect("readable runbook");
    assert!(loaded.ok(), "{:?}", loaded.diags);
    App::new(Config::new(
        Arc::new(loaded.runbook),
        "20260101-000000-bnch",
        "bench@host",
        Theme::builtin("dark").expect("built-in theme"),
    ))
}

/// Load + `App::new` + the first `render` into a fresh 160×45 terminal, as the binary does
/// before its first frame (less the terminal, the engine and the journal).
fn first_frame(path: &Path) -> (Duration, Duration, Duration) {
    let t0 = Instant::now();
    let app = load_app(path);
    let t1 = Instant::now();
    let mut term = Terminal::new(TestBackend::new(160, 45)).expect("terminal");
    term.draw(|f| {
        render::render(&app, f);
    })
    .expect("draw");
    let t2 = Instant::now();
    assert!(app.rows().len() >= 550, "{} rows", app.rows().len());
    (t2 - t0, t1 - t0, t2 - t1)
}

/// A line of the filled scrollback: varied lengths (some wider than the pane, for wrap), some
/// with colours, every 50th on stderr.
fn sample_line(i: usize, out: &mut String) {
    match i % 10 {
        0 => {
            let _ = write!(
                out,
                "2026-01-01T00:00:00Z INFO  request {i} GET /api/v1/orders?page={} status=200 latency_ms={} ",
                i % 97,
                i % 13
            );
            out.push_str(&"x".repeat(120 + i % 80));
        }
        3 => {
            let _ = write!(out, "\x1b[32mok\x1b[0m check {i} passed in {}ms", i % 300);
        }
        7 => {
            let _ = write!(
                out,
                "\x1b[1;33mwarn\x1b[0m retrying upstream call {i}: connection reset by peer"
            );
        }
        _ => {
            let _ = write!(out, "line {i}: processed batch {} of records", i / 10);
        }
    }
    out.push('\n');
}

fn fill(app: &mut App, step: &str) -> Duration {
    let t0 = Instant::now();
    let mut i = 0;
    while i < LINES {
        let mut out = String::new();
        let mut err = String::new();
        for j in i..(i + CHUNK_LINES).min(LINES) {
            if j % 50 == 49 {
                sample_line(j, &mut err);
            } else {
                sample_line(j, &mut out);
            }
        }
        for (stream, text) in [(Stream::Stdout, out), (Stream::Stderr, err)] {
            if !text.is_empty() {
                app.on_engine(Event::Output {
                    step: step.into(),
                    stream,
                    text: text.into(),
                });
            }
        }
        i += CHUNK_LINES;
    }
    t0.elapsed()
}

const ONE_STEP: &str = "name: Bench runbook — one step
phases:
  - id: bench
    title: Bench
    steps:
      - id: gen
        title: a step with a long output
        run: seq 1 100000
";

/// Fills the output of `step` with 100,000 lines and times frames with and without it; prints a
/// table and returns the p99 of `Terminal::draw` of each row.
fn frame_table(label: &str, path: &Path, step: &str, n_frames: usize) -> Vec<f64> {
    let mut full = load_app(path);
    let mut empty = load_app(path);
    for app in [&mut full, &mut empty] {
        app.on_engine(Event::StepStarted {
            step: step.into(),
            title: "the step".into(),
            attempt: 1,
            attempts: 1,
            command: "seq 1 100000".into(),
        });
        assert_eq!(app.shown_step(), Some(step));
    }
    let filled = fill(&mut full, step);
    let held = full.step(step).unwrap().output.len();
    assert_eq!(held, LINES);
    assert!(screen_has(&full, &format!("line {}", LINES - 2)));

    // A search as after `/batch 99` Enter: every visible line is checked for the query, the
    // matches highlighted, the current one reversed.
    let query = "batch 99";
    full.search_mut().current = Some(LINES - 3);
    // (name, the full app or the empty one, wrap, search)
    let cases = [
        ("empty output pane (baseline)", false, false, false),
        ("100,000 lines, wrap off", true, false, false),
        ("100,000 lines, wrap on", true, true, false),
        ("100,000 lines, search active", true, false, true),
        ("100,000 lines, search active, wrap on", true, true, true),
    ];
    // The cases take turns, frame by frame, each on its own terminal: whatever else the
    // machine does meanwhile falls on all of them alike.
    let mut timings: Vec<(Terminal<TestBackend>, Timing)> = cases
        .iter()
        .map(|_| {
            let term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
            let t = Timing {
                render: Vec::with_capacity(n_frames),
                draw: Vec::with_capacity(n_frames),
            };
            (term, t)
        })
        .collect();
    for i in 0..n_frames + 50 {
        for ((_, is_full, wrap, search), (term, timing)) in cases.iter().zip(timings.iter_mut()) {
            let app = if *is_full { &mut full } else { &mut empty };
            app.set_wrap(*wrap);
            app.search_mut().query = if *search { query.into() } else { String::new() };
            if i == 0 && *search {
                assert!(screen_has(app, query));
            }
            let (r, d) = frame(app, term);
            if i >= 50 {
                timing.render.push(r);
                timing.draw.push(d);
            }
        }
    }
    let rows: Vec<_> = cases
        .iter()
        .zip(timings)
        .map(|((name, ..), (_, t))| {
            let (r_med, r_p99, r_max) = stats(t.render);
            let (d_med, d_p99, _) = stats(t.draw);
            (name.to_string(), r_med, r_p99, r_max, d_med, d_p99)
        })
        .collect();

    println!(
        "{label}, frames at 200x60, {n_frames} of each case timed after 50 warm-up, the cases \
         in turn, µs (scrollback: {held} lines fed in {} Output events in {:.1} ms):",
        LINES.div_ceil(CHUNK_LINES) * 2,
        filled.as_secs_f64() * 1e3,
    );
    println!(
        "| frame | render() median | render() p99 | render() max | ratio to empty (median) | Terminal::draw median | Terminal::draw p99 | draw ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let base = rows[0].1;
    let base_draw = rows[0].4;
    for (name, med, p99, max, dmed, dp99) in &rows {
        println!(
            "| {name} | {med:.1} | {p99:.1} | {max:.1} | {:.2} | {dmed:.1} | {dp99:.1} | {:.2} |",
            med / base,
            dmed / base_draw
        );
    }
    println!();
    rows.iter().map(|r| r.5).collect()
}

/// The interface's own cost of a step printing `seq 1 n`: the output as the engine sends it,
/// whole lines in chunks of about 64 KiB, applied to an app whose step is shown (scrollback
/// 100,000 lines). Returns the time, the lines kept and the lines dropped.
fn ingest_seq(path: &Path, n: usize) -> (Duration, usize, u64) {
    let mut app = load_app(path);
    let step = "s01-01";
    app.on_engine(Event::StepStarted {
        step: step.into(),
        title: "the step".into(),
        attempt: 1,
        attempts: 1,
        command: format!("seq 1 {n}"),
    });
    let mut chunks = Vec::new();
    let mut chunk = String::with_capacity(64 * 1024 + 16);
    for i in 1..=n {
        let _ = writeln!(chunk, "{i}");
        if chunk.len() >= 64 * 1024 {
            chunks.push(std::mem::take(&mut chunk));
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    let t0 = Instant::now();
    for text in chunks {
        app.on_engine(Event::Output {
            step: step.into(),
            stream: Stream::Stdout,
            text: text.into(),
        });
    }
    let took = t0.elapsed();
    let out = &app.step(step).unwrap().output;
    assert_eq!(
        out.get(out.len() - 1).map(|l| l.text.to_string()),
        Some(n.to_string())
    );
    (took, out.len(), out.dropped())
}

struct Timing {
    render: Vec<Duration>,
    draw: Vec<Duration>,
}

/// Draws one frame of the app; returns how long `render` alone took and the whole
/// `Terminal::draw` (render, ratatui's diff against the previous frame, the backend).
fn frame(app: &mut App, term: &mut Terminal<TestBackend>) -> (Duration, Duration) {
    app.set_clock(Instant::now());
    let mut r = Duration::ZERO;
    let t0 = Instant::now();
    term.draw(|f| {
        let s = Instant::now();
        render::render(app, f);
        r = s.elapsed();
    })
    .expect("draw");
    (r, t0.elapsed())
}

fn screen_has(app: &App, text: &str) -> bool {
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    term.draw(|f| {
        render::render(app, f);
    })
    .expect("draw");
    let b = term.backend().buffer();
    let w = b.area.width;
    (0..b.area.height).any(|y| {
        let row: String = (0..w).map(|x| b[(x, y)].symbol().to_string()).collect();
        row.contains(text)
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runbook: Option<PathBuf> = None;
    let mut n_frames = 2_000usize;
    let mut first_runs = 50usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runbook" => runbook = args.next().map(PathBuf::from),
            "--frames" => n_frames = args.next().and_then(|v| v.parse().ok()).expect("a count"),
            "--write-runbook" => {
                let p = args.next().expect("a path");
                std::fs::write(&p, runbook_yaml()).expect("write runbook");
                return;
            }
            "--first-runs" => {
                first_runs = args.next().and_then(|v| v.parse().ok()).expect("a count")
            }
            _ => {
                eprintln!(
                    "usage: tui_bench [--runbook FILE] [--frames N] [--first-runs N] | --write-runbook FILE"
                );
                std::process::exit(2);
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = runbook.unwrap_or_else(|| {
        let p = dir.path().join("bench-500.yaml");
        std::fs::write(&p, runbook_yaml()).expect("write runbook");
        p
    });

    // 1. First frame of the 500-step runbook.
    let mut total = Vec::new();
    let mut load = Vec::new();
    let mut draw = Vec::new();
    let cold = first_frame(&path);
    for _ in 0..first_runs {
        let (t, l, d) = first_frame(&path);
        total.push(t);
        load.push(l);
        draw.push(d);
    }
    let ms = |us: f64| us / 1000.0;
    let (t_med, t_p99, _) = stats(total);
    let (l_med, _, _) = stats(load);
    let (d_med, _, _) = stats(draw);
    println!(
        "first frame, {} (160x45), {first_runs} runs after 1 cold one:",
        path.display()
    );
    println!(
        "  cold: {:.2} ms (load + App::new {:.2} ms, first render {:.2} ms)",
        cold.0.as_secs_f64() * 1e3,
        cold.1.as_secs_f64() * 1e3,
        cold.2.as_secs_f64() * 1e3
    );
    println!(
        "  warm median: {:.2} ms (p99 {:.2} ms): load + App::new {:.2} ms, first render {:.2} ms",
        ms(t_med),
        ms(t_p99),
        ms(l_med),
        ms(d_med)
    );
    println!();

    // 2. Frames at 200x60 with 100,000 lines of scrollback, in a one-step runbook (the output
    // pane's own cost) and in the 500-step one (a full tree and banner around it).
    let one = dir.path().join("one-step.yaml");
    std::fs::write(&one, ONE_STEP).expect("write runbook");
    let mut rows = frame_table("one-step runbook", &one, "gen", n_frames);
    rows.extend(frame_table("500-step runbook", &path, "s01-01", n_frames));

    let worst_p99 = rows.iter().copied().fold(0.0, f64::max);

    // 3, in process: what the interface does per line of a 2,000,000-line step.
    let mut took = Vec::new();
    let mut kept = (0, 0);
    for _ in 0..5 {
        let (t, k, d) = ingest_seq(&path, 2_000_000);
        took.push(t);
        kept = (k, d);
    }
    let (i_med, _, i_max) = stats(took);
    println!(
        "`seq 1 2000000` as Output events into App::on_engine, 5 runs: median {:.1} ms \
         ({:.1} ns a line), max {:.1} ms; {} lines kept, {} dropped",
        ms(i_med),
        i_med * 1000.0 / 2e6,
        ms(i_max),
        kept.0,
        kept.1
    );
    println!();
    println!(
        "first frame in-process (warm median): {:.2} ms (target ≤ 50 ms: {})",
        ms(t_med),
        if ms(t_med) <= 50.0 { "met" } else { "MISSED" }
    );
    println!(
        "worst frame p99 (Terminal::draw): {:.3} ms (target ≤ 2 ms: {})",
        ms(worst_p99),
        if ms(worst_p99) <= 2.0 {
            "met"
        } else {
            "MISSED"
        }
    );
}
