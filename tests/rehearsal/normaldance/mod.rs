//! NORMALDANCE's runbooks (`runbooks/normaldance/`) rehearsed with the decisions files kept next
//! to them (`runbooks/normaldance/rehearsals/`), each by the binary, headless, against its own
//! stand-ins: the sandbox's Argo CD deploying the seed's Application from the rehearsal's copy of
//! the deploy repository (`rehearsal: {repos: …}`, a Helm chart), its Argo Rollouts running the
//! canary and the blue/green; and `tollgate plan --rehearse`. A module per runbook, with
//! LabelMint's helpers.

mod blue_green_switch;
mod canary_rollout;
mod db_failover;
mod manual_rollback;

pub use crate::labelmint::{assert_says, rehearsed};

use crate::common::rehearse::Rehearsed;

/// The first line of stdout that holds every one of `parts`, or a failure showing the output.
#[track_caller]
pub fn line_with<'a>(r: &'a Rehearsed, parts: &[&str]) -> &'a str {
    r.stdout
        .lines()
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no line with {parts:?} in:\n{}", r.printed()))
}

/// The value a step printed as `KEY=VALUE` (e.g. `revision=<sha>`), up to the next space.
#[track_caller]
pub fn printed_value(r: &Rehearsed, step: &str, key: &str) -> String {
    let prefix = format!(" REHEARSAL {step} | ");
    let wanted = format!("{key}=");
    r.stdout
        .lines()
        .filter(|l| l.contains(&prefix))
        .find_map(|l| {
            let at = l.find(&wanted)?;
            Some(
                l[at + wanted.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .unwrap_or_else(|| panic!("{step} printed no {key}= in:\n{}", r.printed()))
}
