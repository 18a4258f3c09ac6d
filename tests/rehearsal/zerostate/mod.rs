//! ZeroState's runbooks (`runbooks/zerostate/`) rehearsed with the decisions files kept next to
//! them (`runbooks/zerostate/rehearsals/`), each by the binary, headless, against its own
//! stand-ins; and `tollgate plan --rehearse`. A module per runbook, with LabelMint's helpers.

mod backup_restore_drill;
mod deploy;
mod rollback;
mod troubleshoot;

pub use crate::labelmint::{assert_says, rehearsed};
