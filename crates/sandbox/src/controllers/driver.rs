//! The one task that drives the controllers (see the module docs of `controllers`): informers
//! read the store's changes into the indexes and queue the keys they concern, timers fire, and
//! the queue drains into each controller's sync.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::conditions::is_terminal;
use super::index::Index;
use super::manager::{Manager, Work};
use super::owners::{controller_ref, selector_matches};
use super::{deployment, job, kubelet, replicaset, rollout, scheduler};
use crate::object::{Key, PointerLookup, key_of, labels_of, str_at, uid_of};
use crate::resources::by_kind;
use crate::store::{Change, EventType};

/// How long the task waits after a change before it reads changes, so bursts coalesce.
pub const COALESCE: Duration = Duration::from_millis(4);

/// Changes read per call to the store.
const BATCH: usize = 4096;

/// The kinds the controllers watch, in the order their changes are read.
const KINDS: [&str; 5] = ["Node", "Deployment", "ReplicaSet", "Job", "Pod"];

/// The cursors of the Rollouts' changes and of the Services' (read once Rollouts are served).
const ROLLOUT: &str = "Rollout";
const SERVICE: &str = "Service";

impl Manager {
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

    fn drain(&mut self) {
        let mut batch: Vec<Work> = self.queue.drain(..).collect();
        self.queued.clear();
        // Deployments last: a replica set acts on the spec its deployment gave it (creating or deleting
        // pods, updating its status) before the deployment looks at it again, so that the deployment
        // never counts pods a scale-down already took away.
        // Rollouts likewise.
        batch.sort_by_key(|w| matches!(w, Work::Deployment(_) | Work::Rollout(_)));
        for w in batch {
            self.process(w);
        }
    }

    fn process(&mut self, w: Work) {
        match w {
            Work::Deployment((ns, name)) => deployment::sync(self, &ns, &name),
            Work::ReplicaSet((ns, name)) => replicaset::sync(self, &ns, &name),
            Work::Job((ns, name)) => job::sync(self, &ns, &name),
            Work::Rollout((ns, name)) => rollout::controller::sync(self, &ns, &name),
            Work::Schedule((ns, name)) => scheduler::sync(self, &ns, &name),
            Work::Pod((ns, name)) => kubelet::sync(self, &ns, &name),
            Work::Logs((ns, name)) => kubelet::log_tick(self, &ns, &name),
        }
    }

    /// List everything, rebuild the indexes and queue every object: at start and after a lost cursor.
    pub fn resync_all(&mut self) {
        let known_nodes = std::mem::take(&mut self.index.nodes);
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
                        if !known_nodes.contains_key(&key.1) {
                            super::node_events::joined(&mut self.events, &store, &it);
                        }
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
        self.cursors.remove(ROLLOUT);
        self.cursors.remove(SERVICE);
        self.index.rollouts_by_ns.clear();
        self.list_rollouts();
    }

    /// Once the Rollout type is served: list the Rollouts (and start reading Services' changes).
    fn list_rollouts(&mut self) {
        let store = self.shared.store.clone();
        let Some(rt) = rollout::controller::rollout_type(&store) else {
            return;
        };
        let (items, rv) = store.list(rt, None, &|_| true);
        self.cursors.insert(ROLLOUT, rv);
        let (_, svc_rv) = store.list(by_kind("Service"), None, &|_| false);
        self.cursors.insert(SERVICE, svc_rv);
        for it in items {
            let key = key_of(&it);
            Index::index_named(&mut self.index.rollouts_by_ns, &key, true);
            self.enqueue(Work::Rollout(key));
        }
    }

    /// Rollouts' changes (every one, status too: Argo's informer requeues on each) and
    /// Services' (a Rollout may be waiting for one).
    fn ingest_rollouts(&mut self) {
        let store = self.shared.store.clone();
        let Some(rt) = rollout::controller::rollout_type(&store) else {
            return;
        };
        if !self.cursors.contains_key(ROLLOUT) {
            self.list_rollouts();
            return;
        }
        for (kind, rt) in [(ROLLOUT, rt), (SERVICE, by_kind("Service"))] {
            loop {
                let cursor = self.cursors.get(kind).copied().unwrap_or(0);
                match store.changes_since(rt, None, cursor, BATCH) {
                    Err(_) => {
                        self.resync_all();
                        return;
                    }
                    Ok((changes, upto)) => {
                        for c in &changes {
                            let key = key_of(c.object());
                            let deleted = c.event == EventType::Deleted;
                            if kind == ROLLOUT {
                                Index::index_named(&mut self.index.rollouts_by_ns, &key, !deleted);
                                if deleted {
                                    self.rollouts.forget(uid_of(c.object()));
                                } else {
                                    self.enqueue(Work::Rollout(key));
                                }
                            } else {
                                let names: Vec<String> = self
                                    .index
                                    .rollouts_by_ns
                                    .get(&key.0)
                                    .map(|s| s.iter().cloned().collect())
                                    .unwrap_or_default();
                                for n in names {
                                    self.enqueue(Work::Rollout((key.0.clone(), n)));
                                }
                            }
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
        self.ingest_rollouts();
    }

    fn on_change(&mut self, c: &Change) {
        let key = key_of(c.object());
        let deleted = c.event == EventType::Deleted;
        match c.resource.kind {
            "Node" => {
                if deleted {
                    self.index.nodes.remove(&key.1);
                } else if self
                    .index
                    .nodes
                    .insert(key.1.clone(), c.object().clone())
                    .is_none()
                {
                    let store = self.shared.store.clone();
                    super::node_events::joined(&mut self.events, &store, c.object());
                }
                self.scheduler_wake();
            }
            "Deployment" => {
                Index::index_named(&mut self.index.deploys_by_ns, &key, !deleted);
                if deleted {
                    self.deployments.forget(uid_of(c.object()));
                } else if !status_only(c) {
                    self.scan_orphans.insert(("Deployment", key.clone()));
                    self.enqueue(Work::Deployment(key));
                }
            }
            "Job" => {
                Index::index_named(&mut self.index.jobs_by_ns, &key, !deleted);
                if deleted {
                    self.jobs.forget(uid_of(c.object()));
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
        self.index
            .index_rs(&key, (!deleted).then_some(&**c.object()));
        // The replica set acts on its new spec before its deployment looks at it again.
        if !deleted && !status_only(c) {
            self.scan_orphans.insert(("ReplicaSet", key.clone()));
            self.enqueue(Work::ReplicaSet(key.clone()));
        }
        let mut owners = Vec::new();
        for obj in [Some(&**c.object()), c.old().map(|o| &**o)]
            .into_iter()
            .flatten()
        {
            if let Some(r) = controller_ref(obj) {
                let owner = (key.0.clone(), str_at(r, "/name").to_string());
                match str_at(r, "/kind") {
                    "Deployment" => owners.push(Work::Deployment(owner)),
                    "Rollout" => owners.push(Work::Rollout(owner)),
                    _ => {}
                }
            }
        }
        for o in owners {
            self.enqueue(o);
        }
        if !deleted && controller_ref(c.object()).is_none() {
            // An orphan: the deployments whose selector matches may adopt it.
            let labels = labels_of(c.object());
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
        let obj = c.object();
        let old = c.old().map(|o| &**o);
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
    let Some(old) = c.old().map(|o| &**o) else {
        return false;
    };
    c.event == EventType::Modified
        && old.get("spec") == c.object().get("spec")
        && strip_meta(old) == strip_meta(c.object())
}
