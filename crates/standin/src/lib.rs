//! Stand-ins for what a rehearsal must not reach, served in process: an AWS endpoint on
//! 127.0.0.1 answering the calls tollgate and the `aws` CLI make (STS GetCallerIdentity, Secrets
//! Manager, ECR) as one pinned account and region ([`aws`]), and a Docker Engine API on a unix
//! socket ([`docker`]) whose pushes land in the AWS stand-in's ECR ([`ecr`]), so
//! `docker.push` → `ecr.describe_images` → `kube.set_image {digest}` holds in a rehearsal.
//!
//! Stands alone: imports nothing of tollgate.

pub mod aws;
pub mod docker;
pub mod ecr;

/// Who the stand-ins answer as: the runbook's pinned account and region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub region: String,
}

impl Identity {
    /// The ECR registry host of the account: `ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    pub fn registry_host(&self) -> String {
        format!("{}.dkr.ecr.{}.amazonaws.com", self.account, self.region)
    }
}
