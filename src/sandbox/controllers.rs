// TEMPORARY STUB (to be replaced entirely by the real module).
use std::sync::Arc;
use super::Ctx;
pub fn spawn(_ctx: Arc<Ctx>) -> Vec<tokio::task::JoinHandle<()>> { Vec::new() }
