//! Target pinning: kube steps run only against the cluster the run was pinned to.

use tollgate::engine::{Outcome, RunStatus};
use tollgate::target::cluster::{ClusterError, PinnedCluster, Source};

use crate::common;
use crate::common::sandbox_cluster::{Cluster, run_in};

const GET_NS: &str = r#"
name: pinned
targets:
  kube: { context: prod-east, namespace: default }
phases:
  - id: look
    steps:
      - id: first
        run:
          kube.get: { resource: namespace/kube-system, jsonpath: "{.metadata.name}" }
      - id: switch
        run: "cp other.kubeconfig kubeconfig"
      - id: second
        run:
          kube.get: { resource: namespace/kube-system }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_the_runbook_context_and_reports_a_missing_one() {
    let c = Cluster::start("prod-east", "default").await;
    let t = c.target(None, Some("prod-east"));
    let pin = t.pin().unwrap();
    assert_eq!(pin.context, "prod-east");
    assert_eq!(pin.server, c.sb.url());
    assert_eq!(pin.source, Source::Runbook);
    // Pinned at first use: a context that does not exist yet (created by an early step) is fine
    // until a kube step needs it.
    let later = PinnedCluster::in_file(Some(&c.kubeconfig), None, Some("made-by-step-2"));
    assert!(later.pinned().is_none());
    assert!(
        later
            .describe()
            .contains("made-by-step-2 (not connected yet)")
    );
    // --context wins over the runbook's context.
    let err = PinnedCluster::pin_in_file(Some(&c.kubeconfig), Some("staging"), Some("prod-east"))
        .err()
        .expect("no such context");
    assert_eq!(
        err,
        ClusterError::NoContext {
            context: "staging".into(),
            available: "prod-east".into()
        }
    );
    assert!(
        err.to_string()
            .contains("context `staging` is not in the kubeconfig (it has: prod-east)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_repointed_mid_run_blocks_the_next_kube_step() {
    let c = Cluster::start("prod-east", "default").await;
    let other = Cluster::start("prod-east", "default").await;
    // The same context name, another cluster: what a colleague's `kubectl config` edit does.
    std::fs::write(
        c.dir.path().join("other.kubeconfig"),
        std::fs::read_to_string(&other.kubeconfig).unwrap(),
    )
    .unwrap();
    let target = c.target(None, Some("prod-east"));
    let fin = run_in(c.dir.path(), GET_NS, target).await;
    assert_eq!(fin.outcome, Outcome::Finished(RunStatus::Failed));
    let err = fin.error_of("second").expect("second failed");
    assert!(
        err.contains("wrong cluster: the run is pinned to context `prod-east`"),
        "{err}"
    );
    assert!(
        err.contains(&format!("now points at {}", other.sb.url())),
        "{err}"
    );
    assert!(err.contains("the step was not run"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_cluster_behind_the_same_address_is_refused() {
    // A cluster answering at the pinned address with another identity (e.g. a port-forward
    // re-pointed): kube-system's uid differs.
    let mut c = Cluster::start("prod-east", "default").await;
    let target = c.target(None, Some("prod-east"));
    target
        .checked_client()
        .await
        .expect("first connection pins the identity");
    let port = c.sb.addr().port();
    drop(std::mem::replace(
        &mut c.sb,
        tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config {
            port: 0,
            ..tollgate_sandbox::Config::fast()
        })
        .await
        .unwrap(),
    ));
    // Rebind the old port with a new cluster.
    let deadline = std::time::Instant::now() + common::sandbox_cluster::DEADLINE;
    let replacement = loop {
        match tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config {
            port,
            ..tollgate_sandbox::Config::fast()
        })
        .await
        {
            Ok(sb) => break sb,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "port {port} never freed: {e}"
                );
                tokio::task::yield_now().await;
            }
        }
    };
    let err = target.checked_client().await.err().expect("refused");
    assert!(
        err.to_string()
            .contains("the API server now answers as another cluster"),
        "{err}"
    );
    drop(replacement);
}
