//! A rehearsal's journal is never the `run:` of a revert in a run that is not a rehearsal, nor
//! the other way round: the revert refuses with one line, and the two runs' cluster pins differ
//! anyway (the rehearsal's is its sandbox's server and identity).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use tollgate::engine::journal::{self, Record, Replay};
use tollgate::engine::{Outcome, RunStatus};

use crate::common::sandbox_cluster::{Cluster, Finished, rehearse_as, run_as, shop_fixture};

async fn shop() -> Cluster {
    let c = Cluster::start("prod-east", "shop").await;
    c.load(&shop_fixture(
        "shop",
        &[("api", 3, "registry.local/api:1.0")],
    ));
    c
}

async fn replicas(c: &Cluster) -> i32 {
    let client = c.target(None, None).checked_client().await.unwrap().0;
    let d = Api::<Deployment>::namespaced(client, "shop")
        .get("api")
        .await
        .unwrap();
    d.spec.unwrap().replicas.unwrap()
}

const DOWN: &str = r#"
name: stop traffic
targets:
  kube: { context: prod-east, namespace: shop }
phases:
  - id: p
    steps:
      - id: stop-traffic
        run:
          kube.scale: { deployment: api, replicas: 0 }
"#;

const BACK: &str = r#"
name: restore traffic
targets:
  kube: { context: prod-east, namespace: shop }
variables:
  deploy_run: { description: the run whose changes are put back }
phases:
  - id: restore
    steps:
      - id: scale-back
        run:
          kube.revert: { step: stop-traffic, run: "{{ deploy_run }}" }
"#;

fn run_started_rehearsal(fin: &Finished) -> bool {
    match fin.records.first() {
        Some(Record::RunStarted { rehearsal, .. }) => *rehearsal,
        other => panic!("the journal starts with {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsals_changes_are_never_reverted_on_a_real_target_nor_the_other_way_round() {
    let real = shop().await;
    let sandbox = shop().await;
    let dir = tempfile::tempdir().unwrap();

    // The rehearsal scales the sandbox's api down, and is journaled as a rehearsal.
    let rehearsed = rehearse_as(
        dir.path(),
        DOWN,
        sandbox.target(None, None),
        "run-rehearsal",
        &[],
        false,
    )
    .await;
    assert!(rehearsed.succeeded(), "{}", rehearsed.output);
    assert!(run_started_rehearsal(&rehearsed));
    assert!(rehearsed.journal.contains(r#""rehearsal":true"#));
    assert_eq!(replicas(&sandbox).await, 0);
    let jpath = journal::journal_path(&dir.path().join("state"), "run-rehearsal");
    let (lines, _) = journal::read_lines(&jpath).unwrap();
    assert!(Replay::from_lines(&lines).rehearsal);

    // A real run naming it refuses, in one line, and touches nothing.
    let back = run_as(
        dir.path(),
        BACK,
        real.target(None, None),
        "run-real-back",
        &[("deploy_run", "run-rehearsal")],
    )
    .await;
    assert!(!run_started_rehearsal(&back));
    assert!(
        !back.journal.contains(r#""rehearsal":"#),
        "{}",
        back.journal
    );
    assert_eq!(back.outcome, Outcome::Finished(RunStatus::Failed));
    assert_eq!(
        back.error_of("scale-back").as_deref(),
        Some(
            "run run-rehearsal was a rehearsal against stand-ins; its changes cannot be reverted on a real target"
        )
    );
    assert_eq!(replicas(&real).await, 3);
    assert_eq!(replicas(&sandbox).await, 0);

    // A real run's changes are not a rehearsal's to put back either.
    let deployed = run_as(dir.path(), DOWN, real.target(None, None), "run-real", &[]).await;
    assert!(deployed.succeeded(), "{}", deployed.output);
    assert_eq!(replicas(&real).await, 0);
    let rehearsed_back = rehearse_as(
        dir.path(),
        BACK,
        sandbox.target(None, None),
        "run-rehearsal-back",
        &[("deploy_run", "run-real")],
        false,
    )
    .await;
    assert_eq!(
        rehearsed_back.error_of("scale-back").as_deref(),
        Some(
            "run run-real was not a rehearsal; a rehearsal against stand-ins cannot revert its changes"
        )
    );
    assert_eq!(replicas(&real).await, 0);

    // Resumed without saying so, a rehearsal stays one: its journal says it was.
    let resumed = rehearse_as(
        dir.path(),
        BACK,
        sandbox.target(None, None),
        "run-rehearsal-back",
        &[("deploy_run", "run-real")],
        true,
    )
    .await;
    let again: Vec<_> = resumed
        .records
        .iter()
        .skip_while(|r| !matches!(r, Record::RunResumed { .. }))
        .filter_map(|r| match r {
            Record::StepFinished { step, error, .. } if step == "scale-back" => error.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        again,
        vec![
            "run run-real was not a rehearsal; a rehearsal against stand-ins cannot revert its changes"
        ],
        "{}",
        resumed.journal
    );
    assert_eq!(replicas(&real).await, 0);

    // Between two rehearsals (or two real runs) the revert goes through.
    let both = rehearse_as(
        dir.path(),
        BACK,
        sandbox.target(None, None),
        "run-rehearsal-back-2",
        &[("deploy_run", "run-rehearsal")],
        false,
    )
    .await;
    assert!(both.succeeded(), "{}", both.output);
    assert_eq!(replicas(&sandbox).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsals_cluster_pin_is_its_sandbox_not_the_real_cluster() {
    let real = shop().await;
    let sandbox = shop().await;
    let (real_client, real_pin) = real.target(None, None).checked_client().await.unwrap();
    let (sb_client, sb_pin) = sandbox.target(None, None).checked_client().await.unwrap();
    // Same context name, same namespace: only the server and the identity tell them apart.
    assert_eq!(real_pin.context, sb_pin.context);
    assert_eq!(sb_pin.server, sandbox.sb.url());
    assert_ne!(real_pin.server, sb_pin.server);
    let uid = |c: kube::Client| async move {
        Api::<Namespace>::all(c)
            .get("kube-system")
            .await
            .unwrap()
            .metadata
            .uid
            .unwrap()
    };
    assert_ne!(uid(real_client).await, uid(sb_client).await);
}
