//! What a run is pinned to, checked again before every step that reaches it: the Kubernetes
//! cluster ([`kube`]: context, API server, cluster identity) and the AWS account ([`aws`]: account
//! and region).

pub mod aws;
pub mod kube;

pub use aws::{AccountPin, PinnedAccount};
pub use kube::{ClusterPin, PinnedCluster};
