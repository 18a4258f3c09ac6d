//! Faults a rehearsal injects through the `Sandbox` handle, observed through kube-rs as a
//! runbook's steps would observe them: a Deployment's new pods crash-looping, a lost node and the
//! eviction of its pods, an API server restart.
//!
//! Nothing waits by sleeping: every wait is on a condition, with a deadline (`wait_for`, shared
//! with the controllers' tests).

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tollgate_sandbox::{Config, FaultError, Sandbox, Timing, fixture, resources};

use super::sandbox_controllers::{DEADLINE, is_ready, wait_for};

fn deployment(name: &str, replicas: i32, image: &str, pod_spec: Value) -> Deployment {
    let mut spec = json!({"containers": [{"name": "app", "image": image,
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
            "initialDelaySeconds": 5, "periodSeconds": 1}}]});
    if let (Some(s), Value::Object(extra)) = (spec.as_object_mut(), pod_spec) {
        s.extend(extra);
    }
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }))
    .expect("deployment")
}

fn waiting_reason(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .map_or(0, |c| c.restart_count)
}

fn node_of(p: &Pod) -> String {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

/// The running (not deleted) pods of `app`, once there are `n` of them and all are ready.
async fn ready_pods(pods: &Api<Pod>, app: &str, n: usize) -> Vec<Pod> {
    wait_for(&format!("{n} ready pods of {app}"), || async move {
        let items = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .ok()?
            .items;
        let live: Vec<Pod> = items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        (live.len() == n && live.iter().all(is_ready)).then_some(live)
    })
    .await
}

#[tokio::test]
async fn crash_new_pods_makes_a_rollouts_new_pods_crash_loop_and_spares_the_old() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    // Its pods are ready 5 s after they start: one that crashes after 2 s never is, so the
    // rollout keeps the old pods.
    deps.create(
        &PostParams::default(),
        &deployment("web", 2, "registry.local/web:1.0", json!({})),
    )
    .await
    .unwrap();
    let before = ready_pods(&pods, "web", 2).await;

    let err = sb.crash_new_pods("default", "nope").unwrap_err();
    assert_eq!(
        err,
        FaultError::UnknownDeployment {
            namespace: "default".into(),
            name: "nope".into()
        }
    );
    assert!(err.to_string().contains("\"nope\""), "{err}");
    sb.crash_new_pods("default", "web").unwrap();

    // A new rollout, of an image that runs fine: its new pods crash-loop all the same.
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app", "image": "registry.local/web:2.0"}]}}}})),
    )
    .await
    .unwrap();
    let crashing = wait_for("a new pod in CrashLoopBackOff after a restart", || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels("app=web"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|p| {
                    waiting_reason(p).as_deref() == Some("CrashLoopBackOff") && restarts(p) >= 1
                })
        }
    })
    .await;
    let image = &crashing.spec.as_ref().unwrap().containers[0].image;
    assert_eq!(image.as_deref(), Some("registry.local/web:2.0"));
    let last = crashing
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .expect("the last run ended");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let log = pods
        .logs(
            &crashing.name_any(),
            &kube::api::LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!log.is_empty(), "the crashed run logged its error");

    // The pods that existed are untouched: still there, ready, never restarted.
    for old in &before {
        let p = pods.get(&old.name_any()).await.unwrap();
        assert!(is_ready(&p), "{} stays ready", p.name_any());
        assert_eq!(restarts(&p), 0, "{}", p.name_any());
        assert_eq!(p.uid(), old.uid());
    }
}

#[tokio::test]
async fn a_lost_node_goes_not_ready_and_its_pods_are_evicted_and_replaced() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    sb.store()
        .create_with_status(
            resources::by_kind("Node"),
            "",
            fixture::default_node("worker-2"),
        )
        .unwrap();
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let nodes: Api<Node> = Api::all(client.clone());
    // Tolerates the unreachable taint for 5 simulated seconds (0.1 s at speed 50).
    let tolerations = json!({"tolerations": [{"key": "node.kubernetes.io/unreachable",
        "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]});
    deps.create(
        &PostParams::default(),
        &deployment("api", 4, "registry.local/api:1.0", tolerations),
    )
    .await
    .unwrap();
    let before = ready_pods(&pods, "api", 4).await;
    let lost = "sandbox-node-1";
    let on_lost: Vec<String> = before
        .iter()
        .filter(|p| node_of(p) == lost)
        .map(ResourceExt::name_any)
        .collect();
    assert!(!on_lost.is_empty(), "the scheduler spreads over both nodes");

    assert_eq!(
        sb.lose_node("nowhere").unwrap_err().to_string(),
        "no node \"nowhere\""
    );
    sb.lose_node(lost).unwrap();

    // The node: Ready Unknown as the node controller sets it, and the unreachable taints.
    let node = nodes.get(lost).await.unwrap();
    let conds = node.status.as_ref().unwrap().conditions.clone().unwrap();
    let r = conds.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(r.status, "Unknown");
    assert_eq!(r.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        r.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    let taints: Vec<(String, String)> = node
        .spec
        .as_ref()
        .unwrap()
        .taints
        .clone()
        .unwrap()
        .into_iter()
        .map(|t| (t.key, t.effect))
        .collect();
    for effect in ["NoSchedule", "NoExecute"] {
        assert!(
            taints.contains(&("node.kubernetes.io/unreachable".into(), effect.into())),
            "{taints:?}"
        );
    }
    let events: Api<Event> = Api::default_namespaced(client.clone());
    let all = events.list(&ListParams::default()).await.unwrap().items;
    assert!(
        all.iter()
            .any(|e| e.reason.as_deref() == Some("NodeNotReady")
                && e.involved_object.name.as_deref() == Some(lost)),
        "a NodeNotReady event for the node"
    );

    // Its pods are replaced on the other node; the evicted ones stay Terminating there (no
    // kubelet answers), marked by the taint manager.
    let after = ready_pods(&pods, "api", 4).await;
    assert!(
        after.iter().all(|p| node_of(p) == "worker-2"),
        "nothing is placed on the lost node: {:?}",
        after.iter().map(node_of).collect::<Vec<_>>()
    );
    for name in &on_lost {
        let p = pods.get(name).await.unwrap();
        assert!(p.metadata.deletion_timestamp.is_some(), "{name} evicted");
        assert!(!is_ready(&p), "{name} is not ready");
        let conds = p.status.as_ref().unwrap().conditions.clone().unwrap();
        assert!(
            conds.iter().any(|c| c.type_ == "DisruptionTarget"
                && c.reason.as_deref() == Some("DeletionByTaintManager")),
            "{conds:?}"
        );
    }
    let all = events.list(&ListParams::default()).await.unwrap().items;
    for name in &on_lost {
        assert!(
            all.iter()
                .any(|e| e.reason.as_deref() == Some("TaintManagerEviction")
                    && e.involved_object.name.as_deref() == Some(name.as_str())),
            "{name} has a TaintManagerEviction event"
        );
    }
    // Nothing set the node back.
    let node = nodes.get(lost).await.unwrap();
    let conds = node.status.unwrap().conditions.unwrap();
    assert_eq!(
        conds.iter().find(|c| c.type_ == "Ready").unwrap().status,
        "Unknown"
    );
}

fn is_refused(e: &kube::Error) -> bool {
    let text = format!("{e:?}");
    text.contains("ConnectionRefused") || text.contains("Connection refused")
}

#[tokio::test]
async fn restart_api_cuts_watches_refuses_connections_then_serves_the_same_data() {
    // At speed 1 the outage lasts 1.5 real seconds: time enough to see it.
    let sb = Sandbox::start(Config {
        no_controllers: true,
        timing: Timing {
            speed: 1.0,
            log_rate: 0.0,
        },
        ..Config::default()
    })
    .await
    .expect("sandbox starts");
    let client = sb.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod = |name: &str| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "registry.local/app:1.0"}]}}))
        .unwrap()
    };
    let first = pods
        .create(&PostParams::default(), &pod("before"))
        .await
        .unwrap();
    let rv = first.resource_version().unwrap();
    let mut stream = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    // A kube-rs watcher, as tollgate's panes run them: it must come back by itself.
    let mut watcher = watcher(pods.clone(), watcher::Config::default()).boxed();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, watcher.next()).await {
            Ok(Some(Ok(watcher::Event::InitDone))) => break,
            Ok(Some(_)) => continue,
            other => panic!("the watcher's first list: {other:?}"),
        }
    }

    let outage = async {
        // The open watch is cut.
        match tokio::time::timeout(DEADLINE, stream.next()).await {
            Ok(None | Some(Err(_))) => {}
            Ok(Some(Ok(ev))) => panic!("an event from a restarting server: {ev:?}"),
            Err(_) => panic!("the watch stayed open through the restart"),
        }
        // New connections are refused meanwhile.
        wait_for("a refused connection", || {
            let pods = pods.clone();
            async move {
                match pods.get("before").await {
                    Err(e) if is_refused(&e) => Some(()),
                    _ => None,
                }
            }
        })
        .await;
        assert!(!sb.api_serving());
    };
    let (restarted, ()) = tokio::join!(sb.restart_api(), outage);
    restarted.expect("the API server serves again");
    assert!(sb.api_serving());

    // The same client, the same data.
    assert_eq!(pods.get("before").await.unwrap().uid(), first.uid());
    pods.create(&PostParams::default(), &pod("after"))
        .await
        .unwrap();
    let mut resumed = pods
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(DEADLINE, resumed.next()).await {
        Ok(Some(Ok(WatchEvent::Added(p)))) => assert_eq!(p.name_any(), "after"),
        other => panic!("unexpected {other:?}"),
    }
    // The watcher reconnected and sees the pod written after the restart.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, watcher.next()).await {
            Ok(Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))))
                if p.name_any() == "after" =>
            {
                break;
            }
            // Its watch was cut (an error), then it relists or resumes.
            Ok(Some(_)) => continue,
            other => panic!("the watcher did not come back: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_crash_armed_before_its_deployment_exists_hits_the_pods_it_makes_and_no_other() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    // Armed while neither exists: a first deploy's step is about to create `web`.
    sb.crash_pods_of("default", "web");
    for name in ["web", "api"] {
        deps.create(
            &PostParams::default(),
            &deployment(name, 1, "registry.local/app:1.0", json!({})),
        )
        .await
        .unwrap();
    }
    wait_for("web's pod in CrashLoopBackOff", || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels("app=web"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|p| waiting_reason(p).as_deref() == Some("CrashLoopBackOff"))
        }
    })
    .await;
    // The other deployment, made at the same moment, runs.
    let api = ready_pods(&pods, "api", 1).await;
    assert_eq!(restarts(&api[0]), 0);
}
