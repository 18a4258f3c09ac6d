//! `tollgate plan --rehearse` of LabelMint's runbooks: every step listed as real against the
//! stand-ins, replaced or skipped, and the coverage line.

use std::time::Duration;

use crate::common::rehearse::{root, tollgate};

#[test]
fn plan_rehearse_lists_every_step_of_the_first_deploy_and_its_coverage() {
    let runbook = "runbooks/labelmint/first-deploy.yaml";
    let r = tollgate(&["plan", "--rehearse", runbook], Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "{}", r.printed());
    let loaded = tollgate::runbook::load(&root().join(runbook)).unwrap();
    for phase in &loaded.runbook.phases {
        for step in phase.steps.iter().chain(phase.validation.iter()) {
            let id = step.id.value.as_str();
            let line = r
                .stdout
                .lines()
                .find(|l| l.contains(id))
                .unwrap_or_else(|| panic!("{id} is not listed:\n{}", r.printed()));
            assert!(
                line.contains("real") || line.contains("replaced") || line.contains("skipped"),
                "{id}: {line}"
            );
        }
    }
    assert!(r.stdout.contains("coverage"), "{}", r.printed());
}
