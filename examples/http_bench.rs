//! `http.check` at a steady rate against one Service of a sandbox running in another process
//! (see bench/http_check.sh), beside a baseline in the same run: a bare hyper client sending the
//! same requests at the same pace over one keep-alive connection.
//!
//!   http_bench TRAFFIC_ADDR SANDBOX_PID TOLLGATE_BIN WORK_DIR [RATE] [SECONDS] [HOST]
//!
//! For each: wall time, the rate reached, p50/p95, the client's CPU time (the baseline: this
//! process, getrusage(RUSAGE_SELF); `http.check`: the `tollgate run` child, RUSAGE_CHILDREN) and
//! the sandbox's (utime + stime from /proc/PID/stat), and their ratios.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};

fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces), from its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15: 12 and 13 after the state (field 3).
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros((ticks(11) + ticks(12)) * 1_000_000 / hz)
}

fn rusage(who: i32) -> Duration {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

struct Measure {
    name: &'static str,
    wall: Duration,
    requests: u64,
    errors: u64,
    p50_ms: f64,
    p95_ms: f64,
    client_cpu: Duration,
    sandbox_cpu: Duration,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    send
}

async fn get(
    send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: &str,
) -> (u16, String) {
    let req = hyper::Request::get("/health")
        .header("host", host)
        .body(Empty::new())
        .expect("request");
    let resp = send.send_request(req).await.expect("answered");
    let status = resp.status().as_u16();
    let pod = resp
        .headers()
        .get("x-sandbox-pod")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let _ = resp.into_body().collect().await;
    (status, pod)
}

/// Waits until `pods` distinct pods answer 200 for `host`.
async fn wait_ready(addr: SocketAddr, host: &str, pods: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut send = connect(addr).await;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..(pods * 4) {
            let (status, pod) = get(&mut send, host).await;
            if status == 200 {
                seen.insert(pod);
            }
        }
        if seen.len() >= pods {
            return;
        }
        assert!(Instant::now() < deadline, "{pods} pods never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn baseline(
    addr: SocketAddr,
    host: &str,
    n: u64,
    interval: Duration,
    sandbox: u32,
) -> Measure {
    let mut send = connect(addr).await;
    let (cpu0, sb0) = (rusage(libc::RUSAGE_SELF), cpu_of(sandbox));
    let start = tokio::time::Instant::now();
    let mut lat = Vec::with_capacity(n as usize);
    let mut errors = 0;
    for i in 0..n {
        tokio::time::sleep_until(start + interval * i as u32).await;
        let t = Instant::now();
        let (status, _) = get(&mut send, host).await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            errors += 1;
        }
    }
    let wall = start.elapsed();
    let (cpu1, sb1) = (rusage(libc::RUSAGE_SELF), cpu_of(sandbox));
    lat.sort_by(|a, b| a.total_cmp(b));
    Measure {
        name: "baseline (bare hyper loop)",
        wall,
        requests: n,
        errors,
        p50_ms: percentile(&lat, 50.0),
        p95_ms: percentile(&lat, 95.0),
        client_cpu: cpu1 - cpu0,
        sandbox_cpu: sb1 - sb0,
    }
}

fn http_check(
    bin: &str,
    work: &str,
    addr: SocketAddr,
    host: &str,
    n: u64,
    interval: Duration,
    sandbox: u32,
) -> Measure {
    let rb = format!(
        "name: http bench\nphases:\n  - id: bench\n    steps:\n      - id: check\n        run:\n          http.check:\n            url: http://{host}/health\n            resolve: {{ {host}: \"{addr}\" }}\n            requests: {n}\n            interval: {}ms\n            max_error_rate: 100\n",
        interval.as_secs_f64() * 1000.0
    );
    let path = format!("{work}/http-bench.yaml");
    std::fs::write(&path, rb).expect("writes the runbook");
    let (cpu0, sb0) = (rusage(libc::RUSAGE_CHILDREN), cpu_of(sandbox));
    let start = Instant::now();
    let out = std::process::Command::new(bin)
        .args([
            "--state-dir",
            &format!("{work}/state"),
            "run",
            "--headless",
            &path,
        ])
        .output()
        .expect("tollgate runs");
    let wall = start.elapsed();
    let (cpu1, sb1) = (rusage(libc::RUSAGE_CHILDREN), cpu_of(sandbox));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("{\"error_rate\"").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("no result in {stdout}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("the result is JSON");
    Measure {
        name: "http.check (tollgate run)",
        wall,
        requests: v["requests"].as_u64().unwrap_or(0),
        errors: v["errors"].as_u64().unwrap_or(0),
        p50_ms: v["p50_ms"].as_f64().unwrap_or(0.0),
        p95_ms: v["p95_ms"].as_f64().unwrap_or(0.0),
        client_cpu: cpu1 - cpu0,
        sandbox_cpu: sb1 - sb0,
    }
}

fn print(m: &Measure) {
    let secs = m.wall.as_secs_f64();
    println!(
        "| {} | {:.2} s | {:.0}/s | {} | {:.2} ms | {:.2} ms | {:.2} s ({:.1} % of a core) | {:.2} s ({:.1} % of a core) |",
        m.name,
        secs,
        m.requests as f64 / secs,
        m.errors,
        m.p50_ms,
        m.p95_ms,
        m.client_cpu.as_secs_f64(),
        m.client_cpu.as_secs_f64() * 100.0 / secs,
        m.sandbox_cpu.as_secs_f64(),
        m.sandbox_cpu.as_secs_f64() * 100.0 / secs,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!(
            "usage: http_bench TRAFFIC_ADDR SANDBOX_PID TOLLGATE_BIN WORK_DIR [RATE] [SECONDS] [HOST]"
        );
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("an address");
    let sandbox: u32 = args[2].parse().expect("a pid");
    let (bin, work) = (args[3].clone(), args[4].clone());
    let rate: u64 = args.get(5).and_then(|r| r.parse().ok()).unwrap_or(1000);
    let seconds: u64 = args.get(6).and_then(|s| s.parse().ok()).unwrap_or(10);
    let host = args
        .get(7)
        .cloned()
        .unwrap_or_else(|| "web.bench.svc".into());
    let n = rate * seconds;
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    // One thread: the baseline's own CPU time is its client alone.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(wait_ready(addr, &host, 4));
    println!("# {n} requests to {host} at {rate}/s ({seconds} s), sandbox pid {sandbox}");
    println!("| client | wall | rate | errors | p50 | p95 | client CPU | sandbox CPU |");
    println!("|---|---|---|---|---|---|---|---|");
    let base = rt.block_on(baseline(addr, &host, n, interval, sandbox));
    print(&base);
    let check = http_check(&bin, &work, addr, &host, n, interval, sandbox);
    print(&check);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "ratio http.check / baseline: client CPU ×{:.2}, sandbox CPU ×{:.2}, wall ×{:.3}",
        ratio(check.client_cpu, base.client_cpu),
        ratio(check.sandbox_cpu, base.sandbox_cpu),
        ratio(check.wall, base.wall),
    );
}
