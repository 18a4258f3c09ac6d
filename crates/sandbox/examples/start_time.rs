//! How long `Sandbox::start` takes with a cluster fixture loaded: the part of a rehearsal's
//! first frame the sandbox is responsible for.
//!
//!   cargo run --release -p tollgate-sandbox --example start_time -- runbooks/labelmint/cluster.yaml [RUNS]
//!
//! Starts (and drops) the sandbox RUNS times (default 20) on 127.0.0.1 with port 0 and prints
//! one JSON line: the first start (cold: the process's first use of every table) and the
//! median and maximum of the others, in milliseconds, and the resourceVersion after loading.

use std::time::Instant;

use tollgate_sandbox::{Config, Sandbox};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(fixture) = args.next() else {
        eprintln!("usage: start_time FIXTURE.yaml [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = match args.next().map(|r| r.parse()) {
        None => 20,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("RUNS must be a positive number");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async {
        let mut times = Vec::new();
        let mut rv = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let sb = match Sandbox::start(Config {
                fixtures: vec![fixture.clone().into()],
                ..Config::default()
            })
            .await
            {
                Ok(sb) => sb,
                Err(e) => {
                    eprintln!("the sandbox did not start: {e}");
                    std::process::exit(1);
                }
            };
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            rv = sb.store().resource_version();
            drop(sb);
        }
        let first = times[0];
        let mut rest: Vec<f64> = times[1..].to_vec();
        rest.sort_by(f64::total_cmp);
        let median = rest.get(rest.len() / 2).copied().unwrap_or(first);
        let max = rest.last().copied().unwrap_or(first);
        println!(
            "{{\"metric\":\"sandbox_start\",\"fixture\":\"{fixture}\",\"runs\":{runs},\"first_ms\":{first:.2},\"median_ms\":{median:.2},\"max_ms\":{max:.2},\"resource_version\":{rv}}}"
        );
    });
}
