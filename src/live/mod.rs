//! Live watches of the cluster that feed the pods and logs panes: pods ([`pods`]), logs followed
//! through a rollout ([`logs`]), and the [`link`] that runs them for a view and sends back only
//! messages. Nothing here draws.

pub mod link;
pub mod logs;
pub mod pods;

pub use link::{ClusterMsg, Link, Request};
