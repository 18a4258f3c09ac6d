//! The real binary's interface with a cluster, inside tmux: `tollgate run` against a sandbox the
//! test starts, through the kubeconfig in `KUBECONFIG`. The pods and logs panes fill before the
//! first step, the gate is answered with a key, the rollout is followed to its end.

use crate::common::sandbox_cluster::shop_fixture;
use crate::common::tmux::{Tmux, sh_quote, tmux_installed};

fn fixture() -> String {
    shop_fixture("shop", &[("payment", 2, "registry.local/payment:1.0")])
}

const RUNBOOK: &str = r#"
name: payment release
targets:
  kube: { context: shop-prod, namespace: shop }
phases:
  - id: release
    title: Release payment 1.1
    gate: { message: Release payment 1.1? }
    steps:
      - id: set-image
        run:
          kube.set_image: { deployment: payment, image: "registry.local/payment:1.1" }
      - id: rollout
        run:
          kube.rollout_status: { deployment: payment }
        expect: { timeout: 30s }
"#;

#[test]
fn a_rollout_in_the_interface_with_pods_and_logs() {
    if !tmux_installed() {
        return;
    }
    // The sandbox lives on its own runtime, beside the blocking tmux calls.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixture_file = dir.path().join("cluster.yaml");
    std::fs::write(&fixture_file, fixture()).unwrap();
    let sb = rt
        .block_on(tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config {
            fixtures: vec![fixture_file],
            ..tollgate_sandbox::Config::fast()
        }))
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sb.kubeconfig_for("default", "shop-prod")).unwrap();
    let runbook = dir.path().join("release.yaml");
    std::fs::write(&runbook, RUNBOOK).unwrap();

    let mut t = Tmux::new("cluster");
    t.shell("main", dir.path());
    let line = format!(
        "KUBECONFIG={} {} --state-dir {} run {}",
        sh_quote(kubeconfig.to_str().unwrap()),
        sh_quote(env!("CARGO_BIN_EXE_tollgate")),
        sh_quote(dir.path().join("state").to_str().unwrap()),
        sh_quote(runbook.to_str().unwrap()),
    );
    t.command("main", &line);

    // Before the first step: the pods of the deployment the first kube step acts on, marked, and
    // their logs; the banner names the live context.
    let screen = t.wait("main", "the pods and logs panes", |s| {
        // (The logs pane's title may be under the gate's dialog; its lines are not.)
        s.contains("pods 2") && s.contains("▶ payment-") && s.contains(" payment │ ")
    });
    assert!(
        screen.contains(&format!("kube shop-prod ({})", sb.url())),
        "{screen}"
    );
    assert!(screen.contains("GATE before phase release"), "{screen}");

    t.probe("main", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.press("main", &["Enter"], "the gate passes", |s| {
        !s.contains("GATE before phase release")
    });
    t.wait_text("main", "deployment \"payment\" successfully rolled out");
    t.wait_text("main", "succeeded");
    // The run is over: `q` leaves, and the outcome is printed on the restored terminal.
    t.keys("main", &["q"]);
    t.wait("main", "the outcome on the shell", |s| {
        // The command may have been typed before the pane's shell printed its prompt: the
        // prompt then stands at the start of the line the outcome is printed on.
        s.lines().any(|l| {
            let l = l.trim_start_matches("# ");
            l.starts_with("run ") && l.ends_with(": succeeded")
        })
    });
    drop(sb);
}
