//! Container logs: what each container has written, the previous instance's log after a restart, and
//! followers that read new lines as they come and stop when the container does.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// Lines kept per container instance, at most (a kubelet rotates a container's log at 10 MiB).
pub const KEEP: usize = 10_000;
/// Lines kept over every container instance together: with many containers each keeps
/// `BUDGET / instances` lines (but at least [`KEEP_MIN`]), so 5,000 pods stay in bounded memory.
pub const BUDGET: usize = 1_000_000;
pub const KEEP_MIN: usize = 100;

#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub text: String,
}

#[derive(Default)]
struct Buf {
    lines: VecDeque<LogLine>,
    next_seq: u64,
    ended: bool,
}

/// One container instance's log.
pub struct InstanceLog {
    buf: Mutex<Buf>,
    notify: tokio::sync::watch::Sender<u64>,
    cap: Arc<AtomicUsize>,
}

impl InstanceLog {
    fn new(cap: Arc<AtomicUsize>) -> Arc<InstanceLog> {
        Arc::new(InstanceLog {
            buf: Mutex::new(Buf::default()),
            notify: tokio::sync::watch::channel(0).0,
            cap,
        })
    }

    fn push(&self, text: &str, time: DateTime<Utc>) {
        let mut b = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        if b.ended {
            return;
        }
        let seq = b.next_seq;
        b.next_seq += 1;
        b.lines.push_back(LogLine {
            seq,
            time,
            text: text.to_string(),
        });
        let cap = self.cap.load(Ordering::Relaxed).clamp(KEEP_MIN, KEEP);
        while b.lines.len() > cap {
            b.lines.pop_front();
        }
        drop(b);
        self.notify.send_replace(seq + 1);
    }

    fn end(&self) {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).ended = true;
        self.notify.send_modify(|_| {});
    }

    /// Whether the instance has stopped (no line will be added).
    pub fn ended(&self) -> bool {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).ended
    }

    /// Every kept line.
    pub fn lines(&self) -> Vec<LogLine> {
        let b = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        b.lines.iter().cloned().collect()
    }
}

#[derive(Default)]
struct Container {
    current: Option<Arc<InstanceLog>>,
    previous: Option<Arc<InstanceLog>>,
}

type Key = (String, String, String);

/// Every container's log in the sandbox.
pub struct LogHub {
    containers: Mutex<HashMap<Key, Container>>,
    /// Lines each instance keeps now, from [`BUDGET`] and how many containers there are.
    cap: Arc<AtomicUsize>,
}

impl Default for LogHub {
    fn default() -> LogHub {
        LogHub {
            containers: Mutex::new(HashMap::new()),
            cap: Arc::new(AtomicUsize::new(KEEP)),
        }
    }
}

fn k(ns: &str, pod: &str, container: &str) -> Key {
    (ns.into(), pod.into(), container.into())
}

impl LogHub {
    pub fn new() -> Arc<LogHub> {
        Arc::new(LogHub::default())
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<Key, Container>) -> R) -> R {
        let mut m = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut m);
        // Current and previous instances both count.
        let instances = m.len().max(1) * 2;
        self.cap.store(
            (BUDGET / instances).clamp(KEEP_MIN, KEEP),
            Ordering::Relaxed,
        );
        r
    }

    /// Lines each container instance keeps now.
    pub fn keep(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// A container (re)starts: its current log becomes the previous one and a new one begins.
    pub fn start(&self, ns: &str, pod: &str, container: &str) {
        self.with(|m| {
            let c = m.entry(k(ns, pod, container)).or_default();
            if let Some(old) = c.current.take() {
                old.end();
                c.previous = Some(old);
            }
            c.current = Some(InstanceLog::new(self.cap.clone()));
        });
    }

    /// A line written by a running container.
    pub fn append(&self, ns: &str, pod: &str, container: &str, text: &str) {
        self.append_at(ns, pod, container, text, Utc::now());
    }

    pub fn append_at(&self, ns: &str, pod: &str, container: &str, text: &str, at: DateTime<Utc>) {
        let log = self.with(|m| {
            let c = m.entry(k(ns, pod, container)).or_default();
            c.current
                .get_or_insert_with(|| InstanceLog::new(self.cap.clone()))
                .clone()
        });
        log.push(text, at);
    }

    /// The container stopped: followers finish.
    pub fn stop(&self, ns: &str, pod: &str, container: &str) {
        if let Some(c) = self.with(|m| {
            m.get(&k(ns, pod, container))
                .and_then(|c| c.current.clone())
        }) {
            c.end();
        }
    }

    /// The pod is gone: every follower of its containers finishes and the logs are dropped.
    pub fn remove_pod(&self, ns: &str, pod: &str) {
        let gone: Vec<Container> = self.with(|m| {
            let keys: Vec<Key> = m
                .keys()
                .filter(|(n, p, _)| n == ns && p == pod)
                .cloned()
                .collect();
            keys.into_iter().filter_map(|key| m.remove(&key)).collect()
        });
        for c in gone {
            if let Some(l) = c.current {
                l.end();
            }
        }
    }

    /// The log of the instance that last terminated, the one a container status's
    /// `lastState.terminated` names (what a kubelet serves for `previous=true`): the current
    /// instance while it is stopped and waiting to restart, the one before it once it runs again.
    pub fn last_terminated(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
    ) -> Option<Arc<InstanceLog>> {
        self.with(|m| {
            let c = m.get(&k(ns, pod, container))?;
            match &c.current {
                Some(cur) if cur.ended() => Some(cur.clone()),
                _ => c.previous.clone(),
            }
        })
    }

    /// The current (or previous) instance's log of a container.
    pub fn instance(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Option<Arc<InstanceLog>> {
        self.with(|m| {
            m.get(&k(ns, pod, container)).and_then(|c| {
                if previous {
                    c.previous.clone()
                } else {
                    c.current.clone()
                }
            })
        })
    }
}

/// Reads an instance's log from a position, waiting for new lines.
pub struct Follower {
    log: Arc<InstanceLog>,
    rx: tokio::sync::watch::Receiver<u64>,
    next: u64,
}

impl Follower {
    /// Follow `log` from the line with sequence number `from`.
    pub fn new(log: Arc<InstanceLog>, from: u64) -> Follower {
        let rx = log.notify.subscribe();
        Follower {
            log,
            rx,
            next: from,
        }
    }

    /// The next lines, waiting for at least one; `None` when the container has stopped and every line
    /// has been read.
    pub async fn next_batch(&mut self) -> Option<Vec<LogLine>> {
        loop {
            self.rx.borrow_and_update();
            {
                let b = self.log.buf.lock().unwrap_or_else(|e| e.into_inner());
                let start = b.lines.partition_point(|l| l.seq < self.next);
                if start < b.lines.len() {
                    let out: Vec<LogLine> = b.lines.range(start..).cloned().collect();
                    self.next = out.last().map(|l| l.seq + 1).unwrap_or(self.next);
                    return Some(out);
                }
                if b.ended {
                    return None;
                }
            }
            if self.rx.changed().await.is_err() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_containers_share_a_bounded_budget() {
        let hub = LogHub::new();
        assert_eq!(hub.keep(), KEEP);
        for i in 0..5_000 {
            hub.start("ns", &format!("p{i}"), "app");
        }
        assert_eq!(hub.keep(), BUDGET / 10_000);
        for n in 0..500 {
            hub.append("ns", "p0", "app", &format!("line {n}"));
        }
        let lines = hub.instance("ns", "p0", "app", false).unwrap().lines();
        assert_eq!(lines.len(), BUDGET / 10_000);
        assert_eq!(lines.last().unwrap().text, "line 499");
        for i in 0..5_000 {
            hub.remove_pod("ns", &format!("p{i}"));
        }
        hub.start("ns", "alone", "app");
        assert_eq!(hub.keep(), KEEP);
    }

    #[test]
    fn the_last_terminated_instance_is_the_stopped_one_until_the_next_runs() {
        let hub = LogHub::new();
        assert!(hub.last_terminated("ns", "p", "app").is_none());
        hub.start("ns", "p", "app");
        hub.append("ns", "p", "app", "first run");
        assert!(hub.last_terminated("ns", "p", "app").is_none());
        hub.stop("ns", "p", "app");
        // Waiting to restart (CrashLoopBackOff): the run that just ended.
        let last = hub.last_terminated("ns", "p", "app").unwrap();
        assert_eq!(last.lines()[0].text, "first run");
        hub.start("ns", "p", "app");
        hub.append("ns", "p", "app", "second run");
        let last = hub.last_terminated("ns", "p", "app").unwrap();
        assert_eq!(last.lines()[0].text, "first run");
        hub.stop("ns", "p", "app");
        let last = hub.last_terminated("ns", "p", "app").unwrap();
        assert_eq!(last.lines()[0].text, "second run");
    }
}
