//! `resume` without a run id takes the latest run not known to have succeeded; when that run's
//! journal cannot be read it says which run and why, rather than that nothing is unfinished.

use std::io::Write;

use crate::common::binary::{Bin, text};

const GATED: &str = "name: gated\nphases:\n  - id: ship\n    gate: true\n    steps:\n      - id: go\n        run: echo shipped\n";

#[test]
fn resume_without_an_id_names_the_unreadable_run_and_why() {
    let bin = Bin::new();
    let rb = bin.runbook("gated.yaml", GATED);
    let out = bin.run(&["run", rb.to_str().unwrap(), "--headless"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let (id, path) = bin.only_run();
    let n = std::fs::read_to_string(&path).unwrap().lines().count() + 1;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    // A decision without its `who`: a line that does not parse as a record.
    writeln!(
        f,
        r#"{{"seq":{n},"at":"{}","event":"gate_decided","gate":"ship","kind":"phase","choice":"approve","via":"y"}}"#,
        tollgate::engine::now_rfc3339()
    )
    .unwrap();
    let listed = text(&bin.run(&["runs"])).0;
    assert!(listed.contains("missing field `who`"), "{listed}");
    let out = bin.run(&["resume", "--headless"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stdout}\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("no unfinished run"), "{stderr}");
    assert!(stderr.contains(&id), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:{n}:", path.display()))
            && stderr.contains("missing field `who`"),
        "{stderr}"
    );
}
