//! The sandbox's controllers, observed only through kube-rs typed APIs as tollgate (and kubectl) would
//! observe a cluster: rolling and recreate rollouts, a failing rollout and its undo, scaling, jobs,
//! image pull failures, logs, events, cascading deletion, scheduling failures and fixtures.
//!
//! Nothing waits by sleeping: every wait is on a condition, with a deadline ([`wait_for`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
/// kubectl's rollout commands, one observation or action each, on tollgate's client-side operations.
mod kubectl {
    pub use tollgate::exec::kube::kubectl::{RolloutError, RolloutStatus};
    use tollgate::exec::kube::kubectl::{get_deployment, restart_from, rollback, status_of};

    pub async fn rollout_status(
        client: &kube::Client,
        ns: &str,
        name: &str,
        revision: Option<i64>,
    ) -> Result<RolloutStatus, RolloutError> {
        status_of(&get_deployment(client, ns, name).await?, revision)
    }

    pub async fn rollout_undo(
        client: &kube::Client,
        ns: &str,
        name: &str,
        to_revision: Option<i64>,
    ) -> Result<i64, RolloutError> {
        Ok(rollback(client, ns, name, to_revision).await?.to_revision)
    }

    pub async fn restart(
        client: &kube::Client,
        ns: &str,
        name: &str,
    ) -> Result<String, RolloutError> {
        Ok(restart_from(client, ns, name).await?.1)
    }
}
use tollgate_sandbox::{Config, Sandbox};

/// Longest wait for anything (real seconds; at speed 50 this is over 16 simulated minutes).
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

async fn start() -> (Sandbox, Client) {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    (sb, client)
}

/// Poll `f` until it gives `Some`, failing the test with `what` after `DEADLINE`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_for_within(what, DEADLINE, f).await
}

/// [`wait_for`] with a deadline of its own (for what takes long on a loaded machine).
pub(crate) async fn wait_for_within<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn deployment(name: &str, replicas: i32, image: &str, extra: Value) -> Deployment {
    let mut d = json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": image,
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                        "initialDelaySeconds": 1, "periodSeconds": 1},
                }]},
            },
        },
    });
    merge(&mut d, extra);
    serde_json::from_value(d).expect("deployment")
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn set_image(image: &str) -> Patch<Value> {
    Patch::Strategic(
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}),
    )
}

pub(crate) fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn terminating(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
}

fn hash_of(p: &Pod) -> String {
    p.labels()
        .get("pod-template-hash")
        .cloned()
        .unwrap_or_default()
}

fn revision(meta: &kube::api::ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .cloned()
}

fn condition<'a>(
    d: &'a Deployment,
    t: &str,
) -> Option<&'a k8s_openapi::api::apps::v1::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
}

/// The deployment once it is fully rolled out at its current generation.
async fn rolled_out(client: &Client, name: &str) -> Deployment {
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    wait_for(&format!("deployment {name} rolled out"), || {
        let api = api.clone();
        let client = client.clone();
        async move {
            let s = kubectl::rollout_status(&client, "default", name, None)
                .await
                .ok()?;
            assert!(!s.failed, "rollout of {name} failed: {}", s.message);
            if s.done {
                api.get(name).await.ok()
            } else {
                None
            }
        }
    })
    .await
}

async fn events_for(client: &Client, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

async fn pods_of(client: &Client, app: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("pods")
        .items
}

enum Seen {
    Pod(watcher::Event<Pod>),
    Deploy(watcher::Event<Deployment>),
}

#[tokio::test]
async fn rolling_update_keeps_surge_and_availability_bounds() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let (replicas, surge, unavailable) = (4usize, 1usize, 1usize);
    let d = deployment(
        "web",
        4,
        "registry.local/web:1.0",
        json!({"spec": {"strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}}}),
    );
    deps.create(&PostParams::default(), &d).await.unwrap();
    let v1 = rolled_out(&client, "web").await;
    assert_eq!(revision(&v1.metadata).as_deref(), Some("1"));
    let old_hash = hash_of(&pods_of(&client, "web").await[0]);

    // Watch pods and the deployment, then roll out a new image.
    let pods = watcher(
        Api::<Pod>::default_namespaced(client.clone()),
        watcher::Config::default().labels("app=web"),
    )
    .map_ok(Seen::Pod)
    .boxed();
    let dw = watcher(
        deps.clone(),
        watcher::Config::default().fields("metadata.name=web"),
    )
    .map_ok(Seen::Deploy)
    .boxed();
    let mut events = futures::stream::select(pods, dw);
    let mut state: HashMap<String, Pod> = HashMap::new();
    let mut init_pending: HashMap<String, Pod> = HashMap::new();
    let mut synced = (false, false);
    let mut patched = false;
    let mut mixed_states = 0;
    let mut max_active = 0;
    let mut min_ready = usize::MAX;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let last: Deployment = loop {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("the rollout finishes before the deadline")
            .expect("the watch goes on")
            .expect("a watch event");
        let mut done = None;
        match ev {
            Seen::Pod(watcher::Event::Init) => init_pending.clear(),
            Seen::Pod(watcher::Event::InitApply(p)) => {
                init_pending.insert(p.name_any(), p);
            }
            Seen::Pod(watcher::Event::InitDone) => {
                state = std::mem::take(&mut init_pending);
                synced.0 = true;
            }
            Seen::Pod(watcher::Event::Apply(p)) => {
                state.insert(p.name_any(), p);
            }
            Seen::Pod(watcher::Event::Delete(p)) => {
                state.remove(&p.name_any());
            }
            Seen::Deploy(watcher::Event::InitDone) => synced.1 = true,
            Seen::Deploy(watcher::Event::Apply(d)) | Seen::Deploy(watcher::Event::InitApply(d)) => {
                let s = d.status.clone().unwrap_or_default();
                if patched
                    && s.observed_generation == d.metadata.generation
                    && s.updated_replicas == Some(4)
                    && s.available_replicas == Some(4)
                    && s.replicas == Some(4)
                {
                    done = Some(d);
                }
            }
            Seen::Deploy(_) => {}
        }
        if synced.0 {
            // The bounds hold in every state the watch shows.
            let active: Vec<&Pod> = state.values().filter(|p| !terminating(p)).collect();
            let ready = active.iter().filter(|p| is_ready(p)).count();
            assert!(
                active.len() <= replicas + surge,
                "{} pods exceed replicas + maxSurge",
                active.len()
            );
            assert!(
                ready + unavailable >= replicas,
                "only {ready} ready pods, below replicas - maxUnavailable"
            );
            max_active = max_active.max(active.len());
            min_ready = min_ready.min(ready);
            let hashes: std::collections::BTreeSet<String> =
                active.iter().map(|p| hash_of(p)).collect();
            if hashes.len() > 1 {
                mixed_states += 1;
            }
        }
        if synced == (true, true) && !patched {
            deps.patch(
                "web",
                &PatchParams::default(),
                &set_image("registry.local/web:2.0"),
            )
            .await
            .unwrap();
            patched = true;
        }
        if let Some(d) = done {
            break d;
        }
    };
    assert!(
        mixed_states > 0,
        "old and new pods ran side by side during the rollout"
    );
    assert_eq!(max_active, replicas + surge, "the rollout used its surge");
    assert_eq!(
        min_ready,
        replicas - unavailable,
        "the rollout used its unavailability budget"
    );

    let d = rolled_out(&client, "web").await;
    let s = d.status.clone().unwrap();
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(d.metadata.generation, Some(2));
    assert_eq!(
        (
            s.replicas,
            s.updated_replicas,
            s.ready_replicas,
            s.available_replicas
        ),
        (Some(4), Some(4), Some(4), Some(4))
    );
    assert_eq!(s.unavailable_replicas, None);
    let avail = condition(&d, "Available").unwrap();
    assert_eq!(
        (avail.status.as_str(), avail.reason.as_deref()),
        ("True", Some("MinimumReplicasAvailable"))
    );
    let prog = condition(&d, "Progressing").unwrap();
    assert_eq!(
        (prog.status.as_str(), prog.reason.as_deref()),
        ("True", Some("NewReplicaSetAvailable"))
    );
    assert!(prog.last_update_time.is_some() && prog.last_transition_time.is_some());
    assert_eq!(revision(&d.metadata).as_deref(), Some("2"));
    let _ = last;

    // Both replica sets are kept; the old one is at 0.
    let sets = rss
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(sets.len(), 2);
    for rs in &sets {
        let hash = rs.labels().get("pod-template-hash").cloned().unwrap();
        assert_eq!(rs.name_any(), format!("web-{hash}"));
        let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.kind.as_str(),
                owner.name.as_str(),
                owner.controller,
                owner.block_owner_deletion
            ),
            ("Deployment", "web", Some(true), Some(true))
        );
        assert_eq!(
            rs.spec
                .as_ref()
                .unwrap()
                .selector
                .match_labels
                .as_ref()
                .unwrap()
                .get("pod-template-hash"),
            Some(&hash)
        );
        let anns = rs.annotations();
        assert_eq!(
            anns.get("deployment.kubernetes.io/desired-replicas")
                .map(String::as_str),
            Some("4")
        );
        assert_eq!(
            anns.get("deployment.kubernetes.io/max-replicas")
                .map(String::as_str),
            Some("5")
        );
        if hash == old_hash {
            assert_eq!(rs.spec.as_ref().unwrap().replicas, Some(0));
            assert_eq!(revision(&rs.metadata).as_deref(), Some("1"));
        } else {
            assert_eq!(rs.spec.as_ref().unwrap().replicas, Some(4));
            assert_eq!(revision(&rs.metadata).as_deref(), Some("2"));
            assert_eq!(rs.status.as_ref().unwrap().available_replicas, Some(4));
        }
    }
    let msgs: Vec<String> = events_for(&client, "web")
        .await
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    let new_rs = sets
        .iter()
        .find(|r| r.labels().get("pod-template-hash") != Some(&old_hash))
        .unwrap()
        .name_any();
    assert!(
        msgs.contains(&format!("Scaled up replica set {new_rs} from 0 to 1")),
        "{msgs:?}"
    );
    assert!(
        msgs.contains(&format!(
            "Scaled down replica set web-{old_hash} from 4 to 3"
        )),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m
            .starts_with(&format!("Scaled down replica set web-{old_hash} from "))
            && m.ends_with(" to 0")),
        "{msgs:?}"
    );
}

#[tokio::test]
async fn failing_rollout_times_out_and_undo_restores_it() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let mut d = deployment(
        "api",
        2,
        "registry.local/api:1.0",
        json!({"spec": {"progressDeadlineSeconds": 30}}),
    );
    // The application needs 5 s before it answers its readiness probe: a crash after 2 s is never ready.
    let c = &mut d
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    c.readiness_probe.as_mut().unwrap().initial_delay_seconds = Some(5);
    deps.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(&client, "api").await;
    deps.patch(
        "api",
        &PatchParams::default(),
        &set_image("registry.local/api:2.0-crashloop"),
    )
    .await
    .unwrap();

    // The rollout stalls and times out; the old pods keep the deployment available.
    let d = wait_for("ProgressDeadlineExceeded", || {
        let deps = deps.clone();
        async move {
            let d = deps.get("api").await.ok()?;
            let c = condition(&d, "Progressing")?;
            (c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
                .then_some(d)
        }
    })
    .await;
    let c = condition(&d, "Progressing").unwrap();
    assert!(
        c.message
            .as_deref()
            .unwrap()
            .ends_with("has timed out progressing."),
        "{:?}",
        c.message
    );
    assert_eq!(condition(&d, "Available").unwrap().status, "True");
    let st = kubectl::rollout_status(&client, "default", "api", None)
        .await
        .unwrap();
    assert!(st.failed && !st.done);
    assert_eq!(
        st.message,
        "deployment \"api\" exceeded its progress deadline"
    );

    // The new pod crash-loops with a growing restart count.
    let crashing = wait_for("a pod in CrashLoopBackOff", || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels("app=api"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|p| {
                    let cs = &p
                        .status
                        .as_ref()
                        .and_then(|s| s.container_statuses.clone())
                        .unwrap_or_default();
                    cs.iter().any(|c| {
                        c.state
                            .as_ref()
                            .and_then(|s| s.waiting.as_ref())
                            .and_then(|w| w.reason.as_deref())
                            == Some("CrashLoopBackOff")
                    })
                })
        }
    })
    .await;
    let name = crashing.name_any();
    let restarts = |p: &Pod| {
        p.status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .restart_count
    };
    let first = restarts(&crashing);
    assert!(first >= 1);
    let cs = &crashing
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    let term = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((term.exit_code, term.reason.as_deref()), (1, Some("Error")));
    let waiting = cs.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert!(
        waiting.message.as_deref().unwrap().starts_with("back-off "),
        "{waiting:?}"
    );
    assert_eq!(
        crashing.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    wait_for("the restart count to grow", || {
        let pods = pods.clone();
        let name = name.clone();
        async move { pods.get(&name).await.ok().filter(|p| restarts(p) > first) }
    })
    .await;
    let previous = pods
        .logs(
            &name,
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert!(
        previous.contains("FATAL startup check failed"),
        "{previous}"
    );
    let backoffs: Vec<Event> = events_for(&client, &name)
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("BackOff"))
        .collect();
    assert!(!backoffs.is_empty());
    assert!(
        backoffs[0]
            .message
            .as_deref()
            .unwrap()
            .starts_with("Back-off restarting failed container app in pod ")
    );

    // kubectl rollout undo brings revision 1 back as revision 3.
    let rev = kubectl::rollout_undo(&client, "default", "api", None)
        .await
        .unwrap();
    assert_eq!(rev, 1);
    let d = rolled_out(&client, "api").await;
    assert_eq!(revision(&d.metadata).as_deref(), Some("3"));
    let s = d.status.unwrap();
    assert_eq!(
        (s.updated_replicas, s.available_replicas, s.replicas),
        (Some(2), Some(2), Some(2))
    );
    let image = d.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("registry.local/api:1.0"));
    let sets = rss
        .list(&ListParams::default().labels("app=api"))
        .await
        .unwrap()
        .items;
    assert_eq!(sets.len(), 2, "undo reuses the old replica set");
    let restored = sets
        .iter()
        .find(|r| revision(&r.metadata).as_deref() == Some("3"))
        .unwrap();
    assert_eq!(
        restored
            .annotations()
            .get("deployment.kubernetes.io/revision-history")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(restored.spec.as_ref().unwrap().replicas, Some(2));
    let bad = sets
        .iter()
        .find(|r| revision(&r.metadata).as_deref() == Some("2"))
        .unwrap();
    assert_eq!(bad.spec.as_ref().unwrap().replicas, Some(0));
    // Undo again goes back to revision 2 (the crash-looping one) as kubectl would.
    let rev = kubectl::rollout_undo(&client, "default", "api", Some(7)).await;
    assert!(matches!(
        rev,
        Err(kubectl::RolloutError::RevisionNotFound(7))
    ));
}

#[tokio::test]
async fn scale_subresource_scales_the_replica_set() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("cart", 2, "registry.local/cart:1.0", json!({})),
    )
    .await
    .unwrap();
    rolled_out(&client, "cart").await;
    let scale: Scale = deps.get_scale("cart").await.unwrap();
    assert_eq!(scale.status.as_ref().unwrap().replicas, 2);
    deps.patch_scale(
        "cart",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let d = rolled_out(&client, "cart").await;
    assert_eq!(d.status.as_ref().unwrap().available_replicas, Some(5));
    let scale = deps.get_scale("cart").await.unwrap();
    assert_eq!(
        (
            scale.spec.unwrap().replicas,
            scale.status.as_ref().unwrap().replicas
        ),
        (Some(5), 5)
    );
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=cart"));
    let rs = pods_of(&client, "cart").await[0]
        .metadata
        .owner_references
        .as_ref()
        .unwrap()[0]
        .name
        .clone();
    let msgs: Vec<String> = events_for(&client, "cart")
        .await
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    assert!(
        msgs.contains(&format!("Scaled up replica set {rs} from 2 to 5")),
        "{msgs:?}"
    );

    // Down to 1 through the scale subresource with PUT.
    let mut s = deps.get_scale("cart").await.unwrap();
    s.spec.as_mut().unwrap().replicas = Some(1);
    deps.replace_scale("cart", &PostParams::default(), &s)
        .await
        .unwrap();
    wait_for("one pod left", || {
        let client = client.clone();
        async move {
            let left: Vec<Pod> = pods_of(&client, "cart")
                .await
                .into_iter()
                .filter(|p| !terminating(p))
                .collect();
            (left.len() == 1).then_some(())
        }
    })
    .await;
    let d = rolled_out(&client, "cart").await;
    assert_eq!(d.status.unwrap().replicas, Some(1));
    let msgs: Vec<String> = events_for(&client, "cart")
        .await
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    assert!(
        msgs.contains(&format!("Scaled down replica set {rs} from 5 to 1")),
        "{msgs:?}"
    );
    let rs_events: Vec<Event> = events_for(&client, &rs).await;
    assert_eq!(
        rs_events
            .iter()
            .filter(|e| e.reason.as_deref() == Some("SuccessfulDelete"))
            .count(),
        4
    );
    assert_eq!(
        rs_events
            .iter()
            .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
            .count(),
        5
    );
}

#[tokio::test]
async fn recreate_stops_every_old_pod_first() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let d = deployment(
        "batchui",
        3,
        "registry.local/ui:1.0",
        json!({"spec": {"strategy": {"type": "Recreate"}}}),
    );
    deps.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(&client, "batchui").await;
    let old_hash = hash_of(&pods_of(&client, "batchui").await[0]);
    let mut stream = watcher(
        Api::<Pod>::default_namespaced(client.clone()),
        watcher::Config::default().labels("app=batchui"),
    )
    .boxed();
    let mut state: BTreeMap<String, Pod> = BTreeMap::new();
    let mut patched = false;
    let mut saw_empty = false;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ev = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("event");
        match ev {
            watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                state.insert(p.name_any(), p);
            }
            watcher::Event::Delete(p) => {
                state.remove(&p.name_any());
            }
            watcher::Event::InitDone if !patched => {
                deps.patch(
                    "batchui",
                    &PatchParams::default(),
                    &set_image("registry.local/ui:2.0"),
                )
                .await
                .unwrap();
                patched = true;
            }
            _ => {}
        }
        let old = state.values().filter(|p| hash_of(p) == old_hash).count();
        let new = state.values().filter(|p| hash_of(p) != old_hash).count();
        assert!(
            old == 0 || new == 0,
            "old and new pods exist together under Recreate"
        );
        if patched && old == 0 && new == 0 {
            saw_empty = true;
        }
        if new == 3 && state.values().all(is_ready) {
            break;
        }
    }
    assert!(saw_empty);
    let d = rolled_out(&client, "batchui").await;
    assert_eq!(revision(&d.metadata).as_deref(), Some("2"));
}

fn job(name: &str, image: &str, extra: Value) -> Job {
    let mut j = json!({
        "metadata": {"name": name},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": image}],
        }}},
    });
    merge(&mut j, extra);
    serde_json::from_value(j).unwrap()
}

fn job_condition<'a>(j: &'a Job, t: &str) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    j.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t && c.status == "True")
}

#[tokio::test]
async fn job_runs_to_completion() {
    let (_sb, client) = start().await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let created = jobs
        .create(
            &PostParams::default(),
            &job(
                "migrate",
                "registry.local/migrate:1.0",
                json!({"spec": {"completions": 2}}),
            ),
        )
        .await
        .unwrap();
    let uid = created.uid().unwrap();
    let sel = created
        .spec
        .as_ref()
        .unwrap()
        .selector
        .as_ref()
        .unwrap()
        .match_labels
        .clone()
        .unwrap();
    assert_eq!(sel.get("batch.kubernetes.io/controller-uid"), Some(&uid));
    let j = wait_for("the job to complete", || {
        let jobs = jobs.clone();
        async move {
            jobs.get("migrate")
                .await
                .ok()
                .filter(|j| job_condition(j, "Complete").is_some())
        }
    })
    .await;
    let s = j.status.as_ref().unwrap();
    assert_eq!(
        (s.succeeded, s.failed, s.active, s.ready),
        (Some(2), None, None, Some(0))
    );
    assert!(s.start_time.is_some() && s.completion_time.is_some());
    let met = job_condition(&j, "SuccessCriteriaMet").unwrap();
    assert_eq!(met.reason.as_deref(), Some("CompletionsReached"));
    assert_eq!(
        job_condition(&j, "Complete").unwrap().message.as_deref(),
        Some("Reached expected number of succeeded pods")
    );
    let list = pods
        .list(&ListParams::default().labels("job-name=migrate"))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 2);
    for p in &list {
        assert_eq!(
            p.status.as_ref().unwrap().phase.as_deref(),
            Some("Succeeded")
        );
        let l = p.labels();
        assert_eq!(
            l.get("batch.kubernetes.io/job-name").map(String::as_str),
            Some("migrate")
        );
        assert_eq!(l.get("controller-uid"), Some(&uid));
        assert_eq!(l.get("batch.kubernetes.io/controller-uid"), Some(&uid));
        let term = p
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .clone()
            .unwrap();
        assert_eq!(
            (term.exit_code, term.reason.as_deref()),
            (0, Some("Completed"))
        );
        // A container that is not restarted has no last state, as a kubelet reports it: the
        // run that ended is its state.
        let last = p
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0]
            .last_state
            .clone()
            .unwrap_or_default();
        assert!(
            last.terminated.is_none() && last.running.is_none() && last.waiting.is_none(),
            "{last:?}"
        );
        let log = pods
            .logs(&p.name_any(), &LogParams::default())
            .await
            .unwrap();
        assert!(log.contains("done: all work items processed"), "{log}");
    }
    let evs = events_for(&client, "migrate").await;
    assert_eq!(
        evs.iter()
            .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
            .count(),
        2
    );
    let done = evs
        .iter()
        .find(|e| e.reason.as_deref() == Some("Completed"))
        .expect("Completed event");
    assert_eq!(done.message.as_deref(), Some("Job completed"));
    assert_eq!(
        done.source.as_ref().unwrap().component.as_deref(),
        Some("job-controller")
    );
}

#[tokio::test]
async fn job_fails_past_its_backoff_limit() {
    let (_sb, client) = start().await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    jobs.create(
        &PostParams::default(),
        &job(
            "broken",
            "registry.local/migrate:1.0-fail",
            json!({"spec": {"backoffLimit": 1}}),
        ),
    )
    .await
    .unwrap();
    let j = wait_for("the job to fail", || {
        let jobs = jobs.clone();
        async move {
            jobs.get("broken")
                .await
                .ok()
                .filter(|j| job_condition(j, "Failed").is_some())
        }
    })
    .await;
    let s = j.status.as_ref().unwrap();
    assert_eq!((s.failed, s.succeeded, s.active), (Some(2), None, None));
    assert!(s.completion_time.is_none());
    for t in ["FailureTarget", "Failed"] {
        let c = job_condition(&j, t).unwrap();
        assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
        assert_eq!(
            c.message.as_deref(),
            Some("Job has reached the specified backoff limit")
        );
    }
    assert!(job_condition(&j, "Complete").is_none());
    let evs = events_for(&client, "broken").await;
    let e = evs
        .iter()
        .find(|e| e.reason.as_deref() == Some("BackoffLimitExceeded"))
        .expect("event");
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let list = pods
        .list(&ListParams::default().labels("job-name=broken"))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Failed"))
    );
    let log = pods
        .logs(&list[0].name_any(), &LogParams::default())
        .await
        .unwrap();
    assert!(
        log.contains("ERROR step 2/3 failed: exit status 1"),
        "{log}"
    );
}

fn bare_pod(name: &str, image: &str, extra: Value) -> Pod {
    let mut p = json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    });
    merge(&mut p, extra);
    serde_json::from_value(p).unwrap()
}

fn waiting_reason(p: &Pod) -> Option<String> {
    p.status.as_ref()?.container_statuses.as_ref()?[0]
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

#[tokio::test]
async fn missing_image_backs_off() {
    let (_sb, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &bare_pod("ghost", "registry.local/ghost:doesnotexist", json!({})),
    )
    .await
    .unwrap();
    let p = wait_for("ImagePullBackOff", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("ghost").await.ok()?;
            (waiting_reason(&p).as_deref() == Some("ImagePullBackOff")).then_some(p)
        }
    })
    .await;
    let st = p.status.as_ref().unwrap();
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    let w = st.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert!(
        w.message.as_deref().unwrap().starts_with(
            "Back-off pulling image \"registry.local/ghost:doesnotexist\": ErrImagePull: "
        ),
        "{w:?}"
    );
    assert!(!is_ready(&p));
    let evs = events_for(&client, "ghost").await;
    let has = |reason: &str, msg: &str| {
        evs.iter().any(|e| {
            e.reason.as_deref() == Some(reason)
                && e.message.as_deref().is_some_and(|m| m.contains(msg))
        })
    };
    assert!(has(
        "Failed",
        "Failed to pull image \"registry.local/ghost:doesnotexist\": rpc error: code = NotFound"
    ));
    assert!(has("Failed", "Error: ErrImagePull"));
    assert!(has("BackOff", "Back-off pulling image"));
    assert!(has("Failed", "Error: ImagePullBackOff"));
    assert!(!evs.iter().any(|e| e.reason.as_deref() == Some("Started")));
}

#[tokio::test]
async fn log_follow_ends_with_its_pod_and_the_new_pod_logs() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("logger", 1, "registry.local/logger:1.0", json!({})),
    )
    .await
    .unwrap();
    rolled_out(&client, "logger").await;
    let old = pods_of(&client, "logger").await.remove(0).name_any();
    let stream = pods
        .log_stream(
            &old,
            &LogParams {
                follow: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    let reader = tokio::spawn(async move {
        let mut lines = stream.lines();
        let mut got = Vec::new();
        while let Some(Ok(l)) = lines.next().await {
            got.push(l);
        }
        got
    });
    // Lines arrive while the pod runs.
    wait_for("periodic log lines", || {
        let pods = pods.clone();
        let old = old.clone();
        async move {
            let log = pods.logs(&old, &LogParams::default()).await.ok()?;
            (log.lines().count() >= 8).then_some(())
        }
    })
    .await;
    deps.patch(
        "logger",
        &PatchParams::default(),
        &set_image("registry.local/logger:2.0"),
    )
    .await
    .unwrap();
    let got = tokio::time::timeout(DEADLINE, reader)
        .await
        .expect("the follow ends when its pod stops")
        .unwrap();
    assert!(
        got.iter()
            .any(|l| l.contains("starting logger version=1.0")),
        "{got:?}"
    );
    assert!(
        got.iter().any(|l| l.contains("GET /healthz 200")),
        "{got:?}"
    );
    assert_eq!(
        got.last().map(|l| l.contains("received SIGTERM")),
        Some(true),
        "{got:?}"
    );
    wait_for("the old pod to be gone", || {
        let pods = pods.clone();
        let old = old.clone();
        async move { pods.get_opt(&old).await.ok()?.is_none().then_some(()) }
    })
    .await;
    let new = pods_of(&client, "logger")
        .await
        .into_iter()
        .find(|p| !terminating(p))
        .unwrap()
        .name_any();
    assert_ne!(new, old);
    let log = wait_for("the new pod's log", || {
        let pods = pods.clone();
        let new = new.clone();
        async move {
            let log = pods.logs(&new, &LogParams::default()).await.ok()?;
            (log.lines().count() >= 5).then_some(log)
        }
    })
    .await;
    assert!(log.contains("starting logger version=2.0"), "{log}");
}

#[tokio::test]
async fn events_are_recorded_as_kubernetes_records_them() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("ev", 1, "registry.local/ev:1.0", json!({})),
    )
    .await
    .unwrap();
    rolled_out(&client, "ev").await;
    let pod = pods_of(&client, "ev").await.remove(0);
    let name = pod.name_any();
    let evs = events_for(&client, &name).await;
    let by = |r: &str| {
        evs.iter()
            .find(|e| e.reason.as_deref() == Some(r))
            .unwrap_or_else(|| panic!("no {r} event in {evs:?}"))
            .clone()
    };
    let scheduled = by("Scheduled");
    assert_eq!(
        scheduled.message.as_deref(),
        Some(format!("Successfully assigned default/{name} to sandbox-node-1").as_str())
    );
    assert_eq!(
        scheduled.reporting_component.as_deref(),
        Some("default-scheduler")
    );
    assert!(scheduled.event_time.is_some());
    for (reason, msg) in [
        (
            "Pulling",
            "Pulling image \"registry.local/ev:1.0\"".to_string(),
        ),
        ("Created", "Created container: app".to_string()),
        ("Started", "Started container app".to_string()),
    ] {
        let e = by(reason);
        assert_eq!(e.message.as_deref(), Some(msg.as_str()));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        let src = e.source.as_ref().unwrap();
        assert_eq!(
            (src.component.as_deref(), src.host.as_deref()),
            (Some("kubelet"), Some("sandbox-node-1"))
        );
        assert_eq!(
            e.involved_object.field_path.as_deref(),
            Some("spec.containers{app}")
        );
        assert_eq!(e.involved_object.uid, pod.metadata.uid);
        assert_eq!(e.count, Some(1));
        assert!(e.first_timestamp.is_some() && e.last_timestamp.is_some());
    }
    assert!(
        by("Pulled")
            .message
            .unwrap()
            .starts_with("Successfully pulled image \"registry.local/ev:1.0\" in ")
    );
    let scaling = events_for(&client, "ev")
        .await
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
        .unwrap();
    assert_eq!(
        scaling.source.unwrap().component.as_deref(),
        Some("deployment-controller")
    );
    assert_eq!(scaling.involved_object.kind.as_deref(), Some("Deployment"));

    // A crash loop: BackOff repeats are counted on one event.
    pods.create(
        &PostParams::default(),
        &bare_pod("crasher", "registry.local/ev:crashloop", json!({})),
    )
    .await
    .unwrap();
    let e = wait_for("a BackOff event counted twice", || {
        let client = client.clone();
        async move {
            events_for(&client, "crasher")
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("BackOff") && e.count.unwrap_or(0) >= 2)
        }
    })
    .await;
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert!(e.last_timestamp >= e.first_timestamp);
    let evs = events_for(&client, "crasher").await;
    // The image was pulled once; the restarts find it on the node.
    assert!(evs.iter().any(|e| e.reason.as_deref() == Some("Pulled")
        && e.message.as_deref()
            == Some("Container image \"registry.local/ev:crashloop\" already present on machine")));
}

#[tokio::test]
async fn deleting_a_deployment_cascades() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("gone", 3, "registry.local/gone:1.0", json!({})),
    )
    .await
    .unwrap();
    rolled_out(&client, "gone").await;
    assert_eq!(pods_of(&client, "gone").await.len(), 3);
    deps.delete("gone", &DeleteParams::background())
        .await
        .unwrap();
    wait_for("replica sets and pods to be gone", || {
        let client = client.clone();
        let rss = rss.clone();
        async move {
            let sets = rss
                .list(&ListParams::default().labels("app=gone"))
                .await
                .ok()?
                .items;
            (sets.is_empty() && pods_of(&client, "gone").await.is_empty()).then_some(())
        }
    })
    .await;
    // Nothing recreates them.
    let d = deps.get_opt("gone").await.unwrap();
    assert!(d.is_none());
}

#[tokio::test]
async fn pods_that_fit_nowhere_wait_for_a_node() {
    let (_sb, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let big = bare_pod(
        "hungry",
        "registry.local/hungry:1.0",
        json!({"spec": {"containers": [{"name": "app",
        "image": "registry.local/hungry:1.0", "resources": {"requests": {"cpu": "16", "memory": "1Gi"}}}]}}),
    );
    pods.create(&PostParams::default(), &big).await.unwrap();
    let e = wait_for("FailedScheduling", || {
        let client = client.clone();
        async move {
            events_for(&client, "hungry")
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
        }
    })
    .await;
    assert_eq!(
        e.message.as_deref(),
        Some(
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        )
    );
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    let p = pods.get("hungry").await.unwrap();
    let cond = p
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap()
        .clone();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_deref()),
        ("False", Some("Unschedulable"))
    );
    assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Pending"));
    assert!(p.spec.as_ref().unwrap().node_name.is_none());

    // A bigger node joins: the pod is scheduled there.
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(
        json!({"metadata": {"name": "big-node", "labels": {"kubernetes.io/hostname": "big-node"}}}),
    )
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    nodes
        .patch_status(
            "big-node",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "capacity": {"cpu": "32", "memory": "64Gi", "pods": "110"},
                "allocatable": {"cpu": "32", "memory": "64Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            }})),
        )
        .await
        .unwrap();
    let p = wait_for("the pod to run on the big node", || {
        let pods = pods.clone();
        async move { pods.get("hungry").await.ok().filter(is_ready) }
    })
    .await;
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("big-node"));
}

#[tokio::test]
async fn fixture_objects_are_reconciled_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.yaml");
    std::fs::write(
        &path,
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: store}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: shop, image: "registry.local/shop:3.1"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: seed, namespace: store}
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: seed, image: "registry.local/seed:1"}]
"#,
    )
    .unwrap();
    let sb = Sandbox::start(Config {
        fixtures: vec![path],
        ..Config::fast()
    })
    .await
    .unwrap();
    let client = sb.client();
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "store");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "store");
    let d = wait_for("the fixture deployment to roll out", || {
        let client = client.clone();
        let deps = deps.clone();
        async move {
            let s = kubectl::rollout_status(&client, "store", "shop", None)
                .await
                .ok()?;
            if s.done {
                deps.get("shop").await.ok()
            } else {
                None
            }
        }
    })
    .await;
    assert_eq!(d.status.unwrap().available_replicas, Some(2));
    assert_eq!(revision(&d.metadata).as_deref(), Some("1"));
    let j = wait_for("the fixture job to complete", || {
        let jobs = jobs.clone();
        async move {
            jobs.get("seed")
                .await
                .ok()
                .filter(|j| job_condition(j, "Complete").is_some())
        }
    })
    .await;
    assert_eq!(j.status.unwrap().succeeded, Some(1));
    assert_eq!(j.metadata.labels.unwrap_or_default().get("job-name"), None);
}

#[tokio::test]
async fn unhealthy_containers_are_killed_by_their_liveness_probe() {
    let (_sb, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let p = bare_pod(
        "sick",
        "registry.local/sick:unhealthy",
        json!({"spec": {"containers": [{"name": "app",
        "image": "registry.local/sick:unhealthy",
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2, "failureThreshold": 2}}]}}),
    );
    pods.create(&PostParams::default(), &p).await.unwrap();
    let p = wait_for("a liveness restart", || {
        let pods = pods.clone();
        async move {
            pods.get("sick").await.ok().filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some_and(|c| c[0].restart_count >= 1)
            })
        }
    })
    .await;
    let last = p.status.unwrap().container_statuses.unwrap()[0]
        .last_state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(last.exit_code, 137);
    let evs = events_for(&client, "sick").await;
    assert!(
        evs.iter().any(|e| e.reason.as_deref() == Some("Unhealthy")
            && e.message.as_deref()
                == Some("Liveness probe failed: HTTP probe failed with statuscode: 500")),
        "{evs:?}"
    );
    assert!(evs.iter().any(|e| e.reason.as_deref() == Some("Killing")
        && e.message.as_deref() == Some("Container app failed liveness probe, will be restarted")));
}

#[tokio::test]
async fn min_ready_seconds_delays_availability() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let d = deployment(
        "slowstart",
        2,
        "registry.local/slowstart:1.0",
        json!({"spec": {"minReadySeconds": 10}}),
    );
    let mut stream = watcher(
        deps.clone(),
        watcher::Config::default().fields("metadata.name=slowstart"),
    )
    .boxed();
    deps.create(&PostParams::default(), &d).await.unwrap();
    let mut ready_before_available = false;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ev = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("event");
        let (watcher::Event::Apply(d) | watcher::Event::InitApply(d)) = ev else {
            continue;
        };
        let s = d.status.unwrap_or_default();
        let (ready, available) = (
            s.ready_replicas.unwrap_or(0),
            s.available_replicas.unwrap_or(0),
        );
        assert!(available <= ready);
        if ready == 2 && available < 2 {
            ready_before_available = true;
        }
        if available == 2 {
            break;
        }
    }
    assert!(
        ready_before_available,
        "pods were ready for minReadySeconds before they counted as available"
    );
    let rs = &Api::<ReplicaSet>::default_namespaced(client.clone())
        .list(&ListParams::default().labels("app=slowstart"))
        .await
        .unwrap()
        .items[0];
    assert_eq!(rs.spec.as_ref().unwrap().min_ready_seconds, Some(10));
}

#[tokio::test]
async fn revision_history_limit_and_restart() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let d = deployment(
        "hist",
        1,
        "registry.local/hist:1",
        json!({"spec": {"revisionHistoryLimit": 1}}),
    );
    deps.create(&PostParams::default(), &d).await.unwrap();
    rolled_out(&client, "hist").await;
    for v in ["2", "3"] {
        deps.patch(
            "hist",
            &PatchParams::default(),
            &set_image(&format!("registry.local/hist:{v}")),
        )
        .await
        .unwrap();
        rolled_out(&client, "hist").await;
    }
    let at = kubectl::restart(&client, "default", "hist").await.unwrap();
    let d = rolled_out(&client, "hist").await;
    assert_eq!(revision(&d.metadata).as_deref(), Some("4"));
    let anns = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap();
    assert_eq!(anns.get("kubectl.kubernetes.io/restartedAt"), Some(&at));
    // Cleanup runs once the rollout is complete: one old replica set is kept.
    let revs = wait_for("old replica sets beyond the limit to go", || {
        let rss = rss.clone();
        async move {
            let sets = rss
                .list(&ListParams::default().labels("app=hist"))
                .await
                .ok()?
                .items;
            let mut revs: Vec<String> = sets.iter().filter_map(|r| revision(&r.metadata)).collect();
            revs.sort();
            (sets.len() == 2).then_some(revs)
        }
    })
    .await;
    assert_eq!(revs, ["3", "4"]);
    let pods = pods_of(&client, "hist").await;
    let live: Vec<&Pod> = pods.iter().filter(|p| !terminating(p)).collect();
    assert_eq!(live.len(), 1);
    let pod_anns = live[0].annotations();
    assert_eq!(pod_anns.get("kubectl.kubernetes.io/restartedAt"), Some(&at));
}

#[tokio::test]
async fn finished_jobs_go_after_their_ttl() {
    let (_sb, client) = start().await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let j = job(
        "once",
        "registry.local/once:1",
        json!({"spec": {"ttlSecondsAfterFinished": 20}}),
    );
    jobs.create(&PostParams::default(), &j).await.unwrap();
    wait_for("the job to complete", || {
        let jobs = jobs.clone();
        async move {
            jobs.get("once")
                .await
                .ok()
                .filter(|j| job_condition(j, "Complete").is_some())
        }
    })
    .await;
    assert_eq!(
        pods.list(&ListParams::default().labels("job-name=once"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    wait_for("the job and its pod to be deleted", || {
        let jobs = jobs.clone();
        let pods = pods.clone();
        async move {
            let gone = jobs.get_opt("once").await.ok()?.is_none();
            let no_pods = pods
                .list(&ListParams::default().labels("job-name=once"))
                .await
                .ok()?
                .items
                .is_empty();
            (gone && no_pods).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_new_image_in_a_pod_spec_restarts_its_container() {
    let (_sb, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &bare_pod("fixme", "registry.local/fixme:crashloop", json!({})),
    )
    .await
    .unwrap();
    wait_for("the crash loop", || {
        let pods = pods.clone();
        async move {
            pods.get("fixme")
                .await
                .ok()
                .filter(|p| waiting_reason(p).as_deref() == Some("CrashLoopBackOff"))
        }
    })
    .await;
    pods.patch(
        "fixme",
        &PatchParams::default(),
        &Patch::Strategic(
            json!({"spec": {"containers": [{"name": "app", "image": "registry.local/fixme:1.1"}]}}),
        ),
    )
    .await
    .unwrap();
    let p = wait_for("the fixed container to run and be ready", || {
        let pods = pods.clone();
        async move { pods.get("fixme").await.ok().filter(is_ready) }
    })
    .await;
    let cs = &p
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(cs.image, "registry.local/fixme:1.1");
    assert!(cs.state.as_ref().unwrap().running.is_some());
    assert!(cs.restart_count >= 2);
}
