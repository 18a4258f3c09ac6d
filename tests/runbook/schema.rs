//! `tollgate schema` prints the JSON Schema of the format, and every runbook shipped or used as a
//! valid example checks clean.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn schema_is_json_with_the_main_definitions() {
    let out = Command::new(BIN)
        .arg("schema")
        .current_dir(ROOT)
        .output()
        .expect("run tollgate schema");
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("`tollgate schema` prints valid JSON");
    let defs = schema
        .get("$defs")
        .and_then(|d| d.as_object())
        .expect("the schema has `$defs`");
    for name in ["Step", "Phase", "Gate"] {
        assert!(
            defs.contains_key(name),
            "`$defs` has no `{name}`; it has {:?}",
            defs.keys().collect::<Vec<_>>()
        );
    }
    // The shorthand forms are part of the schema too.
    assert!(
        defs["Gate"].get("anyOf").is_some(),
        "`Gate` allows `gate: true`: {}",
        defs["Gate"]
    );
}

/// Every native action is a key of `run` in the schema, and `aws.identity` may be written bare.
#[test]
fn schema_has_every_native_action() {
    let out = Command::new(BIN).arg("schema").output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &schema["$defs"]["Run"]["anyOf"][1]["properties"];
    for key in [
        "secrets.put",
        "secrets.revert",
        "kube.revert",
        "ecr.login",
        "ecr.ensure_repository",
        "ecr.describe_images",
        "aws.identity",
        "docker.push",
        "docker.login",
    ] {
        assert!(run.get(key).is_some(), "`run` has no `{key}`: {run}");
    }
    let identity = &schema["$defs"]["AwsIdentity"]["anyOf"];
    assert_eq!(
        identity[0],
        serde_json::json!({"type": "null"}),
        "{identity}"
    );
    assert_eq!(identity[1]["additionalProperties"], false, "{identity}");
    let mutability = &schema["$defs"]["TagMutability"];
    assert!(mutability.to_string().contains("IMMUTABLE"), "{mutability}");
}

/// `*.yaml` under `dir`, recursively, leaving out `parts/` folders (fragments that are only
/// included, not runbooks of their own), `manifests/` folders (what `kube.apply` steps apply)
/// `cluster.yaml` (sandbox fixtures: Kubernetes manifests, loaded by
/// tests/sandbox/sandbox_fixtures.rs) and `*decisions.yaml` (a rehearsal's decisions files, read
/// by `rehearse --decisions`).
fn runbooks_under(dir: &Path, out: &mut Vec<PathBuf>, recursive: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if recursive
                && path
                    .file_name()
                    // Not runbooks: included parts, manifests, and a rehearsal's fixtures,
                    // stub checkouts and decisions files (its tests run those).
                    .is_some_and(|n| n != "parts" && n != "manifests" && n != "rehearsals")
            {
                runbooks_under(&path, out, recursive);
            }
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml")
            && path.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                !n.ends_with("cluster.yaml") && !n.ends_with("decisions.yaml")
            })
        {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_and_example_runbook_checks_clean() {
    let root = Path::new(ROOT);
    let mut files = Vec::new();
    runbooks_under(
        &root.join("tests/fixtures/runbooks/valid"),
        &mut files,
        false,
    );
    runbooks_under(&root.join("runbooks"), &mut files, true);
    files.sort();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("runbooks/demo/first-deploy.yaml")),
        "the demo runbook was not found: {files:?}"
    );
    let mut failures = String::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        let out = Command::new(BIN)
            .arg("check")
            .arg(rel)
            .current_dir(ROOT)
            .output()
            .expect("run tollgate check");
        if out.status.code() != Some(0) || !out.stdout.is_empty() {
            failures.push_str(&format!(
                "{}: exit {:?}\n{}{}\n",
                rel.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "runbooks with problems:\n{failures}");
}
