//! `tollgate report`: the Markdown of three runs held against snapshots in
//! `tests/fixtures/report/` (the demo, the rehearsed LabelMint rollback whose previous release
//! crash-loops, and a run whose shell step fails), what varies from run to run (times, ids,
//! digests, the sandbox's pod names, the machine's user) normalised by [`normalise`]; the HTML
//! opened by a real headless Chromium; and secrets planted every way a run takes them reaching
//! neither format.
//!
//! After a deliberate change to the report, `TOLLGATE_BLESS=1 cargo test --test rehearsal report::`
//! rewrites the snapshots; review the diff before keeping it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::binary::{Bin, text};
use crate::common::rehearse::root;

const DECISIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/demo/decisions.yaml");

/// `tollgate --state-dir STATE report ARGS…`, with `env` set.
fn report(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    c.current_dir(root())
        .arg("--state-dir")
        .arg(state)
        .arg("report")
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// The one run in `state`: its id.
fn only_run(state: &Path) -> String {
    let runs: Vec<String> = std::fs::read_dir(state.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

/// The run's Markdown report, exit 0.
fn markdown(state: &Path, id: &str) -> String {
    let out = report(state, &[id], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    stdout
}

/// `md` with what differs from run to run replaced: the folders (`TMP`, `ROOT`), the user at
/// the keys (`WHO`), run ids, dates and times, times from the start and durations, image
/// digests, the hashes and suffixes of pod names, restart counts.
fn normalise(md: &str, tmp: &Path, who: &str) -> String {
    let mut s = md
        .replace(tmp.to_str().unwrap(), "TMP")
        .replace(root().to_str().unwrap(), "ROOT")
        .replace(who, "WHO");
    for (re, to) in [
        (r"\d{8}-\d{6}-[0-9a-f]{4}", "RUN_ID"),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "DATE"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "TIME"),
        (r"\+\d+:\d\d\.\d", "+T"),
        (
            r"\b\d+ h \d\d min\b|\b\d+ min \d\d s\b|\b\d+(\.\d)? (ms|s)\b",
            "D",
        ),
        (r"sha256:[0-9a-f]{64}", "sha256:DIGEST"),
        (r"([a-z])-[0-9a-f]{8,10}-[a-z0-9]{5}\b", "$1-HASH-POD"),
        (r"([a-z])-[0-9a-f]{8,10}\b", "$1-HASH"),
        (r"restarts \d+", "restarts N"),
    ] {
        s = regex::Regex::new(re)
            .unwrap()
            .replace_all(&s, to)
            .into_owned();
    }
    s
}

/// The output blocks under `## Failed steps` replaced by a mark (a sandbox's logs: which lines
/// come last, and how many a step kept, depend on timing), after checking each holds `last`.
fn without_sandbox_logs(md: &str, last: &str) -> String {
    let Some(at) = md.find("## Failed steps") else {
        return md.to_string();
    };
    let (head, tail) = md.split_at(at);
    let mut out = head.to_string();
    let mut inside = false;
    let mut lines = Vec::new();
    let last_n = regex::Regex::new(r"^Its last \d+ lines \(from").unwrap();
    for l in tail.lines() {
        if l.starts_with("```") {
            if inside {
                let all = lines.join("\n");
                assert!(all.contains(last), "no {last:?} in:\n{all}");
                assert!(!lines.is_empty(), "an empty output block");
                out.push_str("(the sandbox's logs)\n");
                lines.clear();
            }
            inside = !inside;
            out.push_str(l);
            out.push('\n');
            continue;
        }
        if inside {
            lines.push(l.to_string());
        } else {
            let l = last_n.replace(l, "Its last N lines (from");
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// Compares `got` with `tests/fixtures/report/NAME.md` (rewrites it under `TOLLGATE_BLESS`).
#[track_caller]
fn assert_snapshot(name: &str, got: &str) {
    let path = root()
        .join("tests/fixtures/report")
        .join(format!("{name}.md"));
    if std::env::var_os("TOLLGATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; the report is:\n{got}", path.display()));
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "the report differs from {} from line {}:\n--- want\n{}\n--- got\n{}\n--- the whole report:\n{got}",
            path.display(),
            first + 1,
            want.lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
            got.lines()
                .skip(first)
                .take(5)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
}

/// The `who` the run started with, from its journal.
fn who(state: &Path, id: &str) -> String {
    let text = std::fs::read_to_string(state.join("runs").join(id).join("journal.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    first["who"].as_str().unwrap().to_string()
}

#[test]
fn the_demo_s_report_holds_its_build_rollout_crash_and_rollback() {
    let b = Bin::new();
    let out = b.run(&["demo", "--decisions", DECISIONS]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let id = only_run(&b.state());
    let md = markdown(&b.state(), &id);
    let md = without_sandbox_logs(&md, "FATAL startup check failed");
    assert_snapshot("demo", &normalise(&md, b.dir(), &who(&b.state(), &id)));
}

#[test]
fn the_rehearsed_labelmint_rollback_s_report_holds_its_revert() {
    let r = crate::labelmint::rehearsed(
        "runbooks/labelmint/rollback-application.yaml",
        "runbooks/labelmint/rehearsals/rollback-application-crashloop.yaml",
        &["--inject", "crashloop=labelmint-web@set-previous-image-web"],
    );
    let id = only_run(&r.state());
    let md = markdown(&r.state(), &id);
    let md = without_sandbox_logs(&md, "");
    assert_snapshot(
        "labelmint-rollback",
        &normalise(&md, r.tmp.path(), &who(&r.state(), &id)),
    );
}

const FAILING: &str = r#"
name: Failing migration
description: a shell step that fails, after a gate with a checklist
variables:
  version: { default: "2.0.1" }
phases:
  - id: prepare
    steps:
      - id: announce
        run: echo "migrating to {{ version }}"
  - id: migrate
    gate: true
    checklist: [Backups taken]
    steps:
      - id: schema
        # Both lines on stderr: lines of two pipes may reach the engine in either order.
        run: |
          echo "applying 0042_orders.sql" >&2
          echo 'ERROR: column "total" of relation "orders" | contains `null` values' >&2
          exit 3
      - id: after
        run: echo never
"#;

/// A run of [`FAILING`], headless, its gates approved: exit 1.
fn failing_run(b: &Bin) -> String {
    let rb = b.runbook("failing.yaml", FAILING);
    let out = b.run(&["run", rb.to_str().unwrap(), "--headless", "--approve-all"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    only_run(&b.state())
}

#[test]
fn a_failed_run_s_report_holds_the_failure_and_its_last_lines() {
    let b = Bin::new();
    let id = failing_run(&b);
    let md = markdown(&b.state(), &id);
    assert_snapshot(
        "failed-run",
        &normalise(&md, b.dir(), &who(&b.state(), &id)),
    );
}

#[test]
fn an_unknown_run_is_one_line_and_the_state_exit_code() {
    let b = Bin::new();
    std::fs::create_dir_all(b.state()).unwrap();
    let out = report(&b.state(), &["20990101-000000-beef"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr,
        format!(
            "tollgate: no run `20990101-000000-beef` in {}\n",
            b.state().join("runs").display()
        )
    );
}

/// Chromium, when it is installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

#[test]
fn the_html_report_opens_in_a_headless_browser_with_its_timeline_and_every_step() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    };
    let b = Bin::new();
    let id = failing_run(&b);
    let file = b.dir().join("report.html");
    let out = report(
        &b.state(),
        &[&id, "--format", "html", "-o", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(out.stdout.is_empty());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "written privately");

    let profile = b.dir().join("chromium-profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::Read as _;
        let mut dom = String::new();
        let _ = stdout.read_to_string(&mut dom);
        let _ = tx.send(dom);
    });
    let dom = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(dom) => dom,
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("chromium did not print the page within 90 s");
        }
    };
    let _ = child.wait();
    // The page as the browser built it: the timeline chart, and a bar and a row for every phase
    // and step that ran.
    assert!(dom.contains("<svg id=\"timeline\""), "{dom}");
    for step in ["announce", "schema"] {
        assert!(
            dom.contains(&format!("data-id=\"{step}\"><title>step {step}:")),
            "no bar for {step}:\n{dom}"
        );
        assert!(
            dom.contains(&format!("<tr id=\"step-{step}\"")),
            "no row for {step}:\n{dom}"
        );
    }
    // The step the failure kept from running, named as one.
    assert!(
        dom.contains("<p id=\"not-run\">Did not run: <span id=\"step-after\">"),
        "{dom}"
    );
    for phase in ["prepare", "migrate"] {
        assert!(dom.contains(&format!("<tr id=\"phase-{phase}\"")), "{dom}");
    }
    assert!(
        dom.contains("<g class=\"bar step failed\" data-id=\"schema\">"),
        "{dom}"
    );
    assert!(dom.contains("contains `null` values"), "{dom}");
    // Nothing to run, nothing fetched.
    assert!(!dom.contains("<script"), "{dom}");
}

const SECRETS: &str = r#"
name: Secrets everywhere
variables:
  api_token: { secret: true, env: REPORT_API_TOKEN }
phases:
  - id: p
    steps:
      - id: use-it
        run: |
          echo "token is $api_token"
          printf '%s' "$api_token" | base64
          echo "again: $api_token" >&2
      - id: fetch
        run: echo "fetched=n3w-$(echo s3cr3t)-value"
        capture:
          - { var: fetched, regex: 'fetched=(\S+)', secret: true }
      - id: leak-and-fail
        run: |
          echo "got $fetched and $api_token"
          exit 1
"#;

#[test]
fn no_secret_reaches_either_format() {
    const TOKEN: &str = "pl4nted-t0ken-123";
    const CAPTURED: &str = "n3w-s3cr3t-value";
    let b = Bin::new();
    let rb = b.runbook("secrets.yaml", SECRETS);
    let out = b
        .command(&["run", rb.to_str().unwrap(), "--headless", "--approve-all"])
        .env("REPORT_API_TOKEN", TOKEN)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let id = only_run(&b.state());
    let forms = |s: &str| {
        use base64::Engine as _;
        vec![
            s.to_lowercase(),
            base64::engine::general_purpose::STANDARD
                .encode(s)
                .to_lowercase(),
        ]
    };
    let mut secrets = forms(TOKEN);
    secrets.extend(forms(CAPTURED));
    let check = |env: &[(&str, &str)]| {
        for format in ["md", "html"] {
            let out = report(&b.state(), &[&id, "--format", format], env);
            let (page, err) = text(&out);
            assert_eq!(out.status.code(), Some(0), "{err}");
            let seen = page.to_lowercase();
            for s in &secrets {
                assert!(
                    !seen.contains(s.as_str()),
                    "{s} in the {format} report:\n{page}"
                );
            }
            // The step's output is there, masked.
            assert!(page.contains("got •••••• and ••••••"), "{format}:\n{page}");
        }
    };
    check(&[]);
    // Defence in depth: a secret that reached the record unmasked (planted in the failed step's
    // kept output, which the report prefers to the journal's last lines) is masked by a report
    // that can know it, from the runbook's secret variable set in its environment.
    let mut keeper =
        tollgate::record::output::Keeper::new(&b.state().join("runs").join(&id)).unwrap();
    keeper
        .lines(
            "leak-and-fail",
            tollgate::protocol::Stream::Stdout,
            format!("got {} and {TOKEN}\n", tollgate::protocol::MASK),
        )
        .unwrap();
    keeper.flush().unwrap();
    let planted = report(&b.state(), &[&id], &[]);
    assert!(
        String::from_utf8_lossy(&planted.stdout).contains(TOKEN),
        "planted where the report reads"
    );
    check(&[("REPORT_API_TOKEN", TOKEN)]);
}
