//! A runbook's `notify:`: `check` refuses a bad reminder duration, a webhook that is not an
//! http(s) URL (without quoting it: its path may be a secret) and an unknown variable, each in one
//! `file:line:col:` line; a good one checks clean.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

fn check(dir: &std::path::Path, notify: &str) -> (Output, String, String) {
    let file = dir.join("n.yaml");
    std::fs::write(
        &file,
        format!(
            "name: n\nvariables:\n  hook: {{ secret: true }}\nnotify:\n{notify}phases:\n  - id: p\n    steps:\n      - id: s\n        run: echo hi\n"
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["check", &file])
        .env("NO_COLOR", "1")
        .env("TOLLGATE_STATE_DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("start tollgate");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout, file)
}

#[test]
fn check_refuses_a_bad_notify_in_one_positioned_line() {
    let dir = tempfile::tempdir().unwrap();
    for (notify, message) in [
        (
            "  remind_after: soon\n",
            "5:17: `notify.remind_after`: `soon` is not a duration (e.g. 30s, 5m, 1h30m)",
        ),
        (
            "  remind_after: 0s\n",
            "5:17: `notify.remind_after` must be more than 0 (e.g. 10m)",
        ),
        (
            "  webhook: ftp://hooks.example/T0/B0/KEY\n",
            "5:12: `notify.webhook` must be an http:// or https:// URL, or `{{ var }}`",
        ),
        (
            "  webhook: \"{{ hok }}\"\n",
            "5:12: `notify.webhook`: unknown variable `hok` (did you mean `hook`?)",
        ),
    ] {
        let (out, stdout, file) = check(dir.path(), notify);
        assert_eq!(out.status.code(), Some(1), "{notify}: {stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines, [format!("{file}:{message}")], "{notify}");
        assert!(!stdout.contains("KEY"), "the URL was quoted: {stdout}");
    }
    for good in [
        "  webhook: \"{{ hook }}\"\n  remind_after: 10m\n  desktop: true\n",
        "  webhook: https://hooks.example/T0/B0/KEY\n",
    ] {
        let (out, stdout, _) = check(dir.path(), good);
        assert_eq!(out.status.code(), Some(0), "{good}: {stdout}");
    }
}
