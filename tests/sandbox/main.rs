//! The sandbox cluster itself: its API and controllers as kube-rs sees them, `tollgate sandbox`
//! as an operator starts it, and the cluster fixtures shipped with the runbooks.
//!
//! One test binary for the area, a module per former test file.

#[path = "../common/mod.rs"]
mod common;

mod kubectl;
mod kubectl_crd;
mod kubectl_openapi;
mod kubectl_tables;
mod kubectl_verbs;
mod sandbox_api;
mod sandbox_cli;
mod sandbox_controllers;
mod sandbox_crd;
mod sandbox_faults;
mod sandbox_fixtures;
mod sandbox_pod_security;
mod sandbox_rollouts;
mod sandbox_traffic;
