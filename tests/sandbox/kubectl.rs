//! A real kubectl against the sandbox loaded with LabelMint's cluster: what an operator rehearsing
//! types in a second terminal, each test asserting what kubectl prints, not only its exit code.

use crate::common::kubectl::{Kubectl, labelmint_fixture};
use crate::common::sandbox_cluster::Cluster;

/// The sandbox with LabelMint's cluster and a kubectl pointed at it.
async fn labelmint() -> (Cluster, Kubectl) {
    let c = Cluster::start("labelmint-rehearsal", "labelmint-production").await;
    c.load(&labelmint_fixture());
    let k = Kubectl::new(&c.kubeconfig);
    (c, k)
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_reaches_the_sandbox() {
    let (_c, k) = labelmint().await;
    let k2 = std::sync::Arc::new(k);
    let out = tokio::task::spawn_blocking({
        let k = k2.clone();
        move || k.run(&["get", "namespaces", "-o", "name"])
    })
    .await
    .unwrap();
    let names = out.expect_ok("kubectl get namespaces");
    assert!(names.contains("namespace/labelmint-production"), "{names}");
}
