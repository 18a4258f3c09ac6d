//! `runbooks/labelmint/rotate-secrets.yaml` rehearsed: every family rotated, and the JWT/session
//! rotation failing into its rollback (the previous versions made current again). External
//! Secrets is the rehearsal's: after each rotation it copies the new values into app-secrets, and
//! the runbook's `app-secrets-current*` step compares each key with AWSCURRENT by digest.

use super::rehearsed;

const RUNBOOK: &str = "runbooks/labelmint/rotate-secrets.yaml";

#[test]
fn every_secret_family_rotates_in_a_rehearsal() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rotate-secrets-happy.yaml",
        &[],
    );
    // After the last restarts, the Secret the pods read holds every rotated value.
    assert_app_secrets_current(&r, "app-secrets-current");
}

#[test]
fn a_failed_restart_after_the_jwt_rotation_puts_the_previous_versions_back() {
    let r = rehearsed(
        RUNBOOK,
        "runbooks/labelmint/rehearsals/rotate-secrets-rollback.yaml",
        &["--inject", "step=api-gateway-rolled-out:fail"],
    );
    // External Secrets copied the previous values back before the restarts.
    assert_app_secrets_current(&r, "app-secrets-current-restored");
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

/// The step `step` found each of app-secrets' ten keys the same as the AWSCURRENT of the secret
/// its ExternalSecret names (compared by digest in the step; no value is printed).
#[track_caller]
fn assert_app_secrets_current(r: &crate::common::rehearse::Rehearsed, step: &str) {
    for (key, id) in [
        ("DATABASE_URL", "database-url"),
        ("REDIS_URL", "redis-url"),
        ("JWT_SECRET", "jwt-secret"),
        ("SESSION_SECRET", "session-secret"),
        ("TELEGRAM_CLIENT_BOT_TOKEN", "telegram-client-bot-token"),
        ("TELEGRAM_WORKER_BOT_TOKEN", "telegram-worker-bot-token"),
        ("TON_PRIVATE_KEY", "ton-private-key"),
        ("TON_CONTRACT_ADDRESS", "ton-contract-address"),
        ("USDT_CONTRACT_ADDRESS", "usdt-contract-address"),
        ("TON_API_KEY", "ton-api-key"),
    ] {
        let line = format!("{step} | app-secrets {key}: same as labelmint/production/{id}");
        assert!(r.stdout.contains(&line), "no {line:?}:\n{}", r.printed());
    }
    // (The script's own text, shown as the step starts, has the word too.)
    let differs = format!("{step} | app-secrets ");
    assert!(
        !r.printed()
            .lines()
            .any(|l| l.contains(&differs) && l.contains(": differs from")),
        "{}",
        r.printed()
    );
}
