//! tollgate: run deployment and incident runbooks in the terminal, with a gate before anything
//! that changes the world and a journal that makes every run resumable.

pub mod cli;
pub mod cloud;
pub mod cluster;
pub mod engine;
pub mod exec;
pub mod headless;
pub mod kubectl;
pub mod logging;
pub mod runbook;
pub mod sandbox;
pub mod theme;
pub mod ui;
