//! Benchmark of the sandbox's Argo Rollouts controller: a canary of `--replicas` pods (100)
//! stepping through four weights (10, 25, 50, 75, each followed by a pause without a duration,
//! then 100 %), timed step by step, against a Deployment of the same replicas rolled in the same
//! run with the same sandbox settings.
//!
//! ```sh
//! cargo run --release --example rollout_bench -- [--replicas 100] [--speed 100] [--runs 3]
//! ```
//!
//! Each run starts two sandboxes in this process, one after the other (simulated time at
//! `--speed`, three nodes of 110 pods, the Argo Rollouts CRD, two Services), and the order of the
//! two alternates from run to run:
//!
//! - canary: a Rollout with `maxSurge: 25`, `maxUnavailable: 0` and the steps `setWeight`
//!   10, 25, 50, 75, each followed by `pause: {}`. A step is timed from the moment the rollout is
//!   asked to move (the image change for the first weight; the plugin's promote,
//!   `{"status":{"pauseConditions":null}}` on the status subresource, for the others) until the
//!   rollout is paused at the pause after that weight with its ReplicaSets at Argo's counts
//!   (`approximateWeightedCanaryStableReplicaCounts`) and ready; the last step, from the promote
//!   at 75 % until the rollout is Healthy on the new ReplicaSet with every replica ready and the
//!   old ReplicaSet at 0. Pauses without a duration end only by the promote, so no pause time is
//!   in any step. Each step also records when the ReplicaSets alone first were at its counts and
//!   ready (`replica_sets_seconds`), before the Rollout's status said so.
//! - baseline: a Deployment of the same replicas with `maxSurge: 25`, `maxUnavailable: 0` (the
//!   canary's step size of 25 replicas, the same limits): timed from the image change until the
//!   new ReplicaSet has every replica ready and the old one is at 0 (spec and ready), with the
//!   moments it passes 25, 50 and 75 new replicas ready (the old one scaled down to match). The
//!   baseline per step is that time divided by `replicas / 25`.
//!
//! Both are watched through kube-rs (a watch of the ReplicaSets and one of the Rollout or the
//! Deployment), so a moment is the arrival of the event that made the condition true. The CPU
//! time is this process's (getrusage: the sandbox, its controllers and the watching client).
//! Output: one JSON line per step and per rollout, then one line of medians per step over the
//! runs, with the ratio of the canary's step to the Deployment's time per 25 replicas.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tollgate_sandbox::controllers::rollout::counts;
use tollgate_sandbox::{Config, Sandbox, Timing, fixture, resources};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The canary's weights; the step after the last is the promote to 100 %.
const WEIGHTS: [i64; 4] = [10, 25, 50, 75];
/// maxSurge of both strategies, and the Deployment's wave.
const STEP: i64 = 25;

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

/// The process's CPU time (user + system), in seconds, from getrusage (microseconds).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given; a zeroed rusage is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A sandbox as both runs get it: three nodes, the Argo Rollouts CRD, the two Services.
async fn sandbox(speed: f64) -> Res<Sandbox> {
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
    let services: Api<Service> = Api::namespaced(sb.client(), "default");
    for n in ["web-canary", "web-stable"] {
        let svc: Service = serde_json::from_value(
            json!({"metadata": {"name": n}, "spec": {"selector": {"app": "web"}}}),
        )?;
        services.create(&PostParams::default(), &svc).await?;
    }
    Ok(sb)
}

/// An event of either watch, reduced to what the conditions read.
enum Ev {
    Rs(Box<watcher::Event<ReplicaSet>>),
    Top(watcher::Event<Value>),
}

/// The ReplicaSets and the top object (Rollout or Deployment) as the watches last showed them.
#[derive(Default)]
struct View {
    rs: HashMap<String, ReplicaSet>,
    top: Value,
    synced: (bool, bool),
}

impl View {
    fn apply(&mut self, ev: Ev) {
        match ev {
            Ev::Rs(e) => match *e {
                watcher::Event::Apply(rs) | watcher::Event::InitApply(rs) => {
                    let name = rs.metadata.name.clone().unwrap_or_default();
                    self.rs.insert(name, rs);
                }
                watcher::Event::Delete(rs) => {
                    self.rs
                        .remove(rs.metadata.name.as_deref().unwrap_or_default());
                }
                watcher::Event::Init => {
                    self.rs.clear();
                    self.synced.0 = false;
                }
                watcher::Event::InitDone => self.synced.0 = true,
            },
            Ev::Top(e) => match e {
                watcher::Event::Apply(v) | watcher::Event::InitApply(v) => self.top = v,
                watcher::Event::Delete(_) => self.top = Value::Null,
                watcher::Event::Init => self.synced.1 = false,
                watcher::Event::InitDone => self.synced.1 = true,
            },
        }
    }

    /// (spec.replicas, status.readyReplicas) of the ReplicaSet named so; (0, 0) when absent.
    fn counts(&self, name: &str) -> (i64, i64) {
        self.rs.get(name).map_or((0, 0), |rs| {
            (
                i64::from(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)),
                i64::from(
                    rs.status
                        .as_ref()
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0),
                ),
            )
        })
    }

    /// Every ReplicaSet but `keep` at 0 replicas (spec and ready).
    fn others_at_zero(&self, keep: &[&str]) -> bool {
        self.rs
            .keys()
            .filter(|n| !keep.contains(&n.as_str()))
            .all(|n| self.counts(n) == (0, 0))
    }

    fn top_at(&self, p: &str) -> &Value {
        self.top.pointer(p).unwrap_or(&Value::Null)
    }
}

/// The two watches, merged; the caller keeps the view.
fn watch(
    rs: Api<ReplicaSet>,
    top: Api<DynamicObject>,
) -> impl Stream<Item = Result<Ev, watcher::Error>> + Unpin {
    let a = watcher(rs, watcher::Config::default()).map(|e| e.map(|e| Ev::Rs(Box::new(e))));
    let b = watcher(top, watcher::Config::default()).map(|e| e.map(|e| Ev::Top(e.map_to_value())));
    futures::stream::select(a.boxed(), b.boxed())
}

/// `watcher::Event<DynamicObject>` to `watcher::Event<Value>` (the object as JSON).
trait ToValue {
    fn map_to_value(self) -> watcher::Event<Value>;
}

impl ToValue for watcher::Event<DynamicObject> {
    fn map_to_value(self) -> watcher::Event<Value> {
        let v = |o: DynamicObject| serde_json::to_value(o).unwrap_or(Value::Null);
        match self {
            watcher::Event::Apply(o) => watcher::Event::Apply(v(o)),
            watcher::Event::InitApply(o) => watcher::Event::InitApply(v(o)),
            watcher::Event::Delete(o) => watcher::Event::Delete(v(o)),
            watcher::Event::Init => watcher::Event::Init,
            watcher::Event::InitDone => watcher::Event::InitDone,
        }
    }
}

/// Reads events into `view` until `done` holds (checked after each event, and at once).
async fn until(
    stream: &mut (impl Stream<Item = Result<Ev, watcher::Error>> + Unpin),
    view: &mut View,
    deadline: Instant,
    what: &str,
    mut done: impl FnMut(&View) -> bool,
) -> Res<()> {
    loop {
        if view.synced == (true, true) && done(view) {
            return Ok(());
        }
        let next = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .map_err(|_| format!("deadline passed waiting for {what}"))?;
        match next {
            None => return Err("a watch ended".into()),
            Some(Err(e)) => return Err(format!("watch: {e}").into()),
            Some(Ok(ev)) => view.apply(ev),
        }
    }
}

/// One timed stretch: real seconds, simulated seconds, CPU seconds.
struct Span {
    secs: f64,
    cpu: f64,
    /// The canary's: until the ReplicaSets were at the step's counts and ready (`secs` is until
    /// the Rollout also said it had reached the step); the Deployment's: `secs`.
    rs_secs: f64,
}

fn rollout_api(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    );
    Api::namespaced_with(client, "default", &ar)
}

fn deployment_api(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::erase::<Deployment>(&());
    Api::namespaced_with(client, "default", &ar)
}

/// The canary: one span per step (10, 25, 50, 75, then 100 %).
async fn canary(replicas: i64, speed: f64, deadline: Instant) -> Res<Vec<Span>> {
    let sb = sandbox(speed).await?;
    let client = sb.client();
    let api = rollout_api(client.clone());
    let mut steps = Vec::new();
    for w in WEIGHTS {
        steps.push(json!({"setWeight": w}));
        steps.push(json!({"pause": {}}));
    }
    let ro: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
                                    "maxSurge": STEP, "maxUnavailable": 0, "steps": steps}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
        }
    }))?;
    api.create(&PostParams::default(), &ro).await?;
    let mut stream = watch(Api::namespaced(client.clone(), "default"), api.clone());
    let mut view = View::default();
    // Healthy on the current spec, every replica ready on the current pod hash, the rest at 0.
    let healthy = |v: &View, generation: i64| {
        let hash = v.top_at("/status/currentPodHash").as_str().unwrap_or("");
        let name = format!("web-{hash}");
        let g = v.top_at("/metadata/generation").as_i64().unwrap_or(0);
        v.top_at("/status/phase") == "Healthy"
            && !hash.is_empty()
            && v.top_at("/status/stableRS") == v.top_at("/status/currentPodHash")
            && g >= generation
            && v.top_at("/status/observedGeneration").as_str() == Some(g.to_string().as_str())
            && v.counts(&name) == (replicas, replicas)
            && v.others_at_zero(&[&name])
    };
    until(&mut stream, &mut view, deadline, "the first version", |v| {
        healthy(v, 1)
    })
    .await?;
    let mut spans = Vec::new();
    let mut generation = 0;
    for (i, w) in WEIGHTS.iter().copied().chain([100]).enumerate() {
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        if i == 0 {
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
            let changed = api
                .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            generation = changed.metadata.generation.unwrap_or(0);
        } else {
            // What `kubectl argo rollouts promote` sends for a rollout paused at a step.
            api.patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"pauseConditions": null}})),
            )
            .await?;
        }
        // The first moment the ReplicaSets are at the step's counts and ready, whatever the
        // Rollout's status says yet.
        let mut rs_at: Option<Instant> = None;
        if w == 100 {
            until(&mut stream, &mut view, deadline, "100 %", |v| {
                let hash = v.top_at("/status/currentPodHash").as_str().unwrap_or("");
                let new = format!("web-{hash}");
                if rs_at.is_none()
                    && v.counts(&new) == (replicas, replicas)
                    && v.others_at_zero(&[&new])
                {
                    rs_at = Some(Instant::now());
                }
                healthy(v, generation)
            })
            .await?;
        } else {
            let (canary_want, stable_want) = counts::approximate(replicas, w, 100, STEP);
            let pause_at = 2 * i as i64 + 1;
            until(
                &mut stream,
                &mut view,
                deadline,
                &format!("weight {w}"),
                |v| {
                    let new = format!(
                        "web-{}",
                        v.top_at("/status/currentPodHash").as_str().unwrap_or("")
                    );
                    let stable = format!(
                        "web-{}",
                        v.top_at("/status/stableRS").as_str().unwrap_or("")
                    );
                    let g = v.top_at("/metadata/generation").as_i64().unwrap_or(0);
                    let seen = g >= generation
                        && v.top_at("/status/observedGeneration").as_str()
                            == Some(g.to_string().as_str());
                    let at_counts = new != stable
                        && v.counts(&new) == (canary_want, canary_want)
                        && v.counts(&stable) == (stable_want, stable_want)
                        && v.others_at_zero(&[&new, &stable]);
                    if rs_at.is_none() && seen && at_counts {
                        rs_at = Some(Instant::now());
                    }
                    seen && at_counts
                        && v.top_at("/status/currentStepIndex").as_i64() == Some(pause_at)
                        && v.top_at("/status/pauseConditions/0/reason") == "CanaryPauseStep"
                },
            )
            .await?;
        }
        let now = Instant::now();
        spans.push(Span {
            secs: (now - t0).as_secs_f64(),
            cpu: cpu_seconds() - cpu0,
            rs_secs: (rs_at.unwrap_or(now) - t0).as_secs_f64(),
        });
    }
    drop(stream);
    drop(sb);
    Ok(spans)
}

/// The baseline: one span per wave of 25 replicas (the last ends with the old ReplicaSet at 0).
async fn deployment(replicas: i64, speed: f64, deadline: Instant) -> Res<Vec<Span>> {
    let sb = sandbox(speed).await?;
    let client = sb.client();
    let api = deployment_api(client.clone());
    let d: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": STEP, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "web:1"}]}},
        }
    }))?;
    api.create(&PostParams::default(), &d).await?;
    let mut stream = watch(Api::namespaced(client.clone(), "default"), api.clone());
    let mut view = View::default();
    // The ReplicaSets by image: (new, old) names.
    let by_image = |v: &View, image: &str| {
        v.rs.iter()
            .find(|(_, rs)| {
                rs.spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .and_then(|t| t.spec.as_ref())
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.as_deref())
                    == Some(image)
            })
            .map(|(n, _)| n.clone())
    };
    let complete = |v: &View, image: &str, generation: i64| {
        let g = v.top_at("/metadata/generation").as_i64().unwrap_or(0);
        let Some(new) = by_image(v, image) else {
            return false;
        };
        g >= generation
            && v.top_at("/status/observedGeneration").as_i64() == Some(g)
            && v.top_at("/status/updatedReplicas").as_i64() == Some(replicas)
            && v.top_at("/status/availableReplicas").as_i64() == Some(replicas)
            && v.counts(&new) == (replicas, replicas)
            && v.others_at_zero(&[&new])
    };
    until(&mut stream, &mut view, deadline, "the first version", |v| {
        complete(v, "web:1", 1)
    })
    .await?;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    let mut spans = Vec::new();
    let mut cpu0 = cpu_seconds();
    let mut t0 = Instant::now();
    let changed = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let generation = changed.metadata.generation.unwrap_or(0);
    let waves = (replicas + STEP - 1) / STEP;
    for k in 1..=waves {
        if k == waves {
            until(&mut stream, &mut view, deadline, "the rollout", |v| {
                complete(v, "web:2", generation)
            })
            .await?;
        } else {
            let new_want = k * STEP;
            let old_want = replicas - new_want;
            until(
                &mut stream,
                &mut view,
                deadline,
                &format!("wave {k}"),
                |v| {
                    let (Some(new), Some(old)) = (by_image(v, "web:2"), by_image(v, "web:1"))
                    else {
                        return false;
                    };
                    let (_, new_ready) = v.counts(&new);
                    let (old_spec, old_ready) = v.counts(&old);
                    new_ready >= new_want && old_spec <= old_want && old_ready <= old_want
                },
            )
            .await?;
        }
        let now = Instant::now();
        let cpu = cpu_seconds();
        spans.push(Span {
            secs: (now - t0).as_secs_f64(),
            cpu: cpu - cpu0,
            rs_secs: (now - t0).as_secs_f64(),
        });
        t0 = now;
        cpu0 = cpu;
    }
    drop(stream);
    drop(sb);
    Ok(spans)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Res<(i64, f64, usize, f64)> {
        Ok((
            arg(&args, "--replicas", 100.0)? as i64,
            arg(&args, "--speed", 100.0)?,
            arg(&args, "--runs", 3.0)? as usize,
            arg(&args, "--deadline-secs", 300.0)?,
        ))
    })();
    let (replicas, speed, runs, deadline_s) = match parsed {
        Ok(p) if p.0 >= STEP && p.1 > 0.0 && p.3 > 0.0 => p,
        Ok(_) => {
            eprintln!(
                "rollout_bench: --replicas must be at least {STEP}, --speed and --deadline-secs above 0"
            );
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("rollout_bench: {e}");
            std::process::exit(2);
        }
    };
    let per = replicas as f64 / STEP as f64;
    // steps[i] = (seconds, cpu, replica-set seconds) over the runs; base = (per-25 seconds, per-25 cpu) over the runs.
    let mut steps: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); WEIGHTS.len() + 1];
    let mut base: Vec<(f64, f64)> = Vec::new();
    for run in 0..runs.max(1) {
        let mut order = ["deployment", "canary"];
        if run % 2 == 1 {
            order.reverse();
        }
        for which in order {
            let deadline = Instant::now() + Duration::from_secs_f64(deadline_s);
            let got = if which == "canary" {
                canary(replicas, speed, deadline).await
            } else {
                deployment(replicas, speed, deadline).await
            };
            let spans = match got {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("rollout_bench: {which}, run {run}: {e}");
                    std::process::exit(1);
                }
            };
            let total: f64 = spans.iter().map(|s| s.secs).sum();
            let cpu: f64 = spans.iter().map(|s| s.cpu).sum();
            if which == "canary" {
                let mut prev = 0;
                for (i, s) in spans.iter().enumerate() {
                    let w = WEIGHTS.get(i).copied().unwrap_or(100);
                    let (now, _) = counts::approximate(replicas, w, 100, STEP);
                    println!(
                        "{}",
                        json!({"metric": "canary_step", "run": run, "weight": w,
                               "replaced": now - prev, "seconds": r3(s.secs),
                               "replica_sets_seconds": r3(s.rs_secs),
                               "simulated_seconds": r3(s.secs * speed), "cpu_seconds": r3(s.cpu)})
                    );
                    prev = now;
                    steps[i].push((s.secs, s.cpu, s.rs_secs));
                }
                println!(
                    "{}",
                    json!({"metric": "canary", "run": run, "replicas": replicas, "speed": speed,
                           "seconds": r3(total), "cpu_seconds": r3(cpu)})
                );
            } else {
                for (k, s) in spans.iter().enumerate() {
                    println!(
                        "{}",
                        json!({"metric": "deployment_wave", "run": run, "wave": k + 1,
                               "seconds": r3(s.secs), "simulated_seconds": r3(s.secs * speed),
                               "cpu_seconds": r3(s.cpu)})
                    );
                }
                println!(
                    "{}",
                    json!({"metric": "deployment", "run": run, "replicas": replicas, "speed": speed,
                           "seconds": r3(total), "cpu_seconds": r3(cpu),
                           "seconds_per_25": r3(total / per), "cpu_seconds_per_25": r3(cpu / per)})
                );
                base.push((total / per, cpu / per));
            }
        }
    }
    let b_secs = median(base.iter().map(|b| b.0).collect());
    let b_cpu = median(base.iter().map(|b| b.1).collect());
    println!(
        "{}",
        json!({"metric": "deployment_median", "replicas": replicas, "speed": speed, "runs": base.len(),
               "seconds_per_25": r3(b_secs), "simulated_seconds_per_25": r3(b_secs * speed),
               "cpu_seconds_per_25": r3(b_cpu)})
    );
    let mut prev = 0;
    for (i, s) in steps.iter().enumerate() {
        let w = WEIGHTS.get(i).copied().unwrap_or(100);
        let (now, _) = counts::approximate(replicas, w, 100, STEP);
        let secs = median(s.iter().map(|x| x.0).collect());
        let cpu = median(s.iter().map(|x| x.1).collect());
        let rs_secs = median(s.iter().map(|x| x.2).collect());
        println!(
            "{}",
            json!({"metric": "canary_step_median", "weight": w, "replaced": now - prev,
                   "runs": s.len(), "seconds": r3(secs), "simulated_seconds": r3(secs * speed),
                   "replica_sets_seconds": r3(rs_secs),
                   "cpu_seconds": r3(cpu), "ratio": (secs / b_secs * 100.0).round() / 100.0,
                   "cpu_ratio": (cpu / b_cpu * 100.0).round() / 100.0})
        );
        prev = now;
    }
}
