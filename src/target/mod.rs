//! What a run is pinned to, checked again before every step that reaches it: the Kubernetes
//! cluster ([`cluster`]: context, API server, cluster identity) and the AWS account ([`account`]: account
//! and region).

pub mod account;
pub mod cluster;

pub use account::{AccountPin, PinnedAccount};
pub use cluster::{ClusterPin, PinnedCluster};
