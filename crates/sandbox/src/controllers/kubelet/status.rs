//! The pod status the kubelet writes: phase (`getPhase`), conditions with their transition
//! times, and each container's status.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::images::{image_id, normalize_image};
use super::runtime::{Container, ContainerState, PodRuntime, RestartPolicy, ip_string};
use crate::controllers::conditions::condition;
use crate::controllers::manager::Manager;
use crate::error::ApiError;
use crate::object::{int_at, key_of, uid_of};
use crate::resources::by_kind;
use crate::store::{self, Part};

/// Write the pod's status from its runtime (unless the pod was replaced by one with another uid),
/// and note when it became ready.
pub(super) fn write_status(m: &mut Manager, runtime: &mut PodRuntime, pod: &Value) {
    let deleting = runtime.terminating.is_some();
    let pod_phase = phase(
        runtime,
        deleting && runtime.containers.iter().all(|c| !c.is_running()),
    );
    let generation = int_at(pod, "/metadata/generation", 1);
    let (conditions, ready) = pod_conditions(runtime, pod_phase, deleting, generation);
    if ready {
        m.ready_since
            .entry(runtime.uid.clone())
            .or_insert_with(Instant::now);
    } else {
        m.ready_since.remove(&runtime.uid);
    }
    let (inits, mains) = container_statuses(runtime);
    let host_ip = runtime.host_ip.clone();
    let pod_ip = runtime.ip.map(ip_string);
    let start_time = runtime.start_time.clone();
    let (ns, name) = key_of(pod);
    let _ = m
        .shared
        .store
        .modify(by_kind("Pod"), &ns, &name, Part::All, |o| {
            if uid_of(o) != runtime.uid {
                return Err(ApiError::conflict(by_kind("Pod"), &name));
            }
            let old = o.get("status").cloned().unwrap_or(json!({}));
            let mut st = json!({
                "phase": pod_phase,
                "conditions": conditions,
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "startTime": start_time,
                "containerStatuses": mains,
                "observedGeneration": generation,
            });
            if let Some(ip) = &pod_ip {
                st["podIP"] = json!(ip);
                st["podIPs"] = json!([{"ip": ip}]);
            }
            if !inits.is_empty() {
                st["initContainerStatuses"] = json!(inits);
            }
            if let Some(q) = old.get("qosClass") {
                st["qosClass"] = q.clone();
            }
            if let Some(ps) = condition(o, "PodScheduled")
                && let Some(a) = st["conditions"].as_array_mut()
            {
                a.push(ps.clone());
            }
            o["status"] = st;
            Ok(())
        });
}

/// The conditions the kubelet owns (PodReadyToStartContainers, Initialized, Ready,
/// ContainersReady), with transition times kept in the runtime; and whether the pod is ready.
fn pod_conditions(
    runtime: &mut PodRuntime,
    phase: &str,
    deleting: bool,
    generation: i64,
) -> (Vec<Value>, bool) {
    let now = store::now();
    let unready: Vec<String> = runtime
        .containers
        .iter()
        .filter(|c| !c.init && !c.ready)
        .map(|c| c.name.clone())
        .collect();
    let incomplete: Vec<String> = runtime
        .containers
        .iter()
        .filter(|c| c.init)
        .filter(|c| {
            if c.sidecar {
                !c.started
            } else {
                !matches!(c.state, ContainerState::Terminated { code: 0, .. })
            }
        })
        .map(|c| c.name.clone())
        .collect();
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let initialized = incomplete.is_empty();
    let ready = unready.is_empty() && initialized && !terminal && !deleting;
    let (reason, message) = if terminal {
        ("PodCompleted", None)
    } else {
        (
            "ContainersNotReady",
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let wanted: [(&'static str, bool, Option<&str>, Option<String>); 4] = [
        (
            "PodReadyToStartContainers",
            runtime.sandbox_ready && !(terminal && deleting),
            None,
            None,
        ),
        (
            "Initialized",
            initialized,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            )),
        ),
        ("Ready", ready, Some(reason), message.clone()),
        ("ContainersReady", ready, Some(reason), message),
    ];
    let conditions = wanted
        .into_iter()
        .map(|(t, ok, reason, message)| {
            let status = if ok { "True" } else { "False" };
            let since = runtime.transition_time(t, status, &now);
            let mut c = json!({"type": t, "status": status, "lastProbeTime": null,
                "lastTransitionTime": since, "observedGeneration": generation});
            if !ok {
                if let Some(r) = reason {
                    c["reason"] = json!(r);
                }
                if let Some(m) = message {
                    c["message"] = json!(m);
                }
            }
            c
        })
        .collect();
    (conditions, ready)
}

/// `initContainerStatuses` (a completed init container counts as ready) and `containerStatuses`.
fn container_statuses(runtime: &PodRuntime) -> (Vec<Value>, Vec<Value>) {
    let inits = runtime
        .containers
        .iter()
        .filter(|c| c.init)
        .map(|c| {
            let mut s = container_status(c);
            if matches!(c.state, ContainerState::Terminated { code: 0, .. }) && !c.sidecar {
                s["ready"] = json!(true);
            }
            s
        })
        .collect();
    let mains = runtime
        .containers
        .iter()
        .filter(|c| !c.init)
        .map(container_status)
        .collect();
    (inits, mains)
}

fn container_status(c: &Container) -> Value {
    let mut s = json!({
        "name": c.name,
        "image": normalize_image(&c.image),
        "imageID": "",
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restarts,
        "state": state_json(&c.state),
        "lastState": c.last.clone().unwrap_or(json!({})),
    });
    if c.has_run {
        s["imageID"] = json!(image_id(&c.image));
        if !c.container_id.is_empty() {
            s["containerID"] = json!(format!("containerd://{}", c.container_id));
        }
        if let ContainerState::Terminated { .. } = c.state
            && let Some(t) = s.pointer_mut("/state/terminated")
        {
            t["containerID"] = json!(format!("containerd://{}", c.container_id));
        }
    }
    s
}

fn state_json(s: &ContainerState) -> Value {
    match s {
        ContainerState::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(msg) = message {
                w["message"] = json!(msg);
            }
            json!({"waiting": w})
        }
        ContainerState::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        ContainerState::Terminated {
            code,
            reason,
            started_at,
            finished_at,
        } => json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started_at,
            "finishedAt": finished_at}}),
    }
}

/// `getPhase`.
fn phase(runtime: &PodRuntime, deleting: bool) -> &'static str {
    let inits = runtime.containers.iter().filter(|c| c.init);
    let mut pending_init = false;
    for c in inits {
        match &c.state {
            ContainerState::Terminated { code, .. } if *code == 0 && !c.sidecar => {}
            ContainerState::Terminated { code, .. }
                if *code != 0 && c.next.is_none() && !c.sidecar =>
            {
                return "Failed";
            }
            _ if c.sidecar && c.started => {}
            _ => pending_init = true,
        }
    }
    let main: Vec<&Container> = runtime.containers.iter().filter(|c| !c.init).collect();
    let any_started = main.iter().any(|c| c.has_run);
    if pending_init && !any_started {
        return "Pending";
    }
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in &main {
        match &c.state {
            ContainerState::Running { .. } => running += 1,
            ContainerState::Terminated { code, .. } => {
                stopped += 1;
                if *code == 0 {
                    succeeded += 1;
                }
            }
            ContainerState::Waiting { .. } => {
                if c.last.is_some() {
                    stopped += 1;
                } else {
                    waiting += 1;
                }
            }
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if deleting {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if runtime.policy == RestartPolicy::Always {
            return "Running";
        }
        let restarting = main.iter().any(|c| c.next.is_some());
        if stopped == succeeded && !restarting {
            return "Succeeded";
        }
        if runtime.policy == RestartPolicy::Never {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}
