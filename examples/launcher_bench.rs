//! In-process timings of the launcher (`tollgate` alone, `tollgate open DIR`) over a folder of
//! 200 generated runbooks (20 systems of 10, each with triggers, variables and three phases) and
//! a state folder of 20 runs:
//!
//! 1. its first frame: the runbooks found and loaded (`catalog::discover`), the runs read, the
//!    list built, and one render at 160×45 into ratatui's `TestBackend`
//!    (`tollgate::cli::launcher` + `ui::launcher::render`);
//! 2. against the baseline of the same run: `catalog::discover` alone, what `tollgate find`
//!    reads before it prints (the ratio is first frame / baseline: what the launcher adds);
//! 3. a key typed in the filter over the 200 (refilter with the catalog's matcher) and the
//!    frame after it.
//!
//! ```sh
//! cargo run --release --example launcher_bench [-- --runs N]
//! ```
//!
//! The runs alternate the two measures; medians and the worst are printed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tollgate::catalog;
use tollgate::engine::journal::{Journal, Record, journal_path};
use tollgate::protocol::RunStatus;
use tollgate::ui::launcher;
use tollgate::ui::theme::Theme;

const RUNBOOKS: usize = 200;
const PER_SYSTEM: usize = 10;

fn runbook_yaml(system: usize, n: usize) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "name: System {system:02} — runbook {n:02}\n\
         description: Restores service {n} of system {system:02} when its queue backs up or its error rate climbs.\n\
         owner: team {system:02}\n\
         triggers:\n  alerts:\n    - \"Sys{system:02}Svc{n:02}ErrorRate > 5%\"\n    - \"Sys{system:02}Svc{n:02}QueueBacklog > 1000\"\n  \
         symptoms:\n    - \"users of system {system:02} see timeouts on service {n}\"\n\
         variables:\n  release:\n    pattern: 'v[0-9]+\\.[0-9]+'\n    default: \"v1.{n}\"\n  \
         replicas:\n    type: int\n    default: \"3\"\n  environment:\n    choices: [staging, production]\n    default: staging\n\
         phases:"
    );
    for p in 1..=3 {
        let _ = writeln!(
            y,
            "  - id: phase-{p}\n    title: Phase {p}\n    gate:\n      message: Go on with phase {p}?\n    steps:"
        );
        for s in 1..=3 {
            let _ = writeln!(
                y,
                "      - id: p{p}-s{s}\n        title: Step {s}\n        run: echo \"{{{{ release }}}} x{{{{ replicas }}}} in {{{{ environment }}}}\""
            );
        }
    }
    y
}

fn write_folder(root: &Path) {
    for i in 0..RUNBOOKS {
        let system = i / PER_SYSTEM;
        let n = i % PER_SYSTEM;
        let dir = root.join(format!("system-{system:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("runbook-{n:02}.yaml")),
            runbook_yaml(system, n),
        )
        .unwrap();
    }
}

fn write_runs(state: &Path, root: &Path) {
    for i in 0..20 {
        let id = format!("20261206-1000{i:02}-0001");
        let (mut j, _) = Journal::open(&journal_path(state, &id), &id).unwrap();
        j.append(Record::RunStarted {
            run_id: id.clone(),
            runbook: root.join("system-00/runbook-00.yaml").display().to_string(),
            runbook_name: "System 00 — runbook 00".into(),
            digest: "d".into(),
            vars: Default::default(),
            who: "bench@host".into(),
            rehearsal: false,
            deadline_secs: None,
            from_run: None,
            carried: None,
        })
        .unwrap();
        // Half paused (unfinished, listed first), half finished.
        if i % 2 == 0 {
            j.append(Record::RunFinished {
                status: RunStatus::Succeeded,
            })
            .unwrap();
        }
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut runs = 11usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(runs);
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runbooks");
    let state = tmp.path().join("state");
    write_folder(&root);
    write_runs(&state, &root);
    let roots: Vec<PathBuf> = vec![root.clone()];

    // Warm-up, untimed: page cache and allocator.
    let _ = catalog::discover(&roots);

    let mut first = Vec::new();
    let mut base = Vec::new();
    let mut key = Vec::new();
    let mut listed = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let found = catalog::discover(&roots);
        base.push(t0.elapsed());
        assert_eq!(found.len(), RUNBOOKS);

        let t0 = Instant::now();
        let mut l = tollgate::cli::launcher(&state, &roots, Theme::default());
        let mut term = Terminal::new(TestBackend::new(160, 45)).unwrap();
        term.draw(|f| launcher::render(&l, f)).unwrap();
        first.push(t0.elapsed());
        listed = l.listed().len();

        let t0 = Instant::now();
        for c in "Svc07Queue".chars() {
            l.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        term.draw(|f| launcher::render(&l, f)).unwrap();
        key.push(t0.elapsed() / 10);
    }
    let worst = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    let (fw, bw, kw) = (worst(&first), worst(&base), worst(&key));
    let (fm, bm, km) = (median(&mut first), median(&mut base), median(&mut key));
    println!("launcher, {RUNBOOKS} runbooks in 20 systems, 20 runs, 160x45, {runs} runs each");
    println!("  runbooks listed: {listed}");
    println!(
        "  first frame (discover + runs + list + render): median {:.2} ms, worst {:.2} ms",
        ms(fm),
        ms(fw)
    );
    println!(
        "  baseline, catalog::discover alone:              median {:.2} ms, worst {:.2} ms",
        ms(bm),
        ms(bw)
    );
    println!(
        "  ratio first frame / baseline: {:.2}",
        fm.as_secs_f64() / bm.as_secs_f64().max(1e-9)
    );
    println!(
        "  a key typed in the filter + the frame after it: median {:.3} ms, worst {:.3} ms",
        ms(km),
        ms(kw)
    );
    println!(
        "  target: first frame under 100 ms: {}",
        if fm < Duration::from_millis(100) {
            "met"
        } else {
            "NOT met"
        }
    );
}
