//! `kube.apply`, `kube.get`, `kube.wait` and `kube.job` against a sandbox cluster, through a
//! headless run of a runbook.

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;

use crate::common::sandbox_cluster::{Cluster, Finished, run_in};

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - {name: api, image: "nginx:1.25"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: api-config, namespace: shop}
data: {mode: fast}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"#;

fn write(c: &Cluster, path: &str, text: &str) {
    let p = c.dir.path().join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn runbook(steps: &str) -> String {
    format!(
        "name: steps\ntargets:\n  kube: {{ context: prod-east, namespace: default }}\nphases:\n  - id: main\n    steps:\n{steps}"
    )
}

async fn run(c: &Cluster, steps: &str) -> Finished {
    run_at(c, "", steps).await
}

/// A run in the folder `sub` of the cluster's folder (each run its own journal).
async fn run_at(c: &Cluster, sub: &str, steps: &str) -> Finished {
    let dir = c.dir.path().join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    run_in(&dir, &runbook(steps), c.target(None, Some("prod-east"))).await
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_shows_what_it_configured_then_leaves_it_unchanged() {
    let c = Cluster::start("prod-east", "default").await;
    write(&c, "manifests/app.yaml", DEPLOYMENT);
    write(
        &c,
        "v2.yaml",
        &DEPLOYMENT.replace("nginx:1.25", "nginx:1.26"),
    );
    let fin = run(
        &c,
        r#"      - id: create
        run:
          kube.apply: { files: [manifests] }
      - id: edit
        run: cp v2.yaml manifests/app.yaml
      - id: configure
        run:
          kube.apply: { files: [manifests/app.yaml] }
      - id: again
        run:
          kube.apply: { files: [manifests/app.yaml] }
        expect: { output_contains: "deployment.apps/api unchanged" }
"#,
    )
    .await;
    assert_eq!(fin.error_of("again"), None, "{}", fin.output);
    // The namespace goes first, whatever the file's order.
    let created: Vec<&str> = fin
        .output
        .lines()
        .filter(|l| l.ends_with(" created"))
        .collect();
    assert_eq!(
        created,
        [
            "namespace/shop created",
            "deployment.apps/api created",
            "configmap/api-config created"
        ],
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains(
            "deployment.apps/api configured (spec.template.spec.containers[0].image: nginx:1.25 → nginx:1.26)"
        ),
        "{}",
        fin.output
    );
    assert!(fin.output.contains("configmap/api-config unchanged"));
    let made = fin.changes_of("create");
    assert_eq!(made.len(), 3);
    assert!(made.iter().all(|c| field(c, "created") == true));
    let changed = fin.changes_of("configure");
    assert_eq!(changed.len(), 1, "{changed:?}");
    let ch = &changed[0];
    assert_eq!(field(ch, "change"), "applied");
    assert_eq!(field(ch, "kind"), "Deployment");
    assert_eq!(field(ch, "namespace"), "shop");
    assert_eq!(field(ch, "created"), false);
    let before = field(ch, "before");
    assert_eq!(
        before.pointer("/spec/template/spec/containers/0/image"),
        Some(&Value::from("nginx:1.25"))
    );
    assert!(before.get("status").is_none());
    assert!(before.pointer("/metadata/managedFields").is_none());
    assert!(before.pointer("/metadata/resourceVersion").is_none());
    assert!(fin.changes_of("again").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_broken_manifests_before_sending_anything() {
    let c = Cluster::start("prod-east", "default").await;
    write(
        &c,
        "bad/syntax.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [oops\n",
    );
    write(
        &c,
        "bad/nokind.yaml",
        "# a config map\napiVersion: v1\nmetadata: {name: x}\n",
    );
    write(
        &c,
        "bad/invalid.yaml",
        &DEPLOYMENT
            .split("---")
            .next()
            .unwrap()
            .replace("replicas: 1", "replicas: -1")
            .replace("namespace: shop", "namespace: default"),
    );
    let apply = |id: &str, file: &str| {
        format!("      - id: {id}\n        run:\n          kube.apply: {{ files: [../{file}] }}\n")
    };
    let fin = run_at(&c, "a", &apply("syntax", "bad/syntax.yaml")).await;
    let e = fin.error_of("syntax").expect("syntax error");
    assert!(e.starts_with("../bad/syntax.yaml:7:"), "{e}");
    let fin = run_at(&c, "b", &apply("nokind", "bad/nokind.yaml")).await;
    let e = fin.error_of("nokind").expect("no kind");
    assert_eq!(e, "../bad/nokind.yaml:2: `kind` is missing");
    let fin = run_at(&c, "c", &apply("invalid", "bad/invalid.yaml")).await;
    let e = fin.error_of("invalid").expect("422");
    assert!(
        e.contains("../bad/invalid.yaml:2: deployment.apps/api:") && e.contains("(422)"),
        "{e}"
    );
    assert!(e.contains("spec.replicas"), "{e}");
    // Nothing of the broken files was applied (the config map before the syntax error included).
    let client = c
        .target(None, Some("prod-east"))
        .checked_client()
        .await
        .unwrap()
        .0;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client, "default");
    assert!(cms.get_opt("ok").await.unwrap().is_none());
    assert!(fin.changes_of("invalid").is_empty());
}

#[test]
fn kustomize_without_a_binary_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let err =
        tollgate::exec::kube::apply::kustomize_program(Some(empty.path().as_os_str())).unwrap_err();
    assert_eq!(
        err,
        "kustomize overlays need a kustomize or kubectl binary on PATH"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_captures_a_jsonpath_result_for_later_steps() {
    let c = Cluster::start("prod-east", "default").await;
    c.load(
        r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  rules: [{host: web.example.com}]
status:
  loadBalancer:
    ingress: [{hostname: lb-1234.elb.example.com}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: default, labels: {app: web}}
data: {color: blue}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: default, labels: {app: other}}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: default}
data: {password: c3VwZXJzZWNyZXQ=}
"#,
    );
    let fin = run(
        &c,
        r#"      - id: host
        run:
          kube.get: { resource: ing/web, jsonpath: "{.status.loadBalancer.ingress[0].hostname}" }
        capture: [{ var: host, regex: "(.+)" }]
      - id: use
        run: echo "the host is {{ host }}"
      - id: list
        run:
          kube.get: { resource: configmaps, selector: app=web }
        expect: { output_contains: '"name": "web-config"', output_not_contains: '"name": "other"' }
      - id: names
        run:
          kube.get: { resource: cm, jsonpath: '{range .items[*]}{.metadata.name}={.data.color}{"\n"}{end}' }
        expect: { output_contains: "web-config=blue" }
      - id: secret
        run:
          kube.get: { resource: secret/db }
        expect: { output_contains: '"password": "<masked>"', output_not_contains: c3VwZXJzZWNyZXQ= }
      - id: missing
        run:
          kube.get: { resource: deploy/nope }
"#,
    )
    .await;
    assert_eq!(fin.error_of("host"), None);
    assert!(
        fin.output.contains("the host is lb-1234.elb.example.com\n"),
        "{}",
        fin.output
    );
    for s in ["list", "names", "secret"] {
        assert_eq!(fin.error_of(s), None, "{s}: {}", fin.output);
    }
    assert!(!fin.output.contains("c3VwZXJzZWNyZXQ="));
    let e = fin.error_of("missing").expect("not found");
    assert!(
        e.contains("deployment.apps/nope") && e.contains("not found"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_counts_nodes_and_says_what_is_missing_at_the_timeout() {
    let c = Cluster::start("prod-east", "default").await;
    let fin = run(
        &c,
        r#"      - id: one
        run:
          kube.wait: { resource: nodes, condition: Ready, count: 1 }
      - id: five
        run:
          kube.wait: { resource: no, condition: Ready, count: 5 }
        expect: { timeout: 1s }
"#,
    )
    .await;
    assert_eq!(fin.error_of("one"), None, "{}", fin.output);
    assert!(fin.output.contains("1/1 nodes Ready\n"), "{}", fin.output);
    assert!(fin.output.contains("1/1 nodes Ready (waiting for 5)\n"));
    assert_eq!(fin.error_of("five").as_deref(), Some("timed out after 1s"));
    assert!(
        fin.output
            .contains("timed out waiting for nodes Ready: 1 of 5 wanted (1 seen); only 1 exist"),
        "{}",
        fin.output
    );
}

const JOBS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: seed}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: seed, image: "seed:1.0"}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_a_job_to_complete_and_stop_at_one_that_failed() {
    let c = Cluster::start("prod-east", "default").await;
    write(&c, "ok/job.yaml", JOBS);
    write(
        &c,
        "bad/job.yaml",
        &JOBS
            .replace("seed:1.0", "seed:fail")
            .replace("name: seed}", "name: broken}"),
    );
    let fin = run(
        &c,
        r#"      - id: apply
        run:
          kube.apply: { files: [ok/job.yaml, bad/job.yaml] }
      - id: done
        run:
          kube.wait: { resource: job/seed, condition: Complete }
        expect: { timeout: 30s }
      - id: failed
        run:
          kube.wait: { resource: jobs/broken, condition: condition=Complete }
        expect: { timeout: 30s }
"#,
    )
    .await;
    assert_eq!(fin.error_of("done"), None, "{}", fin.output);
    assert!(fin.output.contains("1/1 jobs Complete\n"), "{}", fin.output);
    let e = fin.error_of("failed").expect("failed");
    assert!(
        e.starts_with("job/broken failed: BackoffLimitExceeded"),
        "{e}"
    );
}

async fn jobs_left(c: &Cluster) -> Vec<String> {
    let client = c
        .target(None, Some("prod-east"))
        .checked_client()
        .await
        .unwrap()
        .0;
    let jobs: Api<Job> = Api::namespaced(client, "default");
    jobs.list(&ListParams::default().labels("app.kubernetes.io/managed-by=tollgate"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|j| j.metadata.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_streams_its_logs_reports_and_is_deleted() {
    let c = Cluster::start("prod-east", "default").await;
    let fin = run(
        &c,
        r#"      - id: migrate
        run:
          kube.job: { name: migrate, image: "migrate:2.1", command: [migrate, up], env: { LEVEL: info } }
        expect: { timeout: 30s, output_contains: "done: all work items processed" }
"#,
    )
    .await;
    assert_eq!(fin.error_of("migrate"), None, "{}", fin.output);
    assert!(
        fin.output.contains("INFO  migrate 2.1 starting"),
        "{}",
        fin.output
    );
    assert!(fin.output.contains("processed batch 1"), "{}", fin.output);
    // Each line once, though the follow may have been resumed.
    assert_eq!(fin.output.matches("loaded work items").count(), 1);
    let changes = fin.changes_of("migrate");
    assert_eq!(changes.len(), 1);
    let name = field(&changes[0], "name").as_str().unwrap().to_string();
    assert!(name.starts_with("migrate-") && name.len() > "migrate-".len());
    assert_eq!(field(&changes[0], "succeeded"), true);
    assert_eq!(field(&changes[0], "deleted"), true);
    assert!(
        fin.output.contains(&format!("job/{name} completed in ")),
        "{}",
        fin.output
    );
    assert!(jobs_left(&c).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_reports_why_and_is_deleted_too() {
    let c = Cluster::start("prod-east", "default").await;
    let fin = run(
        &c,
        r#"      - id: migrate
        run:
          kube.job: { name: migrate, image: "migrate:fail" }
        expect: { timeout: 30s }
"#,
    )
    .await;
    let e = fin.error_of("migrate").expect("failed");
    assert!(e.contains("failed: BackoffLimitExceeded"), "{e}");
    assert!(e.contains("exit code 1"), "{e}");
    assert!(
        fin.output.contains("ERROR step 2/3 failed: exit status 1"),
        "{}",
        fin.output
    );
    let ch = &fin.changes_of("migrate")[0];
    assert_eq!(field(ch, "succeeded"), false);
    assert_eq!(field(ch, "deleted"), true);
    assert!(jobs_left(&c).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_job_stays() {
    let c = Cluster::start("prod-east", "default").await;
    let fin = run(
        &c,
        r#"      - id: kept
        run:
          kube.job: { name: keepme, image: "migrate:1", keep: true }
        expect: { timeout: 30s }
"#,
    )
    .await;
    assert_eq!(fin.error_of("kept"), None, "{}", fin.output);
    let ch = &fin.changes_of("kept")[0];
    assert_eq!(field(ch, "deleted"), false);
    let left = jobs_left(&c).await;
    assert_eq!(left, [field(ch, "name").as_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secrets_values_never_reach_the_journal_and_its_change_is_not_put_back_blind() {
    let c = Cluster::start("prod-east", "default").await;
    c.namespace("shop");
    let secret = |v: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: app-secrets, namespace: shop}}\nstringData: {{DATABASE_URL: \"{v}\"}}\n"
        )
    };
    write(
        &c,
        "s1.yaml",
        &secret("postgres://u:first-Planted-9Xq@db/app"),
    );
    write(
        &c,
        "s2.yaml",
        &secret("postgres://u:second-Planted-7Kz@db/app"),
    );
    let fin = run(
        &c,
        r#"      - id: create
        run:
          kube.apply: { files: [s1.yaml] }
      - id: change
        run:
          kube.apply: { files: [s2.yaml] }
      - id: put-back
        run:
          kube.revert: { step: change }
"#,
    )
    .await;
    let err = fin
        .error_of("put-back")
        .expect("the revert of a Secret refuses");
    assert!(
        err.contains("secret/app-secrets cannot be put back: its earlier values are secret"),
        "{err}"
    );
    assert_eq!(fin.changes_of("change").len(), 1);
    // Neither value, nor its base64, is anywhere in the journal.
    let journal = std::fs::read_to_string(tollgate::engine::journal::journal_path(
        &c.dir.path().join("state"),
        "run-1",
    ))
    .unwrap();
    use base64::Engine as _;
    for planted in ["first-Planted-9Xq", "second-Planted-7Kz"] {
        assert!(!journal.contains(planted), "{planted} in the journal");
        let whole = base64::engine::general_purpose::STANDARD
            .encode(format!("postgres://u:{planted}@db/app"));
        assert!(
            !journal.contains(&whole),
            "base64 of {planted} in the journal"
        );
    }
}

/// A revert of an apply puts the object back only as the apply left it: a change made since (here
/// a scale) is named and left, and the revert fails; once that change is put back first, the
/// apply's own revert goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_of_an_apply_leaves_an_object_changed_since() {
    let c = Cluster::start("prod-east", "default").await;
    write(&c, "v1.yaml", DEPLOYMENT);
    write(
        &c,
        "v2.yaml",
        &DEPLOYMENT.replace("nginx:1.25", "nginx:1.26"),
    );
    let steps = |tail: &str| {
        format!(
            r#"      - id: create
        run:
          kube.apply: {{ files: [../v1.yaml] }}
      - id: configure
        run:
          kube.apply: {{ files: [../v2.yaml] }}
      - id: scale
        run:
          kube.scale: {{ deployment: api, namespace: shop, replicas: 3 }}
{tail}"#
        )
    };
    let fin = run_at(
        &c,
        "early",
        &steps(
            r#"      - id: put-back
        run:
          kube.revert: { step: configure }
"#,
        ),
    )
    .await;
    let err = fin.error_of("put-back").expect("the revert refuses");
    assert_eq!(
        err,
        "deployment/api changed since the step applied it (spec.replicas: 1 → 3); left as it is",
        "{}",
        fin.output
    );
    assert!(fin.changes_of("put-back").is_empty());
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(
        c.target(None, Some("prod-east"))
            .checked_client()
            .await
            .unwrap()
            .0,
        "shop",
    );
    let api = deployments.get("api").await.unwrap();
    let spec = api.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(
        spec.template.spec.unwrap().containers[0].image.as_deref(),
        Some("nginx:1.26")
    );

    // Newest first: the scale, then the apply.
    let fin = run_at(
        &c,
        "in-order",
        &steps(
            r#"      - id: unscale
        run:
          kube.revert: { step: scale }
      - id: put-back
        run:
          kube.revert: { step: configure }
"#,
        ),
    )
    .await;
    assert!(
        fin.succeeded(),
        "{}\n{:?}",
        fin.output,
        fin.error_of("put-back")
    );
    let spec = deployments.get("api").await.unwrap().spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.template.spec.unwrap().containers[0].image.as_deref(),
        Some("nginx:1.25")
    );
}
