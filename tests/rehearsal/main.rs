//! `tollgate rehearse`: runbooks run end to end against the stand-ins started in process (the
//! Kubernetes sandbox, the AWS and Docker stand-ins), touching nothing real; the seeds' runbooks
//! rehearsed with their decisions files.
//!
//! One test binary for the area, a module per subject.

#[path = "../common/mod.rs"]
mod common;

mod command;
mod demo;
mod docker;
mod external_secrets;
mod faults;
mod follow;
mod gitops;
mod http;
mod labelmint;
mod mint_replica_lite;
mod normaldance;
mod progressive;
mod report;
mod seeds;
mod zerostate;
