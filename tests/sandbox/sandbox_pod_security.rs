//! Pod Security admission in the sandbox, seen through kube-rs as from a real API server: a
//! namespace's `pod-security.kubernetes.io/enforce` label refuses a pod created directly (403 with
//! the plugin's text) or by the Job and ReplicaSet controllers (a FailedCreate event, no pod);
//! a compliant pod, and every pod of a privileged or unlabelled namespace, are created.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tollgate_sandbox::{Config, Sandbox};

use super::sandbox_controllers::{wait_for, wait_for_within};

/// What the plugin answers for a pod with one container `app` and no security context.
fn refusal(pod: &str, level: &str) -> String {
    format!(
        "pods \"{pod}\" is forbidden: violates PodSecurity \"{level}\": \
         allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), \
         unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), \
         runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), \
         seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
    )
}

async fn start() -> (Sandbox, Client) {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    (sb, client)
}

async fn namespace(client: &Client, name: &str, labels: Value) {
    let nss: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
}

fn plain_spec() -> Value {
    json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "migrate:1"}]})
}

fn restricted_spec() -> Value {
    json!({
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": true, "runAsUser": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "migrate:1", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
    })
}

fn pod(name: &str, spec: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_create_is_refused_with_the_plugins_text_and_a_compliant_pod_is_not() {
    let (_sb, client) = start().await;
    namespace(
        &client,
        "prod",
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "prod");
    let err = pods
        .create(&PostParams::default(), &pod("web", plain_spec()))
        .await
        .expect_err("refused");
    let kube::Error::Api(status) = err else {
        panic!("not an API error: {err}")
    };
    assert_eq!(status.code, 403);
    assert_eq!(status.reason, "Forbidden");
    assert_eq!(status.message, refusal("web", "restricted:latest"));
    assert!(pods.get_opt("web").await.unwrap().is_none());

    pods.create(&PostParams::default(), &pod("web", restricted_spec()))
        .await
        .expect("a restricted pod is admitted");

    // The version label names the version in the message.
    namespace(
        &client,
        "pinned",
        json!({"pod-security.kubernetes.io/enforce": "restricted",
               "pod-security.kubernetes.io/enforce-version": "v1.30"}),
    )
    .await;
    let pinned: Api<Pod> = Api::namespaced(client.clone(), "pinned");
    let kube::Error::Api(status) = pinned
        .create(&PostParams::default(), &pod("web", plain_spec()))
        .await
        .expect_err("refused")
    else {
        panic!("not an API error")
    };
    assert_eq!(status.message, refusal("web", "restricted:v1.30"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_and_unlabelled_namespaces_admit_anything_and_warn_says_what_would_fail() {
    let (_sb, client) = start().await;
    namespace(
        &client,
        "infra",
        json!({"pod-security.kubernetes.io/enforce": "privileged"}),
    )
    .await;
    let host = json!({"hostNetwork": true, "containers": [{"name": "app", "image": "agent:1",
        "securityContext": {"privileged": true}}]});
    for ns in ["infra", "default"] {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        pods.create(&PostParams::default(), &pod("agent", host.clone()))
            .await
            .unwrap_or_else(|e| panic!("{ns} admits a privileged pod: {e}"));
    }
    // Baseline refuses the same pod; a plain one passes baseline.
    namespace(
        &client,
        "team",
        json!({"pod-security.kubernetes.io/enforce": "baseline",
               "pod-security.kubernetes.io/warn": "restricted"}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team");
    let kube::Error::Api(status) = pods
        .create(&PostParams::default(), &pod("agent", host))
        .await
        .expect_err("baseline refuses it")
    else {
        panic!("not an API error")
    };
    assert_eq!(
        status.message,
        "pods \"agent\" is forbidden: violates PodSecurity \"baseline:latest\": host namespaces (hostNetwork=true), \
         privileged (container \"app\" must not set securityContext.privileged=true)"
    );
    // Created under baseline, with the restricted warning in the `Warning` header.
    let body = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "plain"}, "spec": plain_spec()}))
    .unwrap();
    let req = hyper::Request::post("/api/v1/namespaces/team/pods")
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let res = client.send(req.map(Into::into)).await.unwrap();
    assert_eq!(res.status(), 201);
    let warnings: Vec<String> = res
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let refused = refusal("plain", "restricted:latest");
    let rest = refused
        .strip_prefix("pods \"plain\" is forbidden: violates ")
        .unwrap();
    let want = format!(
        "299 - \"{}\"",
        format!("would violate {rest}").replace('"', "\\\"")
    );
    assert_eq!(warnings, [want]);
}

/// Events about `kind/name` with `reason`, as `kubectl describe` lists them.
async fn events_of(client: &Client, ns: &str, kind: &str, name: &str, reason: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let fields = format!("involvedObject.kind={kind},involvedObject.name={name},reason={reason}");
    events
        .list(&ListParams::default().fields(&fields))
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_in_a_restricted_namespace_records_failed_create_and_gets_no_pod() {
    let (_sb, client) = start().await;
    namespace(
        &client,
        "prod",
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    )
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "prod");
    let job = |name: &str, spec: Value| -> Job {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": spec}}}))
        .unwrap()
    };
    jobs.create(&PostParams::default(), &job("migrate", plain_spec()))
        .await
        .expect("the Job itself is admitted");
    let ev = wait_for("a FailedCreate event on the job", || async {
        events_of(&client, "prod", "Job", "migrate", "FailedCreate")
            .await
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    let msg = ev.message.unwrap_or_default();
    let pod_name = msg
        .strip_prefix("Error creating: pods \"")
        .and_then(|m| m.split_once('"'))
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!(pod_name.starts_with("migrate-"), "{msg}");
    assert_eq!(
        msg,
        format!(
            "Error creating: {}",
            refusal(&pod_name, "restricted:latest")
        )
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "prod");
    assert!(
        pods.list(&ListParams::default().labels("job-name=migrate"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let j = jobs.get("migrate").await.unwrap();
    let st = j.status.unwrap_or_default();
    assert_eq!(st.active, None);
    assert!(
        st.conditions
            .unwrap_or_default()
            .iter()
            .all(|c| c.type_ != "Complete" && c.type_ != "Failed"),
        "the job neither completes nor fails"
    );

    // The same job made restricted runs to completion.
    jobs.create(
        &PostParams::default(),
        &job("migrate-ok", restricted_spec()),
    )
    .await
    .unwrap();
    wait_for("the restricted job to complete", || async {
        let j = jobs.get("migrate-ok").await.ok()?;
        j.status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_replica_set_records_failed_create_and_replica_failure() {
    let (_sb, client) = start().await;
    namespace(
        &client,
        "prod",
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    )
    .await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "prod");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}}))
    .unwrap();
    deploys.create(&PostParams::default(), &d).await.unwrap();
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "prod");
    let (rs, cond) = wait_for("a ReplicaFailure condition on the replica set", || async {
        let rs = rss
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()?;
        let c = rs
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure")?
            .clone();
        Some((rs, c))
    })
    .await;
    assert_eq!(cond.status, "True");
    assert_eq!(cond.reason.as_deref(), Some("FailedCreate"));
    let msg = cond.message.unwrap_or_default();
    assert!(
        msg.starts_with(&format!("pods \"{}-", rs.name_any()))
            && msg.contains("is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"),
        "{msg}"
    );
    let evs = events_of(
        &client,
        "prod",
        "ReplicaSet",
        &rs.name_any(),
        "FailedCreate",
    )
    .await;
    assert!(
        evs.iter().any(|e| e.message.as_deref().is_some_and(|m| m
            .starts_with("Error creating: pods \"")
            && m.contains("violates PodSecurity"))),
        "{evs:?}"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "prod");
    assert!(
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixtures_pod_that_the_namespace_refuses_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.yaml");
    std::fs::write(
        &path,
        r#"apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: prod}
spec:
  containers: [{name: app, image: "busybox:1"}]
---
apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels: {pod-security.kubernetes.io/enforce: restricted}
"#,
    )
    .unwrap();
    let err = Sandbox::start(Config {
        fixtures: vec![path.clone()],
        ..Config::fast()
    })
    .await
    .err()
    .expect("the fixture is refused");
    let text = err.to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("document 1 (Pod debug)")
            && text.contains(
                "pods \"debug\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"
            ),
        "{text}"
    );
}

/// A replica count the API admits but no cluster holds (2^31 - 1) fills the sandbox up to its
/// pod quota and no further: the replica set says why it creates no more, and the API still
/// answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_replica_count_stops_at_the_sandboxs_pod_quota() {
    let (_sb, client) = start().await;
    namespace(&client, "big", json!({})).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "big");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": i32::MAX, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]}}}}))
    .unwrap();
    deploys.create(&PostParams::default(), &d).await.unwrap();
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "big");
    // 5,000 pods made by the controllers: give a loaded machine time.
    let msg = wait_for_within(
        "the replica set's FailedCreate for the quota",
        std::time::Duration::from_secs(180),
        || async {
            let rs = rss
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .next()?;
            rs.status?
                .conditions?
                .into_iter()
                .find(|c| {
                    c.type_ == "ReplicaFailure" && c.reason.as_deref() == Some("FailedCreate")
                })?
                .message
                // Among 5,000 generated names two may collide (`already exists`, tried again).
                .filter(|m| m.contains("exceeded quota"))
        },
    )
    .await;
    assert!(
        msg.contains("is forbidden: exceeded quota: sandbox-pods, requested: pods=1, used: pods=5000, limited: pods=5000"),
        "{msg}"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "big");
    let n = pods.list(&ListParams::default()).await.unwrap().items.len();
    assert_eq!(n, tollgate_sandbox::store::MAX_PODS);
}
