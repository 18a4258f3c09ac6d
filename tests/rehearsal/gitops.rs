//! GitOps rehearsed (`tests/fixtures/rehearsal/gitops/`): the runbook's `rehearsal.repos` serves
//! the deploy repository's history under its remote URL, the sandbox's Argo CD deploys from it,
//! and the runbook's own `git` clones it by that URL, reverts the bad release and pushes; Argo
//! CD syncs to the revert and the users see no error. Any other remote is refused.

use crate::labelmint::{assert_says, rehearsed};

const DIR: &str = "tests/fixtures/rehearsal/gitops";

#[test]
fn a_release_is_reverted_in_the_served_repository_and_argo_cd_syncs_to_the_revert() {
    let r = rehearsed(
        &format!("{DIR}/rollback.yaml"),
        &format!("{DIR}/rollback-happy.yaml"),
        &[],
    );
    // The history made from the folders, with the same shas every time (fixed dates).
    assert_says(
        &r,
        "REHEARSAL synced | application/web: sync Synced · health Healthy · revision b8e3255",
    );
    // HEAD's release answers 500 to every request.
    assert_says(&r, "users-before ! 20 requests, errors 100.0 %");
    // The runbook's git reached the served repository by its remote URL.
    assert_says(&r, "git-revert | commit b8e3255 2-v2");
    assert_says(&r, "git-revert | commit e5105a2 1-v1");
    let revert = r
        .stdout
        .lines()
        .find_map(|l| l.split("git-revert | commit ").nth(1))
        .filter(|l| l.ends_with("Revert \"2-v2\""))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the revert's commit\n{}", r.printed()))
        .to_string();
    // Argo CD synced to that commit, and the users see the old release.
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("sync | application/web synced to ") && l.contains(&revert)),
        "{}",
        r.printed()
    );
    assert_says(&r, "users-after ! 40 requests, errors 0.0 %");
    assert_says(&r, "elsewhere | fatal: transport 'https' not allowed");
}

#[test]
fn plan_names_the_repository_a_rehearsal_serves() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["plan", "--rehearse", &format!("{DIR}/rollback.yaml")])
        .current_dir(crate::common::rehearse::root())
        .output()
        .expect("tollgate runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("git repository https://git.shop.example.com/shop/deploy.git served with 2 commits on main"),
        "{stdout}"
    );
}
