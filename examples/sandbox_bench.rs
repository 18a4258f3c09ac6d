//! Load and latency benchmark of `tollgate sandbox`, through kube-rs as any client would see it.
//! It talks to a sandbox running in another process (`bench/sandbox.sh` starts one and runs this).
//!
//! ```sh
//! sandbox_bench load    URL [--pods 5000] [--small 50] [--concurrency 32]
//! sandbox_bench measure URL [--pods 5000] [--small 50] [--watchers 10] [--writes 500]
//!                           [--list-runs 20] [--page 500] [--burst 2000] [--burst-concurrency 16]
//!                           [--rounds 2] [--churn 20000] [--deadline-secs 120] [--pid PID]
//! sandbox_bench deploy  URL [--nodes 50] [--replicas 5000] [--baseline 50,500] [--deadline-secs 900]
//!                           [--pid PID]
//! ```
//!
//! - `load` (against a sandbox started with `--no-controllers`): creates the namespaces `bench` and
//!   `small`, then `--pods` pods in `bench` and `--small` pods in `small`, `--concurrency` creates in
//!   flight; reports creation throughput, overall and for each tenth of the pods.
//! - `measure`: list latency of the `bench` pods (one full list, read as text and decoded into
//!   `Pod`s, and the same list in pages of `--page`) against the list of the `small` pods, `--list-runs`
//!   runs each, interleaved; then event fan-out: `--writes` replaces (PUT) of `bench` pods, one at a
//!   time, each carrying the time it was sent in an annotation, watched by 1 and by `--watchers`
//!   watchers (`--rounds` times each, alternating; every watcher on its own client and connection,
//!   started from the resourceVersion of a list); every watcher must receive every write exactly once.
//!   Then two bursts of `--burst` replaces (`--burst-concurrency` in flight) to the `--watchers`
//!   watchers, alone and while full lists run back to back: the list latency under a fan-out load,
//!   and the fan-out latency under lists. Then `--churn` more replaces with no watcher (the
//!   sandbox's memory once its history of changes is full).
//! - `deploy` (against a sandbox with controllers): `--nodes` ready nodes of 110 pods each, then a
//!   Deployment of each `--baseline` size (comma-separated), then one of `--replicas`, each in its
//!   own namespace and timed until it reports all replicas updated, ready and available (watched,
//!   with a deadline); the sandbox's CPU time per pod of each is the measure of scaling.
//!
//! With `--pid`, the sandbox's VmRSS, VmHWM and CPU time (utime + stime) are read from
//! `/proc/PID/` at each step. Output: one JSON object a line on stdout for every measure, then a
//! table; errors on stderr and exit status 1 (a watcher that misses or repeats an event is an error).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, PostParams, WatchParams};
use kube::core::WatchEvent;
use kube::{Client, Config};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

/// Annotations a write carries: which phase, which write of the phase, when it was sent (ns since
/// the program's start, monotonic clock).
const A_PHASE: &str = "bench.tollgate.dev/phase";
const A_SEQ: &str = "bench.tollgate.dev/seq";
const A_SENT: &str = "bench.tollgate.dev/sent-ns";

fn fail(msg: impl Into<String>) -> Error {
    msg.into().into()
}

// ---------------------------------------------------------------------------------------------
// Options

struct Opts {
    cmd: String,
    url: String,
    vals: BTreeMap<String, String>,
}

const KNOWN: &[&str] = &[
    "pods",
    "small",
    "concurrency",
    "watchers",
    "writes",
    "list-runs",
    "page",
    "burst",
    "burst-concurrency",
    "rounds",
    "deadline-secs",
    "pid",
    "nodes",
    "replicas",
    "baseline",
    "churn",
];

impl Opts {
    fn parse() -> Res<Opts> {
        let mut args = std::env::args().skip(1);
        let usage = "usage: sandbox_bench load|measure|deploy URL [--option VALUE]...";
        let cmd = args.next().ok_or_else(|| fail(usage))?;
        if !matches!(cmd.as_str(), "load" | "measure" | "deploy") {
            return Err(fail(usage));
        }
        let url = args.next().ok_or_else(|| fail(usage))?;
        let mut vals = BTreeMap::new();
        while let Some(a) = args.next() {
            let k = a
                .strip_prefix("--")
                .filter(|k| KNOWN.contains(k))
                .ok_or_else(|| fail(format!("unknown option {a}; {usage}")))?;
            let v = args
                .next()
                .ok_or_else(|| fail(format!("{a} needs a value")))?;
            vals.insert(k.to_string(), v);
        }
        Ok(Opts { cmd, url, vals })
    }

    fn num(&self, k: &str, default: usize) -> Res<usize> {
        match self.vals.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| fail(format!("--{k}: `{v}` is not a number"))),
        }
    }

    fn pid(&self) -> Res<Option<u32>> {
        self.vals
            .get("pid")
            .map(|v| v.parse().map_err(|_| fail(format!("--pid: `{v}`"))))
            .transpose()
    }
}

fn client(url: &str) -> Res<Client> {
    let mut c = Config::new(url.parse()?);
    c.default_namespace = "default".into();
    Ok(Client::try_from(c)?)
}

// ---------------------------------------------------------------------------------------------
// Output

fn emit(v: Value) {
    println!("{v}");
}

/// Nearest-rank percentile of sorted values.
fn pct<T: Copy>(sorted: &[T], p: f64) -> T {
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// p50, p95, min, max of durations, in ms.
fn dist_ms(v: &[Duration]) -> Value {
    let mut s = v.to_vec();
    s.sort();
    json!({
        "runs": s.len(),
        "p50_ms": round3(ms(pct(&s, 50.0))),
        "p95_ms": round3(ms(pct(&s, 95.0))),
        "min_ms": round3(ms(s[0])),
        "max_ms": round3(ms(s[s.len() - 1])),
    })
}

/// The sandbox's memory and CPU time, from `/proc/PID/status` and `/proc/PID/stat`.
fn proc_sample(pid: Option<u32>) -> Value {
    let Some(pid) = pid else {
        return Value::Null;
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): state is field 3, utime 14, stime 15.
    let after: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| after.get(i - 3).and_then(|t| t.parse::<u64>().ok());
    // SAFETY: sysconf with a valid name has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let cpu = match (ticks(14), ticks(15)) {
        (Some(u), Some(s)) => json!(round3((u + s) as f64 / hz)),
        _ => Value::Null,
    };
    json!({
        "vm_rss_mib": kb("VmRSS:").map(|k| round3(k as f64 / 1024.0)),
        "vm_hwm_mib": kb("VmHWM:").map(|k| round3(k as f64 / 1024.0)),
        "cpu_s": cpu,
    })
}

// ---------------------------------------------------------------------------------------------
// load

fn pod_manifest(ns: &str, i: usize) -> Res<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("pod-{i:05}"),
            "namespace": ns,
            "labels": {"app": "bench", "shard": format!("s{}", i % 10)},
        },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "registry.example/bench/app:1.0",
                "ports": [{"containerPort": 8080, "name": "http"}],
                "env": [{"name": "INDEX", "value": i.to_string()}],
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"memory": "64Mi"},
                },
            }],
        },
    }))?)
}

async fn create_namespace(c: &Client, name: &str) -> Res<()> {
    let api: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    api.create(&PostParams::default(), &ns)
        .await
        .map_err(|e| fail(format!("create namespace {name}: {e}")))?;
    Ok(())
}

/// Create `n` pods with `conc` in flight; returns the time of each completion since the start.
async fn create_pods(c: &Client, ns: &str, n: usize, conc: usize) -> Res<Vec<Duration>> {
    let api: Api<Pod> = Api::namespaced(c.clone(), ns);
    let manifests = (0..n)
        .map(|i| pod_manifest(ns, i))
        .collect::<Res<Vec<Pod>>>()?;
    let t0 = Instant::now();
    let api = &api;
    let mut done: Vec<Duration> = stream::iter(manifests)
        .map(|p| async move {
            api.create(&PostParams::default(), &p)
                .await
                .map_err(|e| fail(format!("create pod {ns}/{:?}: {e}", p.metadata.name)))?;
            Ok::<_, Error>(t0.elapsed())
        })
        .buffer_unordered(conc.max(1))
        .try_collect()
        .await?;
    done.sort();
    Ok(done)
}

async fn load(o: &Opts) -> Res<()> {
    let pods = o.num("pods", 5000)?;
    let small = o.num("small", 50)?;
    let conc = o.num("concurrency", 32)?;
    let pid = o.pid()?;
    let c = client(&o.url)?;
    create_namespace(&c, "bench").await?;
    create_namespace(&c, "small").await?;
    let mut rows = Vec::new();
    for (ns, n) in [("small", small), ("bench", pods)] {
        let done = create_pods(&c, ns, n, conc).await?;
        let total = done.last().copied().unwrap_or_default();
        // Throughput of each tenth, to show whether creates slow down as the namespace fills.
        let tenth = (n / 10).max(1);
        let mut tenths = Vec::new();
        let mut prev = Duration::ZERO;
        for k in 1..=n / tenth {
            let t = done[k * tenth - 1];
            tenths.push(round3(tenth as f64 / (t - prev).as_secs_f64().max(1e-9)));
            prev = t;
        }
        let per_sec = n as f64 / total.as_secs_f64().max(1e-9);
        emit(json!({
            "metric": "create_pods", "namespace": ns, "pods": n, "concurrency": conc,
            "secs": round3(total.as_secs_f64()), "per_sec": round3(per_sec),
            "per_sec_by_tenth": tenths,
        }));
        rows.push((ns, n, total, per_sec, tenths));
    }
    let mem = proc_sample(pid);
    emit(json!({"metric": "sandbox_proc", "at": "after_load", "proc": mem}));
    println!();
    println!(
        "| namespace | pods | in flight | time (s) | creates/s | first tenth /s | last tenth /s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (ns, n, total, per_sec, tenths) in rows {
        println!(
            "| {ns} | {n} | {conc} | {:.2} | {per_sec:.0} | {:.0} | {:.0} |",
            total.as_secs_f64(),
            tenths.first().copied().unwrap_or(0.0),
            tenths.last().copied().unwrap_or(0.0)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// measure: lists

/// A full list read as text (what the server and the wire cost); returns its time and size.
async fn list_raw(c: &Client, ns: &str) -> Res<(Duration, usize)> {
    let req = kube::core::Request::new(format!("/api/v1/namespaces/{ns}/pods"))
        .list(&ListParams::default())?;
    let t = Instant::now();
    let text = c.request_text(req).await?;
    Ok((t.elapsed(), text.len()))
}

/// A full list decoded into `Pod`s, as `Api::list` gives it; checks the count.
async fn list_decoded(api: &Api<Pod>, want: usize) -> Res<(Duration, String)> {
    let t = Instant::now();
    let l = api.list(&ListParams::default()).await?;
    let d = t.elapsed();
    if l.items.len() != want {
        return Err(fail(format!(
            "list: {} pods, expected {want}",
            l.items.len()
        )));
    }
    Ok((d, l.metadata.resource_version.unwrap_or_default()))
}

/// The list in pages of `page`; returns the total time and the number of pages.
async fn list_paged(api: &Api<Pod>, page: u32, want: usize) -> Res<(Duration, usize)> {
    let t = Instant::now();
    let mut token: Option<String> = None;
    let mut n = 0;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(page);
        if let Some(tk) = &token {
            lp = lp.continue_token(tk);
        }
        let l = api.list(&lp).await?;
        n += l.items.len();
        pages += 1;
        match l.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => token = Some(c),
            None => break,
        }
        if pages > want + 1 {
            return Err(fail("paged list does not end"));
        }
    }
    let d = t.elapsed();
    if n != want {
        return Err(fail(format!("paged list: {n} pods, expected {want}")));
    }
    Ok((d, pages))
}

struct ListTimes {
    big_raw: Vec<Duration>,
    small_raw: Vec<Duration>,
    big_dec: Vec<Duration>,
    small_dec: Vec<Duration>,
    paged: Vec<Duration>,
    big_bytes: usize,
    small_bytes: usize,
    pages: usize,
}

async fn list_latency(
    c: &Client,
    pods: usize,
    small: usize,
    runs: usize,
    page: u32,
) -> Res<ListTimes> {
    let big: Api<Pod> = Api::namespaced(c.clone(), "bench");
    let sm: Api<Pod> = Api::namespaced(c.clone(), "small");
    let mut t = ListTimes {
        big_raw: vec![],
        small_raw: vec![],
        big_dec: vec![],
        small_dec: vec![],
        paged: vec![],
        big_bytes: 0,
        small_bytes: 0,
        pages: 0,
    };
    // One untimed round first (connections, allocator).
    for run in 0..=runs {
        let (a, big_bytes) = list_raw(c, "bench").await?;
        let (b, small_bytes) = list_raw(c, "small").await?;
        let (cd, _) = list_decoded(&big, pods).await?;
        let (dd, _) = list_decoded(&sm, small).await?;
        let (e, pages) = list_paged(&big, page, pods).await?;
        if run == 0 {
            continue;
        }
        t.big_raw.push(a);
        t.small_raw.push(b);
        t.big_dec.push(cd);
        t.small_dec.push(dd);
        t.paged.push(e);
        t.big_bytes = big_bytes;
        t.small_bytes = small_bytes;
        t.pages = pages;
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// measure: fan-out

type PodEvents = Pin<Box<dyn Stream<Item = kube::Result<WatchEvent<Pod>>> + Send>>;

struct WatcherOut {
    /// Delivery latency of each write, ns.
    lat: Vec<u64>,
    dup: usize,
    other: usize,
}

/// Read a watch until it has seen each of the `n` writes of `phase` once.
async fn watcher(
    mut s: PodEvents,
    phase: String,
    n: usize,
    base: Instant,
    got: Arc<AtomicUsize>,
) -> Res<WatcherOut> {
    let mut seen = vec![false; n];
    let mut out = WatcherOut {
        lat: Vec::with_capacity(n),
        dup: 0,
        other: 0,
    };
    while out.lat.len() < n {
        let ev = s.try_next().await?.ok_or_else(|| {
            fail(format!(
                "watch ended after {} of {n} events of phase {phase}",
                out.lat.len()
            ))
        })?;
        let pod = match ev {
            WatchEvent::Added(p) | WatchEvent::Modified(p) => p,
            WatchEvent::Deleted(_) => {
                out.other += 1;
                continue;
            }
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => return Err(fail(format!("watch error: {e:?}"))),
        };
        let now = base.elapsed().as_nanos() as u64;
        let a = pod.metadata.annotations.as_ref();
        let get = |k: &str| a.and_then(|a| a.get(k));
        if get(A_PHASE) != Some(&phase) {
            out.other += 1;
            continue;
        }
        let seq: usize = get(A_SEQ)
            .and_then(|s| s.parse().ok())
            .filter(|s| *s < n)
            .ok_or_else(|| fail("bad seq annotation"))?;
        let sent: u64 = get(A_SENT)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fail("bad sent annotation"))?;
        if seen[seq] {
            out.dup += 1;
            continue;
        }
        seen[seq] = true;
        out.lat.push(now.saturating_sub(sent));
        got.fetch_add(1, Ordering::Relaxed);
    }
    Ok(out)
}

/// `n` replaces of bench pods (pod `(offset + i) % len`), `conc` in flight, each stamped with the
/// phase, its number and the time it was sent. Returns the total time.
async fn write_burst(
    api: &Api<Pod>,
    pods: &[Pod],
    phase: &str,
    n: usize,
    offset: usize,
    conc: usize,
    base: Instant,
) -> Res<Duration> {
    let t = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let mut p = pods[(offset + i) % pods.len()].clone();
            async move {
                p.metadata.resource_version = None;
                p.metadata.managed_fields = None;
                let name = p.metadata.name.clone().unwrap_or_default();
                let a = p.metadata.annotations.get_or_insert_with(Default::default);
                a.insert(A_PHASE.into(), phase.to_string());
                a.insert(A_SEQ.into(), i.to_string());
                a.insert(
                    A_SENT.into(),
                    (base.elapsed().as_nanos() as u64).to_string(),
                );
                api.replace(&name, &PostParams::default(), &p)
                    .await
                    .map_err(|e| fail(format!("replace {name}: {e}")))?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(conc.max(1))
        .try_collect::<()>()
        .await?;
    Ok(t.elapsed())
}

struct Watchers {
    tasks: Vec<tokio::task::JoinHandle<Res<WatcherOut>>>,
    got: Vec<Arc<AtomicUsize>>,
}

/// Start `k` watchers of the bench pods, each on its own client (own connection), from the
/// resourceVersion of a list; returns once every watch request has been answered.
async fn start_watchers(
    url: &str,
    k: usize,
    phase: &str,
    n: usize,
    base: Instant,
) -> Res<Watchers> {
    let c = client(url)?;
    let api: Api<Pod> = Api::namespaced(c, "bench");
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .ok_or_else(|| fail("list without resourceVersion"))?;
    let mut w = Watchers {
        tasks: vec![],
        got: vec![],
    };
    for _ in 0..k {
        let api: Api<Pod> = Api::namespaced(client(url)?, "bench");
        let s: PodEvents = api
            .watch(&WatchParams::default().timeout(290), &rv)
            .await?
            .boxed();
        let got = Arc::new(AtomicUsize::new(0));
        w.got.push(got.clone());
        w.tasks
            .push(tokio::spawn(watcher(s, phase.to_string(), n, base, got)));
    }
    Ok(w)
}

/// Wait for every watcher to have all `n` writes, with a deadline; fails loudly otherwise.
async fn collect(w: Watchers, phase: &str, n: usize, deadline: Duration) -> Res<Vec<WatcherOut>> {
    let got = w.got.clone();
    let all = futures::future::join_all(w.tasks);
    let results = match tokio::time::timeout(deadline, all).await {
        Ok(r) => r,
        Err(_) => {
            let counts: Vec<usize> = got.iter().map(|g| g.load(Ordering::Relaxed)).collect();
            return Err(fail(format!(
                "phase {phase}: not every watcher got all {n} events within {deadline:?}; received per watcher: {counts:?}"
            )));
        }
    };
    let mut outs = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        let o = r.map_err(|e| fail(format!("watcher {i}: {e}")))??;
        if o.lat.len() != n || o.dup != 0 {
            return Err(fail(format!(
                "phase {phase}: watcher {i} received {} distinct events (expected {n}), {} repeated",
                o.lat.len(),
                o.dup
            )));
        }
        outs.push(o);
    }
    Ok(outs)
}

struct Fanout {
    watchers: usize,
    writes: usize,
    concurrency: usize,
    write_time: Duration,
    /// All deliveries, sorted, ns.
    lat: Vec<u64>,
    per_watcher: Vec<usize>,
    other: usize,
    /// The sandbox's CPU time over the phase (with `--pid`), seconds.
    cpu_s: Option<f64>,
}

fn cpu_of(v: &Value) -> Option<f64> {
    v["cpu_s"].as_f64()
}

fn cpu_delta(before: &Value, after: &Value) -> Option<f64> {
    Some(round3(cpu_of(after)? - cpu_of(before)?))
}

impl Fanout {
    fn from(
        watchers: usize,
        writes: usize,
        concurrency: usize,
        write_time: Duration,
        outs: Vec<WatcherOut>,
    ) -> Fanout {
        let per_watcher = outs.iter().map(|o| o.lat.len()).collect();
        let other = outs.iter().map(|o| o.other).sum();
        let mut lat: Vec<u64> = outs.into_iter().flat_map(|o| o.lat).collect();
        lat.sort_unstable();
        Fanout {
            watchers,
            writes,
            concurrency,
            write_time,
            lat,
            per_watcher,
            other,
            cpu_s: None,
        }
    }

    fn q_ms(&self, p: f64) -> f64 {
        round3(pct(&self.lat, p) as f64 / 1e6)
    }

    fn max_ms(&self) -> f64 {
        round3(*self.lat.last().unwrap_or(&0) as f64 / 1e6)
    }

    fn json(&self, phase: &str) -> Value {
        json!({
            "metric": "fanout", "phase": phase, "watchers": self.watchers, "writes": self.writes,
            "writes_in_flight": self.concurrency,
            "write_secs": round3(self.write_time.as_secs_f64()),
            "writes_per_sec": round3(self.writes as f64 / self.write_time.as_secs_f64().max(1e-9)),
            "deliveries": self.lat.len(),
            "p50_ms": self.q_ms(50.0), "p99_ms": self.q_ms(99.0), "max_ms": self.max_ms(),
            "events_per_watcher": self.per_watcher, "other_events": self.other,
            "sandbox_cpu_s": self.cpu_s,
            "sandbox_cpu_us_per_write": self.cpu_s.map(|c| round3(c * 1e6 / self.writes as f64)),
            "sandbox_cpu_us_per_delivery": self.cpu_s.map(|c| round3(c * 1e6 / self.lat.len() as f64)),
        })
    }
}

#[allow(clippy::too_many_arguments)]
async fn fanout(
    url: &str,
    pid: Option<u32>,
    pods: &[Pod],
    k: usize,
    n: usize,
    offset: usize,
    phase: &str,
    base: Instant,
    deadline: Duration,
) -> Res<Fanout> {
    let w = start_watchers(url, k, phase, n, base).await?;
    let api: Api<Pod> = Api::namespaced(client(url)?, "bench");
    let before = proc_sample(pid);
    let wt = write_burst(&api, pods, phase, n, offset, 1, base).await?;
    let outs = collect(w, phase, n, deadline).await?;
    let mut f = Fanout::from(k, n, 1, wt, outs);
    f.cpu_s = cpu_delta(&before, &proc_sample(pid));
    Ok(f)
}

async fn measure(o: &Opts) -> Res<()> {
    let pods = o.num("pods", 5000)?;
    let small = o.num("small", 50)?;
    let watchers = o.num("watchers", 10)?;
    let writes = o.num("writes", 500)?;
    let runs = o.num("list-runs", 20)?.max(1);
    let page = o.num("page", 500)?.max(1) as u32;
    let burst = o.num("burst", 2000)?;
    let burst_conc = o.num("burst-concurrency", 16)?;
    let rounds = o.num("rounds", 2)?.max(1);
    let churn = o.num("churn", 20_000)?;
    let deadline = Duration::from_secs(o.num("deadline-secs", 120)? as u64);
    let pid = o.pid()?;
    let base = Instant::now();
    let c = client(&o.url)?;

    emit(json!({"metric": "sandbox_proc", "at": "measure_start", "proc": proc_sample(pid)}));

    // 1. List latency, no watchers.
    let lt = list_latency(&c, pods, small, runs, page).await?;
    let p50 = |v: &[Duration]| {
        let mut s = v.to_vec();
        s.sort();
        pct(&s, 50.0)
    };
    let lists = [
        ("full_text", "bench", pods, &lt.big_raw, Some(lt.big_bytes)),
        (
            "full_text",
            "small",
            small,
            &lt.small_raw,
            Some(lt.small_bytes),
        ),
        ("full_decoded", "bench", pods, &lt.big_dec, None),
        ("full_decoded", "small", small, &lt.small_dec, None),
        ("paged_decoded", "bench", pods, &lt.paged, None),
    ];
    for (kind, ns, n, v, bytes) in lists {
        let mut j = dist_ms(v);
        j["metric"] = json!("list");
        j["kind"] = json!(kind);
        j["namespace"] = json!(ns);
        j["pods"] = json!(n);
        j["watchers"] = json!(0);
        if let Some(b) = bytes {
            j["bytes"] = json!(b);
        }
        if kind == "paged_decoded" {
            j["page"] = json!(page);
            j["pages"] = json!(lt.pages);
        }
        emit(j);
    }
    let text_ratio = p50(&lt.big_raw).as_secs_f64() / p50(&lt.small_raw).as_secs_f64();
    let dec_ratio = p50(&lt.big_dec).as_secs_f64() / p50(&lt.small_dec).as_secs_f64();
    let paged_ratio = p50(&lt.paged).as_secs_f64() / p50(&lt.big_dec).as_secs_f64();
    emit(json!({
        "metric": "list_ratios",
        "full_text_bench_over_small": round3(text_ratio),
        "full_decoded_bench_over_small": round3(dec_ratio),
        "paged_over_full_decoded": round3(paged_ratio),
        "pods_ratio": round3(pods as f64 / small.max(1) as f64),
        "bytes_ratio": round3(lt.big_bytes as f64 / lt.small_bytes.max(1) as f64),
    }));

    // 2. Fan-out: 1 watcher (baseline) and `watchers`, alternating.
    let bench_api: Api<Pod> = Api::namespaced(c.clone(), "bench");
    let mut snapshot = bench_api.list(&ListParams::default()).await?.items;
    snapshot.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut one = Vec::new();
    let mut many = Vec::new();
    let mut offset = 0;
    for r in 0..rounds {
        for k in [1, watchers] {
            let phase = format!("r{r}-w{k}");
            let f = fanout(
                &o.url, pid, &snapshot, k, writes, offset, &phase, base, deadline,
            )
            .await?;
            offset += writes;
            emit(f.json(&phase));
            if k == 1 {
                one.push(f);
            } else {
                many.push(f);
            }
        }
    }
    let proc_after_fanout = proc_sample(pid);
    emit(json!({"metric": "sandbox_proc", "at": "after_fanout", "proc": proc_after_fanout}));
    // Pool the rounds of each case.
    let pool = |v: Vec<Fanout>| {
        let k = v[0].watchers;
        let n: usize = v.iter().map(|f| f.writes).sum();
        let wt: Duration = v.iter().map(|f| f.write_time).sum();
        let per: Vec<usize> = (0..k)
            .map(|i| v.iter().map(|f| f.per_watcher[i]).sum())
            .collect();
        let other = v.iter().map(|f| f.other).sum();
        let cpu_s = v.iter().map(|f| f.cpu_s).sum::<Option<f64>>().map(round3);
        let mut lat: Vec<u64> = v.into_iter().flat_map(|f| f.lat).collect();
        lat.sort_unstable();
        Fanout {
            watchers: k,
            writes: n,
            concurrency: 1,
            write_time: wt,
            lat,
            per_watcher: per,
            other,
            cpu_s,
        }
    };
    let one = pool(one);
    let many = pool(many);
    emit(one.json("all_rounds"));
    emit(many.json("all_rounds"));
    emit(json!({
        "metric": "fanout_ratios", "watchers": watchers,
        "p50": round3(many.q_ms(50.0) / one.q_ms(50.0)),
        "p99": round3(many.q_ms(99.0) / one.q_ms(99.0)),
        "max": round3(many.max_ms() / one.max_ms()),
        "writes_per_sec": round3(
            (many.writes as f64 / many.write_time.as_secs_f64())
                / (one.writes as f64 / one.write_time.as_secs_f64())
        ),
    }));

    // 3. Bursts of writes, `burst_conc` in flight, to `watchers` watchers: alone (baseline), then
    // while full lists run back to back.
    let mut bursts = Vec::new();
    let mut during = Vec::new();
    for with_lists in [false, true] {
        let phase = if with_lists { "burst-lists" } else { "burst" };
        let w = start_watchers(&o.url, watchers, phase, burst, base).await?;
        let api: Api<Pod> = Api::namespaced(client(&o.url)?, "bench");
        let done = AtomicBool::new(false);
        let before = proc_sample(pid);
        let writer = async {
            let r = write_burst(&api, &snapshot, phase, burst, offset, burst_conc, base).await;
            done.store(true, Ordering::SeqCst);
            r
        };
        let lister = async {
            let mut v = Vec::new();
            while with_lists && !done.load(Ordering::SeqCst) {
                let (d, _) = list_raw(&c, "bench").await?;
                // Only lists that ended before the burst did count.
                if !done.load(Ordering::SeqCst) {
                    v.push(d);
                }
            }
            Ok::<_, Error>(v)
        };
        let (wt, lists) = tokio::join!(writer, lister);
        let wt = wt?;
        let lists = lists?;
        let outs = collect(w, phase, burst, deadline).await?;
        offset += burst;
        let mut bf = Fanout::from(watchers, burst, burst_conc, wt, outs);
        bf.cpu_s = cpu_delta(&before, &proc_sample(pid));
        let mut j = bf.json(phase);
        j["concurrent_full_lists"] = json!(lists.len());
        emit(j);
        bursts.push(bf);
        if with_lists {
            during = lists;
        }
    }
    if during.is_empty() {
        return Err(fail("no list finished while the burst ran; raise --burst"));
    }
    let mut j = dist_ms(&during);
    j["metric"] = json!("list");
    j["kind"] = json!("full_text_during_burst");
    j["namespace"] = json!("bench");
    j["pods"] = json!(pods);
    j["watchers"] = json!(watchers);
    j["ratio_p50_to_idle"] = json!(round3(
        p50(&during).as_secs_f64() / p50(&lt.big_raw).as_secs_f64()
    ));
    emit(j);
    emit(json!({
        "metric": "burst_ratios",
        "p50_with_lists_over_alone": round3(bursts[1].q_ms(50.0) / bursts[0].q_ms(50.0)),
        "p99_with_lists_over_alone": round3(bursts[1].q_ms(99.0) / bursts[0].q_ms(99.0)),
    }));
    let after_burst = proc_sample(pid);
    emit(json!({"metric": "sandbox_proc", "at": "after_burst", "proc": after_burst}));

    // 4. Churn: `churn` more writes, no watchers, to see whether memory follows the history of
    // changes rather than the live objects.
    let churn_rss = if churn > 0 {
        let api: Api<Pod> = Api::namespaced(client(&o.url)?, "bench");
        let t = write_burst(&api, &snapshot, "churn", churn, offset, burst_conc, base).await?;
        let p = proc_sample(pid);
        emit(json!({
            "metric": "churn", "writes": churn, "writes_in_flight": burst_conc,
            "secs": round3(t.as_secs_f64()),
            "writes_per_sec": round3(churn as f64 / t.as_secs_f64().max(1e-9)),
            "proc_after": p,
        }));
        Some((p, t))
    } else {
        None
    };

    // The table.
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n| list | pods | p50 (ms) | p95 (ms) | bytes | ratio to 50-pod list (p50) |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|");
    let row = |t: &mut String, what: &str, n: usize, v: &[Duration], bytes: &str, ratio: &str| {
        let mut s = v.to_vec();
        s.sort();
        let _ = writeln!(
            t,
            "| {what} | {n} | {:.2} | {:.2} | {bytes} | {ratio} |",
            ms(pct(&s, 50.0)),
            ms(pct(&s, 95.0))
        );
    };
    row(
        &mut t,
        "full, as text (baseline)",
        small,
        &lt.small_raw,
        &lt.small_bytes.to_string(),
        "1.00",
    );
    row(
        &mut t,
        "full, as text",
        pods,
        &lt.big_raw,
        &lt.big_bytes.to_string(),
        &format!("{text_ratio:.1}"),
    );
    row(
        &mut t,
        "full, decoded (baseline)",
        small,
        &lt.small_dec,
        "",
        "1.00",
    );
    row(
        &mut t,
        "full, decoded",
        pods,
        &lt.big_dec,
        "",
        &format!("{dec_ratio:.1}"),
    );
    row(
        &mut t,
        &format!("paged {page}, decoded ({} pages)", lt.pages),
        pods,
        &lt.paged,
        "",
        &format!(
            "{:.1}",
            p50(&lt.paged).as_secs_f64() / p50(&lt.small_dec).as_secs_f64()
        ),
    );
    row(
        &mut t,
        &format!("full, as text, during burst to {watchers} watchers"),
        pods,
        &during,
        "",
        &format!(
            "{:.1}",
            p50(&during).as_secs_f64() / p50(&lt.small_raw).as_secs_f64()
        ),
    );
    let _ = writeln!(
        t,
        "\n| fan-out | writes | in flight | writes/s | deliveries | p50 (ms) | p99 (ms) | max (ms) | events per watcher | sandbox CPU per write (µs) |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    for (what, f) in [
        ("1 watcher (baseline)".to_string(), &one),
        (format!("{watchers} watchers"), &many),
        (format!("{watchers} watchers, burst"), &bursts[0]),
        (
            format!("{watchers} watchers, burst, full lists meanwhile"),
            &bursts[1],
        ),
    ] {
        let per = if f.per_watcher.iter().all(|p| *p == f.writes) {
            format!("{} each", f.writes)
        } else {
            format!("{:?}", f.per_watcher)
        };
        let _ = writeln!(
            t,
            "| {what} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {per} | {} |",
            f.writes,
            f.concurrency,
            f.writes as f64 / f.write_time.as_secs_f64(),
            f.lat.len(),
            f.q_ms(50.0),
            f.q_ms(99.0),
            f.max_ms(),
            f.cpu_s
                .map_or("-".into(), |c| format!("{:.0}", c * 1e6 / f.writes as f64))
        );
    }
    let _ = writeln!(
        t,
        "\nfan-out ratio {watchers} watchers / 1: p50 {:.2}, p99 {:.2}, max {:.2}; burst with lists / alone: p50 {:.2}, p99 {:.2}; list during burst / idle (p50): {:.2}",
        many.q_ms(50.0) / one.q_ms(50.0),
        many.q_ms(99.0) / one.q_ms(99.0),
        many.max_ms() / one.max_ms(),
        bursts[1].q_ms(50.0) / bursts[0].q_ms(50.0),
        bursts[1].q_ms(99.0) / bursts[0].q_ms(99.0),
        p50(&during).as_secs_f64() / p50(&lt.big_raw).as_secs_f64()
    );
    let rss = |v: &Value| {
        v["vm_rss_mib"]
            .as_f64()
            .map_or("-".into(), |r| format!("{r:.1}"))
    };
    let _ = write!(
        t,
        "sandbox VmRSS (MiB): after the fan-out {}, after the bursts {}",
        rss(&proc_after_fanout),
        rss(&after_burst)
    );
    if let Some((p, d)) = &churn_rss {
        let _ = write!(
            t,
            ", after {churn} more writes ({:.1} s) {}",
            d.as_secs_f64(),
            rss(p)
        );
    }
    let _ = writeln!(t);
    print!("{t}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// deploy (with controllers)

fn node_manifest(name: &str) -> Res<Node> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }))?)
}

fn deployment_manifest(name: &str, replicas: usize) -> Res<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": "registry.example/bench/app:1.0",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }]},
            },
        },
    }))?)
}

fn deployment_done(d: &Deployment, replicas: i32) -> bool {
    let gen_ok = match (
        d.metadata.generation,
        d.status.as_ref().and_then(|s| s.observed_generation),
    ) {
        (Some(g), Some(o)) => o >= g,
        _ => false,
    };
    d.status.as_ref().is_some_and(|s| {
        s.updated_replicas == Some(replicas)
            && s.ready_replicas == Some(replicas)
            && s.available_replicas == Some(replicas)
            && s.replicas == Some(replicas)
    }) && gen_ok
}

/// Create a Deployment of `replicas` in namespace `ns` and watch it until it is complete; returns
/// the time to complete and the time at which ready replicas first reached each quarter.
async fn rollout(
    c: &Client,
    ns: &str,
    replicas: usize,
    deadline: Duration,
) -> Res<(Duration, Vec<Duration>)> {
    let api: Api<Deployment> = Api::namespaced(c.clone(), ns);
    let name = "web";
    let t0 = Instant::now();
    let created = api
        .create(
            &PostParams::default(),
            &deployment_manifest(name, replicas)?,
        )
        .await?;
    let want = replicas as i32;
    let mut rv = created
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let mut quarters: Vec<Duration> = Vec::new();
    let mut last_ready = 0;
    let end = tokio::time::Instant::now() + deadline;
    loop {
        let wp = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(60);
        let mut s = api.watch(&wp, &rv).await?.boxed();
        loop {
            let ev = match tokio::time::timeout_at(end, s.try_next()).await {
                Err(_) => {
                    return Err(fail(format!(
                        "deployment {ns}/{name}: not complete within {deadline:?} (ready {last_ready} of {replicas})"
                    )));
                }
                Ok(r) => r?,
            };
            let Some(ev) = ev else { break };
            let d = match ev {
                WatchEvent::Added(d) | WatchEvent::Modified(d) => d,
                WatchEvent::Bookmark(b) => {
                    rv = b.metadata.resource_version;
                    continue;
                }
                WatchEvent::Deleted(_) => return Err(fail("deployment deleted")),
                WatchEvent::Error(e) if e.code == 410 => {
                    // Fell out of the history: start again from a list.
                    let l = api
                        .list(&ListParams::default().fields(&format!("metadata.name={name}")))
                        .await?;
                    rv = l.metadata.resource_version.unwrap_or_default();
                    match l.items.first() {
                        Some(d) if deployment_done(d, want) => return Ok((t0.elapsed(), quarters)),
                        _ => break,
                    }
                }
                WatchEvent::Error(e) => return Err(fail(format!("watch error: {e:?}"))),
            };
            if let Some(r) = &d.metadata.resource_version {
                rv = r.clone();
            }
            let ready = d
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0) as usize;
            last_ready = ready;
            while quarters.len() < 4 && ready * 4 >= replicas * (quarters.len() + 1) {
                quarters.push(t0.elapsed());
            }
            if deployment_done(&d, want) {
                return Ok((t0.elapsed(), quarters));
            }
        }
    }
}

async fn deploy(o: &Opts) -> Res<()> {
    let nodes = o.num("nodes", 50)?;
    let replicas = o.num("replicas", 5000)?;
    let baselines: Vec<usize> = o
        .vals
        .get("baseline")
        .map_or("50,500", String::as_str)
        .split(',')
        .map(|b| {
            b.trim()
                .parse()
                .map_err(|_| fail(format!("--baseline: `{b}`")))
        })
        .collect::<Res<_>>()?;
    let deadline = Duration::from_secs(o.num("deadline-secs", 900)? as u64);
    let pid = o.pid()?;
    let c = client(&o.url)?;
    let napi: Api<Node> = Api::all(c.clone());
    let have = napi.list(&ListParams::default()).await?.items.len();
    for i in 1..=nodes {
        let name = format!("bench-node-{i:03}");
        let created = napi
            .create(&PostParams::default(), &node_manifest(&name)?)
            .await?;
        let pods = created
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get("pods"))
            .map(|q| q.0.clone());
        if pods.as_deref() != Some("110") {
            // The API kept no status on create: set it through the status subresource.
            let mut n = created.clone();
            n.status = node_manifest(&name)?.status;
            napi.replace_status(&name, &PostParams::default(), &n)
                .await?;
        }
    }
    let ready = napi
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    emit(
        json!({"metric": "nodes", "created": nodes, "already_there": have, "ready": ready,
        "pod_capacity": ready * 110}),
    );
    if ready * 110 < replicas {
        return Err(fail(format!(
            "{ready} ready nodes cannot hold {replicas} pods"
        )));
    }
    let mut rows = Vec::new();
    let runs: Vec<(String, usize)> = baselines
        .iter()
        .map(|b| (format!("deploy-{b}"), *b))
        .chain([(format!("deploy-{replicas}"), replicas)])
        .collect();
    for (ns, n) in runs {
        let (ns, n) = (ns.as_str(), n);
        create_namespace(&c, ns).await?;
        let before = proc_sample(pid);
        let (d, quarters) = rollout(&c, ns, n, deadline).await?;
        let after = proc_sample(pid);
        let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
        let list = pods.list(&ListParams::default()).await?;
        let running = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        let cpu = match (before["cpu_s"].as_f64(), after["cpu_s"].as_f64()) {
            (Some(a), Some(b)) => Some(round3(b - a)),
            _ => None,
        };
        emit(json!({
            "metric": "rollout", "namespace": ns, "replicas": n,
            "secs_to_complete": round3(d.as_secs_f64()),
            "secs_to_ready_quarters": quarters.iter().map(|q| round3(q.as_secs_f64())).collect::<Vec<_>>(),
            "pods_listed": list.items.len(), "pods_running": running,
            "sandbox_cpu_s": cpu,
            "sandbox_cpu_ms_per_pod": cpu.map(|c| round3(c * 1e3 / n as f64)),
            "proc_after": after,
        }));
        if running != n {
            return Err(fail(format!("{ns}: {running} pods running, expected {n}")));
        }
        rows.push((ns.to_string(), n, d, cpu, after));
    }
    println!(
        "\n| deployment | replicas | time to complete (s) | sandbox CPU (s) | CPU per pod (ms) | VmRSS after (MiB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (ns, n, d, cpu, after) in &rows {
        println!(
            "| {ns} | {n} | {:.2} | {} | {} | {} |",
            d.as_secs_f64(),
            cpu.map_or("-".into(), |c| format!("{c:.2}")),
            cpu.map_or("-".into(), |c| format!("{:.2}", c * 1e3 / *n as f64)),
            after["vm_rss_mib"]
                .as_f64()
                .map_or("-".into(), |r| format!("{r:.1}"))
        );
    }
    Ok(())
}

fn main() {
    let o = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let r = rt.block_on(async {
        match o.cmd.as_str() {
            "load" => load(&o).await,
            "measure" => measure(&o).await,
            _ => deploy(&o).await,
        }
    });
    if let Err(e) = r {
        eprintln!("sandbox_bench {}: {e}", o.cmd);
        std::process::exit(1);
    }
}
