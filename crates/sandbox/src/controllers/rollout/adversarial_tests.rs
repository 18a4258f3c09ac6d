//! Malformed Rollouts through the real controllers' loop (a [`Manager`] over a store with the
//! Rollout CRD applied): the API admits what the CRD's schema prunes to, so every odd value
//! reaches the controller. After each, no panic, the Rollout's status says what is wrong when
//! Argo would refuse the spec, and a plain Deployment beside it still rolls out.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::LogHub;
use crate::Store;
use crate::Timing;
use crate::controllers::manager::Manager;
use crate::object::{PointerLookup, int_at, str_at};
use crate::resources::by_kind;
use crate::shared::Shared;

fn shared() -> Arc<Shared> {
    let store = Store::new();
    let _ = store.create(
        by_kind("Namespace"),
        "",
        json!({"metadata": {"name": "default"}}),
        false,
    );
    crate::fixture::ensure_node(&store);
    crate::fixture::load_str(&store, crate::crds::ARGO_ROLLOUTS, "argo-rollouts.yaml")
        .expect("the Rollout CRD applies");
    for svc in ["web-canary", "web-stable", "web-active", "web-preview"] {
        store
            .create(
                by_kind("Service"),
                "default",
                json!({"metadata": {"name": svc},
                       "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
                false,
            )
            .expect("service");
    }
    Arc::new(Shared {
        store,
        logs: LogHub::new(),
        timing: Timing {
            speed: 1000.0,
            log_rate: 0.0,
        },
        repos: Default::default(),
        faults: Default::default(),
        apps: Default::default(),
    })
}

fn template(image: &str) -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": image}]}})
}

fn canary(steps: Value) -> Value {
    json!({
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                                "steps": steps}},
        "template": template("web:1"),
    })
}

fn blue_green(extra: Value) -> Value {
    let mut bg = json!({"activeService": "web-active", "previewService": "web-preview"});
    if let (Some(b), Some(e)) = (bg.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    json!({
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"blueGreen": bg},
        "template": template("web:1"),
    })
}

/// Every timer due, as far ahead as `secs` simulated seconds, and the queue drained.
fn run(m: &mut Manager, rounds: usize) {
    for _ in 0..rounds {
        m.settle(50);
        m.fire_timers(Instant::now() + Duration::from_secs(86_400 * 400));
    }
    m.settle(50);
}

fn rollout(m: &Manager) -> Value {
    let rt = super::controller::rollout_type(&m.shared.store).expect("rollouts served");
    m.shared
        .store
        .get(rt, "default", "web")
        .expect("the rollout")
        .as_ref()
        .clone()
}

/// Creates Rollout `web` with `spec`, changes its image (a second revision, so the steps run),
/// and drives the controllers; then a Deployment must roll out. The Rollout then.
fn drive(spec: Value) -> Value {
    let shared = shared();
    let store = shared.store.clone();
    let mut m = Manager::new(shared);
    run(&mut m, 1);
    let rt = super::controller::rollout_type(&store).expect("rollouts served");
    store
        .create(
            rt,
            "default",
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                   "metadata": {"name": "web"}, "spec": spec}),
            false,
        )
        .expect("the API admits the rollout");
    run(&mut m, 4);
    let _ = store.modify(rt, "default", "web", crate::store::Part::Main, |o| {
        if o.at("/spec/template/spec/containers/0").is_some() {
            o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
        }
        Ok(())
    });
    run(&mut m, 6);
    store
        .create(
            by_kind("Deployment"),
            "default",
            json!({"metadata": {"name": "plain"},
                   "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "plain"}},
                            "template": {"metadata": {"labels": {"app": "plain"}},
                                         "spec": {"containers": [{"name": "c", "image": "plain:1"}]}}}}),
            false,
        )
        .expect("deployment");
    run(&mut m, 6);
    // The deployment and replica set controllers ran after the rollout's reconciles: the
    // Deployment's ReplicaSet and its pods exist (their readiness is the kubelet's wall clock).
    let (pods, _) = store.list(by_kind("Pod"), Some("default"), &|p| {
        str_at(p, "/metadata/labels/app") == "plain"
    });
    let d = store
        .get(by_kind("Deployment"), "default", "plain")
        .expect("deployment");
    assert_eq!(
        (pods.len(), int_at(&d, "/status/observedGeneration", 0)),
        (2, 1),
        "a plain Deployment rolls out beside the rollout: {:#}",
        d["status"]
    );
    rollout(&m)
}

/// Each case in its own store and loop: a panic is caught and reported with the case's name.
fn each(cases: Vec<(&str, Value)>, check: impl Fn(&str, &Value) -> Result<(), String>) {
    let mut failed = Vec::new();
    for (name, spec) in cases {
        match catch_unwind(AssertUnwindSafe(|| drive(spec))) {
            Ok(ro) => {
                if let Err(e) = check(name, &ro) {
                    failed.push(format!("{name}: {e}"));
                }
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed.push(format!("{name}: panicked: {msg}"));
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn odd_numbers_and_durations_never_stop_the_controllers() {
    let big = json!(i64::MAX);
    let mut cases = vec![
        ("replicas 0", {
            let mut s = canary(json!([{"setWeight": 50}, {"pause": {}}]));
            s["replicas"] = json!(0);
            s
        }),
        ("replicas a string", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["replicas"] = json!("three");
            s
        }),
        ("replicas a float", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["replicas"] = json!(2.5);
            s
        }),
        (
            "pause duration huge int",
            canary(json!([{"setWeight": 50}, {"pause": {"duration": big}}])),
        ),
        (
            "pause duration huge string",
            canary(json!([{"setWeight": 50}, {"pause": {"duration": "99999999999999h"}}])),
        ),
        (
            "pause duration an object",
            canary(json!([{"setWeight": 50}, {"pause": {"duration": {"a": 1}}}])),
        ),
        ("steps not an array", canary(json!({"setWeight": 50}))),
        ("step not an object", canary(json!([5, "pause", null]))),
        ("maxSurge huge percent", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["strategy"]["canary"]["maxSurge"] = json!("100000000000000000000%");
            s["strategy"]["canary"]["maxUnavailable"] = json!("-50%");
            s
        }),
        ("maxSurge huge int", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["strategy"]["canary"]["maxSurge"] = big.clone();
            s["strategy"]["canary"]["maxUnavailable"] = big.clone();
            s
        }),
        ("traffic routing with max weight 0", {
            let mut s = canary(json!([{"setWeight": 0}, {"setCanaryScale": {"weight": 7}}]));
            s["strategy"]["canary"]["trafficRouting"] = json!({"maxTrafficWeight": 0});
            s
        }),
        ("traffic routing with huge numbers", {
            let mut s = canary(json!([{"setWeight": 50},
                {"setCanaryScale": {"weight": big}}, {"setCanaryScale": {"replicas": -4}}]));
            s["strategy"]["canary"]["trafficRouting"] = json!({"maxTrafficWeight": big});
            s["strategy"]["canary"]["minPodsPerReplicaSet"] = big.clone();
            s["strategy"]["canary"]["dynamicStableScale"] = json!(true);
            s["strategy"]["canary"]["abortScaleDownDelaySeconds"] = big.clone();
            s["strategy"]["canary"]["scaleDownDelaySeconds"] = big.clone();
            s
        }),
        ("progress deadline huge", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["progressDeadlineSeconds"] = big.clone();
            s["progressDeadlineAbort"] = json!(true);
            s
        }),
        ("progress deadline negative", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["progressDeadlineSeconds"] = json!(i64::MIN);
            s["minReadySeconds"] = json!(i64::MIN);
            s
        }),
        ("restartAt far ahead", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["restartAt"] = json!("9999-12-31T23:59:59Z");
            s
        }),
        ("restartAt garbage", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["restartAt"] = json!("yesterday");
            s["revisionHistoryLimit"] = json!(-7);
            s
        }),
        (
            "blue-green huge delays",
            blue_green(
                // A huge previewReplicaCount is a preview that fills the pod quota (as a huge
                // `replicas` does: tests/sandbox's quota test), not a controller that stops.
                json!({"scaleDownDelaySeconds": big, "autoPromotionSeconds": big,
                              "previewReplicaCount": 3, "scaleDownDelayRevisionLimit": -1}),
            ),
        ),
        (
            "blue-green negative delays",
            blue_green(json!({"scaleDownDelaySeconds": i64::MIN,
                              "autoPromotionSeconds": i64::MIN,
                              "previewReplicaCount": -3})),
        ),
        ("template containers not an array", {
            let mut s = canary(json!([{"setWeight": 50}]));
            s["template"]["spec"]["containers"] = json!("web");
            s
        }),
        ("spec template missing", {
            let mut s = canary(json!([{"setWeight": 50}]));
            if let Some(o) = s.as_object_mut() {
                o.remove("template");
            }
            s
        }),
    ];
    cases.push(("spec a string", json!("nope")));
    each(cases, |_, _| Ok(()));
}

fn invalid_message(ro: &Value) -> String {
    ro.at("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| str_at(c, "/type") == "InvalidSpec" && str_at(c, "/status") == "True")
        .map(|c| str_at(c, "/message").to_string())
        .unwrap_or_default()
}

/// What Argo's `ValidateRolloutSpec` refuses is an InvalidSpec condition saying why, as Argo
/// words it, and the Rollout runs nothing.
#[test]
fn specs_argo_refuses_are_invalid_with_its_words() {
    let cases = vec![
        (
            "setWeight over 100",
            canary(json!([{"setWeight": 150}])),
            "spec.strategy.canary.steps[0].setWeight: Invalid value: 150: SetWeight needs to be between 0 and 100",
        ),
        (
            "setWeight negative",
            canary(json!([{"pause": {}}, {"setWeight": -20}])),
            "spec.strategy.canary.steps[1].setWeight: Invalid value: -20: SetWeight needs to be between 0 and 100",
        ),
        (
            "pause duration unreadable",
            canary(json!([{"setWeight": 10}, {"pause": {"duration": "banana"}}])),
            "spec.strategy.canary.steps[1].pause.duration: Invalid value: -1: Duration needs to be greater than 0",
        ),
        (
            "an empty step",
            canary(json!([{"setWeight": 10}, {}])),
            "spec.strategy.canary.steps[1]: Invalid value: {}: Step must have one of the following set",
        ),
        (
            "both strategies",
            {
                let mut s = canary(json!([{"setWeight": 10}]));
                s["strategy"]["blueGreen"] = json!({"activeService": "web-active"});
                s
            },
            "Multiple Strategies can not be listed",
        ),
        (
            "replicas negative",
            {
                let mut s = canary(json!([{"setWeight": 10}]));
                s["replicas"] = json!(-3);
                s
            },
            "spec.replicas: Invalid value: -3: must be greater than or equal to 0",
        ),
        (
            "a service that does not exist",
            {
                let mut s = canary(json!([{"setWeight": 10}]));
                s["strategy"]["canary"]["canaryService"] = json!("nope");
                s
            },
            "services \"nope\" not found",
        ),
    ];
    let mut failed = Vec::new();
    for (name, spec, want) in cases {
        let ro = drive(spec);
        let msg = invalid_message(&ro);
        if !msg.contains(want) {
            failed.push(format!(
                "{name}: InvalidSpec message {msg:?} lacks {want:?}"
            ));
        }
        if !ro.at("/status/currentPodHash").is_none_or(Value::is_null) {
            failed.push(format!("{name}: an invalid rollout made a ReplicaSet"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
