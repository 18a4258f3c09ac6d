//! Argo Rollouts steps (`argo.*`), making the requests the `kubectl argo rollouts` plugin makes
//! (`pkg/kubectl-argo-rollouts/cmd/{promote,abort,retry,undo,set}`):
//!
//! - promote: `getPatches` — merge patches of the rollout's `status` subresource (the rollout
//!   itself when the subresource is not served) and of its `spec` (`{"spec":{"paused":false}}`);
//! - abort / retry: the merge patch `{"status":{"abort":true|false}}` on `status`;
//! - undo: the revision's ReplicaSet template (without `rollouts-pod-template-hash`) put in place
//!   by the JSON patch `[{"op":"replace","path":"/spec/template","value":…}]`, on the rollout or
//!   its `workloadRef` deployment;
//! - set image: a read and an update (PUT) of the rollout (or its `workloadRef` deployment) with
//!   the containers' images set, tried again on a conflict (5 attempts).
//!
//! `argo.status` reads the rollout's phase the way the plugin does (`GetRolloutPhase`), its step,
//! weight (`GetCurrentSetWeight`) and the ready pods of its stable and canary (active and preview)
//! ReplicaSets, as a live line.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::change::{Change, ImageWas, RolloutOp};
use super::{ActionResult, Failure, KubeStep, describe_error};
use crate::runbook::argo::{ArgoPromote, ArgoSetImage, ArgoStatus, ArgoUndo, Until};

/// The label Argo Rollouts puts on its ReplicaSets and pods.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";
/// The revision annotation of a rollout's ReplicaSets.
pub const REVISION: &str = "rollout.argoproj.io/revision";

pub const ABORT_PATCH: &str = r#"{"status":{"abort":true}}"#;
pub const RETRY_PATCH: &str = r#"{"status":{"abort":false}}"#;
const UNPAUSE_PATCH: &str = r#"{"spec":{"paused":false}}"#;
const CLEAR_PAUSE_CONDITIONS_PATCH: &str = r#"{"status":{"pauseConditions":null}}"#;
const UNPAUSE_AND_CLEAR_PAUSE_CONDITIONS_PATCH: &str =
    r#"{"spec":{"paused":false},"status":{"pauseConditions":null}}"#;
const PROMOTE_FULL_PATCH: &str = r#"{"status":{"promoteFull":true}}"#;
const UNPAUSE_AND_PROMOTE_FULL_PATCH: &str =
    r#"{"spec":{"paused":false},"status":{"promoteFull":true}}"#;
/// Attempts of a set image that meets a conflict (the plugin's `maxAttempts`).
const SET_IMAGE_ATTEMPTS: usize = 5;
/// How often `argo.status` reads the rollout.
const POLL: Duration = Duration::from_millis(250);
/// How long `argo.promote` gives the controller to catch up with the latest spec, and to pause at
/// a pause step it has just reached.
const PAUSE_SETTLE: Duration = Duration::from_secs(10);
/// How long `argo.status` waits for the controller to act on an abort, for the failure's line.
const ABORT_SETTLE: Duration = Duration::from_secs(3);

/// The Rollout type (`argoproj.io/v1alpha1`).
pub fn rollout_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Rollout".into(),
        plural: "rollouts".into(),
    }
}

pub fn rollouts(cx: &KubeStep<'_>, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(cx.client.clone(), ns, &rollout_resource())
}

/// The string at `ptr`, or "".
pub(super) fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn i(v: &Value, ptr: &str) -> Option<i64> {
    v.pointer(ptr).and_then(Value::as_i64)
}

fn b(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Value::as_bool).unwrap_or(false)
}

fn len(v: &Value, ptr: &str) -> usize {
    v.pointer(ptr).and_then(Value::as_array).map_or(0, Vec::len)
}

/// The rollout `name` as JSON, or why not.
pub async fn get_rollout(cx: &KubeStep<'_>, ns: &str, name: &str) -> Result<Value, Failure> {
    match rollouts(cx, ns).get(name).await {
        Ok(o) => Ok(serde_json::to_value(o).unwrap_or(Value::Null)),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(Failure::Error(format!(
            "rollout \"{name}\" not found in namespace \"{ns}\" (is Argo Rollouts installed? {})",
            e.message
        ))),
        Err(e) => Err(Failure::Error(format!(
            "cannot read rollout/{name}: {}",
            describe_error(&e)
        ))),
    }
}

// ---- what the plugin computes ----------------------------------------------------------------

/// `GetCurrentCanaryStep`'s index: `None` for a rollout without canary steps.
pub fn current_step_index(ro: &Value) -> Option<i64> {
    if len(ro, "/spec/strategy/canary/steps") == 0 {
        return None;
    }
    Some(i(ro, "/status/currentStepIndex").unwrap_or(0))
}

/// The promote patches of `getPatches` (neither skip flag): the spec patch, the status patch and
/// the one used instead when the status subresource is not served; as the plugin's strings.
pub fn promote_patches(ro: &Value, full: bool) -> (Option<String>, Option<String>, String) {
    let paused = b(ro, "/spec/paused");
    let steps = len(ro, "/spec/strategy/canary/steps") as i64;
    let next = |idx: i64| if idx < steps { idx + 1 } else { idx };
    if full {
        let spec = paused.then(|| UNPAUSE_PATCH.to_string());
        let status = (s(ro, "/status/currentPodHash") != s(ro, "/status/stableRS"))
            .then(|| PROMOTE_FULL_PATCH.to_string());
        return (spec, status, UNPAUSE_AND_PROMOTE_FULL_PATCH.to_string());
    }
    let mut unified = UNPAUSE_AND_CLEAR_PAUSE_CONDITIONS_PATCH.to_string();
    let spec = paused.then(|| UNPAUSE_PATCH.to_string());
    let pause_conditions = len(ro, "/status/pauseConditions") > 0;
    let canary = ro
        .pointer("/spec/strategy/canary")
        .is_some_and(|c| !c.is_null());
    let inconclusive =
        canary && s(ro, "/status/canary/currentStepAnalysisRunStatus/status") == "Inconclusive";
    let mut status = None;
    if inconclusive && pause_conditions && b(ro, "/status/controllerPause") {
        if let Some(idx) = current_step_index(ro) {
            status = Some(format!(
                r#"{{"status":{{"pauseConditions":null, "controllerPause":false, "currentStepIndex":{}}}}}"#,
                next(idx)
            ));
        }
    } else if pause_conditions {
        status = Some(CLEAR_PAUSE_CONDITIONS_PATCH.to_string());
    } else if canary && let Some(idx) = current_step_index(ro) {
        status = Some(format!(
            r#"{{"status":{{"pauseConditions":null, "currentStepIndex":{}}}}}"#,
            next(idx)
        ));
        unified = format!(
            r#"{{"spec":{{"paused":false}},"status":{{"pauseConditions":null, "currentStepIndex":{}}}}}"#,
            next(idx)
        );
    }
    (spec, status, unified)
}

/// `GetCurrentSetWeight`: the weight the current canary step sets (100 past the last step, 0
/// when aborted).
pub fn set_weight(ro: &Value) -> i64 {
    if b(ro, "/status/abort") {
        return 0;
    }
    let steps = ro
        .pointer("/spec/strategy/canary/steps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(idx) = current_step_index(ro) else {
        return max_weight(ro);
    };
    if idx as usize >= steps.len() {
        return max_weight(ro);
    }
    for step in steps[..=idx as usize].iter().rev() {
        if let Some(w) = step.get("setWeight").and_then(Value::as_i64) {
            return w;
        }
    }
    0
}

/// `MaxTrafficWeight`: 100, or the traffic routing's `maxTrafficWeight`.
fn max_weight(ro: &Value) -> i64 {
    i(ro, "/spec/strategy/canary/trafficRouting/maxTrafficWeight").unwrap_or(100)
}

/// `GetRolloutPhase`: the phase and its message, as the plugin shows them.
pub fn phase(ro: &Value) -> (String, String) {
    let generation = i(ro, "/metadata/generation").unwrap_or(0);
    if let Ok(observed) = s(ro, "/status/observedGeneration").parse::<i64>()
        && observed < generation
    {
        return (
            "Progressing".into(),
            "waiting for rollout spec update to be observed".into(),
        );
    }
    if b(ro, "/status/controllerPause") && len(ro, "/status/pauseConditions") == 0 {
        return (
            "Progressing".into(),
            "waiting for rollout to unpause".into(),
        );
    }
    let p = s(ro, "/status/phase");
    if !p.is_empty() {
        return (p.to_string(), s(ro, "/status/message").to_string());
    }
    calculate_phase(ro)
}

/// `CalculateRolloutPhase`, for a controller that writes no phase.
fn calculate_phase(ro: &Value) -> (String, String) {
    let conds = ro
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &conds {
        let msg = s(c, "/message");
        if s(c, "/type") == "InvalidSpec" {
            return ("Degraded".into(), format!("InvalidSpec: {msg}"));
        }
        let reason = s(c, "/reason");
        if reason == "RolloutAborted" || reason == "ProgressDeadlineExceeded" {
            return ("Degraded".into(), format!("{reason}: {msg}"));
        }
    }
    if b(ro, "/spec/paused") {
        return ("Paused".into(), "manually paused".into());
    }
    if let Some(c) = ro
        .pointer("/status/pauseConditions")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return ("Paused".into(), s(c, "/reason").to_string());
    }
    let desired = i(ro, "/spec/replicas").unwrap_or(1);
    let updated = i(ro, "/status/updatedReplicas").unwrap_or(0);
    let available = i(ro, "/status/availableReplicas").unwrap_or(0);
    let replicas = i(ro, "/status/replicas").unwrap_or(0);
    let progressing = |m: &str| ("Progressing".to_string(), m.to_string());
    if updated < desired {
        return progressing("more replicas need to be updated");
    }
    if available < updated {
        return progressing("updated replicas are still becoming available");
    }
    let current = s(ro, "/status/currentPodHash");
    let stable = s(ro, "/status/stableRS");
    if ro
        .pointer("/spec/strategy/blueGreen")
        .is_some_and(|v| !v.is_null())
    {
        let active = s(ro, "/status/blueGreen/activeSelector");
        if active.is_empty() || active != current {
            return progressing("active service cutover pending");
        }
        if stable.is_empty() || stable != current {
            return progressing("waiting for post-promotion verification to complete");
        }
    } else if ro
        .pointer("/spec/strategy/canary")
        .is_some_and(|v| !v.is_null())
    {
        let routed = ro
            .pointer("/spec/strategy/canary/trafficRouting")
            .is_some_and(|v| !v.is_null());
        if !routed && replicas > updated {
            return progressing("old replicas are pending termination");
        }
        if stable.is_empty() || stable != current {
            return progressing("waiting for all steps to complete");
        }
    }
    ("Healthy".into(), String::new())
}

/// Ready and wanted pods of a ReplicaSet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pods {
    pub ready: i64,
    pub replicas: i64,
}

/// Where a rollout is: its phase, step and weight, and its ReplicaSets' pods by role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub phase: String,
    pub message: String,
    pub aborted: bool,
    pub blue_green: bool,
    /// `(current index, steps)` of a canary with steps.
    pub step: Option<(i64, usize)>,
    pub weight: i64,
    /// The weight traffic routing reports, when it differs from the step's.
    pub actual_weight: Option<i64>,
    /// (role, pods): `canary`/`stable`, or `preview`/`active`.
    pub roles: Vec<(&'static str, Pods)>,
    pub current_hash: String,
    pub stable_hash: String,
    /// The current canary step is a `pause` the controller has not paused at yet: it moves the
    /// index there one sync and adds the pause condition the next.
    pub pause_pending: bool,
    /// The controller has seen the rollout's latest spec (`status.observedGeneration`): until
    /// then the status is the previous update's, and nothing in it counts.
    pub observed: bool,
}

impl Progress {
    /// The rollout as the plugin's counts show it; `replica_sets` the ReplicaSets' pods by hash.
    pub fn of(ro: &Value, replica_sets: &BTreeMap<String, Pods>) -> Progress {
        let (phase, message) = phase(ro);
        // A controller's message may run over lines: the live line and a failure are one line.
        let message = crate::text::one_line(&message);
        let blue_green = ro
            .pointer("/spec/strategy/blueGreen")
            .is_some_and(|v| !v.is_null());
        let current = s(ro, "/status/currentPodHash").to_string();
        let stable = s(ro, "/status/stableRS").to_string();
        let pods = |h: &str| replica_sets.get(h).copied().unwrap_or_default();
        let mut roles = Vec::new();
        if blue_green {
            let active = s(ro, "/status/blueGreen/activeSelector");
            let preview = s(ro, "/status/blueGreen/previewSelector");
            if !preview.is_empty() && preview != active {
                roles.push(("preview", pods(preview)));
            }
            if !active.is_empty() {
                roles.push(("active", pods(active)));
            }
        } else {
            if !current.is_empty() && current != stable {
                roles.push(("canary", pods(&current)));
            }
            if !stable.is_empty() {
                roles.push(("stable", pods(&stable)));
            }
        }
        let steps = len(ro, "/spec/strategy/canary/steps");
        let step = (steps > 0)
            .then(|| current_step_index(ro).map(|i| (i, steps)))
            .flatten();
        let weight = if blue_green { 0 } else { set_weight(ro) };
        // What traffic routing reports (the plugin's ActualWeight); without a router the weight
        // is the pods', shown by the roles' counts.
        let routed = ro
            .pointer("/spec/strategy/canary/trafficRouting")
            .is_some_and(|v| !v.is_null());
        let actual_weight =
            i(ro, "/status/canary/weights/canary/weight").filter(|w| routed && *w != weight);
        let pause_pending = step.is_some_and(|(i, _)| {
            ro.pointer(&format!("/spec/strategy/canary/steps/{i}/pause"))
                .is_some()
        }) && phase != "Paused";
        // (A status without one, from a controller that does not write it, is taken as current.)
        let observed = s(ro, "/status/observedGeneration")
            .parse::<i64>()
            .map_or(true, |o| o >= i(ro, "/metadata/generation").unwrap_or(0));
        Progress {
            observed,
            pause_pending,
            phase,
            message,
            aborted: b(ro, "/status/abort"),
            blue_green,
            step,
            weight,
            actual_weight,
            roles,
            current_hash: current,
            stable_hash: stable,
        }
    }

    /// The live line: `step 2/8 · weight 25 % · canary 1/1 ready · stable 3/3 ready · Paused
    /// (CanaryPauseStep)`.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some((i, n)) = self.step {
            parts.push(format!("step {}/{n}", i.min(n as i64)));
        }
        if !self.blue_green {
            match self.actual_weight {
                Some(a) => parts.push(format!("weight {} % (actual {a} %)", self.weight)),
                None => parts.push(format!("weight {} %", self.weight)),
            }
        }
        for (role, p) in &self.roles {
            parts.push(format!("{role} {}/{} ready", p.ready, p.replicas));
        }
        let mut phase = self.phase.clone();
        if self.aborted && !self.message.contains("Abort") {
            phase.push_str(", aborted");
        }
        if !self.message.is_empty() {
            phase.push_str(&format!(" ({})", self.message));
        }
        parts.push(phase);
        parts.join(" · ")
    }

    /// The short form for the interface: `canary 25 % · step 3/8`, `blue-green · Paused`.
    pub fn banner(&self) -> String {
        let mut parts = Vec::new();
        if self.blue_green {
            parts.push("blue-green".to_string());
        } else {
            parts.push(format!("canary {} %", self.weight));
        }
        if let Some((i, n)) = self.step {
            parts.push(format!("step {}/{n}", i.min(n as i64)));
        }
        parts.push(if self.aborted {
            "Aborted".to_string()
        } else {
            self.phase.clone()
        });
        parts.join(" · ")
    }

    /// Whether `until` holds.
    pub fn reached(&self, until: &Until) -> bool {
        if self.aborted || !self.observed {
            return false;
        }
        match until {
            Until::Paused => self.phase == "Paused",
            Until::Healthy => self.phase == "Healthy",
            // At a pause step only once paused there: a promote in between would skip the pause.
            Until::Step(n) => {
                self.step.is_some_and(|(i, _)| i >= i64::from(*n))
                    && !(self.pause_pending && self.step.is_some_and(|(i, _)| i == i64::from(*n)))
            }
            Until::Weight(w) => self.weight >= i64::from(*w),
        }
    }

    /// Why waiting is over without `until`: Degraded, or aborted. An abort just lifted (a
    /// retry the controller has not seen yet) is not a failure.
    pub fn failed(&self) -> bool {
        self.aborted || (self.phase == "Degraded" && !self.message.starts_with("RolloutAborted"))
    }
}

/// The ReplicaSets of a rollout (controlled by it), by their hash label.
async fn replica_sets(
    cx: &KubeStep<'_>,
    ns: &str,
    ro: &Value,
) -> Result<Vec<ReplicaSet>, kube::Error> {
    let uid = s(ro, "/metadata/uid");
    let api: Api<ReplicaSet> = Api::namespaced(cx.client.clone(), ns);
    let sel = ro
        .pointer("/spec/selector")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .map(|s| super::kubectl::selector_string(&s))
        .unwrap_or_default();
    let list = api.list(&ListParams::default().labels(&sel)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.uid == uid)
        })
        .collect())
}

fn pods_by_hash(rss: &[ReplicaSet]) -> BTreeMap<String, Pods> {
    rss.iter()
        .filter_map(|rs| {
            let h = rs.metadata.labels.as_ref()?.get(HASH_LABEL)?.clone();
            let st = rs.status.clone().unwrap_or_default();
            let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            Some((
                h,
                Pods {
                    ready: i64::from(st.ready_replicas.unwrap_or(0)),
                    replicas: i64::from(replicas),
                },
            ))
        })
        .collect()
}

/// The rollout's progress now.
async fn progress_of(
    cx: &KubeStep<'_>,
    ns: &str,
    name: &str,
) -> Result<(Value, Progress), Failure> {
    let ro = get_rollout(cx, ns, name).await?;
    let rss = replica_sets(cx, ns, &ro).await.unwrap_or_default();
    let p = Progress::of(&ro, &pods_by_hash(&rss));
    Ok((ro, p))
}

// ---- argo.status -----------------------------------------------------------------------------

pub async fn status(cx: &mut KubeStep<'_>, a: &ArgoStatus) -> ActionResult {
    let ns = cx.ns.clone();
    let name = a.rollout.clone();
    let until = a
        .until()
        .ok_or_else(|| Failure::Error(Until::why_not(a.until.as_deref().unwrap_or(""))))?;
    let mut said = String::new();
    let mut aborted_at: Option<tokio::time::Instant> = None;
    loop {
        let (ro, p) = progress_of(cx, &ns, &name).await?;
        let line = p.line();
        if line != said {
            cx.progress(p.banner()).await;
            cx.say(line.clone()).await;
            said = line.clone();
        }
        // Past the last step no index is ever reached: said now, not at the timeout.
        let steps = len(&ro, "/spec/strategy/canary/steps");
        if let Until::Step(n) = until
            && usize::try_from(n).is_ok_and(|n| n > steps)
        {
            return Err(Failure::Error(format!(
                "rollout/{name} has {steps} canary step{}: `step {n}` is never reached (the last is step {steps}, once every step is done)",
                if steps == 1 { "" } else { "s" }
            )));
        }
        if p.reached(&until) {
            cx.out(format!("rollout/{name}: {line}")).await;
            return Ok(());
        }
        // An abort the controller has not acted on yet: give it a moment to say what it did
        // (Degraded, `RolloutAborted: …`), for the failure's line.
        let abort_unseen = p.aborted && p.phase != "Degraded";
        if abort_unseen && aborted_at.is_none() {
            aborted_at = Some(tokio::time::Instant::now());
        }
        let waiting_for_abort =
            abort_unseen && aborted_at.is_some_and(|t| t.elapsed() < ABORT_SETTLE);
        if p.failed() && !waiting_for_abort {
            let what = if p.aborted && p.phase != "Degraded" {
                "aborted".to_string()
            } else {
                "Degraded".to_string()
            };
            let mut why = format!("rollout/{name} is {what}");
            if !p.message.is_empty() {
                why.push_str(&format!(": {}", p.message));
            }
            let pods = diagnose(cx, &ns, &ro, &p).await;
            if !pods.is_empty() {
                why.push_str(&format!(" ({})", pods.join("; ")));
            }
            return Err(Failure::Error(why));
        }
        if let Some(d) = cx.deadline
            && tokio::time::Instant::now() + POLL >= d
        {
            let pods = diagnose(cx, &ns, &ro, &p).await;
            let mut why = format!(
                "timed out waiting for rollout/{name} to be {}: {line}",
                describe_until(&until)
            );
            if !pods.is_empty() {
                why.push_str(&format!(" ({})", pods.join("; ")));
            }
            return Err(Failure::Timeout(why));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn describe_until(u: &Until) -> String {
    match u {
        Until::Paused => "paused".into(),
        Until::Healthy => "healthy".into(),
        Until::Step(n) => format!("at step {n}"),
        Until::Weight(w) => format!("at weight {w} %"),
    }
}

/// The failing pods of the update (the canary, or preview), else of the rollout, each with its
/// last log lines, as `kube.rollout_status` shows them.
async fn diagnose(cx: &KubeStep<'_>, ns: &str, ro: &Value, p: &Progress) -> Vec<String> {
    let name = s(ro, "/metadata/name");
    let hash = if p.current_hash.is_empty() {
        None
    } else {
        Some(p.current_hash.as_str())
    };
    let sel = ro
        .pointer("/spec/selector")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .map(|s| super::kubectl::selector_string(&s))
        .unwrap_or_default();
    let mut lines =
        super::rollout::diagnose_pods(cx, ns, &format!("rollout \"{name}\""), &sel).await;
    if lines.is_empty()
        && let Some(h) = hash
    {
        lines = super::rollout::diagnose_pods(
            cx,
            ns,
            &format!("rollout \"{name}\""),
            &format!("{HASH_LABEL}={h}"),
        )
        .await;
    }
    lines
}

// ---- promote, abort, retry -------------------------------------------------------------------

/// A merge patch of the rollout's `status` subresource, or of the rollout when the subresource is
/// not served (404), as the plugin sends it. `Ok(false)`: the status fell back to `fallback`.
async fn patch_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: &str,
    fallback: Option<&str>,
) -> Result<bool, kube::Error> {
    let body: Value = serde_json::from_str(status).unwrap_or(Value::Null);
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            if let Some(f) = fallback {
                let body: Value = serde_json::from_str(f).unwrap_or(Value::Null);
                api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
                    .await?;
            }
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Sends a promote's patches: the status one first, then the spec one (the unified patch in its
/// place when the status subresource is not served).
pub async fn send_promote(
    api: &Api<DynamicObject>,
    name: &str,
    (spec, status, unified): (Option<String>, Option<String>, String),
) -> Result<(), kube::Error> {
    let mut spec = spec;
    if let Some(st) = &status
        && !patch_status(api, name, st, None).await?
    {
        spec = Some(unified);
    }
    if let Some(sp) = spec {
        let body: Value = serde_json::from_str(&sp).unwrap_or(Value::Null);
        api.patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await?;
    }
    Ok(())
}

/// A rollout as journaled: without its managed fields (its status kept: what a promote changes).
fn journaled(ro: &Value) -> Value {
    let mut v = ro.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

pub async fn promote(cx: &mut KubeStep<'_>, a: &ArgoPromote) -> ActionResult {
    let ns = cx.ns.clone();
    let name = &a.rollout;
    let mut ro = get_rollout(cx, &ns, name).await?;
    // The patches are chosen from the status, so it must be the controller's answer to the
    // latest spec (right after `argo.set_image` it is still the previous update's, and a full
    // promote would see nothing to promote). And reaching a pause step, the controller moves the
    // index there first and pauses on its next sync; promoted in between, the plugin's patch
    // would skip that pause, not end it. Give the controller a moment for both (a sync or two).
    let settle = tokio::time::Instant::now() + PAUSE_SETTLE;
    let unsettled = |ro: &Value| {
        let p = Progress::of(ro, &BTreeMap::new());
        !p.observed || (!a.full && p.pause_pending)
    };
    while unsettled(&ro)
        && tokio::time::Instant::now() < settle
        && cx
            .deadline
            .is_none_or(|d| tokio::time::Instant::now() + POLL < d)
    {
        tokio::time::sleep(POLL).await;
        ro = get_rollout(cx, &ns, name).await?;
    }
    let patches = promote_patches(&ro, a.full);
    let api = rollouts(cx, &ns);
    send_promote(&api, name, patches).await.map_err(|e| {
        Failure::Error(format!(
            "cannot promote rollout/{name}: {}",
            describe_error(&e)
        ))
    })?;
    cx.changed(Change::Rollout {
        namespace: ns.clone(),
        rollout: name.clone(),
        op: if a.full {
            RolloutOp::PromoteFull
        } else {
            RolloutOp::Promote
        },
        pod_hash: s(&ro, "/status/currentPodHash").to_string(),
        before: journaled(&ro),
    });
    cx.out(if a.full {
        format!("rollout '{name}' fully promoted")
    } else {
        format!("rollout '{name}' promoted")
    })
    .await;
    show_progress(cx, &ns, name).await;
    Ok(())
}

/// One line of where the rollout is now, and the interface's short form of it.
async fn show_progress(cx: &KubeStep<'_>, ns: &str, name: &str) {
    if let Ok((_, p)) = progress_of(cx, ns, name).await {
        cx.progress(p.banner()).await;
        cx.say(p.line()).await;
    }
}

/// Sets `status.abort` (`argo.abort`: true, `argo.retry`: false), as the plugin does.
pub async fn set_abort(cx: &mut KubeStep<'_>, name: &str, abort: bool) -> ActionResult {
    let ns = cx.ns.clone();
    set_abort_in(cx, &ns, name, abort).await
}

pub(super) async fn set_abort_in(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    abort: bool,
) -> ActionResult {
    let ro = get_rollout(cx, ns, name).await?;
    let api = rollouts(cx, ns);
    let patch = if abort { ABORT_PATCH } else { RETRY_PATCH };
    patch_status(&api, name, patch, Some(patch))
        .await
        .map_err(|e| {
            Failure::Error(format!(
                "cannot {} rollout/{name}: {}",
                if abort { "abort" } else { "retry" },
                describe_error(&e)
            ))
        })?;
    cx.changed(Change::Rollout {
        namespace: ns.to_string(),
        rollout: name.to_string(),
        op: if abort {
            RolloutOp::Abort
        } else {
            RolloutOp::Retry
        },
        pod_hash: s(&ro, "/status/currentPodHash").to_string(),
        before: journaled(&ro),
    });
    cx.out(format!(
        "rollout '{name}' {}",
        if abort { "aborted" } else { "retried" }
    ))
    .await;
    show_progress(cx, ns, name).await;
    Ok(())
}

// ---- set image -------------------------------------------------------------------------------

/// `newRolloutSetImage`: the object with `container`'s image (every container's for `*`) set in
/// its init, main and ephemeral containers; and each container changed with the image it had.
pub fn with_image(
    obj: &Value,
    container: &str,
    image: &str,
) -> Result<(Value, Vec<ImageWas>), String> {
    let mut o = obj.clone();
    let mut was = Vec::new();
    let mut found = false;
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(cs) = o
            .pointer_mut(&format!("/spec/template/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in cs {
            let n = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if n == container || container == "*" {
                found = true;
                let from = c
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if from != image {
                    was.push(ImageWas { container: n, from });
                }
                c["image"] = json!(image);
            }
        }
    }
    if !found {
        return Err(format!("unable to find container named \"{container}\""));
    }
    Ok((o, was))
}

/// The container a set image without one means: the pod's only container.
fn only_container(obj: &Value, what: &str) -> Result<String, Failure> {
    let names: Vec<&str> = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().map(|c| s(c, "/name")).collect())
        .unwrap_or_default();
    match names.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(Failure::Error(format!("{what} has no containers"))),
        more => Err(Failure::Error(format!(
            "{what} has several containers ({}): say which with `container`",
            more.join(", ")
        ))),
    }
}

/// The API of the object that holds a rollout's template: the rollout, or its `workloadRef`
/// deployment.
fn template_holder(
    cx: &KubeStep<'_>,
    ns: &str,
    ro: &Value,
) -> (Api<DynamicObject>, Option<String>) {
    let workload = s(ro, "/spec/workloadRef/name");
    if workload.is_empty() {
        return (rollouts(cx, ns), None);
    }
    let ar = ApiResource::erase::<Deployment>(&());
    (
        Api::namespaced_with(cx.client.clone(), ns, &ar),
        Some(workload.to_string()),
    )
}

pub async fn set_image(cx: &mut KubeStep<'_>, a: &ArgoSetImage) -> ActionResult {
    let ns = cx.ns.clone();
    let name = &a.rollout;
    if let Some(d) = a.digest.as_deref()
        && !crate::runbook::kube::is_digest(d)
    {
        return Err(Failure::Error(format!(
            "`{d}` is not an image digest (sha256: and 64 hex digits); was the push's digest captured?"
        )));
    }
    let ro = get_rollout(cx, &ns, name).await?;
    let (api, workload) = template_holder(cx, &ns, &ro);
    let holder = workload.clone().unwrap_or_else(|| name.clone());
    let what = match &workload {
        Some(w) => format!("deployment/{w} (the workload of rollout/{name})"),
        None => format!("rollout/{name}"),
    };
    let image = a.reference();
    let mut container = a.container.clone();
    let mut last = None;
    for _ in 0..SET_IMAGE_ATTEMPTS {
        let obj = api
            .get(&holder)
            .await
            .map_err(|e| Failure::Error(format!("cannot read {what}: {}", describe_error(&e))))?;
        let v = serde_json::to_value(&obj).unwrap_or(Value::Null);
        let c = match &container {
            Some(c) => c.clone(),
            None => only_container(&v, &what)?,
        };
        container = Some(c.clone());
        let (new, was) = with_image(&v, &c, &image).map_err(Failure::Error)?;
        if was.is_empty() {
            cx.say(format!("{what} container={c} already runs {image}"))
                .await;
            return Ok(());
        }
        let new: DynamicObject =
            serde_json::from_value(new).map_err(|e| Failure::Error(format!("{what}: {e}")))?;
        match api.replace(&holder, &PostParams::default(), &new).await {
            Ok(_) => {
                cx.changed(Change::RolloutImage {
                    namespace: ns.clone(),
                    rollout: name.clone(),
                    workload: workload.clone(),
                    containers: was.clone(),
                    to: image.clone(),
                });
                for w in &was {
                    cx.out(format!(
                        "{what} container={}: {} → {image}",
                        w.container, w.from
                    ))
                    .await;
                }
                return Ok(());
            }
            Err(kube::Error::Api(e)) if e.code == 409 => last = Some(e.message),
            Err(e) => {
                return Err(Failure::Error(format!(
                    "cannot set the image of {what}: {}",
                    describe_error(&e)
                )));
            }
        }
    }
    Err(Failure::Error(format!(
        "cannot set the image of {what}: it kept changing ({})",
        last.unwrap_or_default()
    )))
}

/// Puts images back (`argo.set_image`'s undo): each container still running `to` gets the image
/// it had; one changed since is left, and said.
pub(super) async fn unset_image(
    cx: &mut KubeStep<'_>,
    ns: &str,
    rollout: &str,
    workload: Option<&str>,
    containers: &[ImageWas],
    to: &str,
) -> ActionResult {
    let (api, holder, what) = match workload {
        Some(w) => {
            let ar = ApiResource::erase::<Deployment>(&());
            (
                Api::namespaced_with(cx.client.clone(), ns, &ar),
                w.to_string(),
                format!("deployment/{w}"),
            )
        }
        None => (
            rollouts(cx, ns),
            rollout.to_string(),
            format!("rollout/{rollout}"),
        ),
    };
    for _ in 0..SET_IMAGE_ATTEMPTS {
        let obj = api
            .get(&holder)
            .await
            .map_err(|e| Failure::Error(format!("cannot read {what}: {}", describe_error(&e))))?;
        let mut v = serde_json::to_value(&obj).unwrap_or(Value::Null);
        let mut back = Vec::new();
        let mut left = Vec::new();
        for w in containers {
            let (_, now) = with_image(&v, &w.container, to)
                .map_err(|e| Failure::Error(format!("{what}: {e}")))?;
            // `now` is empty when the container still runs `to`.
            if now.is_empty() {
                v = with_image(&v, &w.container, &w.from)
                    .map_err(|e| Failure::Error(format!("{what}: {e}")))?
                    .0;
                back.push(w.clone());
            } else {
                left.push(format!("{} (runs {})", w.container, now[0].from));
            }
        }
        if !back.is_empty() {
            let new: DynamicObject =
                serde_json::from_value(v).map_err(|e| Failure::Error(format!("{what}: {e}")))?;
            match api.replace(&holder, &PostParams::default(), &new).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => {
                    return Err(Failure::Error(format!(
                        "cannot put the image of {what} back: {}",
                        describe_error(&e)
                    )));
                }
            }
            cx.changed(Change::RolloutImage {
                namespace: ns.to_string(),
                rollout: rollout.to_string(),
                workload: workload.map(str::to_string),
                containers: back
                    .iter()
                    .map(|w| ImageWas {
                        container: w.container.clone(),
                        from: to.to_string(),
                    })
                    .collect(),
                to: back.first().map(|w| w.from.clone()).unwrap_or_default(),
            });
            for w in &back {
                cx.out(format!(
                    "{what} container={}: {to} → {}",
                    w.container, w.from
                ))
                .await;
            }
        }
        if !left.is_empty() {
            return Err(Failure::Error(format!(
                "{what} changed since: {} left as it is (not {to})",
                left.join(", ")
            )));
        }
        return Ok(());
    }
    Err(Failure::Error(format!(
        "cannot put the image of {what} back: it kept changing"
    )))
}

// ---- undo ------------------------------------------------------------------------------------

/// `equalIgnoreHash`'s `DeepDerivative(a, b)`: every field set in `a` is the same in `b` (fields
/// unset, empty strings and empty maps in `a` are ignored).
pub fn derivative(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, _) => true,
        (Value::String(x), _) if x.is_empty() => true,
        (Value::Object(x), _) if x.is_empty() => true,
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .all(|(k, v)| derivative(v, y.get(k).unwrap_or(&Value::Null))),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| derivative(p, q))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A template without the rollouts hash label.
pub fn without_hash(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH_LABEL);
    }
    t
}

/// `rolloutRevision`: the ReplicaSet of revision `to` (0: the one before the newest).
pub fn revision_set(rss: &[Value], to: i64, rollout: &str) -> Result<Value, String> {
    let rev = |rs: &Value| -> Option<i64> {
        match rs
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REVISION))
        {
            None => Some(0),
            Some(v) => v.as_str().and_then(|s| s.parse().ok()),
        }
    };
    let (mut latest, mut latest_rev, mut prev, mut prev_rev) = (None, -1, None, -1);
    for rs in rss {
        let Some(v) = rev(rs) else { continue };
        if to == 0 {
            if latest_rev < v {
                prev_rev = latest_rev;
                prev = latest;
                latest_rev = v;
                latest = Some(rs);
            } else if prev_rev < v {
                prev_rev = v;
                prev = Some(rs);
            }
        } else if to == v {
            return Ok(rs.clone());
        }
    }
    if to > 0 {
        return Err(format!("unable to find specified revision {to} in history"));
    }
    prev.cloned()
        .ok_or_else(|| format!("no revision found for rollout \"{rollout}\""))
}

/// The JSON patch `getRolloutPatch` makes.
pub fn template_patch(template: &Value) -> Value {
    json!([{"op": "replace", "path": "/spec/template", "value": template}])
}

pub async fn undo(cx: &mut KubeStep<'_>, a: &ArgoUndo) -> ActionResult {
    let ns = cx.ns.clone();
    let name = &a.rollout;
    let to = match &a.to_revision {
        Some(r) => r.value("to_revision").map_err(Failure::Error)?,
        None => 0,
    };
    let ro = get_rollout(cx, &ns, name).await?;
    let rss = replica_sets(cx, &ns, &ro).await.map_err(|e| {
        Failure::Error(format!(
            "failed to retrieve replica sets from rollout {name}: {}",
            describe_error(&e)
        ))
    })?;
    let rss: Vec<Value> = rss
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .collect();
    let rs = revision_set(&rss, to, name).map_err(Failure::Error)?;
    let rs_template = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let (api, workload) = template_holder(cx, &ns, &ro);
    let holder_obj = match &workload {
        Some(w) => serde_json::to_value(api.get(w).await?).unwrap_or(Value::Null),
        None => ro.clone(),
    };
    let current = holder_obj
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let revision = rs
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .unwrap_or("0")
        .to_string();
    if derivative(&without_hash(&current), &without_hash(&rs_template)) {
        cx.say(format!(
            "rollout/{name}: skipped rollback (current template already matches revision {to})"
        ))
        .await;
        return Ok(());
    }
    let after = without_hash(&rs_template);
    put_template(&api, workload.as_deref().unwrap_or(name), &after)
        .await
        .map_err(|e| {
            Failure::Error(format!(
                "failed restoring revision {to}: {}",
                describe_error(&e)
            ))
        })?;
    cx.changed(Change::RolloutTemplate {
        namespace: ns.clone(),
        rollout: name.clone(),
        workload: workload.clone(),
        to_revision: revision.parse().unwrap_or(0),
        before: current,
        after,
    });
    cx.out(format!("rollout '{name}' undo (to revision {revision})"))
        .await;
    Ok(())
}

async fn put_template(
    api: &Api<DynamicObject>,
    name: &str,
    template: &Value,
) -> Result<(), kube::Error> {
    let patch: json_patch::Patch =
        serde_json::from_value(template_patch(template)).unwrap_or(json_patch::Patch(vec![]));
    api.patch(name, &PatchParams::default(), &Patch::<Value>::Json(patch))
        .await?;
    Ok(())
}

/// Puts a template back (`argo.undo`'s undo), while the template is still the one the undo set.
pub(super) async fn untemplate(
    cx: &mut KubeStep<'_>,
    ns: &str,
    rollout: &str,
    workload: Option<&str>,
    before: &Value,
    after: &Value,
) -> ActionResult {
    let ro = get_rollout(cx, ns, rollout).await?;
    let (api, _) = template_holder(cx, ns, &ro);
    let holder = workload.unwrap_or(rollout);
    let what = match workload {
        Some(w) => format!("deployment/{w}"),
        None => format!("rollout/{rollout}"),
    };
    let now = serde_json::to_value(api.get(holder).await?)
        .unwrap_or(Value::Null)
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    if !derivative(&without_hash(after), &without_hash(&now)) {
        return Err(Failure::Error(format!(
            "{what}: its template changed since the rollback; left as it is"
        )));
    }
    put_template(&api, holder, before).await.map_err(|e| {
        Failure::Error(format!(
            "cannot put the template of {what} back: {}",
            describe_error(&e)
        ))
    })?;
    cx.changed(Change::RolloutTemplate {
        namespace: ns.to_string(),
        rollout: rollout.to_string(),
        workload: workload.map(str::to_string),
        to_revision: 0,
        before: now,
        after: before.clone(),
    });
    cx.out(format!(
        "{what}: template put back as it was before the rollback"
    ))
    .await;
    Ok(())
}

/// Puts a promote, abort or retry back: a promote (or a retry) by an abort, while the update it
/// moved on is still the rollout's and not yet stable; an abort by a retry, while that update is
/// still the rollout's and aborted.
pub(super) async fn unroll(
    cx: &mut KubeStep<'_>,
    ns: &str,
    rollout: &str,
    op: RolloutOp,
    pod_hash: &str,
) -> ActionResult {
    let ro = get_rollout(cx, ns, rollout).await?;
    let current = s(&ro, "/status/currentPodHash");
    let stable = s(&ro, "/status/stableRS");
    let aborted = b(&ro, "/status/abort");
    let what = format!("rollout/{rollout}");
    if current != pod_hash {
        return Err(Failure::Error(format!(
            "{what} has moved on to another update ({current}, not {pod_hash}); left as it is"
        )));
    }
    match op {
        RolloutOp::Promote | RolloutOp::PromoteFull | RolloutOp::Retry => {
            if stable == pod_hash {
                return Err(Failure::Error(format!(
                    "{what}: the promoted version ({pod_hash}) is stable since, and an abort cannot bring the old one back; left as it is (`argo.undo` rolls it back)"
                )));
            }
            if aborted {
                cx.say(format!("{what} is already aborted")).await;
                return Ok(());
            }
            set_abort_in(cx, ns, rollout, true).await
        }
        RolloutOp::Abort => {
            if !aborted {
                cx.say(format!("{what} is no longer aborted")).await;
                return Ok(());
            }
            set_abort_in(cx, ns, rollout, false).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(steps: Value, status: Value) -> Value {
        json!({"metadata": {"name": "api", "generation": 2},
               "spec": {"replicas": 3, "strategy": {"canary": {"steps": steps}}},
               "status": status})
    }

    fn eight_steps() -> Value {
        json!([{"setWeight": 10}, {"pause": {}}, {"setWeight": 25}, {"pause": {"duration": "1m"}},
               {"setWeight": 50}, {"pause": {}}, {"setWeight": 75}, {"pause": {}}])
    }

    /// The patches compared with the plugin's strings (`promote.go`'s constants).
    #[test]
    fn promote_sends_the_plugins_patches() {
        // Paused at a pause step by the controller: the pause conditions are cleared.
        let ro = canary(
            eight_steps(),
            json!({"currentStepIndex": 1, "pauseConditions": [{"reason": "CanaryPauseStep"}],
                   "controllerPause": true, "currentPodHash": "new", "stableRS": "old"}),
        );
        assert_eq!(
            promote_patches(&ro, false),
            (
                None,
                Some(r#"{"status":{"pauseConditions":null}}"#.into()),
                r#"{"spec":{"paused":false},"status":{"pauseConditions":null}}"#.into()
            )
        );
        // Not paused: on to the next step.
        let ro = canary(
            eight_steps(),
            json!({"currentStepIndex": 2, "currentPodHash": "new", "stableRS": "old"}),
        );
        let (spec, status, unified) = promote_patches(&ro, false);
        assert_eq!(spec, None);
        assert_eq!(
            status.as_deref(),
            Some(r#"{"status":{"pauseConditions":null, "currentStepIndex":3}}"#)
        );
        assert_eq!(
            unified,
            r#"{"spec":{"paused":false},"status":{"pauseConditions":null, "currentStepIndex":3}}"#
        );
        // Paused by hand: the spec is unpaused too.
        let mut ro = ro;
        ro["spec"]["paused"] = json!(true);
        assert_eq!(
            promote_patches(&ro, false).0.as_deref(),
            Some(r#"{"spec":{"paused":false}}"#)
        );
        // Full: promoteFull while the update is not stable.
        assert_eq!(
            promote_patches(&ro, true),
            (
                Some(r#"{"spec":{"paused":false}}"#.into()),
                Some(r#"{"status":{"promoteFull":true}}"#.into()),
                r#"{"spec":{"paused":false},"status":{"promoteFull":true}}"#.into()
            )
        );
        // An inconclusive analysis paused by the controller: skip the step.
        let ro = canary(
            eight_steps(),
            json!({"currentStepIndex": 4, "pauseConditions": [{"reason": "InconclusiveAnalysisRun"}],
                   "controllerPause": true, "canary": {"currentStepAnalysisRunStatus": {"status": "Inconclusive"}}}),
        );
        assert_eq!(
            promote_patches(&ro, false).1.as_deref(),
            Some(
                r#"{"status":{"pauseConditions":null, "controllerPause":false, "currentStepIndex":5}}"#
            )
        );
        // Every patch is JSON.
        for p in [ABORT_PATCH, RETRY_PATCH, UNPAUSE_AND_PROMOTE_FULL_PATCH] {
            serde_json::from_str::<Value>(p).unwrap();
        }
        assert_eq!(ABORT_PATCH, r#"{"status":{"abort":true}}"#);
        assert_eq!(RETRY_PATCH, r#"{"status":{"abort":false}}"#);
    }

    /// `until` holds only on a status the controller wrote for the latest spec, and a pause step
    /// only once paused there (the index moves there a sync before the pause condition).
    #[test]
    fn until_waits_for_the_spec_to_be_observed_and_the_pause_to_be_taken() {
        let none = BTreeMap::new();
        // The previous update's status (index 8 of 8) right after a new image: nothing counts.
        let stale = canary(
            eight_steps(),
            json!({"currentStepIndex": 8, "observedGeneration": "1", "phase": "Healthy"}),
        );
        let p = Progress::of(&stale, &none);
        assert!(!p.reached(&Until::Step(1)) && !p.reached(&Until::Healthy));
        // At the pause step, not paused yet.
        let moving = canary(
            eight_steps(),
            json!({"currentStepIndex": 1, "observedGeneration": "2", "phase": "Progressing"}),
        );
        let p = Progress::of(&moving, &none);
        assert!(p.pause_pending && !p.reached(&Until::Step(1)));
        assert!(p.reached(&Until::Step(0)));
        // Paused there.
        let paused = canary(
            eight_steps(),
            json!({"currentStepIndex": 1, "observedGeneration": "2", "phase": "Paused",
                   "pauseConditions": [{"reason": "CanaryPauseStep"}], "controllerPause": true}),
        );
        let p = Progress::of(&paused, &none);
        assert!(!p.pause_pending && p.reached(&Until::Step(1)) && p.reached(&Until::Paused));
    }

    #[test]
    fn weight_and_step_are_the_plugins() {
        let at = |idx: i64| {
            canary(
                eight_steps(),
                json!({"currentStepIndex": idx, "currentPodHash": "new", "stableRS": "old"}),
            )
        };
        assert_eq!(set_weight(&at(0)), 10);
        assert_eq!(set_weight(&at(1)), 10);
        assert_eq!(set_weight(&at(3)), 25);
        assert_eq!(set_weight(&at(8)), 100);
        let mut aborted = at(3);
        aborted["status"]["abort"] = json!(true);
        assert_eq!(set_weight(&aborted), 0);
        let mut rs = BTreeMap::new();
        rs.insert(
            "new".to_string(),
            Pods {
                ready: 1,
                replicas: 1,
            },
        );
        rs.insert(
            "old".to_string(),
            Pods {
                ready: 3,
                replicas: 3,
            },
        );
        let mut ro = at(2);
        ro["status"]["phase"] = json!("Progressing");
        ro["status"]["observedGeneration"] = json!("2");
        let p = Progress::of(&ro, &rs);
        assert_eq!(
            p.line(),
            "step 2/8 · weight 25 % · canary 1/1 ready · stable 3/3 ready · Progressing"
        );
        assert_eq!(p.banner(), "canary 25 % · step 2/8 · Progressing");
        assert!(p.reached(&Until::Step(2)) && !p.reached(&Until::Step(3)));
        assert!(p.reached(&Until::Weight(25)) && !p.reached(&Until::Weight(26)));
        assert!(!p.reached(&Until::Paused) && !p.failed());
        // A spec change the controller has not seen yet is progressing, whatever the status says.
        ro["metadata"]["generation"] = json!(3);
        ro["status"]["phase"] = json!("Healthy");
        assert_eq!(phase(&ro).0, "Progressing");
    }

    #[test]
    fn phase_without_a_controller_phase_is_calculated_as_the_plugin_does() {
        let mut ro = canary(
            eight_steps(),
            json!({"pauseConditions": [{"reason": "CanaryPauseStep"}]}),
        );
        assert_eq!(phase(&ro), ("Paused".into(), "CanaryPauseStep".into()));
        ro["status"]["conditions"] = json!([{"type": "Progressing", "reason": "RolloutAborted", "message": "Rollout aborted update to revision 2"}]);
        assert_eq!(
            phase(&ro),
            (
                "Degraded".into(),
                "RolloutAborted: Rollout aborted update to revision 2".into()
            )
        );
        let healthy = canary(
            eight_steps(),
            json!({"updatedReplicas": 3, "availableReplicas": 3, "replicas": 3,
                   "currentPodHash": "a", "stableRS": "a"}),
        );
        assert_eq!(phase(&healthy).0, "Healthy");
        let bg = json!({"spec": {"replicas": 2, "strategy": {"blueGreen": {"activeService": "a"}}},
                        "status": {"updatedReplicas": 2, "availableReplicas": 2, "currentPodHash": "n",
                                   "stableRS": "o", "blueGreen": {"activeSelector": "o", "previewSelector": "n"}}});
        assert_eq!(
            phase(&bg),
            (
                "Progressing".into(),
                "active service cutover pending".into()
            )
        );
        let p = Progress::of(&bg, &BTreeMap::new());
        assert_eq!(
            p.roles.iter().map(|r| r.0).collect::<Vec<_>>(),
            ["preview", "active"]
        );
        assert_eq!(p.banner(), "blue-green · Progressing");
    }

    #[test]
    fn set_image_changes_the_named_container_or_every_one() {
        let ro = json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "api", "image": "api:1"}, {"name": "proxy", "image": "envoy:1"}]}}}});
        let (new, was) = with_image(&ro, "api", "api:2").unwrap();
        assert_eq!(
            new.pointer("/spec/template/spec/containers/0/image"),
            Some(&json!("api:2"))
        );
        assert_eq!(
            new.pointer("/spec/template/spec/containers/1/image"),
            Some(&json!("envoy:1"))
        );
        assert_eq!(
            was,
            [ImageWas {
                container: "api".into(),
                from: "api:1".into()
            }]
        );
        let (_, was) = with_image(&ro, "*", "x:1").unwrap();
        assert_eq!(was.len(), 3);
        assert_eq!(
            with_image(&ro, "nope", "x").unwrap_err(),
            "unable to find container named \"nope\""
        );
        assert!(only_container(&ro, "rollout/api").is_err());
    }

    #[test]
    fn undo_picks_the_plugins_revision_and_patch() {
        let rs = |rev: &str, image: &str| {
            json!({"metadata": {"annotations": {REVISION: rev}},
                   "spec": {"template": {"metadata": {"labels": {"app": "api", HASH_LABEL: format!("h{rev}")}},
                                         "spec": {"containers": [{"name": "api", "image": image}]}}}})
        };
        let rss = [rs("1", "api:1"), rs("3", "api:3"), rs("2", "api:2")];
        let prev = revision_set(&rss, 0, "api").unwrap();
        assert_eq!(
            prev.pointer("/metadata/annotations").unwrap()[REVISION],
            "2"
        );
        assert_eq!(
            revision_set(&rss, 1, "api").unwrap()["spec"],
            rss[0]["spec"]
        );
        assert_eq!(
            revision_set(&rss, 9, "api").unwrap_err(),
            "unable to find specified revision 9 in history"
        );
        assert_eq!(
            revision_set(&rss[..1], 0, "api").unwrap_err(),
            "no revision found for rollout \"api\""
        );
        let t = without_hash(&prev["spec"]["template"]);
        assert!(
            t.pointer(&format!("/metadata/labels/{HASH_LABEL}"))
                .is_none()
        );
        assert_eq!(
            template_patch(&t),
            json!([{"op": "replace", "path": "/spec/template", "value": t}])
        );
        // The rollout's template (no defaults) is derivative of the ReplicaSet's (defaulted).
        let ro_t = json!({"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "api:2"}]}});
        let mut rs_t = t.clone();
        rs_t["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
        assert!(derivative(&ro_t, &rs_t));
        assert!(!derivative(&rs_t, &ro_t));
        rs_t["spec"]["containers"][0]["image"] = json!("api:3");
        assert!(!derivative(&ro_t, &rs_t));
    }
}
