//! Runs `http.*` steps: the requests at their pace, a live line (the banner's every 250 ms, one in the
//! output every second), the verdict.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::time::Instant;

use super::call::HttpCall;
use super::client::{Client, Plan, Resolver, endpoint};
use super::stats::{Answer, Stats, ms};
use super::step::HttpStep;
use crate::exec::job::{Executor, Job, Work};
use crate::exec::step::{BoxFuture, Outcome, OutputSink, StepIo, until_stop};

/// How often the live line is sent to the views (one in four also goes into the output).
pub const LIVE_EVERY: Duration = Duration::from_millis(250);
/// The most requests in flight at once with an `interval`.
pub const MAX_IN_FLIGHT: usize = 256;

/// Runs `http.*` steps. Hosts are reached through `resolver` first when there is one (a
/// rehearsal's: the sandbox), then the step's `resolve`, then the system's resolver.
#[derive(Default, Clone)]
pub struct HttpExec {
    pub resolver: Option<Resolver>,
}

impl HttpExec {
    /// An executor that reaches the hosts `resolver` maps at its addresses, in plain HTTP.
    pub fn with_resolver(resolver: Resolver) -> HttpExec {
        HttpExec {
            resolver: Some(resolver),
        }
    }
}

impl Executor for HttpExec {
    fn execute<'a>(
        &'a self,
        job: &'a Job,
        sink: &'a OutputSink,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Work::Http(call) = &job.work else {
                return Outcome::failed("not an http step");
            };
            run_http(
                self.resolver.as_ref(),
                call,
                sink,
                cancel,
                job.common.timeout,
                job.common.keep_stdout,
            )
            .await
        })
    }
}

/// Runs one `http.*` action: stops at `timeout` (timed out) or when `cancel` turns true.
pub async fn run_http(
    resolver: Option<&Resolver>,
    call: &HttpCall,
    sink: &OutputSink,
    mut cancel: watch::Receiver<bool>,
    timeout: Option<Duration>,
    keep_stdout: usize,
) -> Outcome {
    let mut cx = HttpStep {
        call,
        io: StepIo::new(sink, keep_stdout, timeout),
    };
    let deadline = cx.deadline;
    let mut outcome = Outcome::default();
    let result = {
        let action = check(&mut cx, resolver);
        tokio::pin!(action);
        match until_stop(&mut action, deadline, &mut cancel, true).await {
            Ok(r) => Some(r),
            Err(stop) => {
                stop.mark(&mut outcome);
                None
            }
        }
    };
    match result {
        Some(Ok(())) => outcome.exit_code = Some(0),
        Some(Err(e)) => outcome.error = Some(e),
        None => {}
    }
    cx.io.finish(&mut outcome);
    outcome
}

/// One request, timed, within the per-request timeout.
async fn timed(client: &Client, plan: &Plan) -> (Duration, Answer) {
    let started = Instant::now();
    let answer = match tokio::time::timeout(plan.timeout, client.request(plan)).await {
        Ok(a) => a,
        Err(_) => Answer::Failed(format!("timed out after {}", ms(plan.timeout))),
    };
    (started.elapsed(), answer)
}

/// Sends the requests, writes the live line, and says whether the run of them passed.
async fn check(cx: &mut HttpStep<'_>, resolver: Option<&Resolver>) -> Result<(), String> {
    let c = cx.call.check();
    let plan = Plan::of(c)?;
    let target = endpoint(&plan, c, resolver).await?;
    let client = Client::new(target.clone(), &plan);
    let total = plan.requests;
    let mut stats = Stats::default();
    let mut in_flight = FuturesUnordered::new();
    let start = Instant::now();
    let mut issued: u64 = 0;
    let mut live = tokio::time::interval_at(start + LIVE_EVERY, LIVE_EVERY);
    let mut ticks: u64 = 0;
    live.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if issued == total && in_flight.is_empty() {
            break;
        }
        let room = match plan.interval {
            Some(_) => in_flight.len() < MAX_IN_FLIGHT,
            None => in_flight.is_empty(),
        };
        let can_issue = issued < total && room;
        // Checked: a start past the clock's end is never reached (the step's timeout ends it).
        let next_at = match plan.interval {
            Some(i) => i
                .checked_mul(u32::try_from(issued).unwrap_or(u32::MAX))
                .and_then(|d| start.checked_add(d)),
            None => Some(start),
        };
        let can_issue = can_issue && next_at.is_some();
        let next_at = next_at.unwrap_or(start);
        tokio::select! {
            biased;
            Some((latency, answer)) = in_flight.next(), if !in_flight.is_empty() => {
                stats.record(latency, answer);
            }
            _ = tokio::time::sleep_until(next_at), if can_issue => {
                in_flight.push(timed(&client, &plan));
                issued += 1;
            }
            _ = live.tick() => {
                // The banner's line every tick; a line in the output every fourth (a second).
                let line = stats.live(total);
                cx.progress(line.clone()).await;
                if ticks.is_multiple_of(4) {
                    cx.say(line).await;
                }
                ticks += 1;
            }
        }
    }
    let summary = stats.summary();
    cx.progress(summary.clone()).await;
    cx.out(stats.json().to_string()).await;
    let (_, p95) = stats.percentiles();
    let mut failed = Vec::new();
    if stats.unanswered == stats.done
        && stats.failures.len() == 1
        && let Some(why) = stats.failures.keys().next()
    {
        // Nothing answered, for one reason: that reason is the message.
        return Err(format!(
            "{} {}: {why} ({}{}, every one of {} requests)",
            plan.method,
            crate::runbook::http::masked_url(c.url.trim()),
            target.addr,
            if target.tls { ", TLS" } else { "" },
            stats.done
        ));
    }
    if stats.error_rate() > plan.max_error_rate {
        failed.push(format!(
            "error rate {:.1} % over {} requests > max {} %: {}",
            stats.error_rate(),
            stats.done,
            plan.max_error_rate,
            stats.failures_line()
        ));
    }
    if let Some(max) = plan.max_p95
        && p95 > max
    {
        failed.push(format!("p95 {} > max {}", ms(p95), ms(max)));
    }
    if failed.is_empty() {
        cx.say(summary).await;
        Ok(())
    } else {
        cx.say(summary).await;
        Err(failed.join("; "))
    }
}
