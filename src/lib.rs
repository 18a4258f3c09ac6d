//! tollgate: run deployment and incident runbooks in the terminal, with a gate before anything
//! that changes the world and a journal that makes every run resumable.

pub mod catalog;
pub mod cli;
pub mod engine;
pub mod exec;
pub mod headless;
pub mod live;
pub mod logging;
pub mod notify;
pub mod protocol;
pub mod record;
pub mod rehearsal;
pub mod report;
pub mod runbook;
pub mod share;
pub mod target;
pub mod text;
pub mod ui;
