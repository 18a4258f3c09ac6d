//! Throughput and memory of a log tail feeding the logs pane, against an in-process sandbox.
//!
//! ```sh
//! logs_bench [--pods 20] [--baseline 1] [--secs 5] [--warmup-secs 1]
//! ```
//!
//! For the baseline pod count, then for `--pods`: a fresh sandbox (no periodic log lines), that
//! many bare pods labelled `app=bench`, each written into by its own task as fast as the tail
//! takes the lines (directly into the sandbox's log hub, at most 4,000 lines ahead of what reached
//! the pane, so the hub never drops any), `spawn_tail` on the selector `app=bench`, and a
//! [`LogsPane`] fed from the tail's channel and drawn on a 200×50 test terminal at most 60 times a
//! second. Measured over `--secs` after `--warmup-secs`: lines a second into the pane, frames,
//! and the process's VmRSS / VmHWM (`/proc/self/status`) before the tail starts and after the
//! measure. Every line carries its pod's sequence number: a gap or a repeat fails the run.
//! Prints one JSON object per pod count, then the ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use tokio::sync::mpsc;
use tollgate::live::logs::{LogsUpdate, Source, TailOptions, spawn_tail};
use tollgate::ui::logs_pane::LogsPane;
use tollgate::ui::theme::Theme;
use tollgate_sandbox::{Config, Sandbox, Timing};

/// Lines a writer may be ahead of the pane (the hub keeps 10,000 per container).
const AHEAD: u64 = 4_000;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

struct Result {
    lines_per_s: f64,
    value: serde_json::Value,
}

async fn run(pods: usize, secs: u64, warmup: u64) -> Result {
    let sb = Sandbox::start(Config {
        timing: Timing {
            speed: 50.0,
            log_rate: 0.0,
        },
        ..Config::default()
    })
    .await
    .expect("sandbox starts");
    let client = sb.client();
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    for i in 0..pods {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": format!("bench-{i}"), "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "registry.local/bench:1.0"}]},
        }))
        .expect("pod");
        api.create(&PostParams::default(), &p)
            .await
            .expect("pod created");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = api
            .list(&ListParams::default().labels("app=bench"))
            .await
            .expect("list");
        let running = list
            .items
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .and_then(|c| c.first())
                    .and_then(|c| c.state.as_ref())
                    .is_some_and(|s| s.running.is_some())
            })
            .count();
        if running == pods {
            break;
        }
        assert!(Instant::now() < deadline, "pods did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_before = status_kib("VmRSS:");

    let ingested: Arc<Vec<AtomicU64>> = Arc::new((0..pods).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for i in 0..pods {
        let hub = sb.logs().clone();
        let ingested = ingested.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let pod = format!("bench-{i}");
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                if n - ingested[i].load(Ordering::Relaxed) > AHEAD {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                for _ in 0..64 {
                    let text = format!(
                        "{n} INFO  GET /api/v1/orders/{} 200 {}.{}ms user=u{}",
                        n % 997,
                        3 + n % 17,
                        n % 10,
                        n % 113
                    );
                    hub.append("default", &pod, "app", &text);
                    n += 1;
                }
                tokio::task::yield_now().await;
            }
        }));
    }

    let (tx, mut rx) = mpsc::channel(64);
    let source = Source::Selector {
        namespace: "default".into(),
        selector: "app=bench".into(),
    };
    let tail = spawn_tail(client, source.clone(), TailOptions::default(), tx);
    let mut pane = LogsPane::default();
    pane.set_source_label(source.label());
    let theme = Theme::default();
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
    let mut next_seq = vec![0u64; pods];
    let mut errors = 0u64;
    let start = Instant::now();
    let window_start = start + Duration::from_secs(warmup);
    let end = window_start + Duration::from_secs(secs);
    let (mut lines_in_window, mut frames, mut last_draw) = (0u64, 0u64, Instant::now());
    let mut total = 0u64;
    while Instant::now() < end {
        let u = match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            Ok(Some(u)) => u,
            Ok(None) => panic!("the tail stopped"),
            Err(_) => continue,
        };
        if let LogsUpdate::Lines(lines) = &u {
            let now = Instant::now();
            for l in lines {
                let Some(i) = l
                    .pod
                    .strip_prefix("bench-")
                    .and_then(|s| s.parse::<usize>().ok())
                else {
                    continue;
                };
                // The kubelet's startup lines have no number.
                let Some(n) = l.text.split(' ').next().and_then(|s| s.parse::<u64>().ok()) else {
                    continue;
                };
                if n != next_seq[i] {
                    errors += 1;
                }
                next_seq[i] = n + 1;
                ingested[i].store(n + 1, Ordering::Relaxed);
            }
            total += lines.len() as u64;
            if now >= window_start {
                lines_in_window += lines.len() as u64;
            }
        } else if let LogsUpdate::Error(e) = &u {
            eprintln!("tail error: {e}");
        }
        pane.apply(u);
        if last_draw.elapsed() >= Duration::from_micros(16_667) {
            term.draw(|f| pane.render(f, f.area(), &theme, true))
                .expect("draw");
            frames += 1;
            last_draw = Instant::now();
        }
    }
    let measured = (Instant::now() - window_start).as_secs_f64();
    let rss_after = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.await;
    }
    drop(tail);
    assert_eq!(errors, 0, "lines lost or repeated");
    let lines_per_s = lines_in_window as f64 / measured;
    let value = json!({
        "metric": "logs_tail",
        "pods": pods,
        "lines_per_s": lines_per_s.round(),
        "lines_total": total,
        "pane_lines": pane.len(),
        "pane_dropped": pane.dropped(),
        "frames_per_s": (frames as f64 / (Instant::now() - start).as_secs_f64()).round(),
        "vm_rss_before_mib": mib(rss_before),
        "vm_rss_after_mib": mib(rss_after),
        "vm_hwm_mib": mib(hwm),
        "gaps_or_repeats": errors,
    });
    Result { lines_per_s, value }
}

#[tokio::main]
async fn main() {
    let pods = arg("--pods", 20) as usize;
    let baseline = arg("--baseline", 1) as usize;
    let secs = arg("--secs", 5);
    let warmup = arg("--warmup-secs", 1);
    let base = run(baseline, secs, warmup).await;
    println!("{}", base.value);
    let many = run(pods, secs, warmup).await;
    println!("{}", many.value);
    println!(
        "{}",
        json!({
            "metric": "logs_tail_ratio",
            "pods": [baseline, pods],
            "lines_per_s_ratio": (many.lines_per_s / base.lines_per_s * 100.0).round() / 100.0,
        })
    );
}
