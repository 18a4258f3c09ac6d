//! A runbook's `deadline`: journaled in `run_started` in seconds, counted from the run's first
//! start on resume, and told by the headless view once when its last fifth begins and once when
//! it passes, blocking nothing.

use chrono::{Duration as Span, SecondsFormat, Utc};
use tollgate::headless::Printer;
use tollgate::protocol::{Deadline, Event};

use crate::common::binary::{Bin, text};

fn gated(deadline: &str) -> String {
    format!(
        "name: dr failover\ndeadline: {deadline}\nphases:\n  - id: ship\n    gate: true\n    steps:\n      - id: go\n        run: echo shipped\n"
    )
}

fn records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Moves the run's first start back by `ago` (a run begun that long before), the journal and
/// the audit log chained again.
fn started_ago(path: &std::path::Path, ago: Span) {
    let mut lines: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    first["at"] = (Utc::now() - ago)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
        .into();
    lines[0] = first.to_string();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    // A past tollgate could have written: its journal and audit lines chained as they would be.
    crate::common::rechain_run(path);
}

#[test]
fn the_deadline_is_journaled_at_the_start_and_a_resume_counts_from_the_first_start() {
    let bin = Bin::new();
    let rb = bin.runbook("dr.yaml", &gated("4h"));
    let out = bin.run(&["run", rb.to_str().unwrap(), "--headless"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("deadline"),
        "nothing to tell yet: {stdout}"
    );
    let (id, path) = bin.only_run();
    let first = &records(&path)[0];
    assert_eq!(first["event"], "run_started");
    assert_eq!(first["deadline_secs"], 14400, "{first}");

    // The run began 3h29m30s ago; the runbook now says 1h, accepted on resume: the deadline is
    // still the journaled 4h, counted from the first start, so 30 minutes are left.
    started_ago(&path, Span::minutes(209) + Span::seconds(30));
    std::fs::write(&rb, gated("1h")).unwrap();
    let out = bin.run(&[
        "resume",
        &id,
        "--headless",
        "--approve",
        "ship",
        "--accept-changed-runbook",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let told: Vec<&str> = stdout.lines().filter(|l| l.contains("deadline")).collect();
    assert_eq!(told.len(), 1, "{stdout}");
    assert!(
        told[0].ends_with(" !! deadline: 30m left of 4h"),
        "{stdout}"
    );
    assert!(stdout.contains("go | shipped"), "the run went on: {stdout}");
    let recs = records(&path);
    assert_eq!(recs[0]["deadline_secs"], 14400);
    let resumed = recs.iter().find(|r| r["event"] == "run_resumed").unwrap();
    assert!(resumed.get("deadline_secs").is_none(), "{resumed}");
}

#[test]
fn a_passed_deadline_is_told_once_and_stops_nothing() {
    let bin = Bin::new();
    let rb = bin.runbook("dr.yaml", &gated("4h"));
    let out = bin.run(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let (id, path) = bin.only_run();
    started_ago(&path, Span::hours(5));
    let out = bin.run(&["resume", &id, "--headless", "--approve", "ship"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let told: Vec<&str> = stdout.lines().filter(|l| l.contains("deadline")).collect();
    assert_eq!(told.len(), 1, "{stdout}");
    assert!(told[0].ends_with(" !! deadline passed (4h)"), "{stdout}");
    assert!(stdout.contains("go | shipped"), "{stdout}");
}

#[test]
fn headless_tells_the_last_fifth_and_the_passing_once_each() {
    // The start as the event carries it: to the millisecond.
    let started_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let t0 = chrono::DateTime::parse_from_rfc3339(&started_at)
        .unwrap()
        .with_timezone(&Utc);
    let mut out = Vec::new();
    {
        let mut p = Printer::new(&mut out);
        p.event(&Event::RunStarted {
            run_id: "r".into(),
            runbook: "dr failover".into(),
            resumed: false,
            deadline: Some(Deadline {
                secs: 4 * 3600,
                started_at,
            }),
        })
        .unwrap();
        for mins in [0, 60, 191, 192, 200, 239, 240, 245, 300, 600] {
            p.deadline_tick(t0 + Span::minutes(mins)).unwrap();
        }
        p.flush().unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].ends_with(" == run r started: dr failover"),
        "{text}"
    );
    assert!(lines[1].ends_with(" !! deadline: 48m left of 4h"), "{text}");
    assert!(lines[2].ends_with(" !! deadline passed (4h)"), "{text}");

    // No deadline: nothing said, however late.
    let mut out = Vec::new();
    {
        let mut p = Printer::new(&mut out);
        p.event(&Event::RunStarted {
            run_id: "r".into(),
            runbook: "rb".into(),
            resumed: false,
            deadline: None,
        })
        .unwrap();
        p.deadline_tick(t0 + Span::days(3)).unwrap();
        p.flush().unwrap();
    }
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1);
}
