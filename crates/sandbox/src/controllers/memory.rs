//! What the controllers remember between syncs, besides the store and the indexes: the deployment
//! controller's progress instants, the rollouts controller's pause and deadline instants, the job
//! controller's counted pods and failure back-off, and the
//! scheduler's parked pods and parsed nodes (the kubelet keeps its own, see
//! [`kubelet`](super::kubelet)). It lives apart from the controllers' code, which takes the
//! [`Manager`] that holds it.
//!
//! [`Manager`]: super::manager::Manager

use std::collections::{BTreeSet, HashMap, HashSet};

use tokio::time::Instant;

use super::node_fit::Allocatable;
use crate::object::Key;

/// What the deployment controller remembers: when it last saw each deployment progress, precisely.
#[derive(Default)]
pub struct DeploymentMemory {
    /// Deployment uid → (the Progressing condition's lastUpdateTime, the instant it was seen).
    pub(super) progress: HashMap<String, (String, Instant)>,
}

impl DeploymentMemory {
    pub fn forget(&mut self, uid: &str) {
        self.progress.remove(uid);
    }
}

/// What the rollouts controller remembers: the instants it recorded (a pause's start, a
/// scale-down deadline, the Progressing condition's update), finer than their timestamps.
#[derive(Default)]
pub struct RolloutMemory {
    /// Rollout uid → mark key → (the timestamp written, the instant it stands for).
    pub(super) marks: HashMap<String, HashMap<String, (String, Instant)>>,
}

impl RolloutMemory {
    pub fn forget(&mut self, uid: &str) {
        self.marks.remove(uid);
    }
}

/// What the job controller remembers of one job.
#[derive(Default)]
pub(super) struct JobRecord {
    /// Finished pods (uids) already counted.
    pub(super) counted: HashSet<String>,
    pub(super) failures_since_success: u32,
    pub(super) last_failure: Option<Instant>,
}

/// Per job: the pods already counted, the failure back-off and when it finished.
#[derive(Default)]
pub struct JobMemory {
    pub(super) jobs: HashMap<String, JobRecord>,
    pub(super) finished: HashMap<String, Instant>,
}

impl JobMemory {
    pub fn forget(&mut self, uid: &str) {
        self.jobs.remove(uid);
        self.finished.remove(uid);
    }
}

/// What the scheduler parses once per version of a node.
pub(super) struct NodeCache {
    pub(super) resource_version: String,
    pub(super) allocatable: Allocatable,
    pub(super) taints: Vec<(String, String, String)>,
}

/// Pods waiting for the cluster to change, and the nodes' parsed allocatable resources and taints.
#[derive(Default)]
pub struct SchedulerMemory {
    pub(super) parked: BTreeSet<Key>,
    pub(super) nodes: HashMap<String, NodeCache>,
}

impl SchedulerMemory {
    pub fn take_parked(&mut self) -> Vec<Key> {
        std::mem::take(&mut self.parked).into_iter().collect()
    }

    pub fn forget(&mut self, key: &Key) {
        self.parked.remove(key);
    }
}
