//! Deployment rollouts: `kube.rollout_status`, `kube.rollout_undo`, `kube.set_image`, `kube.restart`.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::kubectl::{self, RolloutError};
use super::scale::{deployment, deployments_in, not_found};
use super::{ActionResult, Change, Failure, KubeStep, describe_error};
use crate::runbook::kube::{Restart, RolloutStatus, RolloutUndo, SetImage};

/// Log lines shown of each failing pod.
const LOG_TAIL: i64 = 10;
/// Failing pods described per deployment.
const PODS_SHOWN: usize = 3;

fn rollout_failure(e: RolloutError, ns: &str, name: &str) -> Failure {
    match e {
        RolloutError::NotFound(_) => not_found(ns, name),
        RolloutError::Kube(e) => Failure::Error(describe_error(&e)),
        other => Failure::Error(other.to_string()),
    }
}

/// The deployments an action names: the one, or every one of the namespace.
async fn names(cx: &KubeStep<'_>, ns: &str, one: Option<&String>) -> Result<Vec<String>, Failure> {
    match one {
        Some(d) => Ok(vec![d.clone()]),
        None => {
            let names = deployments_in(cx, ns).await?;
            if names.is_empty() {
                return Err(Failure::Error(format!(
                    "no deployments in namespace \"{ns}\""
                )));
            }
            Ok(names)
        }
    }
}

// ---- kube.rollout_status -------------------------------------------------------------------

/// The part of a kubectl waiting line that says what is missing, e.g.
/// `deployment "api": 1 of 3 updated replicas are available`.
fn missing(name: &str, message: &str) -> String {
    let what = message
        .split_once("rollout to finish: ")
        .map(|(_, w)| w)
        .unwrap_or(message)
        .trim_end_matches("...");
    let what = what.strip_prefix("Waiting for ").unwrap_or(what);
    format!("deployment \"{name}\": {what}")
}

pub async fn status(cx: &mut KubeStep<'_>, a: &RolloutStatus) -> ActionResult {
    let ns = cx.ns.clone();
    let api: Api<Deployment> = Api::namespaced(cx.client.clone(), &ns);
    let mut config = watcher::Config::default();
    if let Some(name) = &a.deployment {
        deployment(cx, &ns, name).await?;
        config = config.fields(&format!("metadata.name={name}"));
    }
    let stream = watcher::watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let deadline = cx.deadline;
    let timeout = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);

    let mut live: BTreeMap<String, Deployment> = BTreeMap::new();
    let mut listing: BTreeMap<String, Deployment> = BTreeMap::new();
    let mut listed = false;
    let mut said: BTreeMap<String, String> = BTreeMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut last_error: Option<String> = None;
    loop {
        let event = tokio::select! {
            ev = stream.next() => ev,
            _ = &mut timeout => {
                let waiting: Vec<&Deployment> = live
                    .iter()
                    .filter(|(n, _)| !done.contains(*n))
                    .map(|(_, d)| d)
                    .collect();
                let mut what: Vec<String> = waiting
                    .iter()
                    .map(|d| {
                        let name = d.name_any();
                        let msg = said.get(&name).cloned().unwrap_or_default();
                        missing(&name, &msg)
                    })
                    .collect();
                if !listed {
                    what.push(match &last_error {
                        Some(e) => format!("the deployments could not be read: {e}"),
                        None => "the deployments were not read yet".into(),
                    });
                }
                let pods = diagnose(cx, &ns, &waiting).await;
                let mut why = format!(
                    "timed out waiting for the rollout: {}",
                    what.join("; ")
                );
                if !pods.is_empty() {
                    why.push_str(&format!(" ({})", pods.join("; ")));
                }
                return Err(Failure::Timeout(why));
            }
        };
        match event {
            None => {
                return Err(Failure::Error("the watch of the deployments ended".into()));
            }
            Some(Err(e)) => {
                // A refusal (forbidden, unknown resource) will not go away: say it. Anything
                // else, the stream backs off and watches again.
                if let watcher::Error::InitialListFailed(kube::Error::Api(s))
                | watcher::Error::WatchStartFailed(kube::Error::Api(s)) = &e
                    && matches!(s.code, 400 | 401 | 403 | 404 | 405)
                {
                    return Err(Failure::Error(format!(
                        "cannot watch the deployments of namespace \"{ns}\": {} ({})",
                        s.message, s.code
                    )));
                }
                last_error = Some(e.to_string());
                continue;
            }
            Some(Ok(Event::Init)) => listing.clear(),
            Some(Ok(Event::InitApply(d))) => {
                listing.insert(d.name_any(), d);
            }
            Some(Ok(Event::InitDone)) => {
                live = std::mem::take(&mut listing);
                listed = true;
            }
            Some(Ok(Event::Apply(d))) => {
                live.insert(d.name_any(), d);
            }
            Some(Ok(Event::Delete(d))) => {
                let name = d.name_any();
                live.remove(&name);
                if !done.contains(&name) {
                    return Err(Failure::Error(format!(
                        "deployment \"{name}\" was deleted while its rollout was awaited"
                    )));
                }
            }
        }
        if !listed {
            continue;
        }
        if live.is_empty() {
            return Err(match &a.deployment {
                Some(name) => not_found(&ns, name),
                None => Failure::Error(format!("no deployments in namespace \"{ns}\"")),
            });
        }
        let mut pending = false;
        let mut failed: Vec<(String, &Deployment)> = Vec::new();
        for (name, d) in &live {
            if done.contains(name) {
                continue;
            }
            let st = kubectl::status_of(d, None).map_err(|e| rollout_failure(e, &ns, name))?;
            if st.failed {
                failed.push((st.message, d));
                continue;
            }
            if st.done {
                done.insert(name.clone());
                cx.out(st.message).await;
                continue;
            }
            pending = true;
            if said.get(name) != Some(&st.message) {
                cx.say(st.message.clone()).await;
                said.insert(name.clone(), st.message);
            }
        }
        if !failed.is_empty() {
            let mut why: Vec<String> = Vec::new();
            for (msg, d) in &failed {
                let reason = d
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| cs.iter().find(|c| c.type_ == "Progressing"))
                    .map(|c| {
                        let mut r = c.reason.clone().unwrap_or_default();
                        if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                            r.push_str(": ");
                            r.push_str(m);
                        }
                        r
                    })
                    .unwrap_or_else(|| "ProgressDeadlineExceeded".into());
                why.push(format!("{msg} ({reason})"));
            }
            let deps: Vec<&Deployment> = failed.iter().map(|(_, d)| *d).collect();
            let pods = diagnose(cx, &ns, &deps).await;
            let mut error = why.join("; ");
            if !pods.is_empty() {
                error.push_str(&format!(": {}", pods.join("; ")));
            }
            return Err(Failure::Error(error));
        }
        if !pending {
            return Ok(());
        }
    }
}

/// Why a pod is not serving, and its restart count.
fn pod_trouble(p: &Pod) -> Option<(String, i32, Option<String>)> {
    if p.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let st = p.status.clone().unwrap_or_default();
    let ready = st
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let statuses: Vec<_> = st
        .init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
        .collect();
    let restarts: i32 = statuses.iter().map(|c| c.restart_count).sum();
    if ready && restarts == 0 {
        return None;
    }
    for c in &statuses {
        let state = c.state.clone().unwrap_or_default();
        if let Some(r) = state.waiting.and_then(|w| w.reason)
            && r != "PodInitializing"
        {
            return Some((r, restarts, Some(c.name.clone())));
        }
        if let Some(t) = state.terminated
            && t.exit_code != 0
        {
            let r = t.reason.unwrap_or_else(|| format!("exit {}", t.exit_code));
            return Some((r, restarts, Some(c.name.clone())));
        }
    }
    if ready {
        return None;
    }
    let unready = statuses.iter().find(|c| !c.ready).map(|c| c.name.clone());
    let phase = st.phase.unwrap_or_else(|| "Pending".into());
    let why = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.status != "True" && c.reason.is_some());
    let reason = match why {
        // The scheduler's own words say what is missing, e.g. `0/2 nodes are available: 2
        // Insufficient memory.`
        Some(c) if phase == "Pending" => match &c.message {
            Some(m) if !m.is_empty() => {
                format!("Pending, {}: {m}", c.reason.clone().unwrap_or_default())
            }
            _ => format!("Pending, {}", c.reason.clone().unwrap_or_default()),
        },
        _ => format!("{phase}, not ready"),
    };
    Some((reason, restarts, unready))
}

/// Describes the failing pods of `deps`, each with its last log lines (shown as progress), and
/// returns one line per pod for the error.
async fn diagnose(cx: &KubeStep<'_>, ns: &str, deps: &[&Deployment]) -> Vec<String> {
    let mut lines = Vec::new();
    for d in deps {
        let Some(sel) = d
            .spec
            .as_ref()
            .map(|s| kubectl::selector_string(&s.selector))
        else {
            continue;
        };
        let what = format!("deployment \"{}\"", d.name_any());
        lines.extend(diagnose_pods(cx, ns, &what, &sel).await);
    }
    lines
}

/// Describes the failing pods that `selector` picks (of `what`, e.g. `rollout "api"`), each with
/// its last log lines (shown as progress); one line per pod for the error.
pub(super) async fn diagnose_pods(
    cx: &KubeStep<'_>,
    ns: &str,
    what: &str,
    selector: &str,
) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(cx.client.clone(), ns);
    let mut lines = Vec::new();
    let list = match pods.list(&ListParams::default().labels(selector)).await {
        Ok(l) => l.items,
        Err(e) => {
            cx.say(format!(
                "cannot list the pods of {what}: {}",
                describe_error(&e)
            ))
            .await;
            return lines;
        }
    };
    let mut troubled: Vec<(String, String, i32, Option<String>)> = list
        .iter()
        .filter_map(|p| pod_trouble(p).map(|(r, n, c)| (p.name_any(), r, n, c)))
        .collect();
    troubled.sort();
    for (name, reason, restarts, container) in troubled.into_iter().take(PODS_SHOWN) {
        let line = format!("pod {name}: {reason} (restarts {restarts})");
        cx.say(line.clone()).await;
        lines.push(line);
        let log = pod_log_tail(&pods, &name, container.clone(), restarts > 0).await;
        if !log.is_empty() {
            let c = container.map(|c| format!(" {c}")).unwrap_or_default();
            cx.say(format!("  last log lines of pod {name}{c}:")).await;
            for l in log {
                cx.say(format!("    {l}")).await;
            }
        }
    }
    lines
}

/// The last log lines of a pod's container; those of its previous run when the current has none.
async fn pod_log_tail(
    pods: &Api<Pod>,
    name: &str,
    container: Option<String>,
    restarted: bool,
) -> Vec<String> {
    let mut lp = LogParams {
        container,
        tail_lines: Some(LOG_TAIL),
        ..LogParams::default()
    };
    let mut text = pods.logs(name, &lp).await.unwrap_or_default();
    if text.trim().is_empty() && restarted {
        lp.previous = true;
        text = pods.logs(name, &lp).await.unwrap_or_default();
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

// ---- kube.rollout_undo ---------------------------------------------------------------------

pub async fn undo(cx: &mut KubeStep<'_>, a: &RolloutUndo) -> ActionResult {
    let ns = cx.ns.clone();
    let to = match &a.to_revision {
        Some(r) => Some(r.value("to_revision").map_err(Failure::Error)?),
        None => None,
    };
    undo_to(cx, &ns, &a.deployment, to).await
}

/// Rolls `name` back (to `to`, else the previous revision), recording it.
pub(super) async fn undo_to(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    to: Option<i64>,
) -> ActionResult {
    let r = kubectl::rollback(&cx.client, ns, name, to)
        .await
        .map_err(|e| rollout_failure(e, ns, name))?;
    if r.skipped {
        cx.say(format!(
            "deployment/{name}: skipped rollback (current template already matches revision {})",
            r.to_revision
        ))
        .await;
        return Ok(());
    }
    cx.changed(Change::RolledBack {
        namespace: ns.to_string(),
        deployment: name.to_string(),
        from_revision: r.from_revision,
        to_revision: r.to_revision,
    });
    cx.out(format!(
        "deployment/{name} rolled back: revision {} → revision {}",
        r.from_revision, r.to_revision
    ))
    .await;
    Ok(())
}

// ---- kube.set_image ------------------------------------------------------------------------

pub async fn set_image(cx: &mut KubeStep<'_>, a: &SetImage) -> ActionResult {
    let ns = cx.ns.clone();
    let name = &a.deployment;
    let d = deployment(cx, &ns, name).await?;
    let spec = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .cloned()
        .unwrap_or_default();
    let containers: Vec<(String, String, bool)> = spec
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default(), false))
        .chain(
            spec.init_containers
                .iter()
                .flatten()
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default(), true)),
        )
        .collect();
    let list = || {
        containers
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (container, from, init) = match &a.container {
        Some(c) => containers
            .iter()
            .find(|x| &x.0 == c)
            .cloned()
            .ok_or_else(|| {
                Failure::Error(format!(
                    "deployment \"{name}\" has no container \"{c}\" (it has: {})",
                    list()
                ))
            })?,
        None => {
            let main: Vec<_> = containers.iter().filter(|c| !c.2).collect();
            match main.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(Failure::Error(format!(
                        "deployment \"{name}\" has no containers"
                    )));
                }
                _ => {
                    return Err(Failure::Error(format!(
                        "deployment \"{name}\" has several containers ({}): say which with `container`",
                        list()
                    )));
                }
            }
        }
    };
    if let Some(d) = a.digest.as_deref()
        && !crate::runbook::kube::is_digest(d)
    {
        return Err(Failure::Error(format!(
            "`{d}` is not an image digest (sha256: and 64 hex digits); was the push's digest captured?"
        )));
    }
    set_image_to(cx, &ns, name, &container, init, &from, &a.reference()).await
}

/// Sets `container`'s image from `from` to `to`, recording it; the same image is said and not
/// recorded.
pub(super) async fn set_image_to(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    container: &str,
    init: bool,
    from: &str,
    to: &str,
) -> ActionResult {
    if from == to {
        cx.say(format!(
            "deployment/{name} container={container} already runs {to}"
        ))
        .await;
        return Ok(());
    }
    let list = if init { "initContainers" } else { "containers" };
    let patch = json!({"spec": {"template": {"spec": {list: [{"name": container, "image": to}]}}}});
    let api: Api<Deployment> = Api::namespaced(cx.client.clone(), ns);
    api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .map_err(|e| {
            Failure::Error(format!(
                "cannot set the image of deployment/{name}: {}",
                describe_error(&e)
            ))
        })?;
    cx.changed(Change::Image {
        namespace: ns.to_string(),
        deployment: name.to_string(),
        container: container.to_string(),
        from: from.to_string(),
        to: to.to_string(),
    });
    cx.out(format!(
        "deployment/{name} container={container}: {from} → {to}"
    ))
    .await;
    Ok(())
}

/// The current image of `container` of deployment `name`, and whether it is an init container.
pub(super) async fn image_of(
    cx: &KubeStep<'_>,
    ns: &str,
    name: &str,
    container: &str,
) -> Result<(String, bool), Failure> {
    let d = deployment(cx, ns, name).await?;
    let spec = d.spec.and_then(|s| s.template.spec).unwrap_or_default();
    if let Some(c) = spec.containers.iter().find(|c| c.name == container) {
        return Ok((c.image.clone().unwrap_or_default(), false));
    }
    if let Some(c) = spec
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == container)
    {
        return Ok((c.image.clone().unwrap_or_default(), true));
    }
    Err(Failure::Error(format!(
        "deployment \"{name}\" has no container \"{container}\" any more"
    )))
}

// ---- kube.restart --------------------------------------------------------------------------

pub async fn restart(cx: &mut KubeStep<'_>, a: &Restart) -> ActionResult {
    let ns = cx.ns.clone();
    for name in names(cx, &ns, a.deployment.as_ref()).await? {
        let (from, at) = kubectl::restart_from(&cx.client, &ns, &name)
            .await
            .map_err(|e| rollout_failure(e, &ns, &name))?;
        cx.changed(Change::Restarted {
            namespace: ns.clone(),
            deployment: name.clone(),
            from,
            to: at.clone(),
        });
        cx.out(format!("deployment/{name} restarted (restartedAt={at})"))
            .await;
    }
    Ok(())
}

/// Puts a restart back: the annotation as it was before, or none.
pub(super) async fn unrestart(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    back_to: Option<&str>,
) -> ActionResult {
    let d = deployment(cx, ns, name).await?;
    let now = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(kubectl::RESTARTED_AT))
        .cloned();
    if now.as_deref() == back_to {
        cx.say(format!(
            "deployment/{name}: restartedAt is already {}",
            back_to.unwrap_or("unset")
        ))
        .await;
        return Ok(());
    }
    kubectl::set_restarted_at(&cx.client, ns, name, back_to)
        .await
        .map_err(|e| rollout_failure(e, ns, name))?;
    cx.changed(Change::Restarted {
        namespace: ns.to_string(),
        deployment: name.to_string(),
        from: now.clone(),
        to: back_to.unwrap_or_default().to_string(),
    });
    cx.out(format!(
        "deployment/{name} restartedAt: {} → {}",
        now.as_deref().unwrap_or("unset"),
        back_to.unwrap_or("unset")
    ))
    .await;
    Ok(())
}
