//! The progressive-delivery steps as a runbook's author meets them: `check` flags those that
//! change the cluster with no gate before them (and not those that only read), and `plan`
//! describes each the way an operator reads it before approving.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn tollgate(args: &[&str], state: &std::path::Path) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .output()
        .expect("tollgate runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ungated_promotes_patches_and_syncs_are_flagged_and_reads_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ungated.yaml");
    std::fs::write(
        &path,
        r#"name: ungated
phases:
  - id: p
    steps:
      - id: look
        run:
          argo.status: { rollout: api, until: paused }
      - id: promote
        run:
          argo.promote: { rollout: api }
      - id: weight
        run:
          kube.patch: { resource: ingress/api-canary, patch: { metadata: { annotations: { nginx.ingress.kubernetes.io/canary-weight: "50" } } } }
      - id: synced
        run:
          argocd.wait: { app: shop, health: Healthy }
      - id: sync
        run:
          argocd.sync: { app: shop }
      - id: gated
        gate: true
        run:
          argo.abort: { rollout: api }
"#,
    )
    .unwrap();
    let (code, stdout, stderr) = tollgate(&["check", path.to_str().unwrap()], dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    let p = path.display();
    let warn = |line: u32, id: &str, key: &str| {
        format!(
            "{p}:{line}:9: warning: step `{id}` changes the cluster (`{key}`) with no gate before it; add `gate:` to the step or its phase\n"
        )
    };
    assert_eq!(
        stdout,
        [
            warn(8, "promote", "argo.promote"),
            warn(11, "weight", "kube.patch"),
            warn(17, "sync", "argocd.sync"),
        ]
        .concat()
    );
}

#[test]
fn plan_describes_each_step() {
    let state = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = tollgate(
        &[
            "plan",
            "tests/fixtures/runbooks/valid/progressive-delivery.yaml",
        ],
        state.path(),
    );
    assert_eq!(code, Some(0), "{stderr}");
    for expected in [
        "argocd.auto_sync application/shop automated=off -n argocd",
        "argo.set_image rollout/shop shop=ghcr.io/acme/shop:1.4.2 -n shop",
        "argo.status rollout/shop until=paused -n shop",
        r#"kube.patch ingress/shop-canary --type=auto -p '{"metadata":{"annotations":{"nginx.ingress.kubernetes.io/canary-weight":"25"}}}' -n shop"#,
        "argo.promote rollout/shop -n shop",
        "argo.status rollout/shop until=weight 50 -n shop",
        "argo.promote rollout/shop --full -n shop",
        "argo.status rollout/shop until=healthy -n shop",
        r#"kube.patch service/shop --type=json -p '[{"op":"replace","path":"/spec/selector/version","value":"green"}]' -n shop"#,
        "argocd.sync application/shop revision=main --prune -n argocd",
        "argocd.wait application/shop sync=Synced health=Healthy -n argocd",
        "argo.abort rollout/shop -n shop",
        "argo.undo rollout/shop to-revision=3 -n shop",
        "argo.retry rollout/shop -n shop",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in\n{stdout}"
        );
    }
}
