//! Mint Replica Lite's runbooks (`runbooks/mint-replica-lite/`) rehearsed with the decisions files
//! kept next to them (`runbooks/mint-replica-lite/rehearsals/`), each by the binary, headless,
//! against its own stand-ins (the Rollout backend-api run by the sandbox's Argo Rollouts); and
//! `tollgate plan --rehearse`. A module per runbook, with LabelMint's helpers.

mod deploy_production_canary;
mod promote_staging_bluegreen;
mod rollback;

pub use crate::labelmint::{assert_says, rehearsed};
