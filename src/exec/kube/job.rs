//! `kube.job`: run a Job in the cluster, stream its logs, wait, report, clean up.

use super::{ActionResult, Ctx, Failure};
use crate::runbook::kube::KubeJob;

pub async fn job(cx: &mut Ctx<'_>, a: &KubeJob) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error("kube.job is not implemented yet".into()))
}
