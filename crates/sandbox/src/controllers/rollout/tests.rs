//! The controller's logic driven alone: a small world holds the Rollout, its ReplicaSets and
//! Services, applies each [`Plan`], and plays the ReplicaSet controller and the kubelets (every
//! pod available at once, except those of an image whose tag says it never starts). Simulated
//! time is a counter the tests advance.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::reconcile::{Clock, Observed, Plan, Write, reconcile};
use super::spec::{self, HASH_LABEL, SCALE_DOWN_DEADLINE};
use crate::controllers::conditions::parse_time;
use crate::object::{PointerLookup, int_at, name_of, str_at};

/// Simulated seconds since an epoch; timestamps at one-second resolution as the API writes them.
struct FakeClock {
    now: f64,
    marks: RefCell<HashMap<String, (String, f64)>>,
}

const EPOCH: i64 = 1_800_000_000;

impl FakeClock {
    fn format(&self, secs: f64) -> String {
        chrono::DateTime::from_timestamp(EPOCH + secs.floor() as i64, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default()
    }
}

impl Clock for FakeClock {
    fn stamp(&self) -> String {
        self.format(self.now)
    }

    fn since(&self, key: &str, stamp: &str) -> f64 {
        if let Some((s, at)) = self.marks.borrow().get(key)
            && s == stamp
        {
            return self.now - at;
        }
        match parse_time(stamp) {
            Some(t) => self.now - (t.timestamp() - EPOCH) as f64,
            None => 0.0,
        }
    }

    fn stamp_in(&self, secs: f64) -> String {
        self.format(self.now + secs)
    }
}

struct World {
    ro: Value,
    rss: Vec<Value>,
    services: BTreeMap<String, Value>,
    clock: FakeClock,
    seq: u64,
    /// Every plan applied, latest last.
    plans: Vec<Plan>,
}

fn never_available(rs: &Value) -> bool {
    let image = str_at(rs, "/spec/template/spec/containers/0/image");
    image.contains("crashloop") || image.contains("does-not-exist")
}

impl World {
    fn new(ro: Value, services: &[&str]) -> World {
        let mut w = World {
            ro,
            rss: Vec::new(),
            services: BTreeMap::new(),
            clock: FakeClock {
                now: 0.0,
                marks: RefCell::new(HashMap::new()),
            },
            seq: 0,
            plans: Vec::new(),
        };
        for s in services {
            w.services.insert(
                s.to_string(),
                json!({"metadata": {"name": s}, "spec": {"selector": {"app": "web"}}}),
            );
        }
        w.ro["metadata"]["uid"] = json!("ro-uid");
        w.ro["metadata"]["namespace"] = json!("default");
        w.ro["metadata"]["generation"] = json!(1);
        w
    }

    /// One reconcile, its writes applied, then the ReplicaSets' pods come (or not).
    fn step(&mut self) -> Plan {
        let plan = reconcile(
            Observed {
                rollout: &self.ro,
                replica_sets: self.rss.clone(),
                pods: Vec::new(),
                services: self.services.clone(),
            },
            &self.clock,
        );
        for m in &plan.marks {
            self.clock
                .marks
                .borrow_mut()
                .insert(m.key.clone(), (m.stamp.clone(), self.clock.now + m.offset));
        }
        for w in &plan.writes {
            self.apply(w);
        }
        for rs in &mut self.rss {
            let n = int_at(rs, "/spec/replicas", 1);
            let avail = if never_available(rs) { 0 } else { n };
            rs["status"] = json!({"replicas": n, "readyReplicas": avail, "availableReplicas": avail,
                                  "observedGeneration": 1});
        }
        // A watcher can read the weights of a canary in every state the controller writes.
        if spec::canary(&self.ro).is_some() && self.ro.at("/status/phase").is_some() {
            let c = int_at(&self.ro, "/status/canary/weights/canary/weight", -1);
            let s = int_at(&self.ro, "/status/canary/weights/stable/weight", -1);
            assert!(
                c >= 0 && s >= 0 && c + s == 100,
                "weights: {:#}",
                self.ro["status"]
            );
        }
        self.plans.push(plan.clone());
        plan
    }

    fn apply(&mut self, w: &Write) {
        match w {
            Write::CreateReplicaSet(rs) => {
                let mut rs = rs.clone();
                self.seq += 1;
                rs["metadata"]["creationTimestamp"] = json!(self.clock.stamp());
                rs["metadata"]["uid"] = json!(format!("rs-{}", self.seq));
                self.rss.push(rs);
            }
            Write::UpdateReplicaSet(new) => {
                if let Some(rs) = self.rss.iter_mut().find(|r| name_of(r) == name_of(new)) {
                    rs["spec"] = new["spec"].clone();
                    rs["metadata"]["annotations"] = new["metadata"]["annotations"].clone();
                }
            }
            Write::DeleteReplicaSet(n) => self.rss.retain(|r| name_of(r) != n),
            Write::PatchService { name, patch } => {
                if let Some(s) = self.services.get_mut(name) {
                    crate::patch::merge::merge_patch(s, patch);
                }
            }
            Write::EvictPod(_) => {}
            Write::RolloutRevision(r) => {
                self.ro["metadata"]["annotations"][spec::REVISION] = json!(r);
            }
            Write::Status(p) => {
                if !self.ro.get("status").is_some_and(Value::is_object) {
                    self.ro["status"] = json!({});
                }
                for (k, v) in p {
                    if v.is_null() {
                        if let Some(o) = self.ro["status"].as_object_mut() {
                            o.remove(k);
                        }
                    } else {
                        self.ro["status"][k] = v.clone();
                    }
                }
            }
        }
    }

    /// Reconcile until a reconcile writes nothing; the last plan.
    fn settle(&mut self) -> Plan {
        for _ in 0..200 {
            let p = self.step();
            if p.writes.is_empty() {
                return p;
            }
        }
        panic!("the rollout never settles: {:#}", self.ro["status"]);
    }

    fn advance(&mut self, secs: f64) -> Plan {
        self.clock.now += secs;
        self.settle()
    }

    /// A spec change (the API server bumps the generation).
    fn set_image(&mut self, image: &str) {
        self.ro["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
        self.bump();
    }

    fn bump(&mut self) {
        let g = int_at(&self.ro, "/metadata/generation", 1);
        self.ro["metadata"]["generation"] = json!(g + 1);
    }

    /// A merge patch of the status, as the plugin sends it.
    fn patch_status(&mut self, patch: Value) {
        if let Some(p) = patch.as_object() {
            self.apply(&Write::Status(p.clone()));
        }
    }

    fn st(&self, p: &str) -> &Value {
        self.ro["status"].at(p).unwrap_or(&Value::Null)
    }

    fn phase(&self) -> (String, String) {
        (
            str_at(&self.ro, "/status/phase").to_string(),
            str_at(&self.ro, "/status/message").to_string(),
        )
    }

    fn rs_by_hash(&self, hash: &str) -> &Value {
        self.rss
            .iter()
            .find(|r| spec::rs_hash(r) == hash)
            .unwrap_or_else(|| panic!("no replica set with hash {hash}"))
    }

    fn replicas_of(&self, hash: &str) -> i64 {
        int_at(self.rs_by_hash(hash), "/spec/replicas", 1)
    }

    fn selector_of(&self, svc: &str) -> String {
        str_at(&self.services[svc], &format!("/spec/selector/{HASH_LABEL}")).to_string()
    }

    fn condition(&self, t: &str) -> (String, String, String) {
        let c = super::status::get(&self.ro["status"], t)
            .unwrap_or_else(|| panic!("no {t} condition in {:#}", self.ro["status"]));
        (
            str_at(c, "/status").into(),
            str_at(c, "/reason").into(),
            str_at(c, "/message").into(),
        )
    }
}

fn canary_rollout(replicas: i64, steps: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                                    "steps": steps}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
        }
    })
}

fn weights(w: &World) -> (i64, i64, String, String) {
    (
        int_at(&w.ro, "/status/canary/weights/canary/weight", -1),
        int_at(&w.ro, "/status/canary/weights/stable/weight", -1),
        str_at(&w.ro, "/status/canary/weights/canary/podTemplateHash").into(),
        str_at(&w.ro, "/status/canary/weights/stable/podTemplateHash").into(),
    )
}

/// The plugin's `promote` of a rollout paused at a step: `{"status":{"pauseConditions":null}}`.
fn promote(w: &mut World) {
    w.patch_status(json!({"pauseConditions": null}));
}

fn deployed(w: &mut World) -> String {
    w.settle();
    assert_eq!(
        w.phase(),
        ("Healthy".into(), String::new()),
        "{:#}",
        w.ro["status"]
    );
    str_at(&w.ro, "/status/stableRS").to_string()
}

#[test]
fn first_deploy_skips_the_steps() {
    let steps = json!([{"setWeight": 5}, {"pause": {}}]);
    let mut w = World::new(canary_rollout(4, steps), &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    assert_eq!(w.st("/currentStepIndex"), &json!(2));
    assert_eq!(w.st("/currentPodHash"), &json!(stable));
    assert_eq!(w.replicas_of(&stable), 4);
    assert_eq!(w.st("/observedGeneration"), &json!("1"));
    assert_eq!(w.st("/selector"), &json!("app=web"));
    assert_eq!(w.st("/availableReplicas"), &json!(4));
    assert_eq!(w.st("/HPAReplicas"), &json!(4));
    assert_eq!(w.selector_of("web-stable"), stable);
    assert_eq!(w.selector_of("web-canary"), stable);
    assert_eq!(weights(&w), (0, 100, stable.clone(), stable.clone()));
    assert_eq!(w.condition("Healthy").0, "True");
    assert_eq!(w.condition("Completed").0, "True");
    assert_eq!(
        w.condition("Progressing"),
        (
            "True".into(),
            "NewReplicaSetAvailable".into(),
            format!("ReplicaSet \"web-{stable}\" has successfully progressed.")
        )
    );
    assert_eq!(w.condition("Available").1, "AvailableReason");
    assert_eq!(spec::annotation(&w.ro, spec::REVISION), Some("1"));
}

/// 5 → 25 → 50 → 100 with indefinite pauses, each promoted with the plugin's patch; the state
/// checked at every pause.
#[test]
fn canary_steps_promoted_one_by_one() {
    let steps = json!([{"setWeight": 5}, {"pause": {}}, {"setWeight": 25}, {"pause": {}},
                       {"setWeight": 50}, {"pause": {}}]);
    let mut w = World::new(canary_rollout(20, steps), &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    w.set_image("web:2");
    let mut seen_indexes = Vec::new();
    for _ in 0..200 {
        let p = w.step();
        seen_indexes.push(int_at(&w.ro, "/status/currentStepIndex", -1));
        if p.writes.is_empty() {
            break;
        }
    }
    // A new template after a completed rollout starts at step 0.
    assert!(seen_indexes.contains(&0), "{seen_indexes:?}");
    let canary = str_at(&w.ro, "/status/currentPodHash").to_string();
    assert_ne!(canary, stable);
    for (index, weight, canary_pods, stable_pods) in
        [(1, 5, 1, 19), (3, 25, 5, 15), (5, 50, 10, 10)]
    {
        assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
        assert_eq!(w.st("/currentStepIndex"), &json!(index));
        assert_eq!(w.st("/controllerPause"), &json!(true));
        assert_eq!(w.st("/pauseConditions/0/reason"), &json!("CanaryPauseStep"));
        assert_eq!(
            weights(&w),
            (weight, 100 - weight, canary.clone(), stable.clone())
        );
        assert_eq!(w.replicas_of(&canary), canary_pods, "at step {index}");
        assert_eq!(w.replicas_of(&stable), stable_pods, "at step {index}");
        assert_eq!(w.selector_of("web-canary"), canary);
        assert_eq!(w.selector_of("web-stable"), stable);
        assert_eq!(w.st("/stableRS"), &json!(stable));
        assert_eq!(
            w.condition("Progressing"),
            (
                "Unknown".into(),
                "RolloutPaused".into(),
                "Rollout is paused".into()
            )
        );
        assert_eq!(w.condition("Paused").0, "True");
        assert_eq!(w.condition("Completed").0, "False");
        promote(&mut w);
        w.settle();
    }
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.st("/currentStepIndex"), &json!(6));
    assert_eq!(w.st("/stableRS"), &json!(canary));
    assert_eq!(w.replicas_of(&canary), 20);
    assert_eq!(w.replicas_of(&stable), 0);
    assert_eq!(w.selector_of("web-stable"), canary);
    assert_eq!(weights(&w), (0, 100, canary.clone(), canary.clone()));
    assert!(w.st("/pauseConditions").is_null());
    assert!(w.st("/controllerPause").is_null());
    assert_eq!(spec::annotation(&w.ro, spec::REVISION), Some("2"));
    let events: Vec<String> = w
        .plans
        .iter()
        .flat_map(|p| p.events.iter().map(|e| e.message.clone()))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e == "Rollout step 1/6 completed (setWeight: 5)"),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Rollout completed update to revision 2"))
    );
}

#[test]
fn a_pause_with_a_duration_ends_by_itself() {
    let steps = json!([{"setWeight": 50}, {"pause": {"duration": "30s"}}, {"setWeight": 75},
                       {"pause": {"duration": 20}}]);
    let mut w = World::new(canary_rollout(4, steps), &["web-canary", "web-stable"]);
    deployed(&mut w);
    w.set_image("web:2");
    let p = w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!(w.st("/currentStepIndex"), &json!(1));
    let after = p.requeue_after.expect("a timer for the pause");
    assert!((29.0..=30.1).contains(&after), "{after}");
    w.advance(29.0);
    assert_eq!(w.st("/currentStepIndex"), &json!(1), "still paused at 29 s");
    w.advance(1.5);
    assert_eq!(w.st("/currentStepIndex"), &json!(3));
    assert_eq!(w.phase().0, "Paused");
    w.advance(21.0);
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
}

#[test]
fn abort_returns_to_stable_and_retry_starts_over() {
    let steps = json!([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]);
    let mut w = World::new(canary_rollout(4, steps), &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    w.set_image("web:2");
    w.settle();
    promote(&mut w);
    w.settle();
    assert_eq!(w.st("/currentStepIndex"), &json!(3));
    let canary = str_at(&w.ro, "/status/currentPodHash").to_string();
    assert_eq!(w.replicas_of(&canary), 2);
    // kubectl argo rollouts abort
    w.patch_status(json!({"abort": true}));
    w.settle();
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            "RolloutAborted: Rollout aborted update to revision 2".into()
        )
    );
    assert_eq!(w.st("/abort"), &json!(true));
    assert!(w.st("/abortedAt").is_string());
    assert_eq!(w.st("/currentStepIndex"), &json!(0));
    assert_eq!(w.replicas_of(&canary), 0);
    assert_eq!(w.replicas_of(&stable), 4);
    assert_eq!(w.selector_of("web-canary"), stable);
    assert_eq!(w.selector_of("web-stable"), stable);
    assert_eq!(weights(&w).0, 0);
    assert_eq!(w.condition("Progressing").1, "RolloutAborted");
    assert!(w.st("/pauseConditions").is_null());
    // kubectl argo rollouts retry
    w.patch_status(json!({"abort": false}));
    let mut saw_retry = false;
    for _ in 0..200 {
        let p = w.step();
        saw_retry |= super::status::get(&w.ro["status"], "Progressing")
            .is_some_and(|c| str_at(c, "/reason") == "RolloutRetry");
        if p.writes.is_empty() {
            break;
        }
    }
    assert!(saw_retry);
    assert_eq!(w.phase(), ("Paused".into(), "CanaryPauseStep".into()));
    assert_eq!(w.st("/currentStepIndex"), &json!(1));
    assert!(w.st("/abort").is_null());
    assert!(w.st("/abortedAt").is_null());
    assert_eq!(w.replicas_of(&canary), 1);
    assert_eq!(w.selector_of("web-canary"), canary);
}

#[test]
fn promote_full_goes_straight_to_the_new_version() {
    let steps = json!([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]);
    let mut w = World::new(canary_rollout(4, steps), &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    w.set_image("web:2");
    w.settle();
    let canary = str_at(&w.ro, "/status/currentPodHash").to_string();
    // kubectl argo rollouts promote --full
    w.patch_status(json!({"promoteFull": true}));
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.st("/stableRS"), &json!(canary));
    assert_eq!(w.st("/currentStepIndex"), &json!(4));
    assert!(w.st("/promoteFull").is_null());
    assert_eq!(w.replicas_of(&canary), 4);
    assert_eq!(w.replicas_of(&stable), 0);
}

#[test]
fn spec_paused_holds_the_rollout() {
    let steps = json!([{"setWeight": 50}]);
    let mut w = World::new(canary_rollout(4, steps), &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    w.ro["spec"]["paused"] = json!(true);
    w.set_image("web:2");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "manually paused".into()));
    assert_eq!(w.replicas_of(&stable), 4);
    assert_eq!(w.condition("Paused").0, "True");
    w.ro["spec"]["paused"] = json!(false);
    w.bump();
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
}

#[test]
fn a_crashing_canary_exceeds_its_progress_deadline() {
    let steps = json!([{"setWeight": 25}, {"pause": {}}]);
    let mut ro = canary_rollout(4, steps);
    ro["spec"]["progressDeadlineSeconds"] = json!(60);
    let mut w = World::new(ro, &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    w.set_image("web:crashloop");
    let p = w.settle();
    let canary = str_at(&w.ro, "/status/currentPodHash").to_string();
    assert_eq!(w.phase().0, "Progressing");
    assert!(
        p.requeue_after.is_some_and(|r| r <= 60.1),
        "{:?}",
        p.requeue_after
    );
    w.advance(61.0);
    let msg = format!("ReplicaSet \"web-{canary}\" has timed out progressing.");
    assert_eq!(
        w.condition("Progressing"),
        (
            "False".into(),
            "ProgressDeadlineExceeded".into(),
            msg.clone()
        )
    );
    assert_eq!(
        w.phase(),
        (
            "Degraded".into(),
            format!("ProgressDeadlineExceeded: {msg}")
        )
    );
    assert_eq!(w.replicas_of(&canary), 1);
    assert_eq!(w.replicas_of(&stable), 3);
}

#[test]
fn progress_deadline_abort_aborts() {
    let steps = json!([{"setWeight": 25}, {"pause": {}}]);
    let mut ro = canary_rollout(4, steps);
    ro["spec"]["progressDeadlineSeconds"] = json!(60);
    ro["spec"]["progressDeadlineAbort"] = json!(true);
    let mut w = World::new(ro, &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    w.set_image("web:crashloop");
    w.settle();
    let canary = str_at(&w.ro, "/status/currentPodHash").to_string();
    w.advance(61.0);
    let (phase, msg) = w.phase();
    assert_eq!(phase, "Degraded");
    assert_eq!(
        msg,
        format!(
            "RolloutAborted: Rollout aborted update to revision 2: ReplicaSet \"web-{canary}\" has timed out progressing."
        )
    );
    assert_eq!(w.st("/abort"), &json!(true));
    assert_eq!(w.replicas_of(&canary), 0);
    assert_eq!(w.replicas_of(&stable), 4);
}

/// setCanaryScale applies with a traffic router (as in Argo; without one it is ignored): the
/// canary runs its explicit count while the weight moves, the stable stays at full size, and
/// after the promotion the old stable waits out scaleDownDelaySeconds (30 s by default).
#[test]
fn set_canary_scale_with_a_traffic_router() {
    let steps = json!([{"setCanaryScale": {"replicas": 2}}, {"setWeight": 20}, {"pause": {}},
                       {"setCanaryScale": {"matchTrafficWeight": true}}, {"setWeight": 50},
                       {"pause": {}}]);
    let mut ro = canary_rollout(10, steps);
    ro["spec"]["strategy"]["canary"]["trafficRouting"] = json!({"nginx": {"stableIngress": "web"}});
    let mut w = World::new(ro, &["web-canary", "web-stable"]);
    let stable = deployed(&mut w);
    w.set_image("web:2");
    w.settle();
    let canary = str_at(&w.ro, "/status/currentPodHash").to_string();
    assert_eq!(w.st("/currentStepIndex"), &json!(2));
    assert_eq!(w.replicas_of(&canary), 2);
    assert_eq!(w.replicas_of(&stable), 10);
    assert_eq!(weights(&w).0, 20);
    promote(&mut w);
    w.settle();
    assert_eq!(w.st("/currentStepIndex"), &json!(5));
    assert_eq!(
        w.replicas_of(&canary),
        5,
        "matchTrafficWeight: the canary follows the weight"
    );
    assert_eq!(w.replicas_of(&stable), 10);
    promote(&mut w);
    w.settle();
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert_eq!(w.replicas_of(&canary), 10);
    assert_eq!(w.replicas_of(&stable), 10, "kept for the scale-down delay");
    assert!(spec::annotation(w.rs_by_hash(&stable), SCALE_DOWN_DEADLINE).is_some());
    w.advance(31.0);
    assert_eq!(w.replicas_of(&stable), 0);
}

fn blue_green_rollout(replicas: i64, extra: Value) -> Value {
    let mut bg = json!({"activeService": "web-active", "previewService": "web-preview"});
    if let (Some(b), Some(e)) = (bg.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"blueGreen": bg},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
        }
    })
}

#[test]
fn blue_green_pauses_then_switches_and_scales_down_after_the_delay() {
    let ro = blue_green_rollout(3, json!({"autoPromotionEnabled": false}));
    let mut w = World::new(ro, &["web-active", "web-preview"]);
    let blue = deployed(&mut w);
    assert_eq!(w.selector_of("web-active"), blue);
    assert_eq!(w.st("/blueGreen/activeSelector"), &json!(blue));
    w.set_image("web:2");
    w.settle();
    let green = str_at(&w.ro, "/status/currentPodHash").to_string();
    assert_eq!(w.phase(), ("Paused".into(), "BlueGreenPause".into()));
    assert_eq!(w.st("/pauseConditions/0/reason"), &json!("BlueGreenPause"));
    assert_eq!(w.st("/controllerPause"), &json!(true));
    assert_eq!(w.replicas_of(&green), 3);
    assert_eq!(w.replicas_of(&blue), 3);
    assert_eq!(w.selector_of("web-preview"), green);
    assert_eq!(w.selector_of("web-active"), blue);
    assert_eq!(w.st("/blueGreen/previewSelector"), &json!(green));
    assert_eq!(w.st("/blueGreen/activeSelector"), &json!(blue));
    assert_eq!(w.st("/stableRS"), &json!(blue));
    assert_eq!(
        w.st("/selector"),
        &json!(format!("app=web,rollouts-pod-template-hash={blue}"))
    );
    promote(&mut w);
    let p = w.settle();
    assert_eq!(w.selector_of("web-active"), green);
    assert_eq!(w.st("/stableRS"), &json!(green));
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    assert!(spec::annotation(w.rs_by_hash(&blue), SCALE_DOWN_DEADLINE).is_some());
    assert_eq!(w.replicas_of(&blue), 3);
    assert!(p.requeue_after.is_some_and(|r| r <= 30.1));
    w.advance(29.0);
    assert_eq!(w.replicas_of(&blue), 3);
    w.advance(1.5);
    assert_eq!(w.replicas_of(&blue), 0);
    assert!(spec::annotation(w.rs_by_hash(&blue), SCALE_DOWN_DEADLINE).is_none());
}

/// Argo's fast rollback (`isFastRollback`, "Rollback Windows" in its docs): going back to a
/// blue/green ReplicaSet still scaled up within its scaleDownDelay skips the pause and switches
/// at once; once the delay has passed, the way back pauses for a promotion like any update.
#[test]
fn a_blue_green_rollback_within_the_scale_down_delay_switches_back_without_a_pause() {
    let ro = blue_green_rollout(3, json!({"autoPromotionEnabled": false}));
    let mut w = World::new(ro, &["web-active", "web-preview"]);
    let blue = deployed(&mut w);
    w.advance(60.0);
    w.set_image("web:2");
    w.settle();
    let green = str_at(&w.ro, "/status/currentPodHash").to_string();
    promote(&mut w);
    w.settle();
    assert_eq!(w.selector_of("web-active"), green);
    assert!(spec::annotation(w.rs_by_hash(&blue), SCALE_DOWN_DEADLINE).is_some());
    // Back to blue 10 s after the switch: still scaled up, so no pause.
    w.advance(10.0);
    w.set_image("web:1");
    w.settle();
    assert_eq!(w.selector_of("web-active"), blue);
    assert_eq!(w.st("/stableRS"), &json!(blue));
    assert_eq!(w.phase(), ("Healthy".into(), String::new()));
    let events: Vec<String> = w
        .plans
        .iter()
        .flat_map(|p| p.events.iter().map(|e| e.message.clone()))
        .collect();
    assert!(
        events.iter().any(|e| e.ends_with("Fast rollback")),
        "{events:#?}"
    );
    // Forward again and promoted; once green's delay has passed, going back to it pauses.
    w.advance(60.0);
    w.set_image("web:2");
    w.settle();
    if w.phase().1 == "BlueGreenPause" {
        promote(&mut w);
        w.settle();
    }
    assert_eq!(w.selector_of("web-active"), green);
    w.advance(40.0);
    assert_eq!(w.replicas_of(&blue), 0, "blue retired after its delay");
    w.set_image("web:1");
    w.settle();
    assert_eq!(w.phase(), ("Paused".into(), "BlueGreenPause".into()));
    assert_eq!(w.selector_of("web-active"), green);
}

#[test]
fn blue_green_preview_replica_count_and_auto_promotion_seconds() {
    let ro = blue_green_rollout(
        4,
        json!({"previewReplicaCount": 1, "autoPromotionSeconds": 20, "scaleDownDelaySeconds": 5}),
    );
    let mut w = World::new(ro, &["web-active", "web-preview"]);
    let blue = deployed(&mut w);
    w.set_image("web:2");
    w.settle();
    let green = str_at(&w.ro, "/status/currentPodHash").to_string();
    assert_eq!(w.replicas_of(&green), 1);
    assert_eq!(w.phase(), ("Paused".into(), "BlueGreenPause".into()));
    w.advance(21.0);
    assert_eq!(w.replicas_of(&green), 4);
    assert_eq!(w.selector_of("web-active"), green);
    assert_eq!(w.phase().0, "Healthy");
    w.advance(6.0);
    assert_eq!(w.replicas_of(&blue), 0);
}

// --- Argo's own fixtures -----------------------------------------------------------------------

fn fixture(path: &str) -> Value {
    let text = match path {
        "canary/canary-rollout.yaml" => {
            include_str!("../../../tests/fixtures/argo/canary/canary-rollout.yaml")
        }
        "canary/stable-rs.yaml" => {
            include_str!("../../../tests/fixtures/argo/canary/stable-rs.yaml")
        }
        "canary/canary-rs.yaml" => {
            include_str!("../../../tests/fixtures/argo/canary/canary-rs.yaml")
        }
        "blue-green/bluegreen-rollout.yaml" => {
            include_str!("../../../tests/fixtures/argo/blue-green/bluegreen-rollout.yaml")
        }
        "blue-green/active-rs.yaml" => {
            include_str!("../../../tests/fixtures/argo/blue-green/active-rs.yaml")
        }
        "blue-green/preview-rs.yaml" => {
            include_str!("../../../tests/fixtures/argo/blue-green/preview-rs.yaml")
        }
        _ => panic!("no fixture {path}"),
    };
    serde_saphyr::from_str::<Value>(text).expect("fixture parses")
}

/// The fields that depend on neither timing, uids nor hashes, with the hashes replaced by which
/// ReplicaSet (stable, canary/preview) they name.
fn comparable(ro: &Value, stable_hash: &str, new_hash: &str) -> Value {
    let st = &ro["status"];
    let which = |h: &str| -> Value {
        if h.is_empty() {
            Value::Null
        } else if h == stable_hash {
            json!("stable")
        } else if h == new_hash {
            json!("new")
        } else {
            json!("other")
        }
    };
    let mut conditions: Vec<Value> = st["conditions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    json!([
                        str_at(c, "/type"),
                        str_at(c, "/status"),
                        str_at(c, "/reason")
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    conditions.sort_by_key(|c| c.to_string());
    json!({
        "phase": super::status::phase(ro, st).0,
        "currentStepIndex": st.get("currentStepIndex"),
        "stableRS": which(str_at(st, "/stableRS")),
        "currentPodHash": which(str_at(st, "/currentPodHash")),
        "activeSelector": which(str_at(st, "/blueGreen/activeSelector")),
        "previewSelector": which(str_at(st, "/blueGreen/previewSelector")),
        "updatedReplicas": int_at(st, "/updatedReplicas", 0),
        "availableReplicas": int_at(st, "/availableReplicas", 0),
        "pauseReasons": st["pauseConditions"].as_array().map(|a| a.iter().map(|p| p["reason"].clone()).collect::<Vec<_>>()),
        "controllerPause": st.get("controllerPause"),
        "conditions": conditions,
    })
}

/// Argo's canary fixture (tests/fixtures/argo/canary/canary-rollout.yaml, written by Argo
/// Rollouts): a 5-replica canary whose new image never starts, stuck at its first step
/// (setWeight 20) past progressDeadlineSeconds (30). The same spec here, driven to the same
/// state, writes the same status, except where listed.
#[test]
fn canary_status_matches_argos_fixture() {
    let argo = fixture("canary/canary-rollout.yaml");
    let argo_stable = fixture("canary/stable-rs.yaml");
    let argo_canary = fixture("canary/canary-rs.yaml");
    let mut ro = json!({"metadata": {"name": "canary-demo"}, "spec": argo["spec"].clone()});
    ro["spec"]["template"]["spec"]["containers"][0]["image"] = json!("argoproj/rollouts-demo:blue");
    let mut w = World::new(ro, &["canary-demo-preview"]);
    let stable = deployed(&mut w);
    w.set_image("argoproj/rollouts-demo:does-not-exist");
    w.settle();
    w.advance(31.0);
    let ours_hash = str_at(&w.ro, "/status/currentPodHash").to_string();
    let ours = comparable(&w.ro, &stable, &ours_hash);
    let theirs = comparable(
        &argo,
        str_at(&argo, "/status/stableRS"),
        str_at(&argo, "/status/currentPodHash"),
    );
    // The steps hash: the fixture's was computed when its pause durations were ints (10, not
    // "10s"); with those steps ours is Argo's (spec::tests::step_hash_matches_argo_for_its_fixture).
    let mut int_steps = w.ro.clone();
    for s in int_steps["spec"]["strategy"]["canary"]["steps"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if s.at("/pause/duration").is_some() {
            s["pause"]["duration"] = json!(10);
        }
    }
    assert_eq!(
        &json!(spec::step_hash(&int_steps)),
        argo["status"].at("/currentStepHash").unwrap()
    );
    // The fields Argo's canary fixture has and that must agree.
    for k in [
        "phase",
        "currentStepIndex",
        "stableRS",
        "currentPodHash",
        "updatedReplicas",
        "pauseReasons",
        "controllerPause",
    ] {
        assert_eq!(ours[k], theirs[k], "{k}: ours {ours:#} Argo's {theirs:#}");
    }
    assert_eq!(
        w.selector_of("canary-demo-preview"),
        stable,
        "the canary Service stays on the stable until the canary is available"
    );
    assert_eq!(w.st("/selector"), argo["status"].at("/selector").unwrap());
    let canary_rs = w.rs_by_hash(&ours_hash);
    assert_eq!(
        int_at(canary_rs, "/spec/replicas", 0),
        int_at(&argo_canary, "/spec/replicas", 0)
    );
    assert_eq!(
        spec::annotation(canary_rs, spec::DESIRED_REPLICAS),
        argo_canary
            .at("/metadata/annotations/rollout.argoproj.io~1desired-replicas")
            .and_then(Value::as_str)
    );
    // Accepted difference: the stable's count. Argo's current CalculateReplicaCountsForBasicCanary
    // (its own test table passes here: counts::tests) scales the stable to 4 while the canary
    // takes 1, within maxUnavailable (1 of 5); the fixture, recorded in 2019, kept 5 stable pods
    // (6 in all). Hence availableReplicas 4, not 5, and the Available condition False (4 < 5).
    assert_eq!(w.replicas_of(&stable), 4);
    assert_eq!(int_at(&argo_stable, "/spec/replicas", 0), 5);
    assert_eq!(
        (
            ours["availableReplicas"].clone(),
            theirs["availableReplicas"].clone()
        ),
        (json!(4), json!(5))
    );
    assert_eq!(
        w.condition("Available"),
        (
            "False".into(),
            "AvailableReason".into(),
            "Rollout does not have minimum availability".into()
        )
    );
    // Conditions: the fixture's Progressing (False, ProgressDeadlineExceeded) is ours; the current
    // controller adds Healthy (False) and Completed (False); Paused is absent (never paused).
    let ours_conds = ours["conditions"].as_array().cloned().unwrap_or_default();
    for c in theirs["conditions"].as_array().into_iter().flatten() {
        if c[0] == "Available" {
            continue;
        }
        assert!(ours_conds.contains(c), "{c} missing from {ours:#}");
    }
    for extra in [
        json!(["Completed", "False", "RolloutCompleted"]),
        json!(["Healthy", "False", "RolloutHealthy"]),
    ] {
        assert!(ours_conds.contains(&extra), "{extra} missing from {ours:#}");
    }
    assert_eq!(w.st("/HPAReplicas"), &json!(5));
    assert_eq!(argo["status"]["HPAReplicas"], json!(6));
}

/// Argo's blue-green fixture (tests/fixtures/argo/blue-green/bluegreen-rollout.yaml, written by
/// Argo Rollouts): autoPromotionEnabled false, the preview ready and the rollout paused.
#[test]
fn blue_green_status_matches_argos_fixture() {
    let argo = fixture("blue-green/bluegreen-rollout.yaml");
    let argo_active = fixture("blue-green/active-rs.yaml");
    let argo_preview = fixture("blue-green/preview-rs.yaml");
    let mut ro = json!({"metadata": {"name": "bluegreen-demo"}, "spec": argo["spec"].clone()});
    ro["spec"]["template"]["spec"]["containers"][0]["image"] = json!("argoproj/rollouts-demo:blue");
    let mut w = World::new(ro, &["bluegreen-demo", "bluegreen-demo-preview"]);
    let blue = deployed(&mut w);
    w.set_image("argoproj/rollouts-demo:green");
    w.settle();
    let green = str_at(&w.ro, "/status/currentPodHash").to_string();
    let ours = comparable(&w.ro, &blue, &green);
    let theirs = comparable(
        &argo,
        str_at(&argo, "/status/stableRS"),
        str_at(&argo, "/status/currentPodHash"),
    );
    for k in [
        "phase",
        "currentStepIndex",
        "stableRS",
        "currentPodHash",
        "activeSelector",
        "previewSelector",
        "updatedReplicas",
        "availableReplicas",
        "pauseReasons",
        "controllerPause",
    ] {
        assert_eq!(ours[k], theirs[k], "{k}: ours {ours:#} Argo's {theirs:#}");
    }
    for k in [
        "HPAReplicas",
        "replicas",
        "availableReplicas",
        "updatedReplicas",
    ] {
        assert_eq!(
            w.st(&format!("/{k}")),
            argo["status"].get(k).unwrap(),
            "{k}"
        );
    }
    // The selector names the active ReplicaSet's hash, as Argo's does.
    assert_eq!(
        w.st("/selector"),
        &json!(format!(
            "app=bluegreen-demo,rollouts-pod-template-hash={blue}"
        ))
    );
    assert!(
        str_at(&argo, "/status/selector")
            .starts_with("app=bluegreen-demo,rollouts-pod-template-hash=")
    );
    assert_eq!(
        w.replicas_of(&blue),
        int_at(&argo_active, "/spec/replicas", 0)
    );
    assert_eq!(
        w.replicas_of(&green),
        int_at(&argo_preview, "/spec/replicas", 0)
    );
    for c in theirs["conditions"].as_array().into_iter().flatten() {
        assert!(
            ours["conditions"].as_array().is_some_and(|a| a.contains(c)),
            "{c} missing from {ours:#}"
        );
    }
    // Accepted difference: readyReplicas. The current controller writes the active
    // ReplicaSet's (3); the 2019 fixture counts both (6).
    assert_eq!(w.st("/readyReplicas"), &json!(3));
    assert_eq!(argo["status"]["readyReplicas"], json!(6));
}
