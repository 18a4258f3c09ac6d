//! `tollgate run` with kube steps, as an operator runs it: the binary, headless, against a sandbox
//! the test starts, through a kubeconfig named by `KUBECONFIG`.

use std::process::Command;

use crate::common::sandbox_cluster::{Cluster, shop_fixture};

fn fixture() -> String {
    shop_fixture("shop", &[("api", 2, "registry.local/api:1.0")])
}

const RUNBOOK: &str = r#"
name: scale the shop
targets:
  kube: { context: shop-prod, namespace: shop }
phases:
  - id: scale
    steps:
      - id: nodes
        run:
          kube.wait: { resource: nodes, condition: Ready, count: 1 }
        expect: { timeout: 20s }
      - id: scale-down
        run:
          kube.scale: { deployment: api, replicas: 0 }
      - id: namespace
        run:
          kube.get: { resource: namespace/shop, jsonpath: "{.metadata.name}" }
        expect: { output_contains: shop }
"#;

fn tollgate(c: &Cluster, args: &[&str]) -> (i32, String, String) {
    // The binary blocks; the sandbox lives on this test's runtime, so run it off the runtime.
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .env("KUBECONFIG", &c.kubeconfig)
        .env("TOLLGATE_STATE_DIR", c.dir.path().join("state"))
        .env_remove("HOME")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runbook_runs_its_kube_steps_against_the_pinned_context() {
    let c = Cluster::start("shop-prod", "default").await;
    c.load(&fixture());
    let rb = c.dir.path().join("scale.yaml");
    std::fs::write(&rb, RUNBOOK).unwrap();
    let rb = rb.to_str().unwrap().to_string();
    let c2 = &c;
    let (code, out, err) =
        tokio::task::block_in_place(|| tollgate(c2, &["run", &rb, "--headless", "--approve-all"]));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("kube context shop-prod ({})", c.sb.url())),
        "{out}"
    );
    assert!(out.contains("deployment/api scaled 2 → 0"), "{out}");
    assert!(
        out.contains("$ kube.scale deployment/api replicas=0 -n shop"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_missing_from_the_kubeconfig_fails_the_kube_step_and_says_why() {
    let c = Cluster::start("somewhere-else", "default").await;
    let rb = c.dir.path().join("scale.yaml");
    std::fs::write(&rb, RUNBOOK).unwrap();
    let rb = rb.to_str().unwrap().to_string();
    let c2 = &c;
    let (code, out, err) =
        tokio::task::block_in_place(|| tollgate(c2, &["run", &rb, "--headless", "--approve-all"]));
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(
            "kube context not pinned yet: context `shop-prod` is not in the kubeconfig (it has: somewhere-else)"
        ),
        "{out}"
    );
    assert!(
        out.contains("step nodes failed in 0.0s: context `shop-prod` is not in the kubeconfig"),
        "{out}"
    );
    // --context picks another context: the same runbook runs there.
    c.load(&fixture());
    let (code, out, err) = tokio::task::block_in_place(|| {
        tollgate(
            c2,
            &[
                "run",
                &rb,
                "--headless",
                "--approve-all",
                "--context",
                "somewhere-else",
            ],
        )
    });
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("kube context somewhere-else"), "{out}");
}
