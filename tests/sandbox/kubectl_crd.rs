//! A real kubectl against custom resources in the sandbox: `kubectl apply -f` of Argo Rollouts'
//! upstream CRD, `get crd`, `get rollouts` with the CRD's printer columns, `patch --type merge`,
//! and the plain (strategic) `patch` refused as a real API server refuses it. Each test's
//! kubectl has a HOME (and so a discovery cache) of its own.

use crate::common::kubectl::{Kubectl, Out};
use crate::common::sandbox_cluster::Cluster;
use tollgate_sandbox::{Config, crds};

const NS: &str = "shop";

const ROLLOUT: &str = "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
";

async fn cluster() -> (Cluster, Kubectl) {
    let c = Cluster::start_with(
        Config {
            no_controllers: true,
            ..Config::fast()
        },
        "crd-test",
        NS,
    )
    .await;
    c.namespace(NS);
    let k = Kubectl::new(&c.kubeconfig);
    (c, k)
}

fn run(k: &Kubectl, args: &[&str], stdin: Option<&str>) -> Out {
    tokio::task::block_in_place(|| k.run_with_stdin(args, stdin))
}

#[track_caller]
fn ok(k: &Kubectl, args: &[&str], stdin: Option<&str>) -> String {
    run(k, args, stdin)
        .expect_ok(&format!("kubectl {}", args.join(" ")))
        .to_string()
}

/// The words of each line of a table, as kubectl prints it.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// `kubectl apply -f` the upstream Rollout CRD, then a Rollout; `get crd`, `get rollouts` (and
/// the short name `ro`) print what a real cluster prints; `patch --type merge` and `--type
/// json` change it; a plain `patch` is refused with the API server's message.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_applies_the_rollout_crd_and_works_with_rollouts() {
    let (c, k) = cluster().await;
    let out = ok(&k, &["apply", "-f", "-"], Some(crds::ARGO_ROLLOUTS));
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/rollouts.argoproj.io created"
    );
    let crd = ok(&k, &["get", "crd"], None);
    let r = rows(&crd);
    assert_eq!(r[0], ["NAME", "CREATED", "AT"]);
    assert_eq!(r[1][0], "rollouts.argoproj.io");
    assert!(r[1][1].ends_with('Z'), "{crd}");
    let established = ok(
        &k,
        &[
            "get",
            "crd",
            "rollouts.argoproj.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ],
        None,
    );
    assert_eq!(established, "True");

    let out = ok(&k, &["apply", "-f", "-"], Some(ROLLOUT));
    assert_eq!(out.trim(), "rollout.argoproj.io/web created");
    // Re-applying unchanged is unchanged (a three-way JSON merge patch, as for any custom type).
    let out = ok(&k, &["apply", "-f", "-"], Some(ROLLOUT));
    assert_eq!(out.trim(), "rollout.argoproj.io/web unchanged");

    c.sb.store()
        .modify(
            c.sb.store()
                .find_type("argoproj.io", "v1alpha1", "rollouts")
                .unwrap(),
            NS,
            "web",
            tollgate_sandbox::store::Part::All,
            |o| {
                o["status"] = serde_json::json!({"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2});
                Ok(())
            },
        )
        .unwrap();
    let table = ok(&k, &["get", "rollouts"], None);
    let r = rows(&table);
    assert_eq!(
        r[0],
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE"
        ],
        "{table}"
    );
    assert_eq!(r[1][..5], ["web", "3", "3", "1", "2"], "{table}");
    assert!(r[1][5].ends_with('s'), "{table}");
    let short = ok(&k, &["get", "ro", "web"], None);
    assert_eq!(rows(&short)[1][0], "web");

    let out = ok(
        &k,
        &[
            "patch",
            "rollout",
            "web",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":5}}"#,
        ],
        None,
    );
    assert_eq!(out.trim(), "rollout.argoproj.io/web patched");
    let replicas = ok(
        &k,
        &["get", "rollout", "web", "-o", "jsonpath={.spec.replicas}"],
        None,
    );
    assert_eq!(replicas, "5");
    ok(
        &k,
        &[
            "patch",
            "rollout",
            "web",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
        ],
        None,
    );
    let replicas = ok(
        &k,
        &["get", "rollout", "web", "-o", "jsonpath={.spec.replicas}"],
        None,
    );
    assert_eq!(replicas, "4");

    let out = run(
        &k,
        &[
            "patch",
            "rollout",
            "web",
            "-p",
            r#"{"spec":{"replicas":6}}"#,
        ],
        None,
    );
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"),
        "{}",
        out.stderr
    );

    // Server-side apply by a field manager of its own: the replicas kubectl's patches own are a
    // conflict, taken with --force-conflicts.
    let ssa = ROLLOUT.replace("replicas: 3", "replicas: 7");
    let args = [
        "apply",
        "--server-side",
        "--field-manager",
        "ops",
        "-f",
        "-",
    ];
    let out = run(&k, &args, Some(&ssa));
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl-patch\": .spec.replicas"
        ),
        "{}",
        out.stderr
    );
    let forced = [&args[..], &["--force-conflicts"]].concat();
    let out = ok(&k, &forced, Some(&ssa));
    assert_eq!(out.trim(), "rollout.argoproj.io/web serverside-applied");
    let replicas = ok(
        &k,
        &["get", "rollout", "web", "-o", "jsonpath={.spec.replicas}"],
        None,
    );
    assert_eq!(replicas, "7");

    // Scale through the CRD's scale subresource.
    let out = ok(&k, &["scale", "rollout", "web", "--replicas", "2"], None);
    assert_eq!(out.trim(), "rollout.argoproj.io/web scaled");
    let replicas = ok(
        &k,
        &["get", "rollout", "web", "-o", "jsonpath={.spec.replicas}"],
        None,
    );
    assert_eq!(replicas, "2");

    // Deleting the CRD takes the rollouts with it (kubectl's discovery cache still names the
    // type, so it lists and is told there is no such resource, as from a real server).
    let out = ok(&k, &["delete", "crd", "rollouts.argoproj.io"], None);
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io \"rollouts.argoproj.io\" deleted"
    );
    let out = run(&k, &["get", "rollouts"], None);
    assert!(!out.ok());
    assert!(
        out.stderr
            .contains("the server could not find the requested resource"),
        "{}",
        out.stderr
    );
    let out = run(&k, &["get", "crd"], None);
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.trim(), "No resources found");
}
