//! Each step's output kept in the run's folder by the real binary, headless: both streams, each
//! attempt of a retried step; shown again (in the history and in short headless) when the run is
//! resumed; the event stream of `--events`, one JSON event a line; a secret in neither.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tollgate::engine::{Event, StepStatus, Stream};
use tollgate::record::output;

use crate::common::binary::{Bin, text};

const SECRET: &str = "hunter2-kept";
const MASK: &str = "••••••";

const STEPS: &str = r#"
name: kept
phases:
  - id: work
    steps:
      - id: build
        run: |
          echo "built line 1"
          echo "a warning" >&2
          echo "built line 2"
      - id: flaky
        run: |
          echo x >> "$runbook_dir/tries"
          n=$(wc -l < "$runbook_dir/tries")
          echo "try $n"
          [ "$n" -ge 2 ] || { echo "try $n failed" >&2; exit 1; }
        retries: { attempts: 2, delay: 0s }
      - id: smoke
        run: |
          echo "smoke checking"
          [ -f "$runbook_dir/healthy" ] || { echo "smoke test: HTTP 503" >&2; exit 1; }
          echo "smoke fine"
"#;

fn texts(kept: &output::Kept, stream: Stream) -> Vec<&str> {
    kept.lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.as_str())
        .collect()
}

/// Each JSON line of an events stream, as `(at, event)`; fails on a line that is not one.
fn events_of(stream: &str) -> Vec<(String, Event)> {
    stream
        .lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let at = v["at"].as_str().expect("at").to_string();
            let t = chrono::DateTime::parse_from_rfc3339(&at).expect("RFC 3339");
            assert_eq!(
                at,
                t.to_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "milliseconds, UTC"
            );
            let ev: Event = serde_json::from_value(v["event"].clone())
                .unwrap_or_else(|e| panic!("{e}: {line}"));
            (at, ev)
        })
        .collect()
}

#[test]
fn a_headless_run_keeps_each_steps_output_and_attempts_in_its_folder() {
    let bin = Bin::new();
    bin.runbook("healthy", "");
    let rb = bin.runbook("kept.yaml", STEPS);
    let out = bin.run(&["run", rb.to_str().unwrap(), "--headless", "--approve-all"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let (_, journal) = bin.only_run();
    let run_dir = journal.parent().unwrap();

    let build = output::read(run_dir, "build").unwrap().expect("build kept");
    assert_eq!(
        texts(&build, Stream::Stdout),
        ["built line 1", "built line 2"]
    );
    assert_eq!(texts(&build, Stream::Stderr), ["a warning"]);
    assert_eq!((build.attempts.as_slice(), build.dropped), (&[1][..], 0));

    // Both attempts of the retried step, in order, the failed one's stderr with them.
    let flaky = output::read(run_dir, "flaky").unwrap().expect("flaky kept");
    assert_eq!(flaky.attempts, [1, 2]);
    assert_eq!(texts(&flaky, Stream::Stdout), ["try 1", "try 2"]);
    assert_eq!(texts(&flaky, Stream::Stderr), ["try 1 failed"]);
    // Owner-only, as the journal is.
    let mode = std::fs::metadata(output::dir(run_dir))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_resumed_run_shows_the_earlier_steps_output_in_its_history_and_headless() {
    let bin = Bin::new();
    let rb = bin.runbook("kept.yaml", STEPS);
    // The first session: smoke fails, and no one is there to decide its gate: the run fails.
    let out = bin.run(&["run", rb.to_str().unwrap(), "--headless", "--approve-all"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    bin.runbook("healthy", "");

    let events = bin.dir().join("events.jsonl");
    let out = bin.run(&[
        "resume",
        "--headless",
        "--rerun",
        "smoke",
        "--events",
        events.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");

    // Headless in short: how much each step printed, a failed one's last lines; not the lines.
    assert!(
        stdout.contains("earlier output of step build: 3 lines kept\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("earlier output of step smoke: 2 lines kept, the last:\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  smoke test: HTTP 503\n"), "{stdout}");
    assert!(!stdout.contains("built line 1"), "{stdout}");

    // The history (the stream's first event after none): each attempt's output after its start.
    let stream = std::fs::read_to_string(&events).unwrap();
    let all = events_of(&stream);
    let Some((_, Event::History(h))) = all.first() else {
        panic!("no history first: {stream}")
    };
    let past: Vec<&Event> = h.entries.iter().map(|p| &p.event).collect();
    let after_start = |step: &str, attempt: u32| -> String {
        let at = past
            .iter()
            .position(|e| {
                matches!(e, Event::StepStarted { step: s, attempt: a, .. } if s == step && *a == attempt)
            })
            .unwrap_or_else(|| panic!("{step} {attempt} started: {past:#?}"));
        past[at + 1..]
            .iter()
            .take_while(|e| matches!(e, Event::Output { .. }))
            .map(|e| match e {
                Event::Output { text, .. } => &**text,
                _ => "",
            })
            .collect()
    };
    let build = after_start("build", 1);
    assert!(
        build.contains("built line 1\n")
            && build.contains("built line 2\n")
            && build.contains("a warning\n"),
        "{build}"
    );
    assert_eq!(after_start("flaky", 1).matches('\n').count(), 2);
    assert!(after_start("flaky", 1).contains("try 1 failed\n"));
    assert_eq!(after_start("flaky", 2), "try 2\n");
    assert!(after_start("smoke", 1).contains("smoke test: HTTP 503\n"));
    assert!(past.iter().any(|e| matches!(e, Event::Output { stream: Stream::Stderr, text, .. } if &**text == "smoke test: HTTP 503\n")));
    // Output kept: nothing says it was not.
    assert!(
        !past
            .iter()
            .any(|e| matches!(e, Event::OutputNotKept { .. })),
        "{past:#?}"
    );
    // Then this session, live: smoke passes this time.
    assert!(all.iter().any(|(_, e)| matches!(
        e,
        Event::StepFinished { step, status: StepStatus::Succeeded, .. } if step == "smoke"
    )));
}

const SECRETS: &str = r#"
name: secret output
variables:
  pw: { secret: true, env: KEPT_PW }
phases:
  - id: work
    steps:
      - id: leak
        run: |
          echo "the password is $pw"
          echo "again: $pw" >&2
          printf '%s' "$pw" | od -An -tx1 | tr -d ' \n'; echo
"#;

#[test]
fn a_planted_secret_reaches_neither_the_kept_output_nor_the_events_file() {
    let bin = Bin::new();
    let rb = bin.runbook("secret.yaml", SECRETS);
    let events = bin.dir().join("events.jsonl");
    let out = bin
        .command(&[
            "run",
            rb.to_str().unwrap(),
            "--headless",
            "--approve-all",
            "--events",
            events.to_str().unwrap(),
        ])
        .env("KEPT_PW", SECRET)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let (_, journal) = bin.only_run();
    let run_dir = journal.parent().unwrap();
    let hex: String = SECRET.bytes().map(|b| format!("{b:02x}")).collect();

    let stream = std::fs::read_to_string(&events).unwrap();
    let mut kept_files = String::new();
    for e in std::fs::read_dir(output::dir(run_dir)).unwrap().flatten() {
        kept_files.push_str(&std::fs::read_to_string(e.path()).unwrap());
    }
    for (place, text) in [("events file", &stream), ("kept output", &kept_files)] {
        assert!(
            !text.contains(SECRET),
            "the secret reached the {place}: {text}"
        );
        assert!(!text.contains(&hex), "its hex reached the {place}: {text}");
        // What was printed is there, masked.
        assert!(
            text.contains(&format!("the password is {MASK}")),
            "{place}: {text}"
        );
    }
    let kept = output::read(run_dir, "leak").unwrap().unwrap();
    assert!(
        kept.lines
            .iter()
            .any(|l| l.stream == Stream::Stderr && l.text == format!("again: {MASK}"))
    );
    let mode = std::fs::metadata(&events).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn events_to_standard_output_parse_line_by_line_and_the_plain_lines_go_to_stderr() {
    let bin = Bin::new();
    bin.runbook("healthy", "");
    let rb = bin.runbook("kept.yaml", STEPS);
    let out = bin.run(&[
        "run",
        rb.to_str().unwrap(),
        "--headless",
        "--approve-all",
        "--events",
        "-",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let all = events_of(&stdout);
    assert!(
        matches!(
            all.first(),
            Some((_, Event::RunStarted { resumed: false, .. }))
        ),
        "{stdout}"
    );
    assert!(
        matches!(all.last(), Some((_, Event::RunFinished { .. }))),
        "{stdout}"
    );
    assert!(all.windows(2).all(|w| w[0].0 <= w[1].0), "in order of time");
    let printed: String = all
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Output { step, text, .. } if step == "build" => Some(&**text),
            _ => None,
        })
        .collect();
    assert!(printed.contains("built line 1\n"), "{printed}");
    // The plain lines are on stderr, the run's end with them.
    assert!(stderr.contains("build | built line 1"), "{stderr}");
    assert!(stderr.contains("run succeeded"), "{stderr}");
}

#[test]
fn an_events_file_that_cannot_be_made_is_one_line_and_no_run() {
    let bin = Bin::new();
    let rb = bin.runbook("kept.yaml", STEPS);
    let missing = bin.dir().join("no/such/folder/events.jsonl");
    let out = bin.run(&[
        "run",
        rb.to_str().unwrap(),
        "--headless",
        "--events",
        missing.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("tollgate: --events "), "{stderr}");
    assert!(
        !Path::new(&bin.state().join("runs")).exists(),
        "no run started"
    );
}
