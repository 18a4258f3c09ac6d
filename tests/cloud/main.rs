//! AWS and Docker: `aws.*`, `ecr.*` and `secrets.*` steps against moto, `docker.*` steps against a
//! private dockerd and registry, and the LabelMint image and secret-rotation runbooks end to end.
//!
//! One test binary for the area, a module per former test file. The Docker harness
//! (`common::docker::shared`) is started once for the whole binary and shared by its modules.

#[path = "../common/mod.rs"]
mod common;

mod aws_ecr;
mod aws_secrets;
mod docker_steps;
mod labelmint_images;
mod labelmint_rotation;
mod standin_aws;
mod standin_docker;
