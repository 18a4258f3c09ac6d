//! `kube.job` in a namespace that enforces Pod Security `restricted`, against a sandbox cluster
//! (which admits pods as the PodSecurity plugin does): a bare job fails at once with the
//! controller's FailedCreate message, the same job with `security_context: restricted` runs, and
//! `secret_env` hands one key of a Secret to the container by reference.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

use crate::common::sandbox_cluster::{Cluster, Finished, run_in};

const LOCKED: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: locked
  labels: {pod-security.kubernetes.io/enforce: restricted}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secrets, namespace: locked}
stringData: {db-password: "pw-Zq81-never-shown"}
"#;

async fn run(c: &Cluster, sub: &str, steps: &str) -> Finished {
    let dir = c.dir.path().join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = format!(
        "name: steps\ntargets:\n  kube: {{ context: prod-east, namespace: locked }}\nphases:\n  - id: main\n    steps:\n{steps}"
    );
    run_in(&dir, &yaml, c.target(None, Some("prod-east"))).await
}

async fn client(c: &Cluster) -> kube::Client {
    c.target(None, Some("prod-east"))
        .checked_client()
        .await
        .unwrap()
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_restricted_refuses_fails_at_once_naming_the_violation() {
    let c = Cluster::start("prod-east", "default").await;
    c.load(LOCKED);
    let started = Instant::now();
    let fin = run(
        &c,
        "bare",
        r#"      - id: migrate
        run:
          kube.job: { name: migrate, image: "migrate:2.1", command: [migrate, up] }
        expect: { timeout: 90s }
"#,
    )
    .await;
    let took = started.elapsed();
    let e = fin.error_of("migrate").expect("the step fails");
    assert!(
        e.contains("could not create its pod: Error creating: pods \"migrate-")
            && e.contains(
                "is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"migrate\" must set securityContext.allowPrivilegeEscalation=false)"
            ),
        "{e}"
    );
    assert!(!e.contains("timeout"), "{e}");
    assert!(
        took < Duration::from_secs(30),
        "failed after {took:?}, not at once"
    );
    // Cleaned up as any finished job is.
    let ch = &fin.changes_of("migrate")[0];
    assert_eq!(ch["succeeded"], false);
    assert_eq!(ch["deleted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_job_made_restricted_completes_and_secret_env_passes_one_key_by_reference() {
    let c = Cluster::start("prod-east", "default").await;
    c.load(LOCKED);
    let fin = run(
        &c,
        "restricted",
        r#"      - id: migrate
        run:
          kube.job:
            name: migrate
            image: "migrate:2.1"
            command: [migrate, up]
            security_context: restricted
            run_as_user: 10001
            secret_env: { DB_PASSWORD: app-secrets/db-password }
            keep: true
        expect: { timeout: 60s, output_contains: "done: all work items processed" }
"#,
    )
    .await;
    assert_eq!(fin.error_of("migrate"), None, "{}", fin.output);
    let ch = &fin.changes_of("migrate")[0];
    assert_eq!(ch["succeeded"], true);
    let name = ch["name"].as_str().unwrap().to_string();

    let client = client(&c).await;
    let job = Api::<Job>::namespaced(client.clone(), "locked")
        .get(&name)
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client, "locked")
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 1, "the job's one pod was admitted");
    for spec in [
        serde_json::to_value(job.spec.unwrap().template.spec.unwrap()).unwrap(),
        serde_json::to_value(pods.items[0].spec.clone().unwrap()).unwrap(),
    ] {
        assert_eq!(
            spec["securityContext"],
            json!({"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}})
        );
        let container = &spec["containers"][0];
        assert_eq!(
            container["securityContext"],
            json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
                   "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
        );
        assert_eq!(
            container["env"],
            json!([{"name": "DB_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "app-secrets", "key": "db-password"}}}])
        );
        assert!(container.get("envFrom").is_none_or(Value::is_null));
    }
    // The value stays in the cluster: not in the output, the events or the journal.
    for text in [&fin.output, &fin.events_text(), &fin.journal] {
        assert!(!text.contains("pw-Zq81-never-shown"));
    }
}
