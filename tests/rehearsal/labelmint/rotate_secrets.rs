//! `runbooks/labelmint/rotate-secrets.yaml` rehearsed: every family rotated, and the JWT/session
//! rotation failing into its rollback (the previous versions made current again).

use super::rehearsed;

const RUNBOOK: &str = "runbooks/labelmint/rotate-secrets.yaml";

#[test]
fn every_secret_family_rotates_in_a_rehearsal() {
    rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rotate-secrets-happy.yaml",
        &[],
    );
}

#[test]
fn a_failed_restart_after_the_jwt_rotation_puts_the_previous_versions_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rotate-secrets-rollback.yaml",
        &["--inject", "step=api-gateway-rolled-out:fail"],
    );
    // The rollback moved AWSCURRENT back through the aws CLI, against the AWS stand-in.
    for s in ["jwt-secret", "session-secret"] {
        assert!(
            r.stdout.contains(&format!(
                "labelmint/production/{s}: AWSCURRENT moved back to"
            )),
            "{s}:\n{}",
            r.printed()
        );
    }
}
