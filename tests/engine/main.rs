//! The engine and the real binary without an interface: gates, retries, captures, failures and
//! resume in process; the binary headless, killed at any point and resumed, on a pseudo-terminal;
//! and secrets kept out of every output.
//!
//! One test binary for the area, a module per former test file.

#[path = "../common/mod.rs"]
mod common;

mod completions;
mod crash;
mod deadline;
mod engine;
mod follow;
mod headless;
mod headless_escapes;
mod history;
mod init;
mod journal_integrity;
mod kept_output;
mod long_lines;
mod notify;
mod redaction;
mod rehearsal;
mod resume_latest;
mod retry_resume;
mod secrets;
mod state_modes;
mod survivors;
mod terminal;
mod verify;
