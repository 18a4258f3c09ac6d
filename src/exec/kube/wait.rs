//! `kube.wait`: a condition on resources, watched until it holds or the step times out.

use super::{ActionResult, Ctx, Failure};
use crate::runbook::kube::Wait;

pub async fn wait(cx: &mut Ctx<'_>, a: &Wait) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error("kube.wait is not implemented yet".into()))
}
