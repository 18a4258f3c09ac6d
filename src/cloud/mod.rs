//! Cloud accounts a run talks to, pinned like the cluster is.

pub mod aws;
