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
//!
//! # Files
//!
//! - the controllers: [`deployment`], [`replicaset`], [`job`], [`scheduler`], [`kubelet`],
//!   [`rollout`] (Argo Rollouts, once its CRD is applied: its logic is plain functions, and
//!   `rollout/controller.rs` reads and writes for it), and the [`events`] recorder;
//! - [`manager`]: the [`Manager`] (indexes, queues, timers, writes) and [`Work`];
//!   `driver.rs`: the loop (informers, timers, dispatch to each controller);
//! - what the controllers share: [`index`] (the informers' indexes), [`memory`] (what each
//!   controller remembers between syncs), [`owners`] (controller references, selectors),
//!   [`conditions`] (status conditions, pod checks), [`pod_requests`] and [`node_fit`] (requests
//!   and the scheduler's filters), [`fnv`] (the template hash).
//!
//! No file imports one that imports it back: the controllers use the manager and the shared
//! files, the manager holds the controllers' state (kept in files that do not use the manager),
//! and only `driver.rs` calls into the controllers.

pub mod conditions;
pub mod deployment;
mod driver;
pub mod events;
pub mod fnv;
pub mod index;
pub mod job;
pub mod kubelet;
pub mod manager;
pub mod memory;
pub mod node_events;
pub mod node_fit;
pub mod owners;
pub mod pod_requests;
pub mod replicaset;
pub mod rollout;
pub mod scheduler;

use std::sync::Arc;

use super::shared::Shared;

pub use driver::COALESCE;
pub use index::{Index, NodeUsage, Usage};
pub use manager::{Manager, Work};

/// Start the controllers on the current runtime.
pub fn spawn(shared: Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
    let manager = Manager::new(shared);
    vec![tokio::spawn(manager.run())]
}
