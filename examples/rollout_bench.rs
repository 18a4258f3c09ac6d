//! Benchmark of the sandbox's Argo Rollouts controller: a canary of `--replicas` pods (100)
//! stepping through four weights (10, 25, 50, 75, each followed by a 10 s pause, then 100%),
//! timed from the new template to the rollout Healthy on the new pods, the old ones gone.
//!
//! ```sh
//! cargo run --example rollout_bench -- [--replicas 100] [--speed 1000] [--runs 3]
//! ```
//!
//! Each run starts its own sandbox in this process (simulated time at `--speed`, three nodes of
//! 110 pods), applies the Argo Rollouts CRD, deploys the first version and waits for it, then
//! changes the image and watches the Rollout through kube-rs until it completes, checking that
//! every weight was reached with the ReplicaSets at Argo's counts. Output: one JSON line per run
//! (real seconds, simulated seconds, the process's CPU seconds, the weights seen), then the median.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tollgate_sandbox::controllers::rollout::counts;
use tollgate_sandbox::{Config, Sandbox, Timing, fixture, resources};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const WEIGHTS: [i64; 4] = [10, 25, 50, 75];

fn arg(args: &[String], name: &str, default: f64) -> Res<f64> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name}: not a number"))?),
    }
}

/// The process's CPU time (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn st<'a>(ro: &'a DynamicObject, p: &str) -> &'a Value {
    ro.data
        .pointer(&format!("/status{p}"))
        .unwrap_or(&Value::Null)
}

async fn run(replicas: i64, speed: f64) -> Res<Value> {
    let sb = Sandbox::start(Config {
        timing: Timing {
            speed,
            log_rate: 0.0,
        },
        ..Config::default()
    })
    .await?;
    for n in ["bench-node-2", "bench-node-3"] {
        sb.store()
            .create_with_status(resources::by_kind("Node"), "", fixture::default_node(n))
            .map_err(|e| e.message)?;
    }
    sb.apply_yaml(
        tollgate_sandbox::crds::ARGO_ROLLOUTS,
        "crds/argo-rollouts.yaml",
    )?;
    let client = sb.client();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    for n in ["web-canary", "web-stable"] {
        let svc: Service = serde_json::from_value(
            json!({"metadata": {"name": n}, "spec": {"selector": {"app": "web"}}}),
        )?;
        services.create(&PostParams::default(), &svc).await?;
    }
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let mut steps = Vec::new();
    for w in WEIGHTS {
        steps.push(json!({"setWeight": w}));
        steps.push(json!({"pause": {"duration": "10s"}}));
    }
    let ro: DynamicObject = serde_json::from_value(json!({
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
    }))?;
    api.create(&PostParams::default(), &ro).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let healthy_on = |ro: &DynamicObject, gen_at_least: i64| {
        st(ro, "/phase") == "Healthy"
            && st(ro, "/stableRS") == st(ro, "/currentPodHash")
            && ro.metadata.generation.unwrap_or(0) >= gen_at_least
            && st(ro, "/observedGeneration").as_str()
                == Some(ro.metadata.generation.unwrap_or(0).to_string().as_str())
            && st(ro, "/replicas").as_i64() == Some(replicas)
    };
    loop {
        if healthy_on(&api.get("web").await?, 1) {
            break;
        }
        if Instant::now() > deadline {
            return Err("the first version never became Healthy".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    let changed = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let generation = changed.metadata.generation.unwrap_or(0);
    let mut seen: Vec<i64> = Vec::new();
    loop {
        let next = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .map_err(|_| "the rollout did not complete in 300 s")?;
        let Some(ev) = next else {
            return Err("the watch ended".into());
        };
        let Ok(watcher::Event::Apply(ro) | watcher::Event::InitApply(ro)) = ev else {
            continue;
        };
        if st(&ro, "/phase") == "Paused" {
            let w = st(&ro, "/canary/weights/canary/weight")
                .as_i64()
                .unwrap_or(-1);
            if !seen.contains(&w) {
                // The ReplicaSets are at Argo's counts for this weight.
                let hash = st(&ro, "/currentPodHash")
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let rs = rs_api.get(&format!("web-{hash}")).await?;
                let pods = rs.spec.and_then(|s| s.replicas).unwrap_or(-1);
                let surge = (replicas * 25 + 99) / 100;
                let (want, _) = counts::approximate(replicas, w, 100, surge);
                if i64::from(pods) != want {
                    return Err(format!("at weight {w}: {pods} canary pods, not {want}").into());
                }
                seen.push(w);
            }
        }
        if healthy_on(&ro, generation) {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    if seen != WEIGHTS {
        return Err(format!("weights seen {seen:?}, not {WEIGHTS:?}").into());
    }
    let left = rs_api.list(&ListParams::default()).await?.items.len();
    Ok(json!({
        "metric": "rollout_canary", "replicas": replicas, "speed": speed,
        "weights": seen, "seconds": secs, "simulated_seconds": secs * speed,
        "cpu_seconds": cpu, "replica_sets": left,
    }))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Res<(i64, f64, usize)> {
        Ok((
            arg(&args, "--replicas", 100.0)? as i64,
            arg(&args, "--speed", 1000.0)?,
            arg(&args, "--runs", 3.0)? as usize,
        ))
    })();
    let (replicas, speed, runs) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rollout_bench: {e}");
            std::process::exit(2);
        }
    };
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        match run(replicas, speed).await {
            Ok(j) => {
                times.push(j["seconds"].as_f64().unwrap_or(0.0));
                println!("{j}");
            }
            Err(e) => {
                eprintln!("rollout_bench: {e}");
                std::process::exit(1);
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{}",
        json!({"metric": "rollout_canary_median", "replicas": replicas, "speed": speed,
               "runs": times.len(), "seconds": median})
    );
}
