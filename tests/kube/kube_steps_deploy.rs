//! Deployment steps against the sandbox: `kube.scale`, `kube.set_image`, `kube.restart`,
//! `kube.rollout_undo`, `kube.rollout_status` and `kube.revert`, with what they journal.

use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use serde_json::json;
use tokio::sync::mpsc;
use tollgate::engine::{Event, Outcome, RunStatus, StepStatus};
use tollgate::exec::Router;
use tollgate::exec::kube::KubeExec;
use tollgate::target::PinnedCluster;

use crate::common;
use crate::common::sandbox_cluster::{Cluster, Finished, run_in};

/// A deployment of one container `app` whose readiness probe waits 5 s: a container that
/// crashes after 2 s is never ready.
fn deployment(name: &str, replicas: i32, image: &str) -> String {
    format!(
        r#"---
apiVersion: apps/v1
kind: Deployment
metadata: {{ name: {name}, namespace: shop }}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 60
  selector: {{ matchLabels: {{ app: {name} }} }}
  template:
    metadata: {{ labels: {{ app: {name} }} }}
    spec:
      containers:
        - name: app
          image: {image}
          readinessProbe:
            httpGet: {{ path: /ready, port: 8080 }}
            initialDelaySeconds: 5
            periodSeconds: 1
"#
    )
}

const DUO: &str = r#"---
apiVersion: apps/v1
kind: Deployment
metadata: { name: duo, namespace: shop }
spec:
  replicas: 1
  selector: { matchLabels: { app: duo } }
  template:
    metadata: { labels: { app: duo } }
    spec:
      containers:
        - { name: app, image: "registry.local/duo:1.0" }
        - { name: sidecar, image: "registry.local/proxy:1.0" }
"#;

/// A sandbox whose `shop` namespace holds `fixtures`.
async fn shop(fixtures: &[String]) -> Cluster {
    let c = Cluster::start("prod-east", "shop").await;
    c.namespace("shop");
    c.load(&fixtures.concat());
    c
}

fn runbook(steps: &str) -> String {
    format!(
        r#"
name: deploy
targets:
  kube: {{ context: prod-east, namespace: shop }}
phases:
  - id: p
    steps:
{steps}"#
    )
}

/// Runs `yaml` in a fresh folder (its own journal).
async fn run(c: &Cluster, yaml: &str) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), yaml, c.target(None, Some("prod-east"))).await
}

/// [`run_in`], but choosing `Rollback` at a failure gate.
async fn run_rolling_back(dir: &Path, yaml: &str, target: Arc<PinnedCluster>) -> Finished {
    let mut router = Router::shell_only();
    router.kube = Some(Arc::new(KubeExec { target }));
    common::sandbox_cluster::run_deciding(dir, yaml, router, "run-1", &[], true).await
}

fn status_of(fin: &Finished, id: &str) -> Option<StepStatus> {
    fin.events.iter().rev().find_map(|e| match e {
        Event::StepFinished { step, status, .. } if step == id => Some(*status),
        _ => None,
    })
}

async fn deployment_of(c: &Cluster, name: &str) -> Deployment {
    let client = c
        .target(None, Some("prod-east"))
        .checked_client()
        .await
        .unwrap()
        .0;
    Api::<Deployment>::namespaced(client, "shop")
        .get(name)
        .await
        .unwrap()
}

async fn replicas(c: &Cluster, name: &str) -> i32 {
    deployment_of(c, name).await.spec.unwrap().replicas.unwrap()
}

async fn image(c: &Cluster, name: &str, container: usize) -> String {
    deployment_of(c, name)
        .await
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[container]
        .image
        .clone()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_all_to_zero_then_back_up_gradually_and_revert_restores_each_count() {
    let c = shop(&[
        deployment("api", 3, "registry.local/api:1.0"),
        deployment("web", 2, "registry.local/web:1.0"),
        deployment("worker", 1, "registry.local/worker:1.0"),
    ])
    .await;
    let yaml = runbook(
        r#"      - id: down
        run:
          kube.scale: { replicas: 0 }
      - id: gently
        run:
          kube.scale: { deployment: api, replicas: 1 }
      - id: same
        run:
          kube.scale: { deployment: web, replicas: 0 }
      - id: back
        run:
          kube.revert: { step: down }
"#,
    );
    let fin = run(&c, &yaml).await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Succeeded),
        "{}",
        fin.output
    );
    for line in [
        "deployment/api scaled 3 → 0",
        "deployment/web scaled 2 → 0",
        "deployment/worker scaled 1 → 0",
        "deployment/api scaled 0 → 1",
        "deployment/web already has 0 replicas",
        "deployment/api scaled 1 → 3",
        "deployment/web scaled 0 → 2",
    ] {
        assert!(fin.output.contains(line), "{line:?} in {}", fin.output);
    }
    assert_eq!(
        fin.changes_of("down"),
        vec![
            json!({"change": "scaled", "namespace": "shop", "deployment": "api", "from": 3, "to": 0}),
            json!({"change": "scaled", "namespace": "shop", "deployment": "web", "from": 2, "to": 0}),
            json!({"change": "scaled", "namespace": "shop", "deployment": "worker", "from": 1, "to": 0}),
        ]
    );
    // An unchanged count is not a change.
    assert!(fin.changes_of("same").is_empty());
    // The revert put back newest first, and journaled what it did.
    assert_eq!(
        fin.changes_of("back"),
        vec![
            json!({"change": "scaled", "namespace": "shop", "deployment": "worker", "from": 0, "to": 1}),
            json!({"change": "scaled", "namespace": "shop", "deployment": "web", "from": 0, "to": 2}),
            json!({"change": "scaled", "namespace": "shop", "deployment": "api", "from": 1, "to": 3}),
        ]
    );
    assert_eq!(replicas(&c, "api").await, 3);
    assert_eq!(replicas(&c, "web").await, 2);
    assert_eq!(replicas(&c, "worker").await, 1);
}

/// Counts from variables: a responder's chosen replica count, a count to wait for, a revision a
/// step captured; a variable that holds no number fails the step saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_and_revisions_come_from_variables() {
    let c = shop(&[deployment("api", 1, "registry.local/api:1.0")]).await;
    let yaml = r#"
name: deploy
targets:
  kube: { context: prod-east, namespace: shop }
variables:
  stage: { default: "3" }
  bad: { default: "three" }
phases:
  - id: p
    steps:
      - id: up
        run:
          kube.scale: { deployment: api, replicas: "{{ stage }}" }
      - id: ready
        run:
          kube.wait: { resource: pods, selector: app=api, condition: Running, count: "{{ stage }}" }
        expect: { timeout: 60s }
      - id: image
        run:
          kube.set_image: { deployment: api, image: "registry.local/api:1.1" }
      - id: revision
        run: echo 1
        capture: [{ var: first }]
      - id: back
        run:
          kube.rollout_undo: { deployment: api, to_revision: "{{ first }}" }
      - id: wrong
        run:
          kube.scale: { deployment: api, replicas: "{{ bad }}" }
"#;
    let fin = run(&c, yaml).await;
    assert_eq!(
        status_of(&fin, "up"),
        Some(StepStatus::Succeeded),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains("deployment/api scaled 1 → 3"),
        "{}",
        fin.output
    );
    assert_eq!(
        status_of(&fin, "ready"),
        Some(StepStatus::Succeeded),
        "{}",
        fin.output
    );
    assert_eq!(
        status_of(&fin, "back"),
        Some(StepStatus::Succeeded),
        "{}",
        fin.output
    );
    assert_eq!(image(&c, "api", 0).await, "registry.local/api:1.0");
    assert_eq!(
        status_of(&fin, "wrong"),
        Some(StepStatus::Failed),
        "{}",
        fin.events_text()
    );
    let error = fin.error_of("wrong").unwrap_or_default();
    assert!(
        error.contains("replicas: `three` is not a whole number"),
        "{error}"
    );
    assert_eq!(replicas(&c, "api").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_and_revert_failures_say_what_is_wrong() {
    let c = shop(&[deployment("api", 2, "registry.local/api:1.0")]).await;
    let fin = run(
        &c,
        &runbook(
            r#"      - id: missing
        run:
          kube.scale: { deployment: nope, replicas: 0 }
"#,
        ),
    )
    .await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(
        fin.error_of("missing").as_deref(),
        Some("deployment \"nope\" not found in namespace \"shop\"")
    );
    assert!(fin.changes_of("missing").is_empty());

    // A step that changed nothing has nothing to put back.
    let fin = run(
        &c,
        &runbook(
            r#"      - id: same
        run:
          kube.scale: { deployment: api, replicas: 2 }
      - id: back
        run:
          kube.revert: { step: same }
"#,
        ),
    )
    .await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(
        fin.error_of("back").as_deref(),
        Some("step \"same\" changed nothing that can be put back")
    );

    // An empty namespace has no deployments to scale.
    c.namespace("empty");
    let fin = run(
        &c,
        &runbook(
            r#"      - id: none
        run:
          kube.scale: { namespace: empty, replicas: 1 }
"#,
        ),
    )
    .await;
    assert_eq!(
        fin.error_of("none").as_deref(),
        Some("no deployments in namespace \"empty\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_image_takes_the_only_container_or_the_named_one() {
    let c = shop(&[
        deployment("api", 1, "registry.local/api:1.0"),
        DUO.to_string(),
    ])
    .await;
    let fin = run(
        &c,
        &runbook(
            r#"      - id: only
        run:
          kube.set_image: { deployment: api, image: "registry.local/api:1.1" }
      - id: named
        run:
          kube.set_image: { deployment: duo, container: sidecar, image: "registry.local/proxy:2.0" }
      - id: which
        run:
          kube.set_image: { deployment: duo, image: "registry.local/duo:2.0" }
"#,
        ),
    )
    .await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert!(
        fin.output.contains(
            "deployment/api container=app: registry.local/api:1.0 → registry.local/api:1.1"
        ),
        "{}",
        fin.output
    );
    assert!(fin.output.contains(
        "deployment/duo container=sidecar: registry.local/proxy:1.0 → registry.local/proxy:2.0"
    ));
    assert_eq!(
        fin.changes_of("only"),
        vec![
            json!({"change": "image", "namespace": "shop", "deployment": "api",
            "container": "app", "from": "registry.local/api:1.0", "to": "registry.local/api:1.1"})
        ]
    );
    assert_eq!(
        fin.error_of("which").as_deref(),
        Some(
            "deployment \"duo\" has several containers (app, sidecar): say which with `container`"
        )
    );
    assert_eq!(image(&c, "api", 0).await, "registry.local/api:1.1");
    assert_eq!(image(&c, "duo", 0).await, "registry.local/duo:1.0");
    assert_eq!(image(&c, "duo", 1).await, "registry.local/proxy:2.0");

    let fin = run(
        &c,
        &runbook(
            r#"      - id: nosuch
        run:
          kube.set_image: { deployment: duo, container: db, image: "x:1" }
"#,
        ),
    )
    .await;
    assert_eq!(
        fin.error_of("nosuch").as_deref(),
        Some("deployment \"duo\" has no container \"db\" (it has: app, sidecar)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashlooping_rollout_fails_with_pod_reasons_and_logs_and_undo_restores_it() {
    let c = shop(&[deployment("api", 2, "registry.local/api:1.0")]).await;
    let yaml = r#"
name: deploy
targets:
  kube: { context: prod-east, namespace: shop }
phases:
  - id: release
    on_failure:
      undo: true
      steps:
        - id: settle
          run:
            kube.rollout_status: { deployment: api }
    steps:
      - id: ready
        run:
          kube.rollout_status: { deployment: api }
      - id: set
        run:
          kube.set_image: { deployment: api, image: "registry.local/api:2.0-crashloop" }
      - id: wait
        run:
          kube.rollout_status: { deployment: api }
"#;
    let dir = tempfile::tempdir().unwrap();
    let fin = run_rolling_back(dir.path(), yaml, c.target(None, Some("prod-east"))).await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Failed),
        "{}",
        fin.output
    );
    let err = fin.error_of("wait").expect("the rollout failed");
    assert!(
        err.starts_with(
            "deployment \"api\" exceeded its progress deadline (ProgressDeadlineExceeded"
        ),
        "{err}"
    );
    assert!(err.contains("CrashLoopBackOff (restarts "), "{err}");
    assert!(fin.output.contains("pod api-"), "{}", fin.output);
    assert!(
        fin.output
            .contains("FATAL startup check failed, exiting with status 1"),
        "{}",
        fin.output
    );
    assert!(
        fin.output
            .contains("Waiting for deployment \"api\" rollout to finish")
    );
    // The engine's undo of `set` put the image back, and the rollout then finished.
    assert_eq!(status_of(&fin, "set.undo"), Some(StepStatus::Succeeded));
    assert_eq!(
        fin.changes_of("set.undo"),
        vec![
            json!({"change": "image", "namespace": "shop", "deployment": "api",
            "container": "app", "from": "registry.local/api:2.0-crashloop",
            "to": "registry.local/api:1.0"})
        ]
    );
    assert_eq!(status_of(&fin, "settle"), Some(StepStatus::Succeeded));
    assert_eq!(
        fin.output
            .matches("deployment \"api\" successfully rolled out\n")
            .count(),
        2,
        "{}",
        fin.output
    );
    assert_eq!(image(&c, "api", 0).await, "registry.local/api:1.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_journals_both_revisions_and_revert_goes_forward_again() {
    let c = shop(&[
        deployment("api", 2, "registry.local/api:1.0"),
        deployment("web", 1, "registry.local/web:1.0"),
    ])
    .await;
    let fin = run(
        &c,
        &runbook(
            r#"      - id: set
        run:
          kube.set_image: { deployment: api, image: "registry.local/api:1.1" }
      - id: all
        run:
          kube.rollout_status: {}
      - id: undo
        run:
          kube.rollout_undo: { deployment: api }
      - id: undone
        run:
          kube.rollout_status: { deployment: api }
      - id: redo
        run:
          kube.revert: { step: undo }
      - id: redone
        run:
          kube.rollout_status: { deployment: api }
      - id: far
        run:
          kube.rollout_undo: { deployment: api, to_revision: 99 }
"#,
        ),
    )
    .await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Failed),
        "{}",
        fin.output
    );
    assert!(
        fin.output
            .contains("deployment \"web\" successfully rolled out")
    );
    assert!(
        fin.output
            .contains("deployment/api rolled back: revision 2 → revision 1"),
        "{}",
        fin.output
    );
    assert_eq!(
        fin.changes_of("undo"),
        vec![
            json!({"change": "rolled_back", "namespace": "shop", "deployment": "api",
            "from_revision": 2, "to_revision": 1})
        ]
    );
    // Rolled back, revision 1's template is revision 3; reverting brings revision 2 back.
    assert_eq!(
        fin.changes_of("redo"),
        vec![
            json!({"change": "rolled_back", "namespace": "shop", "deployment": "api",
            "from_revision": 3, "to_revision": 2})
        ]
    );
    assert_eq!(status_of(&fin, "redone"), Some(StepStatus::Succeeded));
    assert_eq!(image(&c, "api", 0).await, "registry.local/api:1.1");
    assert_eq!(
        fin.error_of("far").as_deref(),
        Some("unable to find specified revision 99 in history")
    );
    assert!(fin.changes_of("far").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_sets_the_annotation_and_revert_removes_it() {
    let c = shop(&[deployment("api", 1, "registry.local/api:1.0")]).await;
    let fin = run(
        &c,
        &runbook(
            r#"      - id: restart
        run:
          kube.restart: { deployment: api }
      - id: rolled
        run:
          kube.rollout_status: { deployment: api }
      - id: back
        run:
          kube.revert: { step: restart }
      - id: missing
        run:
          kube.restart: { deployment: nope }
"#,
        ),
    )
    .await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Failed),
        "{}",
        fin.output
    );
    let changes = fin.changes_of("restart");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["change"], "restarted");
    assert!(changes[0].get("from").is_none(), "{changes:?}");
    let at = changes[0]["to"].as_str().unwrap().to_string();
    assert!(
        fin.output
            .contains(&format!("deployment/api restarted (restartedAt={at})"))
    );
    assert_eq!(
        fin.changes_of("back"),
        vec![
            json!({"change": "restarted", "namespace": "shop", "deployment": "api",
            "from": at, "to": ""})
        ]
    );
    let d = deployment_of(&c, "api").await;
    let anns = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap_or_default();
    assert!(
        !anns.contains_key("kubectl.kubernetes.io/restartedAt"),
        "{anns:?}"
    );
    assert_eq!(
        fin.error_of("missing").as_deref(),
        Some("deployment \"nope\" not found in namespace \"shop\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_rollout_times_out_saying_what_is_missing() {
    // A progress deadline (10 minutes) the step's timeout comes well before.
    let c = shop(&[deployment("api", 3, "registry.local/api:1.0").replace(
        "progressDeadlineSeconds: 60",
        "progressDeadlineSeconds: 600",
    )])
    .await;
    let fin = run(
        &c,
        &runbook(
            r#"      - id: set
        run:
          kube.set_image: { deployment: api, image: "registry.local/api:2.0-slow" }
      - id: wait
        run:
          kube.rollout_status: { deployment: api }
        expect: { timeout: 2s }
"#,
        ),
    )
    .await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(fin.error_of("wait").as_deref(), Some("timed out after 2s"));
    assert!(
        fin.output
            .contains("timed out waiting for the rollout: deployment \"api\": "),
        "{}",
        fin.output
    );
    assert!(fin.output.contains("pod api-"), "{}", fin.output);
    assert!(!fin.output.contains("successfully rolled out"));

    let fin = run(
        &c,
        &runbook(
            r#"      - id: missing
        run:
          kube.rollout_status: { deployment: nope }
"#,
        ),
    )
    .await;
    assert_eq!(
        fin.error_of("missing").as_deref(),
        Some("deployment \"nope\" not found in namespace \"shop\"")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_undoes_a_scale_when_the_phase_fails() {
    let c = shop(&[
        deployment("api", 3, "registry.local/api:1.0"),
        deployment("web", 2, "registry.local/web:1.0"),
    ])
    .await;
    let yaml = r#"
name: deploy
targets:
  kube: { context: prod-east, namespace: shop }
phases:
  - id: maintenance
    on_failure: { undo: true }
    steps:
      - id: down
        run:
          kube.scale: { replicas: 0 }
      - id: migrate
        run: exit 1
"#;
    let dir = tempfile::tempdir().unwrap();
    let fin = run_rolling_back(dir.path(), yaml, c.target(None, Some("prod-east"))).await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(status_of(&fin, "down.undo"), Some(StepStatus::Succeeded));
    assert_eq!(fin.changes_of("down.undo").len(), 2);
    assert_eq!(replicas(&c, "api").await, 3);
    assert_eq!(replicas(&c, "web").await, 2);
}

/// Runs `kube.revert` of a step whose journal is `reverting`, straight through the executor.
async fn revert_directly(
    c: &Cluster,
    reverting: Vec<serde_json::Value>,
) -> (tollgate::exec::Outcome, String) {
    use tollgate::exec::{Executor, Job, KubeCall, OutputSink};
    use tollgate::runbook::kube::{KubeAction, Revert};
    let exec = KubeExec {
        target: c.target(None, Some("prod-east")),
    };
    let job = Job {
        common: tollgate::exec::JobCommon {
            step: "back".into(),
            workdir: c.dir.path().to_path_buf(),
            env: Vec::new(),
            timeout: None,
            keep_stdout: 1 << 20,
            started: None,
            environment: None,
        },
        work: tollgate::exec::Work::Kube(KubeCall {
            action: KubeAction::Revert(Revert {
                step: "earlier".into(),
                run: None,
            }),
            target_namespace: Some("shop".into()),
            reverting: Ok(tollgate::exec::Journaled::Ran(reverting)),
            started: chrono::Utc::now(),
        }),
    };
    let (tx, mut rx) = mpsc::channel(256);
    let sink = OutputSink {
        step: "back".into(),
        events: tx,
        masker: Default::default(),
        hold_stdout: false,
        last: Default::default(),
    };
    let (_cancel_tx, cancel) = tokio::sync::watch::channel(false);
    let outcome = exec.execute(&job, &sink, cancel).await;
    drop(sink);
    let mut output = String::new();
    while let Some(ev) = rx.recv().await {
        if let Event::Output { text, .. } = ev {
            output.push_str(&text);
        }
    }
    (outcome, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_deletes_what_an_apply_created_and_puts_back_what_it_changed() {
    let c = shop(&[r#"---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: shop, labels: { team: shop } }
data: { mode: "fast", extra: "added by the apply" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: fresh, namespace: shop }
data: { a: "1" }
"#
    .to_string()])
    .await;
    let (outcome, output) = revert_directly(
        &c,
        vec![
            json!({"change": "applied", "namespace": "shop", "api_version": "v1",
                "kind": "ConfigMap", "name": "fresh", "created": true}),
            json!({"change": "applied", "namespace": "shop", "api_version": "v1",
                "kind": "ConfigMap", "name": "settings", "created": false,
                "before": {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings", "namespace": "shop", "labels": {"team": "shop"}},
                    "data": {"mode": "safe"}}}),
            json!({"change": "job_ran", "namespace": "shop", "name": "migrate-x1",
                "succeeded": true, "deleted": true}),
        ],
    )
    .await;
    assert_eq!(outcome.error, None, "{output}");
    assert_eq!(outcome.exit_code, Some(0));
    assert!(
        output.contains("job/migrate-x1 (namespace shop) ran: nothing to put back"),
        "{output}"
    );
    assert!(output.contains("configmap/settings put back as it was"));
    assert!(output.contains("configmap/fresh deleted (the step had created it)"));
    // Newest first: the job, the changed config map, then the created one.
    let kinds: Vec<(&str, bool)> = outcome
        .changes
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["created"].as_bool().unwrap()))
        .collect();
    assert_eq!(kinds, vec![("settings", false), ("fresh", false)]);
    assert_eq!(
        outcome.changes[0]["before"]["data"],
        json!({"mode": "fast", "extra": "added by the apply"})
    );

    let client = c
        .target(None, Some("prod-east"))
        .checked_client()
        .await
        .unwrap()
        .0;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "shop");
    let settings = cms.get("settings").await.unwrap();
    assert_eq!(
        settings.data.unwrap(),
        [("mode".to_string(), "safe".to_string())].into()
    );
    let fresh = cms.get_opt("fresh").await.unwrap();
    assert!(
        fresh.is_none_or(|f| f.metadata.deletion_timestamp.is_some()),
        "fresh is still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_that_fails_halfway_keeps_what_it_already_put_back() {
    let c = shop(&[deployment("api", 0, "registry.local/api:1.0")]).await;
    let (outcome, output) = revert_directly(
        &c,
        vec![
            json!({"change": "scaled", "namespace": "shop", "deployment": "gone", "from": 2, "to": 0}),
            json!({"change": "scaled", "namespace": "shop", "deployment": "api", "from": 3, "to": 0}),
        ],
    )
    .await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("deployment \"gone\" not found in namespace \"shop\"")
    );
    assert!(output.contains("deployment/api scaled 0 → 3"), "{output}");
    assert_eq!(
        outcome.changes,
        vec![
            json!({"change": "scaled", "namespace": "shop", "deployment": "api", "from": 0, "to": 3})
        ]
    );
    assert_eq!(replicas(&c, "api").await, 3);
}

/// A run's journal holds AWS's changes too: `kube.revert` leaves them to `secrets.revert`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revert_leaves_aws_changes_alone() {
    let c = shop(&[deployment("api", 0, "registry.local/api:1.0")]).await;
    let put = json!({"aws": "secret_put", "id": "labelmint/production/jwt-secret",
        "version": "v2", "previous": "v1"});
    let (outcome, output) = revert_directly(
        &c,
        vec![
            json!({"change": "scaled", "namespace": "shop", "deployment": "api", "from": 2, "to": 0}),
            put.clone(),
        ],
    )
    .await;
    assert_eq!(outcome.error, None, "{output}");
    assert_eq!(replicas(&c, "api").await, 2);
    assert!(!output.contains("jwt-secret"), "{output}");
    assert_eq!(outcome.changes.len(), 1);

    let (outcome, _) = revert_directly(&c, vec![put]).await;
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "step \"earlier\" changed nothing in the cluster that can be put back: its changes are in AWS (`secrets.revert` puts them back)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_runbook_reverts_what_another_run_changed() {
    let c = shop(&[
        deployment("api", 3, "registry.local/api:1.0"),
        deployment("web", 2, "registry.local/web:1.0"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    // The incident: a run scaled everything to zero.
    let down = runbook(
        r#"      - id: stop-traffic
        run:
          kube.scale: { replicas: 0 }
"#,
    );
    let target = || c.target(None, Some("prod-east"));
    let first =
        common::sandbox_cluster::run_as(dir.path(), &down, target(), "run-deploy", &[]).await;
    assert_eq!(first.outcome, Outcome::Finished(RunStatus::Succeeded));
    assert_eq!(replicas(&c, "api").await, 0);
    // The rollback runbook, a run of its own, names that run.
    let back = r#"
name: restore traffic
targets:
  kube: { context: prod-east, namespace: shop }
variables:
  deploy_run: { description: the run whose changes are put back }
phases:
  - id: restore
    steps:
      - id: scale-back
        run:
          kube.revert: { step: stop-traffic, run: "{{ deploy_run }}" }
"#;
    let fin = common::sandbox_cluster::run_as(
        dir.path(),
        back,
        target(),
        "run-rollback",
        &[("deploy_run", "run-deploy")],
    )
    .await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Succeeded),
        "{}",
        fin.output
    );
    assert_eq!(replicas(&c, "api").await, 3);
    assert_eq!(replicas(&c, "web").await, 2);
    // A run that is not there is named.
    let fin = common::sandbox_cluster::run_as(
        dir.path(),
        back,
        target(),
        "run-rollback-2",
        &[("deploy_run", "run-nope")],
    )
    .await;
    assert_eq!(
        fin.error_of("scale-back").as_deref(),
        Some(r#"there is no run "run-nope" in this state folder (`tollgate runs` lists them)"#)
    );
}

/// A deploy run that scaled api, skipped scale-web (its `when`) and failed before `never`: its
/// journal, and its runbook kept as `deploy.yaml` (the file a revert of it reads).
async fn partial_deploy(c: &Cluster, dir: &Path) {
    let yaml = r#"
name: deploy
targets:
  kube: { context: prod-east, namespace: shop }
variables:
  scale_web: { default: "no" }
phases:
  - id: p
    steps:
      - id: scale-api
        run:
          kube.scale: { deployment: api, replicas: 1 }
      - id: scale-web
        when: scale_web == 'yes'
        run:
          kube.scale: { deployment: web, replicas: 0 }
      - id: smoke
        run: "false"
      - id: never
        run:
          kube.scale: { deployment: web, replicas: 5 }
"#;
    let mut spec = common::spec_as(dir, yaml, &[], false, "run-deploy");
    let kept = dir.join("deploy.yaml");
    std::fs::copy(&spec.runbook_path, &kept).unwrap();
    spec.runbook_path = kept;
    let mut router = Router::shell_only();
    router.kube = Some(Arc::new(KubeExec {
        target: c.target(None, Some("prod-east")),
    }));
    let fin =
        common::sandbox_cluster::run_spec(spec, router, tollgate::engine::Choice::Abort, &[]).await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(status_of(&fin, "scale-web"), Some(StepStatus::Skipped));
    assert_eq!(status_of(&fin, "never"), None);
    assert_eq!(replicas(c, "api").await, 1);
}

const REVERT_OF_RUN: &str = r#"
name: put it back
targets:
  kube: { context: prod-east, namespace: shop }
variables:
  deploy_run: { description: the run whose step is put back }
  which: { description: the step }
phases:
  - id: restore
    steps:
      - id: back
        run:
          kube.revert: { step: "{{ which }}", run: "{{ deploy_run }}" }
"#;

/// A revert of a step the named run skipped or never reached puts nothing back and succeeds,
/// saying so in one line, with no change journaled; a step id that run's runbook does not have
/// still fails, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_of_a_step_that_did_not_run_puts_nothing_back_and_succeeds() {
    let c = shop(&[
        deployment("api", 3, "registry.local/api:1.0"),
        deployment("web", 2, "registry.local/web:1.0"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    partial_deploy(&c, dir.path()).await;
    let revert = |which: &'static str, id: &'static str| {
        let target = c.target(None, Some("prod-east"));
        let dir = dir.path().to_path_buf();
        async move {
            common::sandbox_cluster::run_as(
                &dir,
                REVERT_OF_RUN,
                target,
                id,
                &[("deploy_run", "run-deploy"), ("which", which)],
            )
            .await
        }
    };
    for (which, id) in [("scale-web", "run-back-1"), ("never", "run-back-2")] {
        let fin = revert(which, id).await;
        assert!(
            fin.succeeded(),
            "{which}: {:?}\n{}",
            fin.outcome,
            fin.output
        );
        assert_eq!(
            fin.output.trim_end(),
            format!(r#"step "{which}" did not run in run run-deploy: nothing to put back"#)
        );
        assert!(fin.changes_of("back").is_empty());
        assert!(
            !fin.journal.contains(r#""event":"changed""#),
            "{}",
            fin.journal
        );
        assert_eq!(replicas(&c, "web").await, 2);
        assert_eq!(replicas(&c, "api").await, 1);
    }
    // A step that run's runbook does not have: named, with the one it may mean.
    let fin = revert("scale-apii", "run-back-3").await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(
        fin.error_of("back"),
        Some(format!(
            r#"run run-deploy's runbook {} has no step "scale-apii" (did you mean `scale-api`?)"#,
            dir.path().join("deploy.yaml").display()
        ))
    );
    // The runbook file has since lost the step: still named, and said.
    std::fs::write(
        dir.path().join("deploy.yaml"),
        runbook("      - id: scale-api\n        run:\n          kube.scale: { deployment: api, replicas: 1 }\n"),
    )
    .unwrap();
    let fin = revert("never", "run-back-4").await;
    assert_eq!(
        fin.error_of("back"),
        Some(format!(
            r#"run run-deploy's runbook {} has no step "never" (it has changed since that run)"#,
            dir.path().join("deploy.yaml").display()
        ))
    );
    // A step the run skipped needs no runbook file: its journal says so.
    std::fs::remove_file(dir.path().join("deploy.yaml")).unwrap();
    let fin = revert("scale-web", "run-back-5").await;
    assert!(fin.succeeded(), "{:?}\n{}", fin.outcome, fin.output);
    let fin = revert("never", "run-back-6").await;
    let err = fin.error_of("back").unwrap();
    assert!(
        err.starts_with(r#"cannot tell whether run run-deploy's runbook has step "never": "#)
            && err.contains("deploy.yaml: cannot read"),
        "{err}"
    );
    // The step that ran is put back as before.
    let fin = revert("scale-api", "run-back-7").await;
    assert!(fin.succeeded(), "{:?}\n{}", fin.outcome, fin.output);
    assert_eq!(replicas(&c, "api").await, 3);
    assert_eq!(fin.changes_of("back").len(), 1);
}

/// In one run too: a failure path's revert of a step its `when` skipped needs no guard of its
/// own; a revert whose step, filled from a variable, is not in the runbook fails, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_in_the_same_run_of_a_skipped_step_needs_no_guard() {
    let c = shop(&[deployment("api", 3, "registry.local/api:1.0")]).await;
    let yaml = r#"
name: deploy
targets:
  kube: { context: prod-east, namespace: shop }
variables:
  drain: { default: "no" }
  which: { default: scale-down }
phases:
  - id: p
    steps:
      - id: scale-down
        when: drain == 'yes'
        run:
          kube.scale: { deployment: api, replicas: 0 }
      - id: back
        run:
          kube.revert: { step: "{{ which }}" }
"#;
    let dir = tempfile::tempdir().unwrap();
    let target = || c.target(None, Some("prod-east"));
    let fin = common::sandbox_cluster::run_as(dir.path(), yaml, target(), "run-a", &[]).await;
    assert!(fin.succeeded(), "{:?}\n{}", fin.outcome, fin.output);
    assert_eq!(
        fin.output.trim_end(),
        r#"step "scale-down" did not run in run run-a: nothing to put back"#
    );
    assert!(fin.changes_of("back").is_empty());
    assert_eq!(replicas(&c, "api").await, 3);

    let fin = common::sandbox_cluster::run_as(
        dir.path(),
        yaml,
        target(),
        "run-b",
        &[("which", "scale-dwn")],
    )
    .await;
    assert_eq!(
        fin.error_of("back").as_deref(),
        Some(r#"this runbook has no step "scale-dwn" (did you mean `scale-down`?)"#)
    );
    // An empty step, once filled, is refused rather than read as "nothing to put back".
    let fin =
        common::sandbox_cluster::run_as(dir.path(), yaml, target(), "run-c", &[("which", "")])
            .await;
    assert_eq!(
        fin.error_of("back").as_deref(),
        Some("the revert names no step (`step` is empty once its variables are filled)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_image_pins_the_digest_a_push_captured_and_refuses_anything_else() {
    let c = shop(&[deployment("api", 1, "registry.local/api:1.0")]).await;
    let digest = format!("sha256:{}", "ab12".repeat(16));
    let yaml = format!(
        r#"
name: deploy what was pushed
targets:
  kube: {{ context: prod-east, namespace: shop }}
variables:
  digest: {{ default: "{digest}" }}
  nodigest: {{ default: "latest" }}
phases:
  - id: p
    steps:
      - id: pinned
        run:
          kube.set_image: {{ deployment: api, image: "registry.local/api:1.1", digest: "{{{{ digest }}}}" }}
      - id: rollout
        run:
          kube.rollout_status: {{ deployment: api }}
        expect: {{ timeout: 30s }}
      - id: not-a-digest
        run:
          kube.set_image: {{ deployment: api, image: "registry.local/api:1.2", digest: "{{{{ nodigest }}}}" }}
"#
    );
    let fin = run(&c, &yaml).await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Failed),
        "{}",
        fin.output
    );
    let pinned = format!("registry.local/api:1.1@{digest}");
    assert_eq!(image(&c, "api", 0).await, pinned);
    assert!(
        fin.output.contains(&format!(
            "deployment/api container=app: registry.local/api:1.0 → {pinned}"
        )),
        "{}",
        fin.output
    );
    assert_eq!(status_of(&fin, "rollout"), Some(StepStatus::Succeeded));
    let err = fin.error_of("not-a-digest").unwrap();
    assert!(err.contains("`latest` is not an image digest"), "{err}");
    // Nothing was changed by the refused step.
    assert_eq!(image(&c, "api", 0).await, pinned);
}

/// Two restarts of one deployment within a second both restart it: the second value differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_restarts_in_one_second_both_change_the_template() {
    let c = shop(&[deployment("api", 1, "registry.local/api:1.0")]).await;
    let fin = run(
        &c,
        &runbook(
            r#"      - id: first
        run:
          kube.restart: { deployment: api }
      - id: second
        run:
          kube.restart: { deployment: api }
"#,
        ),
    )
    .await;
    assert_eq!(
        fin.outcome,
        Outcome::Finished(RunStatus::Succeeded),
        "{}",
        fin.output
    );
    let first = fin.changes_of("first")[0]["to"].clone();
    let second = fin.changes_of("second");
    assert_eq!(second[0]["from"], first, "{second:?}");
    assert_ne!(second[0]["to"], first, "{second:?}");
}
