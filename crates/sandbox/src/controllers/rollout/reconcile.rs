//! One reconcile of a Rollout, as Argo's `rolloutContext.reconcile` does it (`rollout/context.go`,
//! `sync.go`, `canary.go`, `bluegreen.go`, `replicaset.go`, `service.go`, `pause.go`,
//! `restart.go`, `trafficrouting.go`): from the Rollout, its ReplicaSets, their pods and the
//! Services it names, to the writes Argo's controller would make, in its order, with its early
//! returns. A plain function ([`reconcile`]): the Manager applies the [`Plan`].
//!
//! Time: a pause's start, a scale-down deadline and the Progressing condition's last update are
//! wall-clock timestamps in the objects; how many simulated seconds have passed since one is the
//! [`Clock`]'s answer (exact for the instants the controller recorded itself, see [`Mark`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::counts::{self, rs_actual, rs_available, rs_spec};
use super::spec::{self, HASH_LABEL, SCALE_DOWN_DEADLINE};
use super::status::{self as cond, *};
use crate::controllers::conditions::{is_pod_ready, parse_time};
use crate::object::{PointerLookup, int_at, name_of, str_at};

/// Simulated time, as the controller reads it.
pub trait Clock {
    /// Now, as a metav1.Time (`2026-11-23T13:45:00Z`).
    fn stamp(&self) -> String;
    /// Simulated seconds since `stamp` (negative before it). `key` names what the controller
    /// recorded at that stamp (a [`Mark`]), for an exact answer.
    fn since(&self, key: &str, stamp: &str) -> f64;
    /// The metav1.Time `secs` simulated seconds from now.
    fn stamp_in(&self, secs: f64) -> String;
}

/// What one reconcile reads.
pub struct Observed<'a> {
    pub rollout: &'a Value,
    /// The ReplicaSets the Rollout controls.
    pub replica_sets: Vec<Value>,
    /// The pods of those ReplicaSets.
    pub pods: Vec<Value>,
    /// The Services the strategy names, by name (a missing one is absent).
    pub services: BTreeMap<String, Value>,
}

/// One write, in the order Argo makes them.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    CreateReplicaSet(Value),
    /// The ReplicaSet's new metadata.annotations and spec (replicas, minReadySeconds).
    UpdateReplicaSet(Value),
    DeleteReplicaSet(String),
    /// A merge patch of a Service (`switchServiceSelector`).
    PatchService {
        name: String,
        patch: Value,
    },
    /// An eviction of a pod older than spec.restartAt.
    EvictPod(String),
    /// The Rollout's `rollout.argoproj.io/revision` annotation.
    RolloutRevision(String),
    /// A merge patch of the Rollout's status: the top-level keys that changed (null removes).
    Status(Map<String, Value>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// The controller recorded `stamp` under `key` now, `offset` simulated seconds from now (a
/// deadline); the Manager keeps the exact instant for [`Clock::since`].
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub key: String,
    pub stamp: String,
    pub offset: f64,
}

/// What a reconcile decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub events: Vec<Event>,
    pub marks: Vec<Mark>,
    /// Look again after this many simulated seconds (a pause, a deadline).
    pub requeue_after: Option<f64>,
}

impl Plan {
    fn requeue(&mut self, secs: f64) {
        let secs = secs.max(0.0) + 0.001;
        self.requeue_after = Some(self.requeue_after.map_or(secs, |r| r.min(secs)));
    }

    /// The status patch, if the plan writes one.
    pub fn status(&self) -> Option<&Map<String, Value>> {
        self.writes.iter().find_map(|w| match w {
            Write::Status(s) => Some(s),
            _ => None,
        })
    }
}

pub const PROGRESS_KEY: &str = "progress";

fn pause_key(reason: &str) -> String {
    format!("pause/{reason}")
}

fn deadline_key(rs: &str) -> String {
    format!("deadline/{rs}")
}

/// Argo's pauseContext: pause conditions and the abort, added or removed during a reconcile.
#[derive(Default)]
struct Pause {
    add: Vec<&'static str>,
    remove: Vec<&'static str>,
    clear: bool,
    add_abort: bool,
    remove_abort: bool,
    abort_message: String,
}

struct Ctx<'a> {
    /// `c.rollout`: the Rollout as read, with the status updates made before the final one.
    ro: Value,
    /// The status as stored, which the final patch is made against.
    stored: Value,
    clock: &'a dyn Clock,
    all: Vec<Value>,
    new_name: Option<String>,
    stable_name: Option<String>,
    /// `c.newRSWithinDelay`: the new ReplicaSet had a scale-down deadline not yet passed when
    /// the reconcile began (a blue/green rollback to it is fast).
    new_within_delay: bool,
    pods: Vec<Value>,
    services: BTreeMap<String, Value>,
    pause: Pause,
    /// `c.newStatus`: restartedAt and the weights.
    restarted_at: Option<Value>,
    weights: Option<Value>,
    plan: Plan,
}

/// `a.CreationTimestamp.Before(&b.CreationTimestamp)` (whole seconds, as metav1.Time).
fn created_before(a: &Value, b: &Value) -> bool {
    match (
        parse_time(str_at(a, "/metadata/creationTimestamp")),
        parse_time(str_at(b, "/metadata/creationTimestamp")),
    ) {
        (Some(x), Some(y)) => x < y,
        _ => false,
    }
}

/// Reconcile one Rollout.
pub fn reconcile(obs: Observed<'_>, clock: &dyn Clock) -> Plan {
    let ro = obs.rollout;
    if ro.at("/metadata/deletionTimestamp").is_some() {
        return Plan::default();
    }
    let mut all = obs.replica_sets;
    all.sort_by(|a, b| {
        (str_at(a, "/metadata/creationTimestamp"), name_of(a))
            .cmp(&(str_at(b, "/metadata/creationTimestamp"), name_of(b)))
    });
    let stored = ro.get("status").cloned().unwrap_or(json!({}));
    let mut c = Ctx {
        ro: ro.clone(),
        stored: stored.clone(),
        clock,
        all,
        new_name: None,
        stable_name: None,
        new_within_delay: false,
        pods: obs.pods,
        services: obs.services,
        pause: Pause::default(),
        restarted_at: stored.get("restartedAt").cloned(),
        weights: stored.at("/canary/weights").cloned(),
        plan: Plan::default(),
    };
    if !c.ro.get("status").is_some_and(Value::is_object) {
        c.ro["status"] = json!({});
    }
    if let Err(msg) = c.validate() {
        c.invalid(&msg);
        return c.plan;
    }
    c.find_replica_sets();
    c.new_within_delay = c
        .new_rs()
        .is_some_and(|rs| c.remaining_before_deadline(rs).is_some());
    if c.new_rs().is_none() {
        c.create_desired_rs();
    }
    c.reconcile();
    c.plan
}

impl Ctx<'_> {
    // --- reading ---------------------------------------------------------------------------------

    fn st(&self) -> &Value {
        &self.ro["status"]
    }

    fn flag(&self, field: &str) -> bool {
        self.st().get(field).and_then(Value::as_bool) == Some(true)
    }

    fn rs(&self, name: Option<&String>) -> Option<&Value> {
        let n = name?;
        self.all.iter().find(|r| name_of(r) == n)
    }

    fn new_rs(&self) -> Option<&Value> {
        self.rs(self.new_name.as_ref())
    }

    fn stable_rs(&self) -> Option<&Value> {
        self.rs(self.stable_name.as_ref())
    }

    /// `c.otherRSs`: neither new nor stable.
    fn others(&self) -> Vec<&Value> {
        self.all
            .iter()
            .filter(|r| {
                Some(name_of(r)) != self.new_name.as_deref()
                    && Some(name_of(r)) != self.stable_name.as_deref()
            })
            .collect()
    }

    fn others_owned(&self) -> Vec<Value> {
        self.others().into_iter().cloned().collect()
    }

    fn new_hash(&self) -> String {
        match self.new_rs() {
            Some(rs) => spec::rs_hash(rs).to_string(),
            None => spec::pod_template_hash(
                self.ro.at("/spec/template").unwrap_or(&Value::Null),
                self.st().get("collisionCount").and_then(Value::as_i64),
            ),
        }
    }

    fn put_rs(&mut self, rs: Value) {
        match self.all.iter_mut().find(|r| name_of(r) == name_of(&rs)) {
            Some(slot) => *slot = rs,
            None => self.all.push(rs),
        }
    }

    fn event(&mut self, reason: &str, message: String) {
        self.plan.events.push(Event {
            warning: false,
            reason: reason.into(),
            message,
        });
    }

    fn warning(&mut self, reason: &str, message: String) {
        self.plan.events.push(Event {
            warning: true,
            reason: reason.into(),
            message,
        });
    }

    fn name(&self) -> String {
        str_at(&self.ro, "/metadata/name").to_string()
    }

    fn aborted(&self) -> bool {
        if self.pause.remove_abort {
            return false;
        }
        self.pause.add_abort || self.flag("abort")
    }

    /// `haltProgress`: only a user's pause halts (analysis is not modelled).
    fn halted(&self) -> bool {
        spec::paused(&self.ro)
    }

    fn service_hash(&self, name: &str) -> String {
        self.services
            .get(name)
            .map(|s| str_at(s, &format!("/spec/selector/{HASH_LABEL}")).to_string())
            .unwrap_or_default()
    }

    fn has_deadline(rs: &Value) -> bool {
        spec::annotation(rs, SCALE_DOWN_DEADLINE).is_some()
    }

    /// `isRollback`: the desired template is the stable ReplicaSet's (also true of a rollout
    /// fully promoted), or one older than the stable ReplicaSet.
    fn is_rollback(&self) -> bool {
        let (Some(new), Some(stable)) = (self.new_rs(), self.stable_rs()) else {
            return false;
        };
        str_at(self.st(), "/stableRS") == spec::rs_hash(new) || created_before(new, stable)
    }

    /// `isRollbackWithinWindow`: back to a ReplicaSet older than the stable one, with fewer
    /// than `spec.rollbackWindow.revisions` ReplicaSets between them.
    fn rollback_within_window(&self) -> bool {
        let (Some(new), Some(stable)) = (self.new_rs(), self.stable_rs()) else {
            return false;
        };
        if !created_before(new, stable) {
            return false;
        }
        let revisions = int_at(&self.ro, "/spec/rollbackWindow/revisions", 0);
        if revisions <= 0 {
            return false;
        }
        let between = self
            .all
            .iter()
            .filter(|rs| spec::annotation(rs, "experiments.argoproj.io/experiment-name").is_none())
            .filter(|rs| created_before(rs, stable) && created_before(new, rs))
            .count() as i64;
        between < revisions
    }

    /// `isFastRollback`: a rollback within the rollback window, to the stable ReplicaSet, or,
    /// for blue/green, to a ReplicaSet still within its scale-down delay (still scaled up): its
    /// pause and steps are skipped.
    fn fast_rollback(&self) -> bool {
        if !self.is_rollback() {
            return false;
        }
        let within_delay = self.new_within_delay && spec::blue_green(&self.ro).is_some();
        let to_stable = self
            .new_rs()
            .is_some_and(|n| str_at(self.st(), "/stableRS") == spec::rs_hash(n));
        self.rollback_within_window() || within_delay || to_stable
    }

    /// The reason a fast rollback gives for its full promotion.
    fn fast_rollback_reason(&self) -> String {
        if self.rollback_within_window() {
            "Rollback within window".into()
        } else {
            "Fast rollback".into()
        }
    }

    // --- the context -----------------------------------------------------------------------------

    /// `getRolloutValidationErrors`, the parts the sandbox checks: a strategy, a selector, and
    /// the Services the strategy names.
    fn validate(&self) -> Result<(), String> {
        let ro = &self.ro;
        let sel = ro.at("/spec/selector");
        if sel.is_none_or(|s| s.as_object().is_none_or(Map::is_empty)) {
            return Err(
                "spec.selector: Required value: Rollout has missing field 'selector'".into(),
            );
        }
        let replicas = spec::replicas(ro);
        if replicas < 0 {
            return Err(format!(
                "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
            ));
        }
        if spec::blue_green(ro).is_some() && spec::canary(ro).is_some() {
            return Err("spec.strategy: Invalid value: \"blueGreen: true canary: true\": Multiple Strategies can not be listed".into());
        }
        let max_weight = spec::max_weight(ro);
        for (i, step) in spec::steps(ro).iter().enumerate() {
            let at = format!("spec.strategy.canary.steps[{i}]");
            const KINDS: [&str; 8] = [
                "experiment",
                "pause",
                "setWeight",
                "analysis",
                "setCanaryScale",
                "setHeaderRoute",
                "setMirrorRoute",
                "plugin",
            ];
            if !KINDS
                .iter()
                .any(|k| step.get(k).is_some_and(|v| !v.is_null()))
            {
                return Err(format!(
                    "{at}: Invalid value: {step}: Step must have one of the following set: experiment, setWeight, setCanaryScale, plugin or pause"
                ));
            }
            if let Some(w) = step.get("setWeight").filter(|w| !w.is_null()) {
                match w.as_i64() {
                    Some(n) if (0..=max_weight).contains(&n) => {}
                    _ => {
                        return Err(format!(
                            "{at}.setWeight: Invalid value: {w}: SetWeight needs to be between 0 and {max_weight}"
                        ));
                    }
                }
            }
            if let Some(d) = step.get("pause").and_then(spec::pause_duration)
                && d < 0
            {
                return Err(format!(
                    "{at}.pause.duration: Invalid value: {d}: Duration needs to be greater than 0"
                ));
            }
        }
        let mut services: Vec<(&str, &str)> = Vec::new();
        if let Some(bg) = spec::blue_green(ro) {
            if str_at(bg, "/activeService").is_empty() {
                return Err("spec.strategy.blueGreen.activeService: Required value: Rollout has missing field 'activeService'".into());
            }
            services.push((
                "spec.strategy.blueGreen.activeService",
                spec::active_service(ro),
            ));
            services.push((
                "spec.strategy.blueGreen.previewService",
                spec::preview_service(ro),
            ));
        } else if spec::canary(ro).is_some() {
            services.push((
                "spec.strategy.canary.canaryService",
                spec::canary_service(ro),
            ));
            services.push((
                "spec.strategy.canary.stableService",
                spec::stable_service(ro),
            ));
        } else {
            return Err("spec.strategy: Invalid value: \"\": must specify one of canary or blueGreen strategy".into());
        }
        for (path, name) in services {
            if !name.is_empty() && !self.services.contains_key(name) {
                return Err(format!(
                    "{path}: Invalid value: \"{name}\": services \"{name}\" not found"
                ));
            }
        }
        Ok(())
    }

    /// `createInvalidRolloutCondition`.
    fn invalid(&mut self, msg: &str) {
        let now = self.clock.stamp();
        let mut st = self.stored.clone();
        let message = format!("The Rollout \"{}\" is invalid: {msg}", self.name());
        cond::set(
            &mut st,
            new_condition(INVALID_SPEC, "True", INVALID_SPEC, &message, &now),
        );
        st["observedGeneration"] = json!(generation_string(&self.ro));
        if spec::canary(&self.ro).is_some() && st.at("/canary/weights").is_none() {
            st["canary"] = json!({"weights": {"canary": {"weight": 0},
                                              "stable": {"weight": spec::max_weight(&self.ro)}}});
        }
        let (phase, message) = cond::phase(&self.ro, &st);
        st["phase"] = json!(phase);
        st["message"] = json!(message);
        if let Some(p) = cond::diff(&self.stored, &st) {
            self.plan.writes.push(Write::Status(p));
        }
        self.plan.requeue(spec::INVALID_REQUEUE_SECONDS);
    }

    /// `FindNewReplicaSet`, `GetStableRS`.
    fn find_replica_sets(&mut self) {
        let template = self.ro.at("/spec/template").cloned().unwrap_or(Value::Null);
        let hash = spec::pod_template_hash(
            &template,
            self.st().get("collisionCount").and_then(Value::as_i64),
        );
        let new = self
            .all
            .iter()
            .find(|rs| spec::rs_hash(rs) == hash)
            .or_else(|| {
                let want = spec::template_without_hash(&template);
                self.all.iter().find(|rs| {
                    let live = spec::template_without_hash(
                        rs.at("/spec/template").unwrap_or(&Value::Null),
                    );
                    crate::controllers::deployment::equal_ignore_hash(&live, &want)
                })
            });
        self.new_name = new.map(|r| name_of(r).to_string());
        let stable = counts::find_stable(&self.ro, new, &self.all);
        self.stable_name = stable.map(|r| name_of(r).to_string());
    }

    fn max_old_revision(&self) -> i64 {
        self.all
            .iter()
            .filter(|r| Some(name_of(r)) != self.new_name.as_deref())
            .map(spec::revision)
            .max()
            .unwrap_or(0)
    }

    /// `SetNewReplicaSetAnnotations`.
    fn set_new_rs_annotations(&self, rs: &mut Value, new_revision: i64, exists: bool) -> bool {
        let mut changed = false;
        if !rs.at("/metadata/annotations").is_some_and(Value::is_object) {
            rs["metadata"]["annotations"] = json!({});
        }
        if let Some(anns) = self
            .ro
            .at("/metadata/annotations")
            .and_then(Value::as_object)
        {
            for (k, v) in anns {
                if spec::ANNOTATIONS_TO_SKIP.contains(&k.as_str()) {
                    continue;
                }
                if rs["metadata"]["annotations"].get(k) != Some(v) {
                    rs["metadata"]["annotations"][k] = v.clone();
                    changed = true;
                }
            }
        }
        let old = spec::annotation(rs, spec::REVISION).map(str::to_string);
        let old_int = match old.as_deref() {
            None | Some("") => 0,
            Some(s) => match s.parse::<i64>() {
                Ok(n) => n,
                Err(_) => return false,
            },
        };
        if old_int < new_revision {
            rs["metadata"]["annotations"][spec::REVISION] = json!(new_revision.to_string());
            changed = true;
        }
        if let Some(old) = old
            && changed
        {
            let hist = spec::annotation(rs, spec::REVISION_HISTORY).unwrap_or("");
            let joined = if hist.is_empty() {
                old
            } else {
                format!("{hist},{old}")
            };
            rs["metadata"]["annotations"][spec::REVISION_HISTORY] = json!(joined);
        }
        if !exists {
            let r = spec::replicas(&self.ro).to_string();
            if spec::annotation(rs, spec::DESIRED_REPLICAS) != Some(r.as_str()) {
                rs["metadata"]["annotations"][spec::DESIRED_REPLICAS] = json!(r);
                changed = true;
            }
        }
        changed
    }

    /// `setRolloutRevision`.
    fn set_rollout_revision(&mut self, revision: &str) {
        if revision.is_empty() || spec::annotation(&self.ro, spec::REVISION) == Some(revision) {
            return;
        }
        if !self
            .ro
            .at("/metadata/annotations")
            .is_some_and(Value::is_object)
        {
            self.ro["metadata"]["annotations"] = json!({});
        }
        self.ro["metadata"]["annotations"][spec::REVISION] = json!(revision);
        self.plan
            .writes
            .push(Write::RolloutRevision(revision.to_string()));
        self.event(
            "RolloutUpdated",
            format!("Rollout updated to revision {revision}"),
        );
    }

    /// A condition set on `c.rollout.Status` before the final status (an UpdateStatus in Argo).
    fn set_early_condition(&mut self, t: &str, status: &str, reason: &str, message: &str) {
        let now = self.clock.stamp();
        let mut st = self.st().clone();
        if cond::set(&mut st, new_condition(t, status, reason, message, &now)) && t == PROGRESSING {
            self.mark_progress(&now);
        }
        self.ro["status"] = st;
    }

    fn mark_progress(&mut self, stamp: &str) {
        self.plan.marks.push(Mark {
            key: PROGRESS_KEY.into(),
            stamp: stamp.into(),
            offset: 0.0,
        });
    }

    /// `createDesiredReplicaSet`.
    fn create_desired_rs(&mut self) {
        let new_revision = self.max_old_revision() + 1;
        let template = self.ro.at("/spec/template").cloned().unwrap_or(json!({}));
        let hash = spec::pod_template_hash(
            &template,
            self.st().get("collisionCount").and_then(Value::as_i64),
        );
        let mut tmpl = template;
        if !tmpl.get("metadata").is_some_and(Value::is_object) {
            tmpl["metadata"] = json!({});
        }
        if !tmpl["metadata"].get("labels").is_some_and(Value::is_object) {
            tmpl["metadata"]["labels"] = json!({});
        }
        tmpl["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = self.ro.at("/spec/selector").cloned().unwrap_or(json!({}));
        if !selector.get("matchLabels").is_some_and(Value::is_object) {
            selector["matchLabels"] = json!({});
        }
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        let name = format!("{}-{hash}", self.name());
        let mut rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": str_at(&self.ro, "/metadata/namespace"),
                "labels": tmpl["metadata"]["labels"].clone(),
                "ownerReferences": [spec::owner_ref(&self.ro)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int_at(&self.ro, "/spec/minReadySeconds", 0),
                "selector": selector,
                "template": tmpl,
            },
        });
        self.set_new_rs_annotations(&mut rs, new_revision, false);
        self.plan.writes.push(Write::CreateReplicaSet(rs.clone()));
        self.all.push(rs);
        self.new_name = Some(name.clone());
        self.set_rollout_revision(&new_revision.to_string());
        self.event(
            NEW_RS_REASON,
            format!("Created ReplicaSet {name} (revision {new_revision})"),
        );
        self.set_early_condition(
            PROGRESSING,
            "True",
            NEW_RS_REASON,
            &format!("Created new replica set \"{name}\""),
        );
    }

    /// `syncReplicaSetRevision`.
    fn sync_revision(&mut self) {
        let Some(new) = self.new_rs().cloned() else {
            return;
        };
        let new_revision = self.max_old_revision() + 1;
        let mut copy = new.clone();
        let changed = self.set_new_rs_annotations(&mut copy, new_revision, true);
        let min_ready = int_at(&self.ro, "/spec/minReadySeconds", 0);
        if changed || int_at(&copy, "/spec/minReadySeconds", 0) != min_ready {
            copy["spec"]["minReadySeconds"] = json!(min_ready);
            self.plan.writes.push(Write::UpdateReplicaSet(copy.clone()));
            self.put_rs(copy);
            return;
        }
        let rev = spec::annotation(&copy, spec::REVISION)
            .unwrap_or("")
            .to_string();
        self.set_rollout_revision(&rev);
        if cond::get(self.st(), PROGRESSING).is_none() {
            let msg = format!("Found new replica set \"{}\"", name_of(&copy));
            self.set_early_condition(PROGRESSING, "True", FOUND_NEW_RS_REASON, &msg);
        }
    }

    // --- the reconcile ---------------------------------------------------------------------------

    fn reconcile(&mut self) {
        if self.check_paused_conditions() {
            return;
        }
        if self.is_scaling_event() {
            self.sync_replicas_only();
            return;
        }
        if spec::blue_green(&self.ro).is_some() {
            self.rollout_blue_green();
        } else {
            self.rollout_canary();
        }
    }

    /// `checkPausedConditions`: true when it wrote the status (the reconcile ends there).
    fn check_paused_conditions(&mut self) -> bool {
        if str_at(self.st(), "/observedGeneration") != generation_string(&self.ro) {
            return false;
        }
        let st = self.st().clone();
        let prog = cond::get(&st, PROGRESSING);
        let prog_paused = prog.is_some_and(|c| str_at(c, "/reason") == PAUSED_REASON);
        let is_paused = !cond::pause_conditions(&st).is_empty() || spec::paused(&self.ro);
        let abort_cond = prog.is_some_and(|c| str_at(c, "/reason") == ABORTED_REASON);
        let now = self.clock.stamp();
        let mut updated = Vec::new();
        if is_paused != prog_paused && !abort_cond && !cond::completed(&st) {
            updated.push(if is_paused {
                new_condition(PROGRESSING, "Unknown", PAUSED_REASON, PAUSED_MESSAGE, &now)
            } else {
                new_condition(
                    PROGRESSING,
                    "Unknown",
                    RESUMED_REASON,
                    RESUMED_MESSAGE,
                    &now,
                )
            });
        }
        if !self.flag("abort") && abort_cond {
            updated.push(new_condition(
                PROGRESSING,
                "Unknown",
                RETRY_REASON,
                RETRY_MESSAGE,
                &now,
            ));
        }
        let paused_true = cond::get(&st, PAUSED).is_some_and(|c| str_at(c, "/status") == "True");
        if is_paused != paused_true && !abort_cond {
            let s = if is_paused { "True" } else { "False" };
            updated.push(new_condition(
                PAUSED,
                s,
                PAUSED_REASON,
                PAUSED_MESSAGE,
                &now,
            ));
        }
        if updated.is_empty() {
            return false;
        }
        let mut new = self.stored.clone();
        for c in updated {
            let is_progress = str_at(&c, "/type") == PROGRESSING;
            if cond::set(&mut new, c) && is_progress {
                self.mark_progress(&now);
            }
        }
        new["observedGeneration"] = json!(generation_string(&self.ro));
        let (phase, message) = cond::phase(&self.ro, &new);
        new["phase"] = json!(phase);
        new["message"] = json!(message);
        match cond::diff(&self.stored, &new) {
            Some(p) => {
                self.plan.writes.push(Write::Status(p));
                true
            }
            None => false,
        }
    }

    /// `isScalingEvent`.
    fn is_scaling_event(&mut self) -> bool {
        self.sync_revision();
        let r = spec::replicas(&self.ro);
        [self.new_rs(), self.stable_rs()]
            .into_iter()
            .flatten()
            .filter(|rs| rs_spec(rs) > 0)
            .any(|rs| {
                spec::annotation(rs, spec::DESIRED_REPLICAS)
                    .and_then(|s| s.parse::<i64>().ok())
                    .is_some_and(|d| d != r)
            })
    }

    /// `syncReplicasOnly`.
    fn sync_replicas_only(&mut self) {
        let mut ns = self.stored.clone();
        if spec::blue_green(&self.ro).is_some() {
            self.reconcile_blue_green_replica_sets();
            let active = counts::by_hash(&self.all, str_at(&ns, "/blueGreen/activeSelector"));
            let (hpa, avail) = match active {
                Some(a) => (rs_actual(a), rs_available(a)),
                None => (
                    counts::actual_sum(&self.all),
                    counts::available_sum(&self.all),
                ),
            };
            put_int(&mut ns, "HPAReplicas", hpa);
            put_int(&mut ns, "availableReplicas", avail);
        } else {
            self.reconcile_canary_replica_sets();
            put_int(
                &mut ns,
                "availableReplicas",
                counts::available_sum(&self.all),
            );
            put_int(&mut ns, "HPAReplicas", counts::actual_sum(&self.all));
        }
        self.persist(ns);
    }

    /// `PodTemplateOrStepsChanged`.
    fn template_or_steps_changed(&self) -> bool {
        let h = str_at(self.st(), "/currentStepHash");
        h.is_empty() || h != spec::step_hash(&self.ro) || self.pod_spec_changed()
    }

    /// `CheckPodSpecChange`.
    fn pod_spec_changed(&self) -> bool {
        let cur = str_at(self.st(), "/currentPodHash");
        !cur.is_empty() && cur != self.new_hash()
    }

    fn rollout_canary(&mut self) {
        if self.template_or_steps_changed() {
            self.sync_revision();
            // The weights are written from the first status on (see `reconcile_weights`).
            if self.weights.is_none() {
                self.reconcile_weights();
            }
            self.sync_status_canary();
            return;
        }
        self.sync_revision();
        if self.restart_pods() > 0 {
            return;
        }
        let others = self.others_owned();
        self.reconcile_revision_history(&others);
        self.reconcile_stable_and_canary_service();
        self.reconcile_weights();
        if self.reconcile_canary_replica_sets() {
            self.sync_status_canary();
            return;
        }
        self.reconcile_canary_pause();
        self.sync_status_canary();
    }

    fn rollout_blue_green(&mut self) {
        self.sync_revision();
        self.reconcile_preview_service();
        if self.pod_spec_changed() {
            self.sync_status_blue_green();
            return;
        }
        self.restart_pods();
        self.reconcile_blue_green_replica_sets();
        self.reconcile_blue_green_pause();
        self.reconcile_active_service();
        self.sync_status_blue_green();
    }

    // --- ReplicaSets -----------------------------------------------------------------------------

    /// `scaleReplicaSetAndRecordEvent`: true if the size changed.
    fn scale(&mut self, name: &str, new_scale: i64) -> bool {
        let Some(rs) = self.rs(Some(&name.to_string())).cloned() else {
            return false;
        };
        let r = spec::replicas(&self.ro);
        let annotations_stale = spec::annotation(&rs, spec::DESIRED_REPLICAS)
            != Some(r.to_string().as_str())
            || (r == 0 && Self::has_deadline(&rs));
        let size_changes = rs_spec(&rs) != new_scale;
        if !size_changes && !annotations_stale {
            return false;
        }
        let mut copy = rs.clone();
        copy["spec"]["replicas"] = json!(new_scale);
        if !copy
            .at("/metadata/annotations")
            .is_some_and(Value::is_object)
        {
            copy["metadata"]["annotations"] = json!({});
        }
        copy["metadata"]["annotations"][spec::DESIRED_REPLICAS] = json!(r.to_string());
        if new_scale == 0
            && !self.delay_scale_down_on_abort()
            && let Some(a) = copy
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
        {
            a.remove(SCALE_DOWN_DEADLINE);
        }
        self.plan.writes.push(Write::UpdateReplicaSet(copy.clone()));
        self.put_rs(copy);
        if size_changes {
            let op = if rs_spec(&rs) < new_scale {
                "up"
            } else {
                "down"
            };
            self.event(
                "ScalingReplicaSet",
                format!(
                    "Scaled {op} ReplicaSet {name} (revision {}) from {} to {new_scale}",
                    spec::revision(&rs),
                    rs_spec(&rs)
                ),
            );
        }
        size_changes
    }

    fn set_deadline_annotation(&mut self, name: &str, value: Option<String>) {
        let Some(rs) = self.rs(Some(&name.to_string())).cloned() else {
            return;
        };
        let mut copy = rs;
        if !copy
            .at("/metadata/annotations")
            .is_some_and(Value::is_object)
        {
            copy["metadata"]["annotations"] = json!({});
        }
        match value {
            Some(v) => copy["metadata"]["annotations"][SCALE_DOWN_DEADLINE] = json!(v),
            None => {
                if let Some(a) = copy
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.remove(SCALE_DOWN_DEADLINE);
                }
            }
        }
        self.plan.writes.push(Write::UpdateReplicaSet(copy.clone()));
        self.put_rs(copy);
    }

    /// `addScaleDownDelay`.
    fn add_scale_down_delay(&mut self, name: &str, secs: i64) {
        if secs == 0 {
            if self
                .rs(Some(&name.to_string()))
                .is_some_and(Self::has_deadline)
            {
                self.set_deadline_annotation(name, None);
            }
            return;
        }
        let stamp = self.clock.stamp_in(secs as f64);
        self.plan.marks.push(Mark {
            key: deadline_key(name),
            stamp: stamp.clone(),
            offset: secs as f64,
        });
        self.set_deadline_annotation(name, Some(stamp));
    }

    /// `GetTimeRemainingBeforeScaleDownDeadline` (simulated seconds; none once passed).
    fn remaining_before_deadline(&self, rs: &Value) -> Option<f64> {
        let stamp = spec::annotation(rs, SCALE_DOWN_DEADLINE)?;
        let remaining = -self.clock.since(&deadline_key(name_of(rs)), stamp);
        (remaining > 0.0).then_some(remaining)
    }

    /// `shouldDelayScaleDownOnAbort` (abortScaleDownDelaySeconds is its default, 30 s).
    fn delay_scale_down_on_abort(&self) -> bool {
        self.aborted()
            && self.stable_rs().is_some()
            && !(spec::canary(&self.ro).is_some() && spec::traffic_routing(&self.ro).is_none())
            && !spec::dynamic_stable_scale(&self.ro)
    }

    /// `removeScaleDownDeadlines`.
    fn remove_scale_down_deadlines(&mut self) {
        let mut names = Vec::new();
        if let Some(n) = &self.new_name
            && !self.delay_scale_down_on_abort()
        {
            names.push(n.clone());
        }
        if let Some(s) = &self.stable_name
            && !names.contains(s)
        {
            names.push(s.clone());
        }
        for n in names {
            if self.rs(Some(&n)).is_some_and(Self::has_deadline) {
                self.set_deadline_annotation(&n, None);
            }
        }
    }

    /// `reconcileNewReplicaSet`: true if it scaled.
    fn reconcile_new_rs(&mut self) -> bool {
        let Some(new) = self.new_rs().cloned() else {
            return false;
        };
        let mut count =
            counts::new_rs_new_replicas(&self.ro, &self.all, &new, self.weights.as_ref());
        if self.delay_scale_down_on_abort() {
            if Self::has_deadline(&new) {
                match self.remaining_before_deadline(&new) {
                    Some(rem) => {
                        self.plan.requeue(rem);
                        return false;
                    }
                    None => count = 0,
                }
            } else {
                let stable_available = self.stable_rs().map_or(0, rs_available);
                if stable_available >= spec::replicas(&self.ro) {
                    let delay = spec::DEFAULT_SCALE_DOWN_DELAY;
                    self.add_scale_down_delay(name_of(&new), delay);
                    self.plan.requeue(delay as f64);
                }
                return false;
            }
        }
        self.scale(name_of(&new), count)
    }

    /// `reconcileOtherReplicaSets`: true if it scaled down.
    fn reconcile_other_rs(&mut self) -> bool {
        let others: Vec<Value> = self
            .others()
            .into_iter()
            .filter(|r| rs_spec(r) > 0)
            .cloned()
            .collect();
        if counts::spec_sum(&others) == 0 {
            return false;
        }
        if spec::canary(&self.ro).is_some() {
            return self.scale_down_old_for_canary(others) > 0;
        }
        self.scale_down_old_for_blue_green(others)
    }

    /// `scaleDownOldReplicaSetsForCanary`.
    fn scale_down_old_for_canary(&mut self, mut olds: Vec<Value>) -> i64 {
        // cleanupUnhealthyReplicas
        olds.sort_by(|a, b| {
            str_at(a, "/metadata/creationTimestamp").cmp(str_at(b, "/metadata/creationTimestamp"))
        });
        let mut total = 0;
        for rs in &olds {
            if rs_spec(rs) == 0 || rs_spec(rs) == rs_available(rs) {
                continue;
            }
            total += rs_spec(rs) - rs_available(rs);
            self.scale(name_of(rs), rs_available(rs));
        }
        let available = counts::available_sum(&self.all);
        let min_available = spec::replicas(&self.ro) - spec::max_unavailable(&self.ro);
        let mut max_scale_down = available - min_available;
        if max_scale_down <= 0 {
            return 0;
        }
        let mut olds: Vec<Value> = olds
            .iter()
            .filter_map(|o| self.rs(Some(&name_of(o).to_string())).cloned())
            .collect();
        olds.sort_by_key(|r| std::cmp::Reverse(spec::revision(r)));
        let routed = spec::traffic_routing(&self.ro).is_some();
        let mut annotated = 0;
        for rs in olds {
            if routed && self.referenced(&rs) {
                continue;
            }
            if max_scale_down <= 0 {
                break;
            }
            if rs_spec(&rs) == 0 {
                continue;
            }
            let mut desired = 0;
            if !routed {
                if rs_spec(&rs) > max_scale_down {
                    desired = rs_spec(&rs) - max_scale_down;
                }
            } else if (self.fully_promoted() || Self::has_deadline(&rs))
                && !spec::dynamic_stable_scale(&self.ro)
            {
                (annotated, desired) = self.scale_down_delay_helper(&rs, annotated, rs_spec(&rs));
            }
            if rs_spec(&rs) == desired {
                continue;
            }
            self.scale(name_of(&rs), desired);
            max_scale_down -= rs_spec(&rs) - desired;
            total += rs_spec(&rs) - desired;
        }
        total
    }

    /// `scaleDownOldReplicaSetsForBlueGreen`.
    fn scale_down_old_for_blue_green(&mut self, mut olds: Vec<Value>) -> bool {
        olds.sort_by_key(|r| std::cmp::Reverse(spec::revision(r)));
        let mut scaled = false;
        let mut annotated = 0;
        let r = spec::replicas(&self.ro);
        for rs in olds {
            if self.referenced(&rs) || rs_spec(&rs) == 0 {
                continue;
            }
            let desired;
            (annotated, desired) = self.scale_down_delay_helper(&rs, annotated, r);
            let Some(cur) = self.rs(Some(&name_of(&rs).to_string())).cloned() else {
                continue;
            };
            if rs_spec(&cur) == desired {
                continue;
            }
            self.scale(name_of(&cur), desired);
            scaled = true;
        }
        scaled
    }

    /// `scaleDownDelayHelper`: (annotated, desired).
    fn scale_down_delay_helper(
        &mut self,
        rs: &Value,
        mut annotated: i64,
        rollout_replicas: i64,
    ) -> (i64, i64) {
        let mut desired = 0;
        let limit = spec::scale_down_revision_limit(&self.ro);
        if !Self::has_deadline(rs) && rs_spec(rs) > 0 {
            if annotated < limit {
                annotated += 1;
                desired = rs_spec(rs);
                let delay = spec::scale_down_delay(&self.ro);
                self.add_scale_down_delay(name_of(rs), delay);
                self.plan.requeue(delay as f64);
            }
        } else if Self::has_deadline(rs) {
            annotated += 1;
            if annotated <= limit
                && let Some(rem) = self.remaining_before_deadline(rs)
            {
                self.plan.requeue(rem);
                desired = rollout_replicas;
            }
        }
        (annotated, desired)
    }

    /// `isReplicaSetReferenced`.
    fn referenced(&self, rs: &Value) -> bool {
        let hash = spec::rs_hash(rs);
        if hash.is_empty() {
            return false;
        }
        let st = &self.stored;
        let refs = [
            str_at(st, "/stableRS"),
            str_at(st, "/currentPodHash"),
            str_at(st, "/blueGreen/activeSelector"),
            str_at(st, "/blueGreen/previewSelector"),
            str_at(st, "/canary/weights/canary/podTemplateHash"),
            str_at(st, "/canary/weights/stable/podTemplateHash"),
        ];
        if refs.contains(&hash) {
            return true;
        }
        let services = if spec::canary(&self.ro).is_some() {
            [
                spec::canary_service(&self.ro),
                spec::stable_service(&self.ro),
            ]
        } else {
            [
                spec::active_service(&self.ro),
                spec::preview_service(&self.ro),
            ]
        };
        services
            .into_iter()
            .filter(|s| !s.is_empty())
            .any(|s| self.service_hash(s) == hash)
    }

    /// `reconcileRevisionHistoryLimit`.
    fn reconcile_revision_history(&mut self, olds: &[Value]) {
        let mut cleanable: Vec<&Value> = olds
            .iter()
            .filter(|r| r.at("/metadata/deletionTimestamp").is_none())
            .collect();
        let diff = cleanable.len() as i64 - spec::revision_history_limit(&self.ro);
        if diff <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| {
            str_at(a, "/metadata/creationTimestamp").cmp(str_at(b, "/metadata/creationTimestamp"))
        });
        let mut deleted = Vec::new();
        for rs in cleanable.into_iter().take(diff as usize) {
            if rs_actual(rs) != 0
                || rs_spec(rs) != 0
                || int_at(rs, "/metadata/generation", 0)
                    > int_at(rs, "/status/observedGeneration", 0)
            {
                continue;
            }
            deleted.push(name_of(rs).to_string());
        }
        for n in deleted {
            self.plan.writes.push(Write::DeleteReplicaSet(n.clone()));
            self.all.retain(|r| name_of(r) != n);
        }
    }

    fn fully_promoted(&self) -> bool {
        str_at(self.st(), "/stableRS") == str_at(self.st(), "/currentPodHash")
    }

    // --- canary ----------------------------------------------------------------------------------

    /// `reconcileCanaryReplicaSets`: true if something scaled (the reconcile stops there).
    fn reconcile_canary_replica_sets(&mut self) -> bool {
        if self.halted() {
            return false;
        }
        self.remove_scale_down_deadlines();
        // reconcileCanaryStableReplicaSet
        if counts::stable_exists(self.new_rs(), self.stable_rs()) {
            let desired = if spec::traffic_routing(&self.ro).is_none() {
                let others = self.others();
                counts::basic_canary_counts(&self.ro, self.new_rs(), self.stable_rs(), &others).1
            } else {
                counts::traffic_routed_counts(&self.ro, self.weights.as_ref()).1
            };
            if let Some(s) = self.stable_name.clone()
                && self.scale(&s, desired)
            {
                return true;
            }
        }
        if self.reconcile_new_rs() {
            return true;
        }
        self.reconcile_other_rs()
    }

    /// `reconcileStableAndCanaryService`.
    fn reconcile_stable_and_canary_service(&mut self) {
        let stable_svc = spec::stable_service(&self.ro).to_string();
        let canary_svc = spec::canary_service(&self.ro).to_string();
        let stable = self.stable_name.clone();
        self.ensure_service_targets(&stable_svc, stable.as_ref(), true);
        if self.aborted() && spec::traffic_routing(&self.ro).is_none() {
            self.ensure_service_targets(&canary_svc, stable.as_ref(), true);
            return;
        }
        let new = self.new_name.clone();
        self.ensure_service_targets(&canary_svc, new.as_ref(), true);
    }

    /// `ensureSVCTargets`.
    fn ensure_service_targets(&mut self, svc: &str, rs: Option<&String>, check: bool) {
        let Some(rs) = self.rs(rs).cloned() else {
            return;
        };
        if svc.is_empty() || !self.services.contains_key(svc) {
            return;
        }
        let desired = spec::rs_hash(&rs).to_string();
        if self.service_hash(svc) == desired {
            return;
        }
        let managed = self
            .services
            .get(svc)
            .and_then(|s| spec::annotation(s, spec::MANAGED_BY))
            .is_some();
        // IsReplicaSetAvailable
        let fully =
            rs_spec(&rs) != 0 && rs_available(&rs) != 0 && rs_spec(&rs) <= rs_available(&rs);
        if !managed && check && !fully {
            return;
        }
        if check && rs_available(&rs) == 0 {
            return;
        }
        self.switch_selector(svc, &desired);
    }

    /// `switchServiceSelector`: the Service's selector gets the hash, and the annotation naming
    /// the Rollout that manages it.
    fn switch_selector(&mut self, svc: &str, hash: &str) {
        let Some(service) = self.services.get(svc).cloned() else {
            return;
        };
        let from = self.service_hash(svc);
        if from == hash {
            return;
        }
        let name = self.name();
        let managed_by = spec::annotation(&service, spec::MANAGED_BY).map(str::to_string);
        if managed_by.as_deref().is_some_and(|m| m != name) {
            self.warning(
                "ServiceReferenceError",
                format!("Service \"{svc}\" is managed by another Rollout"),
            );
            return;
        }
        let mut patch = json!({"spec": {"selector": {HASH_LABEL: hash}}});
        if managed_by.is_none() {
            patch["metadata"] = json!({"annotations": {spec::MANAGED_BY: name}});
        }
        let mut updated = service;
        crate::patch::merge::merge_patch(&mut updated, &patch);
        self.services.insert(svc.to_string(), updated);
        self.plan.writes.push(Write::PatchService {
            name: svc.to_string(),
            patch,
        });
        self.event(
            "SwitchService",
            format!("Switched selector for service '{svc}' from '{from}' to '{hash}'"),
        );
    }

    /// `reconcileTrafficRouting`, as if a traffic router served the weights: what Argo writes
    /// to status.canary.weights with one (without one Argo writes none; the sandbox writes them
    /// always, so that a watcher can read the intended split at every state).
    fn reconcile_weights(&mut self) {
        let (_, idx) = counts::current_step(&self.ro);
        let canary_hash = self.new_rs().map(spec::rs_hash).unwrap_or("").to_string();
        let stable_hash = self
            .stable_rs()
            .map(spec::rs_hash)
            .unwrap_or("")
            .to_string();
        let max = spec::max_weight(&self.ro);
        let mut desired = 0;
        let nothing_new = self.new_rs().is_none_or(|n| rs_available(n) == 0);
        if self.fully_promoted() || self.aborted() || nothing_new {
            desired = 0;
        } else if self.flag("promoteFull") {
            desired = self
                .weights
                .as_ref()
                .map_or(0, |w| int_at(w, "/canary/weight", 0));
        } else if let Some(idx) = idx {
            let others = self.others();
            let at =
                counts::at_desired_counts(&self.ro, self.new_rs(), self.stable_rs(), &others, None);
            let steps = spec::steps(&self.ro);
            if !at {
                for i in (0..idx.clamp(0, steps.len() as i64) as usize).rev() {
                    if let Some(w) = steps[i].get("setWeight").and_then(Value::as_i64) {
                        desired = w;
                        break;
                    }
                }
            } else if idx != steps.len() as i64 {
                desired = counts::current_set_weight(&self.ro);
            } else {
                desired = max;
            }
        }
        // checkReplicasAvailable: traffic moves to the stable only once it has the pods for it.
        if let Some(stable) = self.stable_rs() {
            let need = counts::weight_to_replicas(spec::replicas(&self.ro), max - desired, max);
            if rs_available(stable) < need && self.weights.is_some() {
                return;
            }
        }
        let dest = |weight: i64, hash: &str, svc: &str| {
            let mut d = json!({"weight": weight});
            if !svc.is_empty() {
                d["serviceName"] = json!(svc);
            }
            if !hash.is_empty() {
                d["podTemplateHash"] = json!(hash);
            }
            d
        };
        self.weights = Some(json!({
            "canary": dest(desired, &canary_hash, spec::canary_service(&self.ro)),
            "stable": dest(max - desired, &stable_hash, spec::stable_service(&self.ro)),
        }));
    }

    /// `reconcileCanaryPause`: true while a pause step waits.
    fn reconcile_canary_pause(&mut self) -> bool {
        if spec::paused(&self.ro) || self.flag("promoteFull") {
            return false;
        }
        let (step, _) = counts::current_step(&self.ro);
        let Some(pause) = step.and_then(|s| s.get("pause")).cloned() else {
            return false;
        };
        let Some(pc) = cond::pause_condition(self.st(), CANARY_PAUSE_STEP).cloned() else {
            if !self.flag("controllerPause") {
                self.pause.add.push(CANARY_PAUSE_STEP);
            }
            return true;
        };
        if let Some(d) = spec::pause_duration(&pause) {
            let start = str_at(&pc, "/startTime");
            let elapsed = self.clock.since(&pause_key(CANARY_PAUSE_STEP), start);
            self.plan.requeue(d as f64 - elapsed);
        }
        true
    }

    /// `CompletedCanaryPauseStep`.
    fn completed_canary_pause_step(&self, pause: &Value) -> bool {
        let pc = cond::pause_condition(self.st(), CANARY_PAUSE_STEP);
        if self.flag("controllerPause") && pc.is_none() {
            return true;
        }
        if let (Some(d), Some(pc)) = (spec::pause_duration(pause), pc) {
            let elapsed = self
                .clock
                .since(&pause_key(CANARY_PAUSE_STEP), str_at(pc, "/startTime"));
            return elapsed > d as f64;
        }
        false
    }

    /// `completedCurrentCanaryStep`. Steps the sandbox does not run (experiment, analysis,
    /// plugin, header and mirror routes) complete at once.
    fn completed_current_step(&self) -> bool {
        if spec::paused(&self.ro) {
            return false;
        }
        let (Some(step), _) = counts::current_step(&self.ro) else {
            return false;
        };
        if let Some(p) = step.get("pause") {
            return self.completed_canary_pause_step(p);
        }
        if step.get("setCanaryScale").is_some() || step.get("setWeight").is_some() {
            let others = self.others();
            return counts::at_desired_counts(
                &self.ro,
                self.new_rs(),
                self.stable_rs(),
                &others,
                self.weights.as_ref(),
            );
        }
        true
    }

    /// A one-line description of a step (`rolloututil.CanaryStepString`).
    fn step_string(step: &Value) -> String {
        if let Some(w) = step.get("setWeight").and_then(Value::as_i64) {
            return format!("setWeight: {w}");
        }
        if let Some(p) = step.get("pause") {
            return match p.get("duration").filter(|d| !d.is_null()) {
                Some(Value::String(s)) => format!("pause: {s}"),
                Some(d) => format!("pause: {d}"),
                None => "pause".into(),
            };
        }
        if let Some(s) = step.get("setCanaryScale") {
            if let Some(r) = s.get("replicas").and_then(Value::as_i64) {
                return format!("setCanaryScale{{replicas: {r}}}");
            }
            if let Some(w) = s.get("weight").and_then(Value::as_i64) {
                return format!("setCanaryScale{{weight: {w}}}");
            }
            return "setCanaryScale{matchTrafficWeight: true}".into();
        }
        step.as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_else(|| "step".into())
    }

    /// `syncRolloutStatusCanary`.
    fn sync_status_canary(&mut self) {
        let mut ns = self.base_status();
        put_int(
            &mut ns,
            "availableReplicas",
            counts::available_sum(&self.all),
        );
        put_int(&mut ns, "HPAReplicas", counts::actual_sum(&self.all));
        put_str(
            &mut ns,
            "selector",
            &spec::format_selector(self.ro.at("/spec/selector")),
        );
        let (step, idx) = counts::current_step(&self.ro);
        let step = step.cloned();
        let mut idx = idx;
        put_str(&mut ns, "stableRS", str_at(self.st(), "/stableRS"));
        put_str(&mut ns, "currentStepHash", &spec::step_hash(&self.ro));
        let step_count = spec::steps(&self.ro).len() as i64;
        if self.template_or_steps_changed() {
            self.reset_status(&mut ns);
            if let Some(new) = self.new_rs()
                && step_count > 0
                && str_at(self.st(), "/stableRS") == spec::rs_hash(new)
            {
                self.event("SkipSteps", "Rollback to stable ReplicaSets".into());
                ns["currentStepIndex"] = json!(step_count);
            } else if step_count > 0
                && self.rollback_within_window()
                && self.new_rs().is_some_and(|n| rs_spec(n) > 0)
            {
                self.event(
                    "SkipSteps",
                    "Rollback to active ReplicaSets within RollbackWindow".into(),
                );
                ns["currentStepIndex"] = json!(step_count);
            }
            self.persist(ns);
            return;
        }
        if self.flag("promoteFull") || self.rollback_within_window() {
            self.pause.clear = true;
            self.pause.remove_abort = true;
            if step_count > 0 {
                idx = Some(step_count);
            }
        }
        let reason = self.should_full_promote(&ns);
        if !reason.is_empty() {
            self.promote_stable(&mut ns, &reason);
            self.persist(ns);
            return;
        }
        if self.aborted() {
            if step_count > 0 {
                let at = if str_at(&ns, "/stableRS") == str_at(&ns, "/currentPodHash") {
                    step_count
                } else {
                    0
                };
                ns["currentStepIndex"] = json!(at);
            }
            self.persist(ns);
            return;
        }
        if let (Some(step), Some(i)) = (step.as_ref(), idx.as_mut())
            && self.completed_current_step()
        {
            *i += 1;
            let msg = format!(
                "Rollout step {}/{} completed ({})",
                *i,
                step_count,
                Self::step_string(step)
            );
            self.event(STEP_COMPLETED_REASON, msg);
            self.pause.remove.push(CANARY_PAUSE_STEP);
        }
        if let Some(i) = idx {
            ns["currentStepIndex"] = json!(i);
        }
        self.persist(ns);
    }

    /// `calculateBaseStatus`.
    fn base_status(&mut self) -> Value {
        if cond::get(self.st(), INVALID_SPEC).is_some() {
            let mut st = self.st().clone();
            cond::remove(&mut st, INVALID_SPEC);
            self.ro["status"] = st;
        }
        let prev = self.st().clone();
        let mut ns = json!({"blueGreen": {}, "canary": {}});
        if let Some(r) = &self.restarted_at {
            ns["restartedAt"] = r.clone();
        }
        if let Some(w) = &self.weights
            && spec::canary(&self.ro).is_some()
        {
            ns["canary"]["weights"] = w.clone();
        }
        let hash = self.new_hash();
        put_str(&mut ns, "currentPodHash", &hash);
        put_int(&mut ns, "replicas", counts::actual_sum(&self.all));
        put_int(
            &mut ns,
            "updatedReplicas",
            self.new_rs().map_or(0, rs_actual),
        );
        put_int(&mut ns, "readyReplicas", counts::ready_sum(&self.all));
        if let Some(c) = prev.get("collisionCount") {
            ns["collisionCount"] = c.clone();
        }
        if let Some(c) = prev.get("conditions") {
            ns["conditions"] = c.clone();
        }
        if !hash.is_empty() && prev.get("promoteFull").and_then(Value::as_bool) == Some(true) {
            ns["promoteFull"] = json!(true);
        }
        ns
    }

    /// `resetRolloutStatus`.
    fn reset_status(&mut self, ns: &mut Value) {
        self.pause.clear = true;
        self.pause.remove_abort = true;
        if let Some(r) = self.ro.at("/spec/restartAt").cloned() {
            self.restarted_at = Some(r.clone());
            ns["restartedAt"] = r;
        }
        remove_key(ns, "promoteFull");
        if let Some(bg) = ns.get_mut("blueGreen").and_then(Value::as_object_mut) {
            bg.remove("scaleUpPreviewCheckPoint");
        }
        if spec::canary(&self.ro).is_some() && !spec::steps(&self.ro).is_empty() {
            ns["currentStepIndex"] = json!(0);
        } else {
            remove_key(ns, "currentStepIndex");
        }
    }

    /// `shouldFullPromote`: why the current pods become the stable ones ("" for not yet).
    fn should_full_promote(&self, ns: &Value) -> String {
        if self.stable_rs().is_none() {
            return "Initial deploy".into();
        }
        let r = spec::replicas(&self.ro);
        if spec::canary(&self.ro).is_some() {
            if self.aborted() {
                return String::new();
            }
            match self.new_rs() {
                None => return String::new(),
                Some(n)
                    if rs_available(n) < r
                        && !counts::progress_threshold_met(&self.ro, Some(n), r) =>
                {
                    return String::new();
                }
                _ => {}
            }
            if self.flag("promoteFull") {
                return "Full promotion requested".into();
            }
            if self.fast_rollback() {
                return self.fast_rollback_reason();
            }
            let (_, idx) = counts::current_step(&self.ro);
            let count = spec::steps(&self.ro).len() as i64;
            if count == 0 || idx == Some(count) {
                return format!("Completed all {count} canary steps");
            }
            return String::new();
        }
        let active = str_at(ns, "/blueGreen/activeSelector");
        if active.is_empty() {
            return "Initial deploy".into();
        }
        if active != str_at(ns, "/currentPodHash") {
            return String::new();
        }
        if self.flag("promoteFull") {
            return "Full promotion requested".into();
        }
        if self.fast_rollback() {
            return self.fast_rollback_reason();
        }
        if self.aborted() {
            return String::new();
        }
        "Completed blue-green update".into()
    }

    /// `promoteStable`.
    fn promote_stable(&mut self, ns: &mut Value, reason: &str) {
        self.pause.clear = true;
        self.pause.remove_abort = true;
        remove_key(ns, "promoteFull");
        if let Some(bg) = ns.get_mut("blueGreen").and_then(Value::as_object_mut) {
            bg.remove("scaleUpPreviewCheckPoint");
        }
        if spec::canary(&self.ro).is_some() {
            let count = spec::steps(&self.ro).len() as i64;
            if count > 0 {
                ns["currentStepIndex"] = json!(count);
            } else {
                remove_key(ns, "currentStepIndex");
            }
        }
        let current = str_at(ns, "/currentPodHash").to_string();
        if str_at(ns, "/stableRS") != current {
            ns["stableRS"] = json!(current);
            self.event(
                COMPLETED_REASON,
                format!(
                    "Rollout completed update to revision {} ({current}): {reason}",
                    spec::revision(&self.ro)
                ),
            );
        }
    }

    // --- blue-green ------------------------------------------------------------------------------

    fn reconcile_blue_green_replica_sets(&mut self) {
        self.remove_scale_down_deadlines();
        if let Some(s) = self.stable_name.clone() {
            self.scale(&s, spec::replicas(&self.ro));
        }
        self.reconcile_new_rs();
        self.reconcile_other_rs();
        let others = self.others_owned();
        self.reconcile_revision_history(&others);
    }

    fn reconcile_preview_service(&mut self) {
        let preview = spec::preview_service(&self.ro).to_string();
        if preview.is_empty() || self.halted() {
            return;
        }
        let hash = self.new_hash();
        self.switch_selector(&preview, &hash);
    }

    /// `isBlueGreenFastTracked`.
    fn fast_tracked(&self) -> bool {
        if self.fast_rollback() || self.flag("promoteFull") {
            return true;
        }
        let active = spec::active_service(&self.ro);
        let sel = self
            .services
            .get(active)
            .and_then(|s| s.at(&format!("/spec/selector/{HASH_LABEL}")));
        match sel {
            None => true,
            Some(h) => h.as_str() == Some(self.new_hash().as_str()),
        }
    }

    /// `CompletedBlueGreenPause`.
    fn completed_blue_green_pause(&self) -> bool {
        let pc = cond::pause_condition(self.st(), BLUE_GREEN_PAUSE);
        if !self.pause.add.is_empty() {
            return false;
        }
        if self
            .st()
            .at("/blueGreen/scaleUpPreviewCheckPoint")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return true;
        }
        if spec::auto_promotion_enabled(&self.ro) {
            let secs = spec::auto_promotion_seconds(&self.ro);
            if secs == 0 {
                return true;
            }
            return pc.is_some_and(|pc| {
                self.clock
                    .since(&pause_key(BLUE_GREEN_PAUSE), str_at(pc, "/startTime"))
                    > secs as f64
            });
        }
        self.flag("controllerPause") && pc.is_none()
    }

    /// `reconcileBlueGreenPause`.
    fn reconcile_blue_green_pause(&mut self) {
        if self.flag("abort") {
            return;
        }
        let Some(new) = self.new_rs().cloned() else {
            return;
        };
        if !counts::ready_for_pause(&self.ro, &new, &self.all) || self.halted() {
            return;
        }
        let checkpoint = self
            .st()
            .at("/blueGreen/scaleUpPreviewCheckPoint")
            .and_then(Value::as_bool)
            == Some(true);
        let needs_pause =
            !spec::auto_promotion_enabled(&self.ro) || spec::auto_promotion_seconds(&self.ro) > 0;
        if self.fast_tracked() || checkpoint || !needs_pause {
            self.pause.remove.push(BLUE_GREEN_PAUSE);
            return;
        }
        match cond::pause_condition(self.st(), BLUE_GREEN_PAUSE).cloned() {
            Some(pc) => {
                if !self.completed_blue_green_pause() {
                    let secs = spec::auto_promotion_seconds(&self.ro);
                    if secs > 0 {
                        let elapsed = self
                            .clock
                            .since(&pause_key(BLUE_GREEN_PAUSE), str_at(&pc, "/startTime"));
                        self.plan.requeue(secs as f64 - elapsed);
                    }
                } else {
                    self.pause.remove.push(BLUE_GREEN_PAUSE);
                }
            }
            None => {
                if !self.flag("controllerPause") {
                    self.pause.add.push(BLUE_GREEN_PAUSE);
                }
            }
        }
    }

    /// `reconcileActiveService`.
    fn reconcile_active_service(&mut self) {
        if self.halted() {
            return;
        }
        let Some(new) = self.new_rs().cloned() else {
            return;
        };
        if !counts::ready_for_pause(&self.ro, &new, &self.all)
            || !counts::is_saturated(&self.ro, Some(&new))
        {
            return;
        }
        let active = spec::active_service(&self.ro).to_string();
        let mut hash = self.service_hash(&active);
        if self.fast_tracked() || self.completed_blue_green_pause() {
            hash = spec::rs_hash(&new).to_string();
        }
        if self.flag("abort") {
            hash = str_at(self.st(), "/stableRS").to_string();
        }
        if !hash.is_empty() {
            self.switch_selector(&active, &hash);
        }
    }

    /// `syncRolloutStatusBlueGreen`.
    fn sync_status_blue_green(&mut self) {
        let mut ns = self.base_status();
        put_str(&mut ns, "stableRS", str_at(self.st(), "/stableRS"));
        if self.pod_spec_changed() {
            self.reset_status(&mut ns);
        }
        if self.flag("promoteFull") || self.rollback_within_window() {
            self.pause.clear = true;
            self.pause.remove_abort = true;
        }
        let preview = self.service_hash(spec::preview_service(&self.ro));
        let active = self.service_hash(spec::active_service(&self.ro));
        put_str(&mut ns["blueGreen"], "previewSelector", &preview);
        put_str(&mut ns["blueGreen"], "activeSelector", &active);
        let reason = self.should_full_promote(&ns);
        if !reason.is_empty() {
            self.promote_stable(&mut ns, &reason);
        } else if self.scale_up_preview_checkpoint() {
            ns["blueGreen"]["scaleUpPreviewCheckPoint"] = json!(true);
        }
        let active_rs = counts::by_hash(&self.all, &active).cloned();
        match active_rs {
            Some(a) => {
                put_int(&mut ns, "HPAReplicas", rs_actual(&a));
                put_str(
                    &mut ns,
                    "selector",
                    &spec::format_selector(a.at("/spec/selector")),
                );
                put_int(&mut ns, "availableReplicas", rs_available(&a));
                put_int(&mut ns, "readyReplicas", counts::rs_ready(&a));
            }
            None => {
                put_int(&mut ns, "HPAReplicas", counts::actual_sum(&self.all));
                put_str(
                    &mut ns,
                    "selector",
                    &spec::format_selector(self.ro.at("/spec/selector")),
                );
                put_int(
                    &mut ns,
                    "availableReplicas",
                    counts::available_sum(&self.all),
                );
            }
        }
        self.persist(ns);
    }

    /// `calculateScaleUpPreviewCheckPoint`.
    fn scale_up_preview_checkpoint(&self) -> bool {
        let Some(preview) = spec::preview_replica_count(&self.ro) else {
            return false;
        };
        if self
            .st()
            .at("/blueGreen/scaleUpPreviewCheckPoint")
            .and_then(Value::as_bool)
            == Some(true)
        {
            return true;
        }
        if !self.completed_blue_green_pause() {
            return false;
        }
        self.new_rs().is_some_and(|n| rs_available(n) == preview)
    }

    // --- restarts --------------------------------------------------------------------------------

    /// `RolloutPodRestarter.Reconcile`: evicts pods created before spec.restartAt, as many at
    /// a time as availability allows; records status.restartedAt when none is left.
    fn restart_pods(&mut self) -> usize {
        let restart_at = str_at(&self.ro, "/spec/restartAt").to_string();
        let Some(at) = parse_time(&restart_at) else {
            return 0;
        };
        let restarted_at = str_at(self.st(), "/restartedAt");
        if parse_time(restarted_at).is_some_and(|r| r >= at) {
            return 0;
        }
        let until = -self.clock.since("restartAt", &restart_at);
        if until > 0.0 {
            self.plan.requeue(until);
            return 0;
        }
        // Pods of the other ReplicaSets first, then the stable's, then the new one's.
        let rank = |p: &Value| -> u8 {
            let owner = p
                .at("/metadata/ownerReferences/0/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if Some(owner) == self.new_name.as_deref() {
                2
            } else if Some(owner) == self.stable_name.as_deref() {
                1
            } else {
                0
            }
        };
        let mut pods: Vec<&Value> = self
            .pods
            .iter()
            .filter(|p| !crate::controllers::conditions::is_terminal(p))
            .collect();
        pods.sort_by_key(|p| {
            (
                rank(p),
                str_at(p, "/metadata/creationTimestamp"),
                name_of(p),
            )
        });
        let total = counts::spec_sum(&self.all);
        let r = spec::replicas(&self.ro);
        let available = pods
            .iter()
            .filter(|p| is_pod_ready(p) && p.at("/metadata/deletionTimestamp").is_none())
            .count() as i64;
        let concurrent = spec::max_unavailable(&self.ro).max(1);
        let mut can = available - (r.max(total) - concurrent);
        let mut needs = 0;
        let mut evict = Vec::new();
        for p in pods {
            let created = parse_time(str_at(p, "/metadata/creationTimestamp"));
            if created.is_some_and(|c| c >= at) {
                continue;
            }
            needs += 1;
            if can <= 0 || p.at("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            evict.push(name_of(p).to_string());
            can -= 1;
        }
        let restarted = evict.len();
        for name in evict {
            self.event(
                "RestartingPod",
                format!("Restarting pod {name} (created before restartAt {restart_at})"),
            );
            self.plan.writes.push(Write::EvictPod(name));
        }
        if needs != restarted {
            self.plan.requeue(spec::RESTART_CHECK_SECONDS);
        } else {
            self.restarted_at = Some(json!(restart_at));
        }
        restarted
    }

    // --- the status ------------------------------------------------------------------------------

    /// `persistRolloutStatus`.
    fn persist(&mut self, mut ns: Value) {
        ns["observedGeneration"] = json!(generation_string(&self.ro));
        if let Some(r) = &self.restarted_at {
            ns["restartedAt"] = r.clone();
        }
        self.evaluate_progress_deadline_abort(&ns);
        self.calculate_pause_status(&mut ns);
        self.calculate_conditions(&mut ns);
        let (phase, message) = cond::phase(&self.ro, &ns);
        ns["phase"] = json!(phase);
        put_str(&mut ns, "message", &message);
        self.requeue_stuck(&ns);
        let prev_paused = !cond::pause_conditions(&self.stored).is_empty();
        let now_paused = !cond::pause_conditions(&ns).is_empty();
        if let Some(p) = cond::diff(&self.stored, &ns) {
            self.plan.writes.push(Write::Status(p));
            if prev_paused != now_paused {
                if now_paused {
                    let reason = str_at(&ns, "/pauseConditions/0/reason").to_string();
                    self.event(PAUSED_REASON, format!("{PAUSED_MESSAGE} ({reason})"));
                } else if ns.get("abortedAt").is_none() {
                    self.event(RESUMED_REASON, RESUMED_MESSAGE.into());
                }
            }
        }
    }

    /// `RolloutTimedOut` against a status.
    fn timed_out(&self, st: &Value) -> bool {
        let Some(c) = cond::get(st, PROGRESSING) else {
            return false;
        };
        let reason = str_at(c, "/reason");
        if reason == ABORTED_REASON || reason == PAUSED_REASON {
            return false;
        }
        if reason == TIMED_OUT_REASON {
            return true;
        }
        let since = self.clock.since(PROGRESS_KEY, str_at(c, "/lastUpdateTime"));
        since > spec::progress_deadline(&self.ro) as f64
    }

    /// `isWaitingForReplicaSetScaleDown`.
    fn waiting_for_scale_down(&self) -> bool {
        self.others().into_iter().any(Self::has_deadline)
    }

    fn timeout_message(&self) -> String {
        match self.new_rs() {
            Some(n) => format!("ReplicaSet \"{}\" has timed out progressing.", name_of(n)),
            None => format!("Rollout \"{}\" has timed out progressing.", self.name()),
        }
    }

    /// `evaluateProgressDeadlineAbort`.
    fn evaluate_progress_deadline_abort(&mut self, ns: &Value) {
        if !spec::progress_deadline_abort(&self.ro)
            || self.aborted()
            || cond::completed(ns)
            || cond::progressing(&self.ro, ns)
            || cond::indefinite_step(&self.ro)
            || self.waiting_for_scale_down()
            || !self.timed_out(self.st())
        {
            return;
        }
        let msg = self.timeout_message();
        self.pause.add_abort = true;
        self.pause.abort_message = msg.clone();
        self.warning(ABORTED_REASON, msg);
    }

    /// `CalculatePauseStatus`.
    fn calculate_pause_status(&mut self, ns: &mut Value) {
        let now = self.clock.stamp();
        if self.pause.add_abort || (!self.pause.remove_abort && self.flag("abort")) {
            ns["abort"] = json!(true);
            ns["abortedAt"] = self
                .st()
                .get("abortedAt")
                .cloned()
                .unwrap_or_else(|| json!(now));
            return;
        }
        remove_key(ns, "abort");
        remove_key(ns, "abortedAt");
        if self.pause.clear {
            return;
        }
        let mut controller_pause = self.flag("controllerPause");
        let mut conds: Vec<Value> = Vec::new();
        let mut exists = Vec::new();
        for c in cond::pause_conditions(self.st()) {
            let reason = str_at(c, "/reason");
            if !self.pause.remove.contains(&reason) {
                conds.push(c.clone());
            }
            exists.push(reason.to_string());
        }
        for reason in self.pause.add.clone() {
            if !exists.iter().any(|e| e == reason) {
                conds.push(json!({"reason": reason, "startTime": now}));
                self.plan.marks.push(Mark {
                    key: pause_key(reason),
                    stamp: now.clone(),
                    offset: 0.0,
                });
                controller_pause = true;
            }
        }
        if conds.is_empty() {
            return;
        }
        if controller_pause {
            ns["controllerPause"] = json!(true);
        }
        ns["pauseConditions"] = Value::Array(conds);
    }

    /// `calculateRolloutConditions`.
    fn calculate_conditions(&mut self, ns: &mut Value) {
        let now = self.clock.stamp();
        let is_paused = !cond::pause_conditions(ns).is_empty() || spec::paused(&self.ro);
        let aborted = self.aborted();
        let mut became_unhealthy = false;
        let healthy = cond::healthy(&self.ro, ns);
        if !is_paused && healthy {
            cond::set(
                ns,
                new_condition(HEALTHY, "True", HEALTHY_REASON, HEALTHY_MESSAGE, &now),
            );
        } else if cond::get(self.st(), HEALTHY).is_some() {
            became_unhealthy = cond::set(
                ns,
                new_condition(HEALTHY, "False", HEALTHY_REASON, NOT_HEALTHY_MESSAGE, &now),
            );
        }
        if aborted {
            let mut message = format!(
                "Rollout aborted update to revision {}",
                spec::revision(&self.ro)
            );
            if !self.pause.abort_message.is_empty() {
                message = format!("{message}: {}", self.pause.abort_message);
            }
            if cond::set(
                ns,
                new_condition(PROGRESSING, "False", ABORTED_REASON, &message, &now),
            ) {
                self.mark_progress(&now);
                self.warning(ABORTED_REASON, message);
            }
        }
        let current = cond::get(self.st(), PROGRESSING).cloned();
        // As in Argo, this compares the type (Progressing) with itself negated: never true.
        let healthy_rollout = false;
        if !healthy_rollout && !aborted {
            if healthy {
                let name = self.new_rs().map(name_of).unwrap_or("").to_string();
                let msg = format!("ReplicaSet \"{name}\" has successfully progressed.");
                if cond::set(
                    ns,
                    new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, &msg, &now),
                ) {
                    self.mark_progress(&now);
                }
            } else if cond::progressing(&self.ro, ns) || became_unhealthy {
                let mut msg = match self.new_rs() {
                    Some(n) => format!("ReplicaSet \"{}\" is progressing.", name_of(n)),
                    None => format!("Rollout \"{}\" is progressing.", self.name()),
                };
                let reason = if str_at(ns, "/stableRS") == str_at(ns, "/currentPodHash")
                    && became_unhealthy
                {
                    msg = NOT_AVAILABLE_MESSAGE.into();
                    RS_NOT_AVAILABLE_REASON
                } else {
                    RS_UPDATED_REASON
                };
                let mut c = new_condition(PROGRESSING, "True", reason, &msg, &now);
                if let Some(cur) = &current {
                    if str_at(cur, "/status") == "True" {
                        c["lastTransitionTime"] = cur["lastTransitionTime"].clone();
                    }
                    cond::remove(ns, PROGRESSING);
                }
                cond::set(ns, c);
                self.mark_progress(&now);
            } else if !cond::indefinite_step(&self.ro)
                && !self.waiting_for_scale_down()
                && self.timed_out(ns)
            {
                let msg = self.timeout_message();
                if cond::set(
                    ns,
                    new_condition(PROGRESSING, "False", TIMED_OUT_REASON, &msg, &now),
                ) {
                    self.mark_progress(&now);
                }
            }
        }
        let r = spec::replicas(&self.ro);
        let active = counts::by_hash(&self.all, str_at(ns, "/blueGreen/activeSelector"));
        let available = if spec::blue_green(&self.ro).is_some() {
            counts::is_saturated(&self.ro, active)
        } else {
            counts::available_sum(&self.all) >= r
        };
        let c = if available {
            new_condition(AVAILABLE, "True", AVAILABLE_REASON, AVAILABLE_MESSAGE, &now)
        } else {
            new_condition(
                AVAILABLE,
                "False",
                AVAILABLE_REASON,
                NOT_AVAILABLE_MESSAGE,
                &now,
            )
        };
        cond::set(ns, c);
        let done = cond::completed(ns);
        let s = if done { "True" } else { "False" };
        if cond::set(
            ns,
            new_condition(COMPLETED, s, COMPLETED_REASON, COMPLETED_REASON, &now),
        ) && !done
        {
            let msg = format!(
                "Rollout not completed, started update to revision {} ({})",
                spec::revision(&self.ro),
                str_at(ns, "/currentPodHash")
            );
            self.event("RolloutNotCompleted", msg);
        }
    }

    /// `requeueStuckRollout`: a timer for the progress deadline.
    fn requeue_stuck(&mut self, ns: &Value) {
        let Some(c) = cond::get(self.st(), PROGRESSING).cloned() else {
            return;
        };
        let paused = !cond::pause_conditions(self.st()).is_empty() || spec::paused(&self.ro);
        if cond::healthy(&self.ro, ns)
            || str_at(&c, "/reason") == TIMED_OUT_REASON
            || paused
            || self.flag("abort")
            || cond::indefinite_step(&self.ro)
        {
            return;
        }
        let since = self
            .clock
            .since(PROGRESS_KEY, str_at(&c, "/lastUpdateTime"));
        self.plan
            .requeue(spec::progress_deadline(&self.ro) as f64 - since);
    }
}

fn put_int(v: &mut Value, k: &str, n: i64) {
    if n != 0 {
        v[k] = json!(n);
    } else {
        remove_key(v, k);
    }
}

fn put_str(v: &mut Value, k: &str, s: &str) {
    if !s.is_empty() {
        v[k] = json!(s);
    } else {
        remove_key(v, k);
    }
}

fn remove_key(v: &mut Value, k: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(k);
    }
}
