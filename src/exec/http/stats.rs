//! What a run of requests added up to: status counts, failures by kind, latencies, and the words
//! and JSON the step says it in.

use std::collections::BTreeMap;
use std::time::Duration;

/// The outcome of one request, as counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Answered with this status; `ok` when it is expected and its body holds what it must.
    Status { code: u16, ok: bool, why: String },
    /// No answer: why, in a few words (`connection refused`, `timed out after 10s`).
    Failed(String),
}

/// Requests counted so far.
#[derive(Default, Debug)]
pub struct Stats {
    pub done: u64,
    pub errors: u64,
    /// Status → count.
    pub statuses: BTreeMap<u16, u64>,
    /// Why requests failed → count (`500`, `connection refused`, `body without `ok``).
    pub failures: BTreeMap<String, u64>,
    /// Every request's latency, in microseconds.
    latencies: Vec<u64>,
    /// Requests that got no answer at all.
    pub unanswered: u64,
}

/// The `p`-th percentile (0–100) of sorted values, by nearest rank.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds as shown: whole above 10, one decimal below.
pub fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m >= 10.0 {
        format!("{m:.0} ms")
    } else {
        format!("{m:.1} ms")
    }
}

impl Stats {
    pub fn record(&mut self, latency: Duration, answer: Answer) {
        self.done += 1;
        self.latencies
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        match answer {
            Answer::Status { code, ok, why } => {
                *self.statuses.entry(code).or_default() += 1;
                if !ok {
                    self.errors += 1;
                    *self.failures.entry(why).or_default() += 1;
                }
            }
            Answer::Failed(why) => {
                self.errors += 1;
                self.unanswered += 1;
                *self.failures.entry(why).or_default() += 1;
            }
        }
    }

    /// Failed requests in percent of those done.
    pub fn error_rate(&self) -> f64 {
        if self.done == 0 {
            0.0
        } else {
            self.errors as f64 * 100.0 / self.done as f64
        }
    }

    /// (p50, p95) of the latencies.
    pub fn percentiles(&self) -> (Duration, Duration) {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        (
            Duration::from_micros(percentile(&sorted, 50.0)),
            Duration::from_micros(percentile(&sorted, 95.0)),
        )
    }

    /// The live line: `120/300 requests, errors 0.8 %, p50 12 ms, p95 48 ms`.
    pub fn live(&self, total: u64) -> String {
        let (p50, p95) = self.percentiles();
        format!(
            "{}/{total} requests, errors {:.1} %, p50 {}, p95 {}",
            self.done,
            self.error_rate(),
            ms(p50),
            ms(p95)
        )
    }

    /// `30 × 500, 2 × connection refused`: failures, most first.
    pub fn failures_line(&self) -> String {
        let mut f: Vec<(&String, &u64)> = self.failures.iter().collect();
        f.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        f.iter()
            .map(|(why, n)| format!("{n} × {why}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `300 requests, errors 0.0 %, p50 12 ms, p95 48 ms: 297 × 200, 3 × 500`.
    pub fn summary(&self) -> String {
        let (p50, p95) = self.percentiles();
        let statuses = self
            .statuses
            .iter()
            .map(|(code, n)| format!("{n} × {code}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut s = format!(
            "{} requests, errors {:.1} %, p50 {}, p95 {}",
            self.done,
            self.error_rate(),
            ms(p50),
            ms(p95)
        );
        if !statuses.is_empty() {
            s.push_str(&format!(": {statuses}"));
        }
        if self.unanswered > 0 {
            s.push_str(&format!(" ({} unanswered)", self.unanswered));
        }
        s
    }

    /// The result as JSON, for `capture` and `expect`.
    pub fn json(&self) -> serde_json::Value {
        let (p50, p95) = self.percentiles();
        let round = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        serde_json::json!({
            "requests": self.done,
            "errors": self.errors,
            "error_rate": (self.error_rate() * 1000.0).round() / 1000.0,
            "p50_ms": round(p50),
            "p95_ms": round(p95),
            "status": self.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "failures": self.failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rates_and_percentiles() {
        let mut s = Stats::default();
        for i in 1..=100u64 {
            let code = if i % 10 == 0 { 500 } else { 200 };
            s.record(
                Duration::from_millis(i),
                Answer::Status {
                    code,
                    ok: code == 200,
                    why: code.to_string(),
                },
            );
        }
        assert_eq!(s.error_rate(), 10.0);
        assert_eq!(
            s.percentiles(),
            (Duration::from_millis(50), Duration::from_millis(95))
        );
        assert_eq!(
            s.live(300),
            "100/300 requests, errors 10.0 %, p50 50 ms, p95 95 ms"
        );
        assert_eq!(s.failures_line(), "10 × 500");
        s.record(
            Duration::from_millis(1),
            Answer::Failed("connection refused".into()),
        );
        assert_eq!(s.failures_line(), "10 × 500, 1 × connection refused");
        assert_eq!(s.json()["status"]["500"], 10);
        assert_eq!(ms(Duration::from_micros(450)), "0.5 ms");
    }
}
