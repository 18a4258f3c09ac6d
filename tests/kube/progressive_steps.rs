//! `kube.patch` and its revert against a sandbox cluster, through a headless run: a Service's
//! selector switched (blue/green by hand), an ingress-nginx canary weight set, each put back
//! exactly by `kube.revert`.

use kube::Api;
use kube::api::DynamicObject;
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use crate::common::sandbox_cluster::{Cluster, Finished, run_steps};

const FIXTURE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop, labels: {app: shop}}
spec:
  selector: {app: shop, version: blue}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-canary
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "0"
spec:
  ingressClassName: nginx
  rules:
    - host: shop.example.test
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: shop-canary, port: {number: 80}}}
"#;

async fn run(c: &Cluster, run_id: &str, steps: &str) -> Finished {
    run_steps(c, "patches", run_id, steps).await
}

/// An object's content as a revert must restore it: everything but the server's bookkeeping.
async fn content(c: &Cluster, ar: &ApiResource, name: &str) -> Value {
    let client = c.sb.client();
    let api: Api<DynamicObject> = Api::namespaced_with(client, "shop", ar);
    let mut v = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    let m = v["metadata"].as_object_mut().unwrap();
    for k in ["resourceVersion", "managedFields", "generation"] {
        m.remove(k);
    }
    v
}

fn service() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&())
}

fn ingress() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::networking::v1::Ingress>(&())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_switch_and_a_canary_weight_are_patched_then_put_back_exactly() {
    let c = Cluster::start("prod-east", "shop").await;
    c.load(FIXTURE);
    let svc_before = content(&c, &service(), "shop").await;
    let ing_before = content(&c, &ingress(), "shop-canary").await;
    let fin = run(
        &c,
        "run-1",
        r#"      - id: switch
        run:
          kube.patch: { resource: service/shop, patch: { spec: { selector: { version: green } } } }
      - id: weight
        run:
          kube.patch:
            resource: ingresses.networking.k8s.io/shop-canary
            type: merge
            patch: { metadata: { annotations: { nginx.ingress.kubernetes.io/canary-weight: "25" } } }
      - id: ports
        run:
          kube.patch:
            resource: svc/shop
            type: json
            patch:
              - { op: replace, path: /spec/ports/0/targetPort, value: 9090 }
              - { op: add, path: /metadata/labels/track, value: canary }
"#,
    )
    .await;
    assert!(fin.succeeded(), "{}", fin.output);
    for line in [
        "service/shop patched (spec.selector.version: blue → green)",
        "ingress.networking.k8s.io/shop-canary patched (metadata.annotations[nginx.ingress.kubernetes.io/canary-weight]: 0 → 25)",
        "service/shop patched (metadata.labels.track: (none) → canary, spec.ports[0].targetPort: 8080 → 9090)",
    ] {
        assert!(
            fin.output.contains(line),
            "missing `{line}` in\n{}",
            fin.output
        );
    }
    let switched = content(&c, &service(), "shop").await;
    assert_eq!(
        switched["spec"]["selector"],
        json!({"app": "shop", "version": "green"})
    );
    let ch = &fin.changes_of("switch")[0];
    assert_eq!(ch["change"], "patched");
    assert_eq!(ch["patch_type"], "strategic");
    assert_eq!(ch["before"]["spec"]["selector"]["version"], "blue");
    assert_eq!(fin.changes_of("weight")[0]["patch_type"], "merge");
    assert_eq!(fin.changes_of("ports")[0]["patch_type"], "json");

    // Put back, newest first, from that run's journal: exactly what was there.
    let back = run(
        &c,
        "run-2",
        r#"      - id: unweight
        run:
          kube.revert: { step: weight, run: run-1 }
      - id: unports
        run:
          kube.revert: { step: ports, run: run-1 }
      - id: unswitch
        run:
          kube.revert: { step: switch, run: run-1 }
"#,
    )
    .await;
    assert!(back.succeeded(), "{}\n{}", back.output, back.events_text());
    assert_eq!(content(&c, &service(), "shop").await, svc_before);
    assert_eq!(content(&c, &ingress(), "shop-canary").await, ing_before);
    assert!(
        back.output
            .contains("service/shop put back as it was before the patch")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_that_changes_nothing_journals_nothing_and_a_bad_one_says_why() {
    let c = Cluster::start("prod-east", "shop").await;
    c.load(FIXTURE);
    let fin = run(
        &c,
        "run-1",
        r#"      - id: same
        run:
          kube.patch: { resource: service/shop, patch: { spec: { selector: { version: blue } } } }
      - id: missing
        run:
          kube.patch: { resource: service/nope, patch: { spec: {} } }
"#,
    )
    .await;
    assert!(
        fin.output.contains("service/shop patched (no change)"),
        "{}",
        fin.output
    );
    assert!(fin.changes_of("same").is_empty());
    let e = fin.error_of("missing").expect("fails");
    assert!(e.starts_with("service/nope: "), "{e}");
    assert!(e.contains("404"), "{e}");
}
