//! The cluster as tollgate sees it through kube-rs: pod log tails.

pub mod logs;
