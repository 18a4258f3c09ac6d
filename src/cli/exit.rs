//! Exit codes, as documented in the README.

pub const OK: i32 = 0;
/// `check`: problems found. `run`/`resume`: a step failed (a rollback may have run).
pub const FAILED: i32 = 1;
/// Bad usage, an unreadable file, or a runbook with errors.
pub const USAGE: i32 = 2;
/// Stopped at a gate no one could decide; the run is resumable.
pub const PAUSED: i32 = 3;
/// Rejected at a gate or aborted by the operator; the run is resumable.
pub const ABORTED: i32 = 4;
/// The journal could not be written or read, the run is not found, or it is in use.
pub const STATE: i32 = 5;
/// `verify`: the run's journal or the audit log is not as tollgate wrote it (a record edited,
/// removed, reordered or added; the hash chain broken or missing; the two disagreeing). The one
/// line printed names the file, the line and what is wrong.
pub const TAMPERED: i32 = 6;
/// `rehearse`: the run did not do what its decisions file's `expect` says (each point unmet is
/// one line on stderr).
pub const EXPECTATION: i32 = 7;
