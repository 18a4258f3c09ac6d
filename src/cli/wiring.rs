//! What a run is wired to, read from its runbook: the cluster and AWS account it pins, the
//! namespaces its kube steps touch, the executor of its steps, and the ids `--skip` may name.

use std::sync::Arc;

use super::args::GateFlags;
use crate::engine::journal::Replay;
use crate::exec::Router;
use crate::exec::aws::AwsExec;
use crate::exec::kube::KubeExec;
use crate::protocol::StepStatus;
use crate::runbook::kube::KubeAction;
use crate::runbook::{self, Runbook};
use crate::target::{PinnedAccount, PinnedCluster};

/// The run's cluster, when the runbook has anything to do with one (a kube target, a kube step,
/// or `--context`); pinned at its first use.
pub fn pin_cluster(runbook: &Runbook, context: Option<&str>) -> Option<Arc<PinnedCluster>> {
    let wanted = context.is_some() || runbook.targets.kube.is_some() || uses_kube(runbook);
    let runbook_ctx = runbook.targets.kube.as_ref().map(|k| k.context.as_str());
    wanted.then(|| Arc::new(PinnedCluster::new(context, runbook_ctx)))
}

/// The run's AWS account, when the runbook has anything to do with one (`targets.aws` or a
/// `secrets.*`, `ecr.*` or `aws.identity` step); pinned at the first AWS step, through the standard credential chain.
pub fn pin_aws(runbook: &Runbook) -> Option<Arc<PinnedAccount>> {
    let wanted = runbook.targets.aws.is_some() || uses_aws(runbook);
    wanted.then(|| Arc::new(PinnedAccount::new(runbook.targets.aws.as_ref())))
}

/// The namespace of kube steps that name none, and every namespace the runbook's kube steps
/// touch (the pods pane watches them).
pub fn namespaces_of(runbook: &Runbook) -> (String, Vec<String>) {
    let default = runbook
        .targets
        .kube
        .as_ref()
        .and_then(|k| k.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let mut all = vec![default.clone()];
    fn steps(s: &[runbook::Spanned<runbook::Step>], out: &mut Vec<String>) {
        for s in s {
            for r in [&s.run, &s.undo].into_iter().flatten() {
                if let Some(ns) = r
                    .kube()
                    .as_ref()
                    .and_then(|a| a.namespace().map(str::to_string))
                    && !ns.contains("{{")
                    && !out.contains(&ns)
                {
                    out.push(ns);
                }
            }
            if let Some(f) = &s.on_failure {
                steps(&f.steps, out);
            }
        }
    }
    for p in &runbook.phases {
        steps(&p.steps, &mut all);
        steps(&p.validation, &mut all);
    }
    (default, all)
}

/// The runbook's first kube step that names a deployment or job (in phase order, skipping
/// rollback phases).
pub(super) fn first_kube_target(runbook: &Runbook) -> Option<KubeAction> {
    runbook
        .phases
        .iter()
        .filter(|p| !p.rollback)
        .flat_map(|p| p.steps.iter().chain(&p.validation))
        .filter_map(|s| s.run.as_ref().and_then(|r| r.kube()))
        .find(|a| a.deployment().is_some())
        .cloned()
}

/// The executor of a run: shell steps, kube steps against the pinned cluster, AWS steps against
/// the pinned account, and docker steps against the local daemon.
pub fn executor(cluster: &Option<Arc<PinnedCluster>>, aws: &Option<Arc<PinnedAccount>>) -> Router {
    let mut r = Router::shell_only();
    if let Some(t) = cluster {
        r.kube = Some(Arc::new(KubeExec { target: t.clone() }));
    }
    if let Some(t) = aws {
        r.aws = Some(Arc::new(AwsExec { target: t.clone() }));
    }
    // The daemon is reached at the first docker step, if there is one.
    r.docker = Some(Arc::new(crate::exec::docker::DockerExec::default()));
    r
}

/// Every `--skip` names a phase or a step (of a phase, or its validation) of the runbook.
/// Every id the flags name is one the runbook has, and one the flag can act on: `--skip` and
/// `--approve` a phase or step; `--rerun` a step that was interrupted or failed in the run being
/// resumed, `--mark-done` one that was interrupted (neither means anything to a new run). A typo
/// is refused before anything starts, with the nearest id.
pub(super) fn check_ids(
    runbook: &Runbook,
    gates: &GateFlags,
    replay: Option<&Replay>,
) -> Result<(), String> {
    let phases: Vec<&str> = runbook.phases.iter().map(|p| p.id.as_str()).collect();
    let steps: Vec<&str> = runbook
        .phases
        .iter()
        .flat_map(|p| p.steps.iter().chain(&p.validation))
        .map(|s| s.id.as_str())
        .collect();
    let known = |id: &str| phases.contains(&id) || steps.contains(&id);
    let near = |id: &str| {
        phases
            .iter()
            .chain(&steps)
            .map(|k| (crate::text::edit_distance(id, k), *k))
            .filter(|(d, k)| *d > 0 && *d <= 2.max(k.len() / 4))
            .min_by_key(|(d, _)| *d)
            .map_or_else(String::new, |(_, k)| format!(" (did you mean `{k}`?)"))
    };
    let approves = gates
        .approve
        .iter()
        .map(|a| a.split_once('=').map_or(a.as_str(), |(id, _)| id));
    for (flag, id) in gates
        .skip
        .iter()
        .map(|i| ("--skip", i.as_str()))
        .chain(approves.map(|i| ("--approve", i)))
    {
        if !known(id) {
            return Err(format!(
                "{flag} {id}: the runbook has no phase or step `{id}`{}",
                near(id)
            ));
        }
    }
    for (flag, id, can) in gates
        .rerun
        .iter()
        .map(|i| ("--rerun", i.as_str(), "interrupted or failed"))
        .chain(
            gates
                .mark_done
                .iter()
                .map(|i| ("--mark-done", i.as_str(), "interrupted")),
        )
    {
        if !steps.contains(&id) {
            return Err(format!(
                "{flag} {id}: the runbook has no step `{id}`{}",
                near(id)
            ));
        }
        let status = replay.and_then(|r| r.steps.get(id).copied());
        let fits = matches!(
            (flag, status),
            (
                "--rerun",
                Some(StepStatus::Interrupted | StepStatus::Failed)
            ) | ("--mark-done", Some(StepStatus::Interrupted))
        );
        if !fits {
            let was = match status {
                None if replay.is_none() => "this is a new run".to_string(),
                None => "it has not run".to_string(),
                Some(s) => format!("it {}", s.word()),
            };
            return Err(format!(
                "{flag} {id}: only a step that was {can} can be given; {was}"
            ));
        }
    }
    Ok(())
}

fn uses_kube(runbook: &Runbook) -> bool {
    any_run(runbook, &|r| r.kube().is_some())
}

fn uses_aws(runbook: &Runbook) -> bool {
    any_run(runbook, &|r| r.aws().is_some())
}

/// Whether any step's `run` or `undo`, anywhere in the runbook (failure paths included), is `is`.
fn any_run(runbook: &Runbook, is: &dyn Fn(&runbook::Run) -> bool) -> bool {
    fn steps(s: &[runbook::Spanned<runbook::Step>], is: &dyn Fn(&runbook::Run) -> bool) -> bool {
        s.iter().any(|s| {
            [&s.run, &s.undo].into_iter().flatten().any(|r| is(r))
                || s.on_failure.as_ref().is_some_and(|f| steps(&f.steps, is))
        })
    }
    runbook.phases.iter().any(|p| {
        steps(&p.steps, is)
            || steps(&p.validation, is)
            || p.on_failure.as_ref().is_some_and(|f| steps(&f.steps, is))
    }) || runbook
        .on_failure
        .as_ref()
        .is_some_and(|f| steps(&f.steps, is))
}
