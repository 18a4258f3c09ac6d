//! `kube.get`: read resources; output as JSON or through a JSONPath template.

use super::{ActionResult, Ctx, Failure};
use crate::runbook::kube::Get;

pub async fn get(cx: &mut Ctx<'_>, a: &Get) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error("kube.get is not implemented yet".into()))
}
