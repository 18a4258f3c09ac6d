//! The controllers' shared state ([`Manager`]): indexes, what each controller remembers, the work
//! queue and the delay queue, and the writes and readiness reads every controller uses.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::argocd::ArgoCdLoop;
use super::conditions::{condition, instant_of_time, is_pod_ready};
use super::events::Recorder;
use super::index::Index;
use super::kubelet::Kubelet;
use super::memory::{DeploymentMemory, JobMemory, RolloutMemory, SchedulerMemory};
use crate::error::ApiError;
use crate::object::{Key, resource_version_of, str_at, uid_of};
use crate::resources::ResourceType;
use crate::shared::Shared;
use crate::store::Part;

/// One unit of work, reconciled at most once per pass.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    Deployment(Key),
    ReplicaSet(Key),
    Job(Key),
    /// The rollouts controller reconciles an Argo Rollout.
    Rollout(Key),
    /// The scheduler places a pending pod.
    Schedule(Key),
    /// The kubelet syncs a bound pod.
    Pod(Key),
    /// A pod's containers write their periodic log lines.
    Logs(Key),
    /// Argo CD refreshes (and syncs) an Application.
    Application(Key),
}

/// The controllers' shared state: the indexes, the work queue and timers, and what each
/// controller remembers. The loop that drives it is in `driver.rs`.
pub struct Manager {
    pub shared: Arc<Shared>,
    pub(super) cursors: HashMap<&'static str, u64>,
    pub index: Index,
    pub(super) queue: VecDeque<Work>,
    pub(super) queued: HashSet<Work>,
    timers: BinaryHeap<Reverse<(Instant, u64, Work)>>,
    timer_at: HashMap<Work, Instant>,
    timer_seq: u64,
    pub events: Recorder,
    pub kubelet: Kubelet,
    pub scheduler: SchedulerMemory,
    pub deployments: DeploymentMemory,
    pub jobs: JobMemory,
    pub rollouts: RolloutMemory,
    /// The Argo CD application controller's memory and informer cursors.
    pub argocd: ArgoCdLoop,
    /// Pod uid → the instant its Ready condition turned true (finer than the condition's timestamp).
    pub ready_since: HashMap<String, Instant>,
    /// Controllers (kind, key) that must look at every orphan of their namespace on their next sync.
    pub scan_orphans: HashSet<(&'static str, Key)>,
    /// Controllers (kind, key) → orphans that appeared and match them.
    pub adopt: HashMap<(&'static str, Key), BTreeSet<Key>>,
    /// When a work item last ran, for those that are rate limited.
    pub(super) last_run: HashMap<Work, Instant>,
}

impl Manager {
    pub fn new(shared: Arc<Shared>) -> Manager {
        Manager {
            shared,
            cursors: HashMap::new(),
            index: Index::default(),
            queue: VecDeque::new(),
            queued: HashSet::new(),
            timers: BinaryHeap::new(),
            timer_at: HashMap::new(),
            timer_seq: 0,
            events: Recorder::default(),
            kubelet: Kubelet::default(),
            scheduler: SchedulerMemory::default(),
            deployments: DeploymentMemory::default(),
            jobs: JobMemory::default(),
            rollouts: RolloutMemory::default(),
            argocd: ArgoCdLoop::default(),
            ready_since: HashMap::new(),
            scan_orphans: HashSet::new(),
            adopt: HashMap::new(),
            last_run: HashMap::new(),
        }
    }

    /// Queue a work item for the next pass.
    pub fn enqueue(&mut self, w: Work) {
        if self.queued.insert(w.clone()) {
            self.queue.push_back(w);
        }
    }

    /// Queue a work item at `at` (an earlier timer for the same item wins).
    pub fn schedule(&mut self, w: Work, at: Instant) {
        if let Some(t) = self.timer_at.get(&w)
            && *t <= at
        {
            return;
        }
        self.timer_seq += 1;
        self.timer_at.insert(w.clone(), at);
        self.timers.push(Reverse((at, self.timer_seq, w)));
    }

    /// Queue a work item after `secs` simulated seconds.
    pub fn schedule_in(&mut self, w: Work, secs: f64) {
        let at = Instant::now() + self.shared.timing.delay(secs);
        self.schedule(w, at);
    }

    /// Rate limit an item: `true` (and a timer for when it may run) if it ran less than `gap` ago,
    /// otherwise `false` and the run is recorded.
    pub fn throttled(&mut self, w: &Work, gap: Duration) -> bool {
        let now = Instant::now();
        if let Some(last) = self.last_run.get(w)
            && now < *last + gap
        {
            let at = *last + gap;
            self.schedule(w.clone(), at);
            return true;
        }
        self.last_run.insert(w.clone(), now);
        false
    }

    /// Drop a pending timer.
    pub fn cancel(&mut self, w: &Work) {
        self.timer_at.remove(w);
    }

    pub(super) fn next_timer(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, _, w))) = self.timers.peek() {
            if self.timer_at.get(w) == Some(at) {
                return Some(*at);
            }
            self.timers.pop();
        }
        None
    }

    pub(super) fn fire_timers(&mut self, now: Instant) {
        let slack = Duration::from_millis(1);
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now + slack {
                break;
            }
            let Some(Reverse((at, _, w))) = self.timers.pop() else {
                break;
            };
            if self.timer_at.get(&w) == Some(&at) {
                self.timer_at.remove(&w);
                self.enqueue(w);
            }
        }
    }

    /// Write `f`'s change to an object if it is still at resourceVersion `rv` (409 otherwise), as a
    /// controller's update of the copy it read.
    pub fn write(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        rv: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Arc<Value>, ApiError> {
        self.shared.store.modify(rt, ns, name, Part::All, |o| {
            if resource_version_of(o) != rv {
                return Err(ApiError::conflict(rt, name));
            }
            f(o);
            Ok(())
        })
    }

    /// Whether a pod has been Ready, and since when (`None` if it is not ready).
    pub fn ready_instant(&self, pod: &Value) -> Option<Instant> {
        if !is_pod_ready(pod) {
            return None;
        }
        if let Some(i) = self.ready_since.get(uid_of(pod)) {
            return Some(*i);
        }
        let t = condition(pod, "Ready")
            .map(|c| str_at(c, "/lastTransitionTime"))
            .unwrap_or("");
        Some(instant_of_time(t).unwrap_or_else(Instant::now))
    }

    /// The instant a pod is (or will be) available with `min_ready` simulated seconds, if ready.
    pub fn available_at(&self, pod: &Value, min_ready: i64) -> Option<Instant> {
        let since = self.ready_instant(pod)?;
        if min_ready <= 0 {
            return Some(since);
        }
        Some(since + self.shared.timing.delay(min_ready as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_kind;
    use crate::{LogHub, Store, Timing};
    use serde_json::json;

    fn shared() -> Arc<Shared> {
        let store = Store::new();
        let _ = store.create(
            by_kind("Namespace"),
            "",
            json!({"metadata": {"name": "default"}}),
            false,
        );
        crate::fixture::ensure_node(&store);
        Arc::new(Shared {
            store,
            logs: LogHub::new(),
            timing: Timing {
                speed: 1000.0,
                log_rate: 0.0,
            },
            repos: Default::default(),
            faults: Default::default(),
            apps: Default::default(),
        })
    }

    #[test]
    fn timers_keep_the_earliest() {
        let mut m = Manager::new(shared());
        let w = Work::Pod(("a".into(), "b".into()));
        let now = Instant::now();
        m.schedule(w.clone(), now + Duration::from_secs(10));
        m.schedule(w.clone(), now + Duration::from_secs(5));
        m.schedule(w.clone(), now + Duration::from_secs(20));
        assert_eq!(m.next_timer(), Some(now + Duration::from_secs(5)));
        m.fire_timers(now + Duration::from_secs(6));
        assert_eq!(m.queue.len(), 1);
        assert_eq!(m.next_timer(), None);
    }
}
