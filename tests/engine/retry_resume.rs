//! A step killed while waiting to retry keeps its remaining attempts: the real binary, SIGKILLed
//! once its journal shows the retry scheduled, resumes with the next attempt.

use std::time::Duration;

use crate::common::binary::{Bin, text, wait_until};

const FLAKY: &str = r#"name: flaky then fine
on_failure: { goto: undo }
phases:
  - id: work
    steps:
      - id: flaky
        run: |
          echo attempt >> "$runbook_dir/attempts"
          n=$(wc -l < "$runbook_dir/attempts")
          [ "$n" -ge 2 ] || { echo "first attempt fails" >&2; exit 1; }
          echo "fine on attempt $n"
        retries: { attempts: 2, delay: 3s }
  - id: undo
    rollback: true
    steps:
      - id: restore
        run: echo rolled back >> "$runbook_dir/rolled-back"
"#;

fn attempts(bin: &Bin) -> usize {
    std::fs::read_to_string(bin.dir().join("attempts"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_kill_while_waiting_to_retry_resumes_with_the_next_attempt() {
    let bin = Bin::new();
    let rb = bin.runbook("flaky.yaml", FLAKY);
    let mut child = bin
        .command(&["run", rb.to_str().unwrap(), "--headless"])
        .spawn()
        .unwrap();
    let runs = bin.state().join("runs");
    wait_until(
        "the retry scheduled in the journal",
        Duration::from_secs(30),
        || {
            std::fs::read_dir(&runs)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    std::fs::read_to_string(e.path().join("journal.jsonl"))
                        .is_ok_and(|j| j.contains(r#""event":"retry_scheduled""#))
                })
        },
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(attempts(&bin), 1, "killed after the retry had started");

    let out = bin.run(&["resume", "--headless"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("step flaky: attempt 2/3, scheduled before the restart, in "),
        "{stdout}"
    );
    assert!(stdout.contains("step flaky (attempt 2/3)"), "{stdout}");
    assert!(stdout.contains("fine on attempt 2"), "{stdout}");
    assert_eq!(attempts(&bin), 2);
    assert!(
        !bin.dir().join("rolled-back").exists(),
        "took the rollback path"
    );
}
