//! `tollgate plan --rehearse` of LabelMint's runbooks: every step listed as real against the
//! stand-ins, replaced or skipped, and a coverage line that adds them up.

use std::time::Duration;

use crate::common::rehearse::{root, tollgate};

/// Plans `runbook` for a rehearsal: (real, replaced, skipped) as counted from each step's
/// `REHEARSAL:` line, checked against the coverage line.
pub(crate) fn plan(runbook: &str) -> (usize, usize, usize) {
    let r = tollgate(&["plan", "--rehearse", runbook], Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "{}", r.printed());
    let loaded = tollgate::runbook::load(&root().join(runbook)).unwrap();
    let lines: Vec<&str> = r.stdout.lines().collect();
    let (mut real, mut replaced, mut skipped) = (0, 0, 0);
    for phase in &loaded.runbook.phases {
        for step in phase.steps.iter().chain(phase.validation.iter()) {
            let id = step.id.value.as_str();
            let at = lines
                .iter()
                .position(|l| l.trim_start().starts_with(&format!("step {id} — ")))
                .unwrap_or_else(|| panic!("{runbook}: {id} is not listed:\n{}", r.stdout));
            // The step's line, maybe its `when`, then how it rehearses.
            let how = lines[at + 1..]
                .iter()
                .take(2)
                .find_map(|l| l.trim_start().strip_prefix("REHEARSAL: "))
                .unwrap_or_else(|| panic!("{runbook}: {id} says nothing of its rehearsal"));
            if how == "real, against the stand-ins" {
                real += 1;
            } else if how.starts_with("replaced by ") {
                replaced += 1;
            } else if how.starts_with("skipped: ") {
                skipped += 1;
            } else {
                panic!("{runbook}: {id}: {how}");
            }
        }
    }
    let coverage = format!(
        "rehearsal coverage: {real} real against the stand-ins, {replaced} replaced, {skipped} skipped"
    );
    assert!(
        lines.contains(&coverage.as_str()),
        "{runbook}: no line {coverage:?}:\n{}",
        r.stdout
    );
    (real, replaced, skipped)
}

#[test]
fn plan_rehearse_lists_every_step_of_labelmints_runbooks_and_their_coverage() {
    // The first deploy: terraform's node group, helm's add-ons (with cert-manager's CRDs), the
    // endpoints AWS would give, RBAC and NetworkPolicies (served by CRDs in the sandbox), the
    // Certificates cert-manager makes and the database restore stand in; DNS, TON, public URLs
    // and port-forwards are skipped. Its health checks are http.check. The ExternalSecrets are
    // applied, synced and waited on for real (the rehearsal's External Secrets).
    assert_eq!(plan("runbooks/labelmint/first-deploy.yaml"), (54, 21, 17));
    // The rotation: every External Secrets sync (force-sync, refresh, Ready) and the digest check
    // of app-secrets run for real; toncenter.com, Telegram, RDS and psql stand in or are skipped.
    assert_eq!(plan("runbooks/labelmint/rotate-secrets.yaml"), (61, 8, 3));
    // The rollback: the revert of a named run's journal stands in (a rehearsal has no other
    // run), the revert of the deploy it was followed from does not (a followed rehearsal runs in
    // that deploy's sandbox and state); the health checks run for real through the sandbox's
    // Service traffic.
    assert_eq!(
        plan("runbooks/labelmint/rollback-application.yaml"),
        (19, 2, 0)
    );
}
