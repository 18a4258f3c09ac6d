//! `http.check` in a rehearsal, through the binary: a runbook written for the real hosts (an
//! Ingress host over https, a Service's cluster name) runs unchanged against the sandbox's
//! Service traffic, and a host the sandbox does not know gets the sandbox's 404, never the real
//! one.

use crate::common::binary::{Bin, text};

const CLUSTER: &str = r#"apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: Node
metadata: { name: node-a, labels: { kubernetes.io/hostname: node-a } }
status:
  capacity: { cpu: "4", memory: 8Gi, pods: "30" }
  allocatable: { cpu: "4", memory: 8Gi, pods: "30" }
  conditions:
    - { type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "shop/web:1.4" }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { selector: { app: web }, ports: [{ port: 80 }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: shop, namespace: shop }
spec:
  rules:
    - host: shop.example.com
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }]
"#;

const RUNBOOK: &str = r#"name: Check the shop
targets:
  kube: { context: shop-prod, namespace: shop }
rehearsal:
  fixtures: [cluster.yaml]
phases:
  - id: verify
    steps:
      - id: pods
        run:
          kube.wait: { resource: pod, selector: app=web, condition: Ready, count: 2 }
        expect: { timeout: 30s }
      - id: public
        run:
          http.check:
            url: https://shop.example.com/health
            requests: 40
            interval: 5ms
            body_contains: "image shop/web:1.4"
            max_p95: 1s
      - id: internal
        run:
          http.check:
            url: http://web.shop.svc.cluster.local/ready
            requests: 4
      - id: elsewhere
        run:
          http.check:
            url: https://api.stripe.com/v1/charges
            expect_status: 404
"#;

#[test]
fn a_runbook_for_the_real_hosts_checks_the_sandboxs_services_unchanged() {
    let b = Bin::new();
    std::fs::write(b.dir().join("cluster.yaml"), CLUSTER).unwrap();
    let rb = b.runbook("check.yaml", RUNBOOK);
    let out = b
        .command(&[
            "rehearse",
            "--headless",
            rb.to_str().unwrap(),
            "--speed",
            "50",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // Both pods served the Ingress host, in turn.
    assert!(stdout.contains("40 requests, errors 0.0 %"), "{stdout}");
    assert!(stdout.contains(": 40 × 200"), "{stdout}");
    assert!(stdout.contains("4 requests, errors 0.0 %"), "{stdout}");
    assert!(stdout.contains(": 1 × 404"), "{stdout}");
}
