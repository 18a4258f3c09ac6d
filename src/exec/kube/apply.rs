//! `kube.apply`: server-side apply of manifest files, directories or a kustomize overlay.

use super::{ActionResult, Ctx, Failure};
use crate::runbook::kube::Apply;

pub async fn apply(cx: &mut Ctx<'_>, a: &Apply) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error("kube.apply is not implemented yet".into()))
}
