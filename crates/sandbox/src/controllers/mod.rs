//! The controllers that make the sandbox behave like a cluster: the deployment, replica set and job
//! controllers of kube-controller-manager, the default scheduler and a kubelet for every node, and
//! the event recorder they share.
//!
//! Each follows its Kubernetes counterpart's algorithm (see the module docs) and writes objects
//! through the [`Store`](super::Store) as those components write through the API server.
//!
//! # Design: event driven, one task
//!
//! A single task runs every controller over shared indexes (a [`Manager`]):
//! - **Informers**: it reads [`Store::changes_since`](super::Store::changes_since) per kind from its own
//!   cursor (only when the store's notifier says something changed), updates indexes (pods by
//!   controller, pods per node with their requests, replica sets by owner, orphans per namespace,
//!   nodes) and queues the keys a change concerns, as the informers' event handlers do. A change of
//!   an object's status alone does not requeue the object itself. A lost cursor (410 Gone) relists
//!   everything.
//! - **Work queue**: a key is queued at most once; every pass takes in every change, fires due timers
//!   and then reconciles each queued key once. After a change the task waits a few milliseconds
//!   ([`COALESCE`]) so that a burst of writes costs one reconcile per key.
//! - **Delay queue**: everything time-driven (a container starting, a probe, a back-off, a progress
//!   deadline, minReadySeconds, log lines) is a timer in one binary heap keyed by work item, earliest
//!   wins. Log timers are aligned to a grid so that many pods' lines cost one wake-up.
//! - No reconcile lists a whole kind: a replica set reads its own pods from the index, a deployment its
//!   own replica sets, the scheduler the node table; orphans are scanned only when an orphan appears or
//!   a controller's spec changes. Objects are read fresh from the store before they are acted on.
//!
//! All logic is in plain functions over `&mut Manager` (no awaits), so it can be driven from unit tests
//! with [`Manager::settle`].
//!
//! Simulated time: every duration is in simulated seconds and goes through
//! [`Timing::delay`](super::Timing::delay); timestamps written into objects are wall-clock.
//!
//! Image rules, delays and logs are documented in [`kubelet`].

pub mod deployment;
pub mod events;
pub mod job;
pub mod kubelet;
pub mod replicaset;
pub mod scheduler;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::error::ApiError;
use super::object::{PointerLookup, key_of, labels_of, name_of, str_at, uid_of};
use super::resources::{ResourceType, by_kind};
use super::selector::LabelSelector;
use super::shared::Shared;
use super::store::{Change, EventType, Part};

/// A namespaced object's key: (namespace, name).
pub type Key = (String, String);

/// How long the task waits after a change before it reads changes, so bursts coalesce.
pub const COALESCE: Duration = Duration::from_millis(4);

/// Changes read per call to the store.
const BATCH: usize = 4096;

/// The kinds the controllers watch, in the order their changes are read.
const KINDS: [&str; 5] = ["Node", "Deployment", "ReplicaSet", "Job", "Pod"];

/// One unit of work, reconciled at most once per pass.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    Deployment(Key),
    ReplicaSet(Key),
    Job(Key),
    /// The scheduler places a pending pod.
    Schedule(Key),
    /// The kubelet syncs a bound pod.
    Pod(Key),
    /// A pod's containers write their periodic log lines.
    Logs(Key),
}

/// Start the controllers on the current runtime.
pub fn spawn(shared: Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
    let manager = Manager::new(shared);
    vec![tokio::spawn(manager.run())]
}

/// Resource use of a pod bound to a node, as the scheduler counts it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub cpu_milli: i64,
    pub memory: i64,
    /// The pod's controller (uid), for spreading.
    pub owner: Option<String>,
}

/// The pods bound to a node and what they request, kept summed (the scheduler's NodeInfo).
#[derive(Clone, Debug, Default)]
pub struct NodeUsage {
    pub pods: BTreeMap<Key, Usage>,
    pub cpu_milli: i64,
    pub memory: i64,
    /// Controller uid → pods of it on the node.
    pub by_owner: HashMap<String, i64>,
}

impl NodeUsage {
    fn add(&mut self, key: Key, u: Usage) {
        self.cpu_milli += u.cpu_milli;
        self.memory += u.memory;
        if let Some(o) = &u.owner {
            *self.by_owner.entry(o.clone()).or_default() += 1;
        }
        if let Some(old) = self.pods.insert(key, u) {
            self.sub(&old);
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.pods.remove(key) {
            self.sub(&old);
        }
    }

    fn sub(&mut self, u: &Usage) {
        self.cpu_milli -= u.cpu_milli;
        self.memory -= u.memory;
        if let Some(o) = &u.owner
            && let Some(n) = self.by_owner.get_mut(o)
        {
            *n -= 1;
            if *n <= 0 {
                self.by_owner.remove(o);
            }
        }
    }
}

/// What the informers' caches and the controllers' indexers would hold.
#[derive(Default)]
pub struct Index {
    /// Controller uid → keys of the pods it controls.
    pub pods_by_owner: HashMap<String, BTreeSet<Key>>,
    pod_owner: HashMap<Key, String>,
    /// Namespace → names of pods without a controller.
    pub orphan_pods: HashMap<String, BTreeSet<String>>,
    /// Node → pods bound to it that are not terminal, with their requests and totals.
    pub pods_on_node: HashMap<String, NodeUsage>,
    pod_node: HashMap<Key, String>,
    /// Namespace → replica set names.
    pub rs_by_ns: HashMap<String, BTreeSet<String>>,
    /// Controller uid → replica sets it controls.
    pub rs_by_owner: HashMap<String, BTreeSet<Key>>,
    /// Replica set → (controller uid, controller kind, controller name).
    pub rs_owner: HashMap<Key, (String, String, String)>,
    /// Namespace → names of replica sets without a controller.
    pub orphan_rs: HashMap<String, BTreeSet<String>>,
    pub deploys_by_ns: HashMap<String, BTreeSet<String>>,
    pub jobs_by_ns: HashMap<String, BTreeSet<String>>,
    pub nodes: BTreeMap<String, Arc<Value>>,
}

fn remove_from<K: std::hash::Hash + Eq, V: Ord>(m: &mut HashMap<K, BTreeSet<V>>, k: &K, v: &V) {
    if let Some(set) = m.get_mut(k) {
        set.remove(v);
        if set.is_empty() {
            m.remove(k);
        }
    }
}

impl Index {
    /// Record a pod (or its removal, `None`).
    pub fn index_pod(&mut self, key: &Key, pod: Option<&Value>) {
        if let Some(owner) = self.pod_owner.remove(key) {
            remove_from(&mut self.pods_by_owner, &owner, key);
        }
        remove_from(&mut self.orphan_pods, &key.0, &key.1);
        if let Some(node) = self.pod_node.remove(key)
            && let Some(m) = self.pods_on_node.get_mut(&node)
        {
            m.remove(key);
        }
        let Some(pod) = pod else { return };
        match controller_ref(pod)
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
        {
            Some(uid) => {
                self.pod_owner.insert(key.clone(), uid.to_string());
                self.pods_by_owner
                    .entry(uid.to_string())
                    .or_default()
                    .insert(key.clone());
            }
            None => {
                self.orphan_pods
                    .entry(key.0.clone())
                    .or_default()
                    .insert(key.1.clone());
            }
        }
        let node = str_at(pod, "/spec/nodeName");
        if !node.is_empty() && !is_terminal(pod) {
            self.bind(key, node, pod);
        }
    }

    /// Count a pod on a node (the scheduler does this as it binds, before the change comes back).
    pub fn bind(&mut self, key: &Key, node: &str, pod: &Value) {
        let (cpu_milli, memory) = scheduler::pod_requests(pod);
        let owner = controller_ref(pod)
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(old) = self.pod_node.insert(key.clone(), node.to_string())
            && old != node
            && let Some(m) = self.pods_on_node.get_mut(&old)
        {
            m.remove(key);
        }
        self.pods_on_node.entry(node.to_string()).or_default().add(
            key.clone(),
            Usage {
                cpu_milli,
                memory,
                owner,
            },
        );
    }

    fn index_rs(&mut self, key: &Key, rs: Option<&Value>) {
        if let Some((uid, _, _)) = self.rs_owner.remove(key) {
            remove_from(&mut self.rs_by_owner, &uid, key);
        }
        remove_from(&mut self.orphan_rs, &key.0, &key.1);
        remove_from(&mut self.rs_by_ns, &key.0, &key.1);
        let Some(rs) = rs else { return };
        self.rs_by_ns
            .entry(key.0.clone())
            .or_default()
            .insert(key.1.clone());
        match controller_ref(rs) {
            Some(r) => {
                let uid = str_at(r, "/uid").to_string();
                self.rs_owner.insert(
                    key.clone(),
                    (
                        uid.clone(),
                        str_at(r, "/kind").to_string(),
                        str_at(r, "/name").to_string(),
                    ),
                );
                self.rs_by_owner.entry(uid).or_default().insert(key.clone());
            }
            None => {
                self.orphan_rs
                    .entry(key.0.clone())
                    .or_default()
                    .insert(key.1.clone());
            }
        }
    }

    fn index_named(map: &mut HashMap<String, BTreeSet<String>>, key: &Key, present: bool) {
        if present {
            map.entry(key.0.clone()).or_default().insert(key.1.clone());
        } else {
            remove_from(map, &key.0, &key.1);
        }
    }
}

/// The controllers' shared state and the loop that drives them.
pub struct Manager {
    pub shared: Arc<Shared>,
    cursors: HashMap<&'static str, u64>,
    pub index: Index,
    queue: VecDeque<Work>,
    queued: HashSet<Work>,
    timers: BinaryHeap<Reverse<(Instant, u64, Work)>>,
    timer_at: HashMap<Work, Instant>,
    timer_seq: u64,
    pub events: events::Recorder,
    pub kubelet: kubelet::Kubelet,
    pub scheduler: scheduler::Scheduler,
    pub deployments: deployment::State,
    pub jobs: job::State,
    /// Pod uid → the instant its Ready condition turned true (finer than the condition's timestamp).
    pub ready_since: HashMap<String, Instant>,
    /// Controllers (kind, key) that must look at every orphan of their namespace on their next sync.
    pub scan_orphans: HashSet<(&'static str, Key)>,
    /// Controllers (kind, key) → orphans that appeared and match them.
    pub adopt: HashMap<(&'static str, Key), BTreeSet<Key>>,
    /// When a work item last ran, for those that are rate limited.
    last_run: HashMap<Work, Instant>,
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
            events: events::Recorder::default(),
            kubelet: kubelet::Kubelet::default(),
            scheduler: scheduler::Scheduler::default(),
            deployments: deployment::State::default(),
            jobs: job::State::default(),
            ready_since: HashMap::new(),
            scan_orphans: HashSet::new(),
            adopt: HashMap::new(),
            last_run: HashMap::new(),
        }
    }

    /// The controllers' loop: runs until the store goes away or the task is aborted.
    pub async fn run(mut self) {
        let mut rx = self.shared.store.subscribe();
        rx.borrow_and_update();
        self.resync_all();
        let mut changed = false;
        loop {
            if changed {
                rx.borrow_and_update();
                self.ingest();
            }
            self.fire_timers(Instant::now());
            self.drain();
            changed = rx.has_changed().unwrap_or(false);
            if changed || !self.queue.is_empty() {
                tokio::time::sleep(COALESCE).await;
                changed = true;
                continue;
            }
            let next = self
                .next_timer()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = rx.changed() => {
                    if r.is_err() {
                        return;
                    }
                    tokio::time::sleep(COALESCE).await;
                    changed = true;
                }
                _ = tokio::time::sleep_until(next) => {}
            }
        }
    }

    /// Drive the controllers until nothing is queued (timers not yet due stay pending): for tests.
    pub fn settle(&mut self, max_passes: usize) {
        if self.cursors.is_empty() {
            self.resync_all();
        }
        for _ in 0..max_passes {
            self.ingest();
            self.fire_timers(Instant::now());
            if self.queue.is_empty() {
                return;
            }
            self.drain();
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

    fn next_timer(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, _, w))) = self.timers.peek() {
            if self.timer_at.get(w) == Some(at) {
                return Some(*at);
            }
            self.timers.pop();
        }
        None
    }

    fn fire_timers(&mut self, now: Instant) {
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

    fn drain(&mut self) {
        let mut batch: Vec<Work> = self.queue.drain(..).collect();
        self.queued.clear();
        // Deployments last: a replica set acts on the spec its deployment gave it (creating or deleting
        // pods, updating its status) before the deployment looks at it again, so that the deployment
        // never counts pods a scale-down already took away.
        batch.sort_by_key(|w| matches!(w, Work::Deployment(_)));
        for w in batch {
            self.process(w);
        }
    }

    fn process(&mut self, w: Work) {
        match w {
            Work::Deployment((ns, name)) => deployment::sync(self, &ns, &name),
            Work::ReplicaSet((ns, name)) => replicaset::sync(self, &ns, &name),
            Work::Job((ns, name)) => job::sync(self, &ns, &name),
            Work::Schedule((ns, name)) => scheduler::sync(self, &ns, &name),
            Work::Pod((ns, name)) => kubelet::sync(self, &ns, &name),
            Work::Logs((ns, name)) => kubelet::log_tick(self, &ns, &name),
        }
    }

    // --- informers ---------------------------------------------------------------------------

    /// List everything, rebuild the indexes and queue every object: at start and after a lost cursor.
    pub fn resync_all(&mut self) {
        self.index = Index::default();
        let store = self.shared.store.clone();
        for kind in KINDS {
            let rt = by_kind(kind);
            let (items, rv) = store.list(rt, None, &|_| true);
            self.cursors.insert(kind, rv);
            for it in items {
                let key = key_of(&it);
                match kind {
                    "Node" => {
                        self.index.nodes.insert(key.1.clone(), it.clone());
                    }
                    "Deployment" => {
                        Index::index_named(&mut self.index.deploys_by_ns, &key, true);
                        self.scan_orphans.insert(("Deployment", key.clone()));
                        self.enqueue(Work::Deployment(key));
                    }
                    "ReplicaSet" => {
                        self.index.index_rs(&key, Some(&it));
                        self.scan_orphans.insert(("ReplicaSet", key.clone()));
                        self.enqueue(Work::ReplicaSet(key));
                    }
                    "Job" => {
                        Index::index_named(&mut self.index.jobs_by_ns, &key, true);
                        self.scan_orphans.insert(("Job", key.clone()));
                        self.enqueue(Work::Job(key));
                    }
                    _ => {
                        self.index.index_pod(&key, Some(&it));
                        if str_at(&it, "/spec/nodeName").is_empty() {
                            self.enqueue(Work::Schedule(key));
                        } else {
                            self.enqueue(Work::Pod(key));
                        }
                    }
                }
            }
        }
    }

    fn ingest(&mut self) {
        let store = self.shared.store.clone();
        for kind in KINDS {
            let rt = by_kind(kind);
            loop {
                let cursor = self.cursors.get(kind).copied().unwrap_or(0);
                match store.changes_since(rt, None, cursor, BATCH) {
                    Err(_) => {
                        self.resync_all();
                        return;
                    }
                    Ok((changes, upto)) => {
                        for c in &changes {
                            self.on_change(c);
                        }
                        self.cursors.insert(kind, upto.max(cursor));
                        if changes.len() < BATCH {
                            break;
                        }
                    }
                }
            }
        }
    }

    fn on_change(&mut self, c: &Change) {
        let key = key_of(&c.object);
        let deleted = c.event == EventType::Deleted;
        match c.resource.kind {
            "Node" => {
                if deleted {
                    self.index.nodes.remove(&key.1);
                } else {
                    self.index.nodes.insert(key.1.clone(), c.object.clone());
                }
                self.scheduler_wake();
            }
            "Deployment" => {
                Index::index_named(&mut self.index.deploys_by_ns, &key, !deleted);
                if deleted {
                    self.deployments.forget(uid_of(&c.object));
                } else if !status_only(c) {
                    self.scan_orphans.insert(("Deployment", key.clone()));
                    self.enqueue(Work::Deployment(key));
                }
            }
            "Job" => {
                Index::index_named(&mut self.index.jobs_by_ns, &key, !deleted);
                if deleted {
                    self.jobs.forget(uid_of(&c.object));
                } else if !status_only(c) {
                    self.scan_orphans.insert(("Job", key.clone()));
                    self.enqueue(Work::Job(key));
                }
            }
            "ReplicaSet" => self.on_rs(c, key, deleted),
            "Pod" => self.on_pod(c, key, deleted),
            _ => {}
        }
    }

    fn on_rs(&mut self, c: &Change, key: Key, deleted: bool) {
        if deleted {
            self.last_run.remove(&Work::ReplicaSet(key.clone()));
        }
        self.index.index_rs(&key, (!deleted).then_some(&*c.object));
        // The replica set acts on its new spec before its deployment looks at it again.
        if !deleted && !status_only(c) {
            self.scan_orphans.insert(("ReplicaSet", key.clone()));
            self.enqueue(Work::ReplicaSet(key.clone()));
        }
        let mut owners = Vec::new();
        for obj in [Some(&*c.object), c.old.as_deref()].into_iter().flatten() {
            if let Some(r) = controller_ref(obj)
                && str_at(r, "/kind") == "Deployment"
            {
                owners.push(str_at(r, "/name").to_string());
            }
        }
        for o in owners {
            self.enqueue(Work::Deployment((key.0.clone(), o)));
        }
        if !deleted && controller_ref(&c.object).is_none() {
            // An orphan: the deployments whose selector matches may adopt it.
            let labels = labels_of(&c.object);
            let names: Vec<String> = self
                .index
                .deploys_by_ns
                .get(&key.0)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            for d in names {
                if let Ok(dep) = self.shared.store.get(by_kind("Deployment"), &key.0, &d)
                    && selector_matches(dep.at("/spec/selector"), labels)
                {
                    self.enqueue(Work::Deployment((key.0.clone(), d)));
                }
            }
        }
    }

    fn on_pod(&mut self, c: &Change, key: Key, deleted: bool) {
        let obj = &c.object;
        let old = c.old.as_deref();
        self.index.index_pod(&key, (!deleted).then_some(&**obj));
        // The controllers of the pod, before and after.
        for o in [Some(&**obj), old].into_iter().flatten() {
            if let Some(r) = controller_ref(o) {
                let name = str_at(r, "/name").to_string();
                match str_at(r, "/kind") {
                    "ReplicaSet" => {
                        let rs_key = (key.0.clone(), name);
                        if deleted
                            && let Some((_, kind, dname)) = self.index.rs_owner.get(&rs_key)
                            && kind == "Deployment"
                        {
                            // A Recreate rollout waits for the old pods to be gone.
                            let dk = (key.0.clone(), dname.clone());
                            self.enqueue(Work::Deployment(dk));
                        }
                        self.enqueue(Work::ReplicaSet(rs_key));
                    }
                    "Job" => self.enqueue(Work::Job((key.0.clone(), name))),
                    _ => {}
                }
            }
        }
        let labels_changed = old.is_none_or(|o| labels_of(o) != labels_of(obj));
        if !deleted && controller_ref(obj).is_none() && labels_changed {
            self.offer_orphan(&key, obj);
        }
        let node = str_at(obj, "/spec/nodeName");
        if deleted {
            if !node.is_empty() {
                self.scheduler_wake();
            }
            self.scheduler.forget(&key);
            kubelet::forget(self, &key, uid_of(obj));
            self.ready_since.remove(uid_of(obj));
            return;
        }
        if node.is_empty() {
            if obj.at("/metadata/deletionTimestamp").is_none() {
                self.enqueue(Work::Schedule(key));
            }
            return;
        }
        let was_terminal = old.is_some_and(is_terminal);
        if is_terminal(obj) && !was_terminal {
            // Resources come free.
            self.scheduler_wake();
        }
        let spec_changed = match old {
            None => true,
            Some(o) => {
                str_at(o, "/spec/nodeName").is_empty()
                    || o.get("spec") != obj.get("spec")
                    || strip_meta(o) != strip_meta(obj)
            }
        };
        if spec_changed {
            self.enqueue(Work::Pod(key));
        }
    }

    /// An orphan pod appeared or changed its labels: queue the controllers whose selector matches.
    fn offer_orphan(&mut self, key: &Key, pod: &Value) {
        if pod.at("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let labels = labels_of(pod);
        let store = self.shared.store.clone();
        let rs_names: Vec<String> = self
            .index
            .rs_by_ns
            .get(&key.0)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for n in rs_names {
            if let Ok(rs) = store.get(by_kind("ReplicaSet"), &key.0, &n)
                && selector_matches(rs.at("/spec/selector"), labels)
            {
                let ck = (key.0.clone(), n);
                self.adopt
                    .entry(("ReplicaSet", ck.clone()))
                    .or_default()
                    .insert(key.clone());
                self.enqueue(Work::ReplicaSet(ck));
            }
        }
        let job_names: Vec<String> = self
            .index
            .jobs_by_ns
            .get(&key.0)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for n in job_names {
            if let Ok(j) = store.get(by_kind("Job"), &key.0, &n)
                && selector_matches(j.at("/spec/selector"), labels)
            {
                let ck = (key.0.clone(), n);
                self.adopt
                    .entry(("Job", ck.clone()))
                    .or_default()
                    .insert(key.clone());
                self.enqueue(Work::Job(ck));
            }
        }
    }

    /// Something that may make pending pods schedulable happened: retry them.
    fn scheduler_wake(&mut self) {
        for k in self.scheduler.take_parked() {
            self.enqueue(Work::Schedule(k));
        }
    }

    // --- writes ------------------------------------------------------------------------------

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
            if str_at(o, "/metadata/resourceVersion") != rv {
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

// --- helpers shared by the controllers ---------------------------------------------------------

/// The owner reference with `controller: true`.
pub fn controller_ref(v: &Value) -> Option<&Value> {
    v.at("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller") == Some(&Value::Bool(true)))
}

/// `metav1.NewControllerRef(owner, gvk)`.
pub fn controller_ref_to(owner: &Value, kind: &str) -> Value {
    let api_version = match kind {
        "Deployment" | "ReplicaSet" => "apps/v1",
        "Job" => "batch/v1",
        _ => "v1",
    };
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether a label selector (an object) selects these labels; an empty or invalid one selects nothing.
pub fn selector_matches(sel: Option<&Value>, labels: Option<&Map<String, Value>>) -> bool {
    let Some(sel) = sel.filter(|s| !s.is_null()) else {
        return false;
    };
    match LabelSelector::from_object(sel) {
        Ok(s) => !s.is_empty() && s.matches(labels),
        Err(_) => false,
    }
}

/// A parsed selector that selects nothing when empty or invalid, for many matches in a row.
pub struct Selector(Option<LabelSelector>);

impl Selector {
    pub fn new(sel: Option<&Value>) -> Selector {
        Selector(
            sel.filter(|s| !s.is_null())
                .and_then(|s| LabelSelector::from_object(s).ok())
                .filter(|s| !s.is_empty()),
        )
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.0.as_ref().is_some_and(|s| s.matches(labels))
    }
}

/// `status.conditions[type=t]`.
pub fn condition<'a>(obj: &'a Value, t: &str) -> Option<&'a Value> {
    obj.at("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
}

pub fn condition_true(obj: &Value, t: &str) -> bool {
    condition(obj, t).is_some_and(|c| str_at(c, "/status") == "True")
}

pub fn is_terminal(pod: &Value) -> bool {
    matches!(str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// `controller.IsPodActive`.
pub fn is_pod_active(pod: &Value) -> bool {
    !is_terminal(pod) && pod.at("/metadata/deletionTimestamp").is_none()
}

/// `podutil.IsPodReady`.
pub fn is_pod_ready(pod: &Value) -> bool {
    condition_true(pod, "Ready")
}

/// Parse a metav1.Time.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The monotonic instant of a wall-clock timestamp (for objects the controllers did not time
/// themselves, e.g. from a fixture).
pub fn instant_of_time(s: &str) -> Option<Instant> {
    let t = parse_time(s)?;
    let ago = (chrono::Utc::now() - t).to_std().unwrap_or(Duration::ZERO);
    let now = Instant::now();
    Some(now.checked_sub(ago).unwrap_or(now))
}

/// The object without what a status write changes: status and resourceVersion.
fn strip_meta(v: &Value) -> Value {
    let mut m = v.get("metadata").cloned().unwrap_or(Value::Null);
    if let Some(o) = m.as_object_mut() {
        o.remove("resourceVersion");
        o.remove("managedFields");
    }
    m
}

/// Whether a change touched only the status of an object.
fn status_only(c: &Change) -> bool {
    let Some(old) = c.old.as_deref() else {
        return false;
    };
    c.event == EventType::Modified
        && old.get("spec") == c.object.get("spec")
        && strip_meta(old) == strip_meta(&c.object)
}

/// Set (or replace) a condition in a conditions array as the controllers' `SetCondition` helpers do:
/// lastTransitionTime is kept when the status does not change.
pub fn put_condition(conds: &mut Vec<Value>, mut cond: Value) {
    let t = str_at(&cond, "/type").to_string();
    if let Some(pos) = conds.iter().position(|c| str_at(c, "/type") == t) {
        let old = &conds[pos];
        if str_at(old, "/status") == str_at(&cond, "/status")
            && let Some(ltt) = old.get("lastTransitionTime")
        {
            cond["lastTransitionTime"] = ltt.clone();
        }
        conds[pos] = cond;
    } else {
        conds.push(cond);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LogHub, Store, Timing};

    pub(crate) fn shared() -> Arc<Shared> {
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

    #[test]
    fn index_tracks_owners_orphans_and_nodes() {
        let mut idx = Index::default();
        let k: Key = ("ns".into(), "p".into());
        let owned = json!({"metadata": {"name": "p", "namespace": "ns",
            "ownerReferences": [{"uid": "u1", "controller": true, "kind": "ReplicaSet", "name": "rs"}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]}});
        idx.index_pod(&k, Some(&owned));
        assert!(idx.pods_by_owner["u1"].contains(&k));
        assert_eq!(idx.pods_on_node["n1"].pods[&k].cpu_milli, 250);
        assert_eq!(idx.pods_on_node["n1"].cpu_milli, 250);
        assert_eq!(idx.pods_on_node["n1"].by_owner["u1"], 1);
        let orphan = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {}});
        idx.index_pod(&k, Some(&orphan));
        assert!(!idx.pods_by_owner.contains_key("u1"));
        assert!(idx.orphan_pods["ns"].contains("p"));
        assert!(idx.pods_on_node["n1"].pods.is_empty());
        assert_eq!(idx.pods_on_node["n1"].cpu_milli, 0);
        assert!(idx.pods_on_node["n1"].by_owner.is_empty());
        idx.index_pod(&k, None);
        assert!(!idx.orphan_pods.contains_key("ns"));
    }

    #[test]
    fn put_condition_keeps_transition_time() {
        let mut conds = vec![json!({"type": "A", "status": "True", "lastTransitionTime": "t0"})];
        put_condition(
            &mut conds,
            json!({"type": "A", "status": "True", "lastTransitionTime": "t1", "reason": "R"}),
        );
        assert_eq!(conds[0]["lastTransitionTime"], "t0");
        put_condition(
            &mut conds,
            json!({"type": "A", "status": "False", "lastTransitionTime": "t2"}),
        );
        assert_eq!(conds[0]["lastTransitionTime"], "t2");
    }
}
