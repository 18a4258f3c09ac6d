//! The sandbox's Argo Rollouts controller, observed through kube-rs as `kubectl argo rollouts`
//! and a runbook's steps would observe it: the Rollout CRD applied, a Rollout's canary stepped
//! and promoted with the plugin's own patches, paused with and without a duration, aborted and
//! retried, promoted in full; a blue-green switched after its preview is ready; a crash-looping
//! canary past its progress deadline; spec.restartAt. A watcher follows every state of the
//! Rollout and checks what it can read in each.
//!
//! Nothing waits by sleeping: every wait is on a condition, with a deadline (`wait_for`).

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tollgate_sandbox::{Config, Sandbox};

use super::sandbox_controllers::{is_ready, wait_for};

const HASH: &str = "rollouts-pod-template-hash";

fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

/// A sandbox with the Argo Rollouts CRD applied, and the Rollouts API of `default`.
async fn start() -> (Sandbox, Client, Api<DynamicObject>) {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    sb.apply_yaml(
        tollgate_sandbox::crds::ARGO_ROLLOUTS,
        "crds/argo-rollouts.yaml",
    )
    .expect("the Argo Rollouts CRD applies");
    let api = Api::namespaced_with(client.clone(), "default", &rollout_resource());
    wait_for("Rollouts to be served", || {
        let api = api.clone();
        async move { api.list(&ListParams::default()).await.ok().map(|_| ()) }
    })
    .await;
    (sb, client, api)
}

async fn services(client: &Client, names: &[&str]) {
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    for n in names {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": n},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }))
        .expect("service");
        api.create(&PostParams::default(), &svc)
            .await
            .expect("service created");
    }
}

fn canary(replicas: i64, steps: Value, extra: Value) -> DynamicObject {
    let mut spec = json!({
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                                "steps": steps}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    rollout_object(spec)
}

fn rollout_object(spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"}, "spec": spec,
    }))
    .expect("rollout")
}

fn status(ro: &DynamicObject) -> &Value {
    ro.data.get("status").unwrap_or(&Value::Null)
}

fn st_str<'a>(ro: &'a DynamicObject, p: &str) -> &'a str {
    status(ro).pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn st_int(ro: &DynamicObject, p: &str) -> i64 {
    status(ro).pointer(p).and_then(Value::as_i64).unwrap_or(-1)
}

/// Wait until the Rollout satisfies `f`; the Rollout then.
async fn until(
    api: &Api<DynamicObject>,
    what: &str,
    f: impl Fn(&DynamicObject) -> bool,
) -> DynamicObject {
    wait_for(what, || {
        let api = api.clone();
        let ok = &f;
        async move {
            let ro = api.get("web").await.ok()?;
            ok(&ro).then_some(ro)
        }
    })
    .await
}

fn phase_is(phase: &'static str) -> impl Fn(&DynamicObject) -> bool {
    move |ro| st_str(ro, "/phase") == phase && observed(ro)
}

/// The status is of the current generation.
fn observed(ro: &DynamicObject) -> bool {
    st_str(ro, "/observedGeneration") == ro.metadata.generation.unwrap_or(0).to_string()
}

async fn replicas_of(client: &Client, hash: &str) -> i64 {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = api.get(&format!("web-{hash}")).await.expect("replica set");
    rs.spec.and_then(|s| s.replicas).map_or(-1, i64::from)
}

async fn selector_of(client: &Client, svc: &str) -> String {
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let s = api.get(svc).await.expect("service");
    s.spec
        .and_then(|s| s.selector)
        .and_then(|m| m.get(HASH).cloned())
        .unwrap_or_default()
}

async fn set_image(api: &Api<DynamicObject>, image: &str) {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("image changed");
}

/// The status patches `kubectl argo rollouts` sends (pkg/kubectl-argo-rollouts/cmd/…).
async fn plugin_status_patch(api: &Api<DynamicObject>, patch: Value) {
    api.patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("status patched");
}

/// `promote` of a Rollout paused at a step: `{"status":{"pauseConditions":null}}`.
async fn promote(api: &Api<DynamicObject>) {
    plugin_status_patch(api, json!({"status": {"pauseConditions": null}})).await;
}

/// Every state of the Rollout a watcher saw: (phase, currentStepIndex, canary weight, stable
/// weight); the watcher fails the test (through `errors`) if a state's weights are unreadable.
type State = (String, i64, i64, i64);

#[derive(Clone, Default)]
struct Watcher {
    states: Arc<Mutex<Vec<State>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    fn start(api: &Api<DynamicObject>) -> (Watcher, tokio::task::JoinHandle<()>) {
        let w = Watcher::default();
        let me = w.clone();
        let api = api.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(ev) = stream.next().await {
                let Ok(watcher::Event::Apply(ro) | watcher::Event::InitApply(ro)) = ev else {
                    continue;
                };
                if st_str(&ro, "/phase").is_empty() {
                    continue;
                }
                let cw = st_int(&ro, "/canary/weights/canary/weight");
                let sw = st_int(&ro, "/canary/weights/stable/weight");
                if cw < 0 || sw < 0 || cw + sw != 100 {
                    me.errors
                        .lock()
                        .unwrap()
                        .push(format!("weights unreadable: {}", status(&ro)));
                }
                me.states.lock().unwrap().push((
                    st_str(&ro, "/phase").to_string(),
                    st_int(&ro, "/currentStepIndex"),
                    cw,
                    sw,
                ));
            }
        });
        (w, task)
    }

    fn states(&self) -> Vec<State> {
        self.states.lock().unwrap().clone()
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_canary_is_promoted_step_by_step() {
    let (_sb, client, api) = start().await;
    services(&client, &["web-canary", "web-stable"]).await;
    let steps = json!([{"setWeight": 5}, {"pause": {}}, {"setWeight": 25}, {"pause": {}},
                       {"setWeight": 50}, {"pause": {}}]);
    let (watch, task) = Watcher::start(&api);
    api.create(&PostParams::default(), &canary(20, steps, json!({})))
        .await
        .expect("rollout created");
    let ro = until(&api, "the first deploy to be Healthy", phase_is("Healthy")).await;
    let stable = st_str(&ro, "/stableRS").to_string();
    assert_eq!(
        st_int(&ro, "/currentStepIndex"),
        6,
        "the first deploy skips the steps"
    );
    set_image(&api, "web:2").await;
    for (index, weight, canary_pods, stable_pods) in
        [(1, 5, 1, 19), (3, 25, 5, 15), (5, 50, 10, 10)]
    {
        let ro = until(&api, &format!("the pause at step {index}"), |ro| {
            phase_is("Paused")(ro) && st_int(ro, "/currentStepIndex") == index
        })
        .await;
        let hash = st_str(&ro, "/currentPodHash").to_string();
        assert_ne!(hash, stable);
        assert_eq!(st_str(&ro, "/message"), "CanaryPauseStep");
        assert_eq!(st_str(&ro, "/pauseConditions/0/reason"), "CanaryPauseStep");
        assert_eq!(status(&ro)["controllerPause"], json!(true));
        assert_eq!(st_int(&ro, "/canary/weights/canary/weight"), weight);
        assert_eq!(st_int(&ro, "/canary/weights/stable/weight"), 100 - weight);
        assert_eq!(st_str(&ro, "/canary/weights/canary/podTemplateHash"), hash);
        assert_eq!(
            st_str(&ro, "/canary/weights/stable/podTemplateHash"),
            stable
        );
        assert_eq!(replicas_of(&client, &hash).await, canary_pods);
        assert_eq!(replicas_of(&client, &stable).await, stable_pods);
        assert_eq!(selector_of(&client, "web-canary").await, hash);
        assert_eq!(selector_of(&client, "web-stable").await, stable);
        promote(&api).await;
    }
    let ro = until(&api, "the canary to be the stable", |ro| {
        phase_is("Healthy")(ro) && st_str(ro, "/stableRS") == st_str(ro, "/currentPodHash")
    })
    .await;
    let hash = st_str(&ro, "/currentPodHash").to_string();
    assert_eq!(st_int(&ro, "/currentStepIndex"), 6);
    assert_eq!(replicas_of(&client, &hash).await, 20);
    wait_for("the old stable to scale to 0", || {
        let client = client.clone();
        let stable = stable.clone();
        async move { (replicas_of(&client, &stable).await == 0).then_some(()) }
    })
    .await;
    // The stable Service follows status.stableRS on the next reconcile, as in Argo.
    wait_for("the stable Service on the new pods", || {
        let client = client.clone();
        let hash = hash.clone();
        async move { (selector_of(&client, "web-stable").await == hash).then_some(()) }
    })
    .await;
    task.abort();
    assert!(watch.errors().is_empty(), "{:#?}", watch.errors());
    let states = watch.states();
    for want in [(1, 5), (3, 25), (5, 50)] {
        assert!(
            states.iter().any(|s| s.0 == "Paused" && (s.1, s.2) == want),
            "the watcher saw no Paused state at step {} with weight {}: {states:?}",
            want.0,
            want.1
        );
    }
    assert!(states.iter().any(|s| s.0 == "Progressing"));
}

#[tokio::test]
async fn a_pause_with_a_duration_ends_by_itself() {
    let (_sb, client, api) = start().await;
    services(&client, &["web-canary", "web-stable"]).await;
    let steps = json!([{"setWeight": 50}, {"pause": {"duration": "30s"}}]);
    api.create(&PostParams::default(), &canary(2, steps, json!({})))
        .await
        .expect("rollout created");
    until(&api, "Healthy", phase_is("Healthy")).await;
    set_image(&api, "web:2").await;
    let paused = until(&api, "the timed pause", |ro| {
        phase_is("Paused")(ro) && st_int(ro, "/currentStepIndex") == 1
    })
    .await;
    let started = st_str(&paused, "/pauseConditions/0/startTime").to_string();
    assert!(!started.is_empty());
    // Nobody promotes: 30 simulated seconds later the rollout completes.
    let ro = until(
        &api,
        "the pause to expire and the rollout to complete",
        |ro| phase_is("Healthy")(ro) && st_int(ro, "/currentStepIndex") == 2,
    )
    .await;
    assert_eq!(st_str(&ro, "/stableRS"), st_str(&ro, "/currentPodHash"));
}

#[tokio::test]
async fn abort_returns_to_stable_and_retry_starts_over() {
    let (_sb, client, api) = start().await;
    services(&client, &["web-canary", "web-stable"]).await;
    let steps = json!([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]);
    api.create(&PostParams::default(), &canary(4, steps, json!({})))
        .await
        .expect("rollout created");
    let ro = until(&api, "Healthy", phase_is("Healthy")).await;
    let stable = st_str(&ro, "/stableRS").to_string();
    set_image(&api, "web:2").await;
    let ro = until(&api, "the first pause", |ro| {
        phase_is("Paused")(ro) && st_int(ro, "/currentStepIndex") == 1
    })
    .await;
    let hash = st_str(&ro, "/currentPodHash").to_string();
    // kubectl argo rollouts abort
    plugin_status_patch(&api, json!({"status": {"abort": true}})).await;
    let ro = until(&api, "Degraded after the abort", |ro| {
        st_str(ro, "/phase") == "Degraded" && st_int(ro, "/canary/weights/canary/weight") == 0
    })
    .await;
    assert_eq!(
        st_str(&ro, "/message"),
        "RolloutAborted: Rollout aborted update to revision 2"
    );
    assert!(!st_str(&ro, "/abortedAt").is_empty());
    assert_eq!(st_int(&ro, "/currentStepIndex"), 0);
    wait_for("the canary scaled to 0 and the stable to 4", || {
        let client = client.clone();
        let (hash, stable) = (hash.clone(), stable.clone());
        async move {
            (replicas_of(&client, &hash).await == 0 && replicas_of(&client, &stable).await == 4)
                .then_some(())
        }
    })
    .await;
    assert_eq!(selector_of(&client, "web-canary").await, stable);
    assert_eq!(selector_of(&client, "web-stable").await, stable);
    // kubectl argo rollouts retry
    plugin_status_patch(&api, json!({"status": {"abort": false}})).await;
    let ro = until(&api, "the retry to reach the first pause again", |ro| {
        phase_is("Paused")(ro) && st_int(ro, "/currentStepIndex") == 1
    })
    .await;
    assert!(status(&ro).get("abort").is_none());
    assert_eq!(replicas_of(&client, &hash).await, 1);
    assert_eq!(selector_of(&client, "web-canary").await, hash);
}

#[tokio::test]
async fn promote_full_skips_the_remaining_steps() {
    let (_sb, client, api) = start().await;
    services(&client, &["web-canary", "web-stable"]).await;
    let steps = json!([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]);
    api.create(&PostParams::default(), &canary(4, steps, json!({})))
        .await
        .expect("rollout created");
    until(&api, "Healthy", phase_is("Healthy")).await;
    set_image(&api, "web:2").await;
    until(&api, "the first pause", |ro| {
        phase_is("Paused")(ro) && st_int(ro, "/currentStepIndex") == 1
    })
    .await;
    // kubectl argo rollouts promote --full
    plugin_status_patch(&api, json!({"status": {"promoteFull": true}})).await;
    let ro = until(&api, "the full promotion", |ro| {
        phase_is("Healthy")(ro) && st_str(ro, "/stableRS") == st_str(ro, "/currentPodHash")
    })
    .await;
    assert_eq!(st_int(&ro, "/currentStepIndex"), 4);
    assert!(status(&ro).get("promoteFull").is_none());
    assert_eq!(
        replicas_of(&client, st_str(&ro, "/currentPodHash")).await,
        4
    );
}

#[tokio::test]
async fn blue_green_waits_for_promotion_then_scales_the_old_down_after_the_delay() {
    let (_sb, client, api) = start().await;
    services(&client, &["web-active", "web-preview"]).await;
    let spec = json!({
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"blueGreen": {"activeService": "web-active", "previewService": "web-preview",
                                   "autoPromotionEnabled": false, "scaleDownDelaySeconds": 30}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "web:blue"}]}},
    });
    api.create(&PostParams::default(), &rollout_object(spec))
        .await
        .expect("rollout created");
    let ro = until(&api, "Healthy", phase_is("Healthy")).await;
    let blue = st_str(&ro, "/stableRS").to_string();
    assert_eq!(selector_of(&client, "web-active").await, blue);
    set_image(&api, "web:green").await;
    let ro = until(
        &api,
        "the preview ready and the rollout paused",
        phase_is("Paused"),
    )
    .await;
    let green = st_str(&ro, "/currentPodHash").to_string();
    assert_eq!(st_str(&ro, "/message"), "BlueGreenPause");
    assert_eq!(st_str(&ro, "/blueGreen/previewSelector"), green);
    assert_eq!(st_str(&ro, "/blueGreen/activeSelector"), blue);
    assert_eq!(selector_of(&client, "web-preview").await, green);
    assert_eq!(selector_of(&client, "web-active").await, blue);
    assert_eq!(replicas_of(&client, &green).await, 3);
    assert_eq!(replicas_of(&client, &blue).await, 3);
    promote(&api).await;
    let ro = until(&api, "the active Service switched", |ro| {
        phase_is("Healthy")(ro) && st_str(ro, "/blueGreen/activeSelector") == green
    })
    .await;
    assert_eq!(st_str(&ro, "/stableRS"), green);
    assert_eq!(selector_of(&client, "web-active").await, green);
    // The next reconcile marks the old ReplicaSet for scale-down after the delay.
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    wait_for("the old ReplicaSet's scale-down deadline", || {
        let rs_api = rs_api.clone();
        let blue = blue.clone();
        async move {
            let old = rs_api.get(&format!("web-{blue}")).await.ok()?;
            old.annotations()
                .contains_key("argo-rollouts.argoproj.io/scale-down-deadline")
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        replicas_of(&client, &blue).await,
        3,
        "kept until the deadline"
    );
    wait_for(
        "the old ReplicaSet scaled to 0 after scaleDownDelaySeconds",
        || {
            let client = client.clone();
            let blue = blue.clone();
            async move { (replicas_of(&client, &blue).await == 0).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn a_crashing_canary_goes_degraded_at_its_progress_deadline() {
    let (_sb, client, api) = start().await;
    services(&client, &["web-canary", "web-stable"]).await;
    let steps = json!([{"setWeight": 25}, {"pause": {}}]);
    api.create(
        &PostParams::default(),
        // minReadySeconds: a crash-looping container is Ready for the moment it runs (it has no
        // readiness probe); it never stays so for 10 s, so the canary never becomes available.
        &canary(
            4,
            steps,
            json!({"progressDeadlineSeconds": 60, "minReadySeconds": 10}),
        ),
    )
    .await
    .expect("rollout created");
    let ro = until(&api, "Healthy", phase_is("Healthy")).await;
    let stable = st_str(&ro, "/stableRS").to_string();
    set_image(&api, "web:crashloop").await;
    let ro = until(&api, "Degraded at the progress deadline", |ro| {
        st_str(ro, "/phase") == "Degraded"
    })
    .await;
    let hash = st_str(&ro, "/currentPodHash").to_string();
    assert_eq!(
        st_str(&ro, "/message"),
        format!("ProgressDeadlineExceeded: ReplicaSet \"web-{hash}\" has timed out progressing.")
    );
    let cond = status(&ro)["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == "Progressing"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "ProgressDeadlineExceeded");
    assert_eq!(replicas_of(&client, &hash).await, 1);
    assert_eq!(
        selector_of(&client, "web-canary").await,
        stable,
        "traffic never reached the crashing pods"
    );
    assert_eq!(st_int(&ro, "/canary/weights/canary/weight"), 0);
}

#[tokio::test]
async fn restart_at_replaces_every_older_pod() {
    let (_sb, client, api) = start().await;
    services(&client, &["web-canary", "web-stable"]).await;
    api.create(&PostParams::default(), &canary(3, json!([]), json!({})))
        .await
        .expect("rollout created");
    until(&api, "Healthy", phase_is("Healthy")).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let before: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert_eq!(before.len(), 3);
    // kubectl argo rollouts restart sets spec.restartAt to now; a second ahead here, so that it
    // is later than every pod's creation at one-second resolution (the controller waits for it).
    let at = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"restartAt": at}})),
    )
    .await
    .expect("restartAt set");
    let ro = until(&api, "status.restartedAt", |ro| {
        st_str(ro, "/restartedAt") == at
    })
    .await;
    assert_eq!(st_str(&ro, "/restartedAt"), at);
    let after = wait_for("three new ready pods", || {
        let pods = pods.clone();
        async move {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let live: Vec<&Pod> = list
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
                .collect();
            (live.len() == 3).then(|| live.iter().map(|p| p.name_any()).collect::<Vec<_>>())
        }
    })
    .await;
    for p in &after {
        assert!(!before.contains(p), "pod {p} was not restarted");
    }
    until(&api, "Healthy after the restart", phase_is("Healthy")).await;
}
