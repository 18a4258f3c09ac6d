//! LabelMint's first production deploy, rehearsed: its native kube steps, taken unchanged from
//! `runbooks/labelmint/first-deploy.yaml`, run against the sandbox loaded with LabelMint's cluster
//! (`runbooks/labelmint/cluster.yaml`, faithful to seed 000). The rehearsal finds what the design's
//! sizing leads to: `payment-backend` cannot be scheduled on two t3.small nodes.

use std::path::Path;

use serde_json::{Value, json};
use tollgate::engine::{Outcome, RunStatus};

use crate::common::sandbox_cluster::{Cluster, run_as};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CONTEXT: &str = "arn:aws:eks:us-east-1:288761728065:cluster/labelmint-production";

/// The steps of `first-deploy.yaml` named in `ids`, in the runbook's order, as a runbook of one
/// phase (JSON, which is YAML) with the runbook's targets and its non-secret variables.
fn rehearsal(ids: &[&str], timeout: &str) -> String {
    let path = Path::new(ROOT).join("runbooks/labelmint/first-deploy.yaml");
    let loaded = tollgate::runbook::load(&path).unwrap();
    assert!(loaded.ok(), "{:?}", loaded.diags);
    let rb = serde_json::to_value(&loaded.runbook).unwrap();
    let mut steps = Vec::new();
    for phase in rb["phases"].as_array().unwrap() {
        for list in ["steps", "validation"] {
            for s in phase[list].as_array().into_iter().flatten() {
                if ids.contains(&s["id"].as_str().unwrap_or_default()) {
                    let mut s = s.clone();
                    // A rehearsal does not wait the production timeouts out.
                    s["expect"]["timeout"] = json!(timeout);
                    s.as_object_mut().unwrap().remove("retries");
                    steps.push(s);
                }
            }
        }
    }
    assert_eq!(steps.len(), ids.len(), "every step is in the runbook");
    for s in &steps {
        assert!(
            s["run"]
                .as_object()
                .is_some_and(|r| r.keys().any(|k| k.starts_with("kube."))),
            "step {} is a native kube step",
            s["id"]
        );
    }
    let vars: serde_json::Map<String, Value> = rb["variables"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["secret"] != json!(true) && v.get("default").is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json!({
        "name": "LabelMint first deploy (rehearsal)",
        "targets": rb["targets"],
        "variables": vars,
        "phases": [{"id": "rehearse", "steps": steps}],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_deploy_kube_steps_rehearse_against_labelmints_cluster() {
    // The fixture is loaded at start, as `tollgate sandbox --fixture` does (its two nodes are then
    // the only ones).
    let config = tollgate_sandbox::Config {
        fixtures: vec![Path::new(ROOT).join("runbooks/labelmint/cluster.yaml")],
        ..tollgate_sandbox::Config::fast()
    };
    let c = Cluster::start_with(config, CONTEXT, "default").await;
    // The runbook's manifests folder, where `kube.apply` looks for it.
    let dir = c.dir.path().join("labelmint");
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("runbooks/labelmint/manifests/namespaces.yaml"),
        dir.join("manifests/namespaces.yaml"),
    )
    .unwrap();
    let target = || c.target(None, Some(CONTEXT));

    // Phase 2's validation, phase 3's namespaces (the images check of phase 5 is a script that
    // checks each deployment's containers: not a native step).
    let yaml = rehearsal(&["nodes-ready", "create-namespaces"], "20s");
    let fin = run_as(&dir, &yaml, target(), "rehearsal-1", &[]).await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Succeeded),
        "{}",
        fin.output
    );
    assert!(fin.output.contains("2/2 nodes Ready"), "{}", fin.output);
    assert!(
        fin.output.contains("namespace/labelmint-production"),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains("namespace/monitoring"),
        "{}",
        fin.output
    );

    // Phase 5's rollouts: payment-backend never schedules; the step says why.
    let yaml = rehearsal(&["wait-for-rollouts"], "4s");
    let fin = run_as(&dir, &yaml, target(), "rehearsal-2", &[]).await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert!(fin.output.contains("payment-backend"), "{}", fin.output);
    assert!(
        fin.output
            .contains("Pending, Unschedulable: 0/2 nodes are available: 2 Insufficient memory."),
        "the rollout failure names the scheduling problem:\n{}",
        fin.output
    );
    // The five that fit roll out.
    for d in [
        "api-gateway",
        "client-bot",
        "labeling-backend",
        "labelmint-web",
        "worker-bot",
    ] {
        assert!(
            fin.output
                .contains(&format!("deployment \"{d}\" successfully rolled out")),
            "{d}:\n{}",
            fin.output
        );
    }
}
