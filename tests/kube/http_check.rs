//! `http.check` against the sandbox's Service traffic (a Service host and an Ingress host, reached
//! through the step's `resolve`), and against a local server that checks a secret header: the
//! numbers it reports, the words it fails with, and the secret nowhere.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use tollgate::exec::Router;

use crate::common::sandbox_cluster::{Cluster, Finished, run_with};

/// Three stable pods and one `errors-10` canary behind Service `web`; one `front` pod behind
/// Ingress host `app.example.com`; one `slow` pod behind Service `slow`.
const FIXTURE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-stable, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web, track: stable}}
  template:
    metadata: {labels: {app: web, track: stable}}
    spec: {containers: [{name: web, image: "web:1.0"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-canary, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web, track: canary}}
  template:
    metadata: {labels: {app: web, track: canary}}
    spec: {containers: [{name: web, image: "web:2.0-errors-10"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: front, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: front}}
  template:
    metadata: {labels: {app: front}}
    spec: {containers: [{name: front, image: "front:3.1"}]}
---
apiVersion: v1
kind: Service
metadata: {name: front, namespace: default}
spec: {selector: {app: front}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: app, namespace: default}
spec:
  rules:
    - host: app.example.com
      http:
        paths: [{path: /, pathType: Prefix, backend: {service: {name: front, port: {number: 80}}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: slow, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: slow}}
  template:
    metadata: {labels: {app: slow}}
    spec: {containers: [{name: slow, image: "api:1.0-slow"}]}
---
apiVersion: v1
kind: Service
metadata: {name: slow, namespace: default}
spec: {selector: {app: slow}, ports: [{port: 80}]}
"#;

/// The cluster with [`FIXTURE`], once its 6 pods are ready.
async fn cluster() -> Cluster {
    let c = Cluster::start("prod-east", "default").await;
    c.load(FIXTURE);
    let pods: Api<Pod> = Api::default_namespaced(c.sb.client());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let items = pods.list(&ListParams::default()).await.unwrap().items;
        let ready = items
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count();
        if ready == 6 {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "6 ready pods, not {ready}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn runbook(vars: &str, steps: &str) -> String {
    format!("name: http\n{vars}phases:\n  - id: main\n    steps:\n{steps}")
}

async fn run(c: &Cluster, sub: &str, vars: &str, steps: &str, values: &[(&str, &str)]) -> Finished {
    let dir = c.dir.path().join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    run_with(
        &dir,
        &runbook(vars, steps),
        Router::shell_only(),
        "run-1",
        values,
    )
    .await
}

/// The result line (JSON) the step printed.
fn result(fin: &Finished) -> Value {
    let line = fin
        .output
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no result line in {}", fin.output));
    serde_json::from_str(line).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_and_an_ingress_host_are_checked_with_their_numbers() {
    let c = cluster().await;
    let addr = c.sb.traffic_addr();
    let fin = run(
        &c,
        "ok",
        "",
        &format!(
            r#"      - id: service
        run:
          http.check:
            url: http://web.default.svc/health
            resolve: {{ web.default.svc: "{addr}" }}
            requests: 400
            interval: 1ms
            expect_status: 2xx
            body_contains: "ok: pod web-"
            max_error_rate: 5
        capture:
          - {{ var: failed, json: .status.500 }}
      - id: ingress
        run:
          http.check:
            url: http://app.example.com/
            resolve: {{ app.example.com: "{addr}" }}
            requests: 20
            expect_status: [200]
            body_contains: "image front:3.1"
            max_p95: 5s
"#
        ),
        &[],
    )
    .await;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    let lines: Vec<Value> = fin
        .output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", fin.output);
    // A quarter of 400 went to the errors-10 canary: 10 of its 100 failed.
    let svc = &lines[0];
    assert_eq!(svc["requests"], 400, "{svc}");
    assert_eq!(svc["errors"], 10, "{svc}");
    assert_eq!(svc["error_rate"], 2.5, "{svc}");
    assert_eq!(svc["status"]["200"], 390, "{svc}");
    assert_eq!(svc["status"]["500"], 10, "{svc}");
    assert!(svc["p95_ms"].as_f64().unwrap() >= svc["p50_ms"].as_f64().unwrap());
    assert!(
        fin.output.contains("400 requests, errors 2.5 %, p50 "),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains(": 390 × 200, 10 × 500"),
        "{}",
        fin.output
    );
    // 400 requests 1 ms apart take 400 ms: a live line every 250 ms.
    let live = regex::Regex::new(
        r"(?m)^\d+/400 requests, errors \d+\.\d %, p50 [\d.]+ ms, p95 [\d.]+ ms$",
    )
    .unwrap();
    assert!(live.is_match(&fin.output), "{}", fin.output);
    let ing = &lines[1];
    assert_eq!(
        (ing["requests"].clone(), ing["errors"].clone()),
        (20.into(), 0.into()),
        "{ing}"
    );
    assert_eq!(ing["status"]["200"], 20, "{ing}");
    // The capture read the result.
    assert!(
        fin.journal.contains(r#""name":"failed","value":"10""#),
        "{}",
        fin.journal
    );
    // It changes nothing: no change journaled.
    assert!(fin.changes_of("service").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_over_its_error_rate_or_p95_fails_with_the_numbers() {
    let c = cluster().await;
    let addr = c.sb.traffic_addr();
    let fin = run(
        &c,
        "rate",
        "",
        &format!(
            r#"      - id: errors
        run:
          http.check:
            url: http://web.default.svc.cluster.local/
            resolve: {{ web.default.svc.cluster.local: "{addr}" }}
            requests: 100
            max_error_rate: 1
"#
        ),
        &[],
    )
    .await;
    assert!(!fin.succeeded());
    // 25 requests reached the canary: its 10th and 20th failed.
    assert_eq!(
        fin.error_of("errors").as_deref(),
        Some("error rate 2.0 % over 100 requests > max 1 %: 2 × 500")
    );
    assert_eq!(result(&fin)["status"]["500"], 2);

    // A slow pod answers after 2 simulated seconds: 40 ms here.
    let fin = run(
        &c,
        "p95",
        "",
        &format!(
            r#"      - id: latency
        run:
          http.check:
            url: http://slow.default/
            resolve: {{ slow.default: "{addr}" }}
            requests: 5
            max_p95: 10ms
"#
        ),
        &[],
    )
    .await;
    let err = fin.error_of("latency").unwrap_or_default();
    assert!(
        err.starts_with("p95 ") && err.ends_with(" ms > max 10 ms"),
        "{err}"
    );
    let p95: f64 = err["p95 ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(p95 >= 40.0, "{err}");

    // Nothing listening: one line saying so.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let fin = run(
        &c,
        "down",
        "",
        &format!(
            r#"      - id: down
        run:
          http.check:
            url: http://down.example/ready
            resolve: {{ down.example: "{closed}" }}
            requests: 3
"#
        ),
        &[],
    )
    .await;
    assert_eq!(
        fin.error_of("down").as_deref(),
        Some(
            format!("GET http://down.example/ready: connection refused ({closed}, every one of 3 requests)")
                .as_str()
        )
    );
}

/// A server on 127.0.0.1 that answers 200 to requests whose `authorization` is `want`, else 401;
/// it counts the 200s.
async fn auth_server(want: &'static str) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ok = Arc::new(AtomicU64::new(0));
    let count = ok.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let count = count.clone();
                        async move {
                            let good = req
                                .headers()
                                .get("authorization")
                                .is_some_and(|v| v.as_bytes() == want.as_bytes());
                            if good {
                                count.fetch_add(1, Ordering::SeqCst);
                            }
                            let mut r =
                                hyper::Response::new(Full::new(Bytes::from_static(b"fine\n")));
                            *r.status_mut() = if good {
                                hyper::StatusCode::OK
                            } else {
                                hyper::StatusCode::UNAUTHORIZED
                            };
                            Ok::<_, Infallible>(r)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_header_is_sent_and_never_shown_or_journaled() {
    const TOKEN: &str = "s3cr3t-T0ken-4e1b";
    let (addr, ok) = auth_server("Bearer s3cr3t-T0ken-4e1b").await;
    let c = Cluster::start("prod-east", "default").await;
    let vars = "variables:\n  api_token: { secret: true }\n";
    let fin = run(
        &c,
        "secret",
        vars,
        &format!(
            r#"      - id: authed
        run:
          http.check:
            url: http://api.internal:8080/me
            headers: {{ Authorization: "Bearer {{{{ api_token }}}}" }}
            resolve: {{ api.internal: "{addr}" }}
            requests: 4
            body_contains: fine
"#
        ),
        &[("api_token", TOKEN)],
    )
    .await;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    assert_eq!(
        ok.load(Ordering::SeqCst),
        4,
        "the header reached the server"
    );
    assert!(
        fin.events_text().contains("-H Authorization"),
        "{}",
        fin.events_text()
    );
    for (place, text) in [
        ("output", &fin.output),
        ("events", &fin.events_text()),
        ("journal", &fin.journal),
    ] {
        assert!(
            !text.contains(TOKEN),
            "the token reached the {place}: {text}"
        );
        assert!(
            !text.contains("s3cr3t"),
            "the token reached the {place}: {text}"
        );
    }

    // The wrong token: 401s, said without the value.
    let fin = run(
        &c,
        "wrong",
        vars,
        &format!(
            r#"      - id: authed
        run:
          http.check:
            url: http://api.internal:8080/me
            headers: {{ Authorization: "Bearer {{{{ api_token }}}}" }}
            resolve: {{ api.internal: "{addr}" }}
            requests: 2
"#
        ),
        &[("api_token", "not-the-T0ken-99")],
    )
    .await;
    assert_eq!(
        fin.error_of("authed").as_deref(),
        Some("error rate 100.0 % over 2 requests > max 0 %: 2 × 401")
    );
    assert!(!fin.journal.contains("not-the-T0ken-99"), "{}", fin.journal);
    assert!(!fin.events_text().contains("not-the-T0ken-99"));
}
