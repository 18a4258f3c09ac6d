//! Deployment rollouts: `kube.rollout_status`, `kube.rollout_undo`, `kube.set_image`, `kube.restart`.

use super::{ActionResult, Ctx, Failure};
use crate::runbook::kube::{Restart, RolloutStatus, RolloutUndo, SetImage};

pub async fn status(cx: &mut Ctx<'_>, a: &RolloutStatus) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error(
        "kube.rollout_status is not implemented yet".into(),
    ))
}

pub async fn undo(cx: &mut Ctx<'_>, a: &RolloutUndo) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error(
        "kube.rollout_undo is not implemented yet".into(),
    ))
}

pub async fn set_image(cx: &mut Ctx<'_>, a: &SetImage) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error(
        "kube.set_image is not implemented yet".into(),
    ))
}

pub async fn restart(cx: &mut Ctx<'_>, a: &Restart) -> ActionResult {
    let _ = (cx, a);
    Err(Failure::Error("kube.restart is not implemented yet".into()))
}
