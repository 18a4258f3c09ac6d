//! `kube.scale`: one deployment or every deployment of a namespace; the counts it replaced are journaled.

use super::{ActionResult, Ctx, Failure};
use crate::runbook::kube::Scale;

pub async fn scale(cx: &mut Ctx<'_>, a: &Scale) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error("kube.scale is not implemented yet".into()))
}
