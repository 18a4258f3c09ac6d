//! Kubernetes: kube steps and target pinning against tollgate's sandbox (in process and through
//! the binary), log tails, kube-rs conformance against the sandbox and kmock, and the LabelMint
//! deploy rehearsed.
//!
//! One test binary for the area, a module per former test file.

#[path = "../common/mod.rs"]
mod common;

mod argo_steps;
mod argocd_steps;
mod hostile;
mod http_check;
mod job_pod_security;
mod kube_cli;
mod kube_compat;
mod kube_steps_cluster;
mod kube_steps_deploy;
mod kube_target;
mod labelmint_rehearsal;
mod logs_tail;
mod progressive_steps;
mod rehearsal_revert;
mod revert_run;
