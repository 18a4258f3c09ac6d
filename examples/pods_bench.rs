//! The pods pane at 5,000 pods, in process: a sandbox without controllers on 127.0.0.1, pods
//! written into its store (running and ready), `cluster::pods::spawn_watch` through kube-rs into
//! a `ui::pods::PodsPane` drawn into a 200×60 `TestBackend`.
//!
//! ```sh
//! cargo run --release --example pods_bench [-- --pods 5000] [--small 50] [--changes 200] [--frames 500]
//! ```
//!
//! 1. Time to the first list shown: from `spawn_watch` until a frame's title says `pods 5000`.
//! 2. Event to screen: a pod's status changed through the API (`PATCH …/status`, running and
//!    ready ⇄ waiting `CrashLoopBackOff`, alternating) until a frame shows the new status on the
//!    pod's row; the pane is drawn after each batch of updates received (no frame cap). The pods
//!    changed are those on screen. `--changes` changes to the 5,000-pod namespace and as many to
//!    the `--small`-pod one (the baseline), alternating in rounds of 20.
//! 3. Frame time at 5,000 pods: `--frames` frames with nothing changed, and frames just after the
//!    sort changed (the order computed again), against the same at 50 pods.
//! 4. VmRSS of this process (`/proc/self/status`; the sandbox's store is in it) at each step.
//!
//! Output: one JSON object a line per measure, then a table.

use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tollgate::live::pods::{PodsUpdate, spawn_watch};
use tollgate::ui::pods_pane::PodsPane;
use tollgate::ui::theme::Theme;
use tollgate_sandbox::resources::by_kind;
use tollgate_sandbox::{Config, Sandbox};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const W: u16 = 200;
const H: u16 = 60;
const DEADLINE: Duration = Duration::from_secs(60);

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn rss_line(at: &str) -> f64 {
    let r = rss_mib();
    println!("{{\"metric\":\"rss\",\"at\":\"{at}\",\"vm_rss_mib\":{r:.1}}}");
    r
}

fn container(waiting: Option<&str>) -> Value {
    let state = match waiting {
        None => json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
        Some(r) => {
            json!({"waiting": {"reason": r, "message": "back-off restarting failed container"}})
        }
    };
    json!({"name": "app", "image": "registry.local/bench:1.0", "imageID": "",
        "ready": waiting.is_none(), "started": waiting.is_none(), "restartCount": 0, "state": state})
}

fn pod(name: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"nodeName": "sandbox-node-1",
            "containers": [{"name": "app", "image": "registry.local/bench:1.0"}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.244.0.2",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [container(None)]},
    })
}

struct Fed {
    pane: PodsPane,
    rx: mpsc::Receiver<PodsUpdate>,
    term: Terminal<TestBackend>,
    theme: Theme,
    _watch: tokio::task::JoinHandle<()>,
}

impl Fed {
    fn draw(&mut self) {
        let (pane, theme) = (&self.pane, &self.theme);
        let now = Utc::now();
        self.term
            .draw(|f| pane.render(f, f.area(), theme, false, now))
            .expect("draw");
    }

    fn line_of(&self, needle: &str) -> Option<String> {
        let b = self.term.backend().buffer();
        (0..b.area.height).find_map(|y| {
            let l: String = (0..b.area.width).map(|x| b[(x, y)].symbol()).collect();
            l.contains(needle).then_some(l)
        })
    }

    /// Receives, applies and draws until `shown` holds on screen.
    async fn until(&mut self, what: &str, shown: impl Fn(&Fed) -> bool) -> Res<()> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if shown(self) {
                return Ok(());
            }
            let u = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .map_err(|_| format!("timed out waiting for {what}"))?
                .ok_or("the watch ended")?;
            self.pane.apply(u);
            while let Ok(u) = self.rx.try_recv() {
                self.pane.apply(u);
            }
            self.draw();
        }
    }
}

fn start(client: kube::Client, ns: &str) -> Fed {
    let (tx, rx) = mpsc::channel(4096);
    let watch = spawn_watch(client, vec![ns.to_string()], tx);
    Fed {
        pane: PodsPane::new(),
        rx,
        term: Terminal::new(TestBackend::new(W, H)).expect("terminal"),
        theme: Theme::default(),
        _watch: watch,
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Changes pod `name`'s status through the API and times it to the screen, in ms.
async fn change(fed: &mut Fed, api: &Api<Pod>, name: &str, crash: bool) -> Res<f64> {
    let patch = json!({"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": if crash { "False" } else { "True" }}],
        "containerStatuses": [container(crash.then_some("CrashLoopBackOff"))]}});
    let want = if crash {
        "CrashLoopBackOff"
    } else {
        "Running "
    };
    let api = api.clone();
    let n = name.to_string();
    let t0 = Instant::now();
    let sent = tokio::spawn(async move {
        api.patch_status(&n, &PatchParams::default(), &Patch::Merge(&patch))
            .await
    });
    fed.until(&format!("{name} {want} on screen"), |f| {
        f.line_of(&format!(" {name} "))
            .is_some_and(|l| l.contains(want))
    })
    .await?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    sent.await??;
    Ok(ms)
}

fn frame_times(fed: &mut Fed, frames: usize, resort: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(frames);
    for _ in 0..frames {
        if resort {
            fed.pane
                .on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
        }
        let t = Instant::now();
        fed.draw();
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let pods = arg("--pods", 5000);
    let small = arg("--small", 50);
    let changes = arg("--changes", 200);
    let frames = arg("--frames", 500);
    let rss0 = rss_line("start");

    let sb = Sandbox::start(Config {
        no_controllers: true,
        ..Config::default()
    })
    .await?;
    let store = sb.store().clone();
    for ns in ["bench", "small"] {
        store.create(
            by_kind("Namespace"),
            "",
            json!({"metadata": {"name": ns}}),
            false,
        )?;
    }
    let pod_rt = by_kind("Pod");
    for i in 0..pods {
        store.create_with_status(pod_rt, "bench", pod(&format!("pod-{i:05}")))?;
    }
    for i in 0..small {
        store.create_with_status(pod_rt, "small", pod(&format!("pod-{i:05}")))?;
    }
    let rss_loaded = rss_line("sandbox_loaded");

    // 1. The first list, shown.
    let t0 = Instant::now();
    let mut big = start(sb.client(), "bench");
    let title = format!(" pods {pods} ");
    big.until("the first list on screen", |f| f.line_of(&title).is_some())
        .await?;
    let first_ms = t0.elapsed().as_secs_f64() * 1e3;
    println!("{{\"metric\":\"first_list\",\"pods\":{pods},\"ms\":{first_ms:.1}}}");
    let t0 = Instant::now();
    let mut base = start(sb.client(), "small");
    let title_small = format!(" pods {small} ");
    base.until("the small list on screen", |f| {
        f.line_of(&title_small).is_some()
    })
    .await?;
    let first_small_ms = t0.elapsed().as_secs_f64() * 1e3;
    println!("{{\"metric\":\"first_list\",\"pods\":{small},\"ms\":{first_small_ms:.1}}}");
    let rss_watched = rss_line("pane_filled");

    // 2. Event to screen, alternating rounds of 20 between the big and the small namespace.
    let api_big: Api<Pod> = Api::namespaced(sb.client(), "bench");
    let api_small: Api<Pod> = Api::namespaced(sb.client(), "small");
    let on_screen = (H as usize - 4).min(small);
    let (mut lat_big, mut lat_small) = (Vec::new(), Vec::new());
    let mut k = 0;
    while lat_big.len() < changes {
        for _ in 0..20 {
            let name = format!("pod-{:05}", k % on_screen);
            let crash = (k / on_screen).is_multiple_of(2);
            lat_small.push(change(&mut base, &api_small, &name, crash).await?);
            k += 1;
        }
        k -= 20;
        for _ in 0..20 {
            let name = format!("pod-{:05}", k % on_screen);
            let crash = (k / on_screen).is_multiple_of(2);
            lat_big.push(change(&mut big, &api_big, &name, crash).await?);
            k += 1;
        }
    }
    let (b50, b99) = (pct(&mut lat_big, 0.5), pct(&mut lat_big, 0.99));
    let (s50, s99) = (pct(&mut lat_small, 0.5), pct(&mut lat_small, 0.99));
    println!(
        "{{\"metric\":\"event_to_screen\",\"pods\":{pods},\"n\":{},\"p50_ms\":{b50:.3},\"p99_ms\":{b99:.3}}}",
        lat_big.len()
    );
    println!(
        "{{\"metric\":\"event_to_screen\",\"pods\":{small},\"n\":{},\"p50_ms\":{s50:.3},\"p99_ms\":{s99:.3}}}",
        lat_small.len()
    );
    let rss_after = rss_line("after_changes");

    // 3. Frames: steady, and just after the order changed; big and small in turn.
    let (mut fb, mut fs, mut rb, mut rs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        fb.extend(frame_times(&mut big, frames / 5, false));
        fs.extend(frame_times(&mut base, frames / 5, false));
        rb.extend(frame_times(&mut big, frames / 50, true));
        rs.extend(frame_times(&mut base, frames / 50, true));
    }
    let rows = [
        ("frame, steady", pods, &mut fb),
        ("frame, steady", small, &mut fs),
        ("frame after a sort change", pods, &mut rb),
        ("frame after a sort change", small, &mut rs),
    ];
    let mut table = Vec::new();
    for (what, n, v) in rows {
        let (p50, p99) = (pct(v, 0.5), pct(v, 0.99));
        println!(
            "{{\"metric\":\"frame\",\"what\":\"{what}\",\"pods\":{n},\"n\":{},\"p50_ms\":{p50:.3},\"p99_ms\":{p99:.3}}}",
            v.len()
        );
        table.push((what, n, v.len(), p50, p99));
    }
    let rss_end = rss_line("end");

    println!();
    println!("| measure | pods | n | p50 (ms) | p99 (ms) |");
    println!("|---|---:|---:|---:|---:|");
    println!("| first list on screen | {pods} | 1 | {first_ms:.1} | |");
    println!("| first list on screen | {small} | 1 | {first_small_ms:.1} | |");
    println!(
        "| event to screen | {pods} | {} | {b50:.2} | {b99:.2} |",
        lat_big.len()
    );
    println!(
        "| event to screen | {small} | {} | {s50:.2} | {s99:.2} |",
        lat_small.len()
    );
    println!(
        "| event to screen, ratio {pods}/{small} | | | {:.2} | {:.2} |",
        b50 / s50,
        b99 / s99
    );
    for (what, n, len, p50, p99) in table {
        println!("| {what} | {n} | {len} | {p50:.3} | {p99:.3} |");
    }
    println!();
    println!(
        "VmRSS (MiB): start {rss0:.1}, sandbox loaded {rss_loaded:.1}, pane filled {rss_watched:.1} (+{:.1}), after the changes {rss_after:.1}, end {rss_end:.1}",
        rss_watched - rss_loaded
    );
    Ok(())
}
