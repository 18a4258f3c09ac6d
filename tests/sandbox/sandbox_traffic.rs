//! Service traffic: HTTP to Services and Ingress hosts on the sandbox's traffic port, answered by
//! the Service's ready pods as their images say (round robin; `errors-N`, `unhealthy`, `slow`),
//! each answer naming its pod.
//!
//! Nothing waits by sleeping: every wait is on a condition, with a deadline (`wait_for`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use tollgate_sandbox::traffic::{IMAGE_HEADER, POD_HEADER};
use tollgate_sandbox::{Config, Sandbox, Timing};

use super::sandbox_controllers::{is_ready, wait_for};

/// One keep-alive connection to the traffic port.
struct Conn {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

/// One answer: status, the pod and image headers, the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    pod: String,
    image: String,
    body: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let (send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        Conn { send }
    }

    async fn get(&mut self, host: &str, path: &str) -> Answer {
        let req = hyper::Request::get(path)
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .expect("request");
        let resp = self.send.send_request(req).await.expect("answered");
        let header = |h: &str| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let (status, pod, image) = (
            resp.status().as_u16(),
            header(POD_HEADER),
            header(IMAGE_HEADER),
        );
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Answer {
            status,
            pod,
            image,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }
}

fn deployment(
    name: &str,
    labels: Value,
    replicas: i32,
    image: &str,
    probe: Option<Value>,
) -> Deployment {
    let mut container = json!({"name": "app", "image": image, "ports": [{"containerPort": 8080}]});
    if let Some(p) = probe {
        container["readinessProbe"] = p;
    }
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }))
    .expect("deployment")
}

fn service(name: &str, selector: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
    }))
    .expect("service")
}

/// The ready, live pods `selector` matches, once there are `n`.
async fn ready(pods: &Api<Pod>, selector: &str, n: usize) -> Vec<String> {
    wait_for(&format!("{n} ready pods of {selector}"), || async move {
        let items = pods
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?
            .items;
        let live: Vec<String> = items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        (live.len() == n && items.len() == n).then_some(live)
    })
    .await
}

/// Within `k` standard deviations of the binomial count of `n` requests at share `p`.
fn within(count: usize, n: usize, p: f64, k: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (count as f64 - mean).abs() <= k * sd + 1.0
}

#[tokio::test]
async fn a_services_ready_pods_share_its_traffic_and_errors_n_fails_exactly_n_percent() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    deps.create(
        &pp,
        &deployment(
            "web-stable",
            json!({"app": "web", "track": "stable"}),
            3,
            "web:1.0",
            None,
        ),
    )
    .await
    .unwrap();
    deps.create(
        &pp,
        &deployment(
            "web-canary",
            json!({"app": "web", "track": "canary"}),
            1,
            "web:2.0-errors-10",
            None,
        ),
    )
    .await
    .unwrap();
    svcs.create(&pp, &service("web", json!({"app": "web"})))
        .await
        .unwrap();
    let stable = ready(&pods, "app=web,track=stable", 3).await;
    let canary = ready(&pods, "app=web,track=canary", 1).await;

    let mut conn = Conn::open(sb.traffic_addr()).await;
    let n = 400;
    let mut per_pod: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..n {
        // Every host form of the Service.
        let host = [
            "web.default",
            "web.default.svc",
            "web.default.svc.cluster.local:80",
        ][i % 3];
        let a = conn.get(host, "/health").await;
        assert!(
            stable.contains(&a.pod) || canary.contains(&a.pod),
            "answered by a pod of the service: {a:?}"
        );
        *per_pod.entry(a.pod.clone()).or_default() += 1;
        match a.status {
            200 => assert!(a.body.contains(&a.pod), "{a:?}"),
            500 => {
                assert_eq!(a.image, "web:2.0-errors-10", "{a:?}");
                *errors.entry(a.pod.clone()).or_default() += 1;
            }
            other => panic!("unexpected status {other}: {a:?}"),
        }
    }
    // Each of the 4 ready pods gets its share; the canary a quarter.
    assert_eq!(per_pod.len(), 4, "{per_pod:?}");
    for (pod, count) in &per_pod {
        assert!(
            within(*count, n, 0.25, 3.0),
            "{pod} served {count} of {n}: {per_pod:?}"
        );
    }
    let canary_served = per_pod[&canary[0]];
    let stable_served: usize = stable.iter().map(|p| per_pod[p]).sum();
    assert!(
        within(stable_served, n, 0.75, 3.0),
        "stable {stable_served} of {n}"
    );
    // Exactly 10 % of what the errors-10 pod served failed; nothing else did.
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        vec![&canary[0]],
        "{errors:?}"
    );
    assert_eq!(
        errors[&canary[0]] * 10,
        canary_served,
        "{errors:?} of {canary_served}"
    );
}

#[tokio::test]
async fn not_ready_and_crashing_pods_get_no_traffic_and_none_ready_is_503() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    // Never ready: its readiness probe starts after an hour.
    let late = json!({"httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 3600});
    deps.create(
        &pp,
        &deployment(
            "api-ok",
            json!({"app": "api", "v": "ok"}),
            2,
            "api:1.0",
            None,
        ),
    )
    .await
    .unwrap();
    deps.create(
        &pp,
        &deployment(
            "api-warming",
            json!({"app": "api", "v": "warming"}),
            1,
            "api:1.0",
            Some(late.clone()),
        ),
    )
    .await
    .unwrap();
    deps.create(
        &pp,
        &deployment(
            "api-crash",
            json!({"app": "api", "v": "crash"}),
            1,
            "api:1.0-crashloop",
            None,
        ),
    )
    .await
    .unwrap();
    deps.create(
        &pp,
        &deployment("cold", json!({"app": "cold"}), 1, "cold:1.0", Some(late)),
    )
    .await
    .unwrap();
    svcs.create(&pp, &service("api", json!({"app": "api"})))
        .await
        .unwrap();
    svcs.create(&pp, &service("cold", json!({"app": "cold"})))
        .await
        .unwrap();
    let ok = ready(&pods, "app=api,v=ok", 2).await;
    // The crashing pod has run (and restarted) at least once.
    wait_for("the crashloop pod to restart", || {
        let pods = pods.clone();
        async move {
            let p = pods
                .list(&ListParams::default().labels("v=crash"))
                .await
                .ok()?
                .items;
            let restarts = p
                .first()?
                .status
                .as_ref()?
                .container_statuses
                .as_ref()?
                .first()?
                .restart_count;
            (restarts >= 1).then_some(())
        }
    })
    .await;
    let mut conn = Conn::open(sb.traffic_addr()).await;
    for _ in 0..60 {
        let a = conn.get("api.default.svc", "/").await;
        assert_eq!(a.status, 200, "{a:?}");
        assert!(ok.contains(&a.pod), "only the ready pods answer: {a:?}");
    }
    let a = conn.get("cold.default.svc", "/").await;
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.pod, "", "no pod answered: {a:?}");
    assert_eq!(
        a.body,
        "no ready endpoints for service default/cold: 1 pods match its selector, none ready\n"
    );
    let a = conn.get("nope.default.svc", "/").await;
    assert_eq!(a.status, 404, "{a:?}");
    assert!(a.body.contains("service default/nope not found"), "{a:?}");
    let a = conn.get("www.example.org", "/").await;
    assert_eq!(a.status, 404, "{a:?}");
    assert!(
        a.body
            .contains("no Service or Ingress host `www.example.org`"),
        "{a:?}"
    );
    assert_eq!(sb.traffic_for("www.example.org"), None);
    assert_eq!(sb.traffic_for("api.default.svc"), Some(sb.traffic_addr()));
}

#[tokio::test]
async fn an_unhealthy_pod_answers_503_after_its_healthy_period_then_leaves_the_endpoints() {
    // Slower than the other tests: its 10 s of health are 1 s here, time to see it healthy.
    let sb = Sandbox::start(Config {
        timing: Timing {
            speed: 10.0,
            log_rate: 0.0,
        },
        ..Config::default()
    })
    .await
    .expect("sandbox starts");
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    let probe = json!({"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1, "failureThreshold": 3});
    deps.create(
        &pp,
        &deployment(
            "sick",
            json!({"app": "sick"}),
            1,
            "sick:1.0-unhealthy",
            Some(probe),
        ),
    )
    .await
    .unwrap();
    svcs.create(&pp, &service("sick", json!({"app": "sick"})))
        .await
        .unwrap();
    let pod = ready(&pods, "app=sick", 1).await.remove(0);
    let mut conn = Conn::open(sb.traffic_addr()).await;
    let first = conn.get("sick.default", "/").await;
    assert_eq!(
        (first.status, first.pod.as_str()),
        (200, pod.as_str()),
        "{first:?}"
    );
    // Then 503 from the pod itself, while it is still an endpoint…
    let addr = sb.traffic_addr();
    let failing = wait_for("a 503 from the unhealthy pod", || async move {
        {
            let a = Conn::open(addr).await.get("sick.default", "/").await;
            (a.status != 200).then_some(a)
        }
    })
    .await;
    assert_eq!(failing.status, 503, "{failing:?}");
    assert_eq!(failing.pod, pod, "{failing:?}");
    assert!(failing.body.starts_with("unhealthy: pod "), "{failing:?}");
    // …until its readiness probe fails it: then it gets no traffic.
    let gone = wait_for("the unhealthy pod to leave the endpoints", || async move {
        {
            let a = Conn::open(addr).await.get("sick.default", "/").await;
            a.pod.is_empty().then_some(a)
        }
    })
    .await;
    assert_eq!(gone.status, 503, "{gone:?}");
    assert!(gone.body.starts_with("no ready endpoints"), "{gone:?}");
}

#[tokio::test]
async fn ingress_hosts_route_by_path_and_a_slow_pod_answers_late() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let svcs: Api<Service> = Api::default_namespaced(client.clone());
    let ings: Api<Ingress> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();
    deps.create(
        &pp,
        &deployment("front", json!({"app": "front"}), 1, "front:1.0", None),
    )
    .await
    .unwrap();
    deps.create(
        &pp,
        &deployment("api", json!({"app": "api"}), 1, "api:1.0-slow", None),
    )
    .await
    .unwrap();
    svcs.create(&pp, &service("front", json!({"app": "front"})))
        .await
        .unwrap();
    svcs.create(&pp, &service("api", json!({"app": "api"})))
        .await
        .unwrap();
    let backend = |svc: &str| json!({"service": {"name": svc, "port": {"number": 80}}});
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "app"},
        "spec": {"rules": [
            {"host": "app.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend("front")},
                {"path": "/api", "pathType": "Prefix", "backend": backend("api")},
            ]}},
            {"host": "*.preview.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend("api")},
            ]}},
        ]},
    }))
    .unwrap();
    assert_eq!(sb.traffic_for("app.example.com"), None, "no ingress yet");
    ings.create(&pp, &ing).await.unwrap();
    let front = ready(&pods, "app=front", 1).await.remove(0);
    let api = ready(&pods, "app=api", 1).await.remove(0);
    assert_eq!(sb.traffic_for("app.example.com"), Some(sb.traffic_addr()));
    let mut conn = Conn::open(sb.traffic_addr()).await;
    for (host, path, pod) in [
        ("app.example.com", "/", &front),
        ("app.example.com:443", "/index.html", &front),
        ("app.example.com", "/apis", &front),
        ("app.example.com", "/api", &api),
        ("APP.example.com", "/api/v1/orders", &api),
        ("pr-12.preview.example.com", "/", &api),
    ] {
        let started = std::time::Instant::now();
        let a = conn.get(host, path).await;
        assert_eq!((a.status, &a.pod), (200, pod), "{host}{path}: {a:?}");
        if pod == &api {
            // A slow image answers after 2 simulated seconds (40 ms at speed 50).
            assert!(
                started.elapsed() >= std::time::Duration::from_millis(40),
                "{:?}",
                started.elapsed()
            );
            assert_eq!(a.image, "api:1.0-slow");
        }
    }
    let a = conn.get("a.b.preview.example.com", "/").await;
    assert_eq!(a.status, 404, "a wildcard is one label: {a:?}");
}

/// Raw bytes at the traffic port: what comes back before the server closes (or the deadline).
async fn raw(addr: SocketAddr, bytes: &[u8], deadline: std::time::Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    match tokio::time::timeout(deadline, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// Garbage, a huge header, an absolute-form target and a stalled request: each gets an error or
/// its route, a stalled client is closed after the header timeout, and the port still answers.
#[tokio::test]
async fn the_traffic_port_survives_odd_requests() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let addr = sb.traffic_addr();
    let garbage = raw(
        addr,
        b"\x00\xff\xfe GARBAGE\r\n\r\n",
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("garbage is answered and closed");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: web.default\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = raw(addr, huge.as_bytes(), std::time::Duration::from_secs(10))
        .await
        .expect("a huge header is refused and closed");
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    // The request-target's host wins over the Host header.
    let absolute = raw(
        addr,
        b"GET http://nothing.example.com/ HTTP/1.1\r\nHost: web.default\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("answered");
    assert!(
        absolute.starts_with("HTTP/1.1 404") && absolute.contains("`nothing.example.com`"),
        "{absolute}"
    );
    // A request that never finishes its headers is closed, not held for ever.
    let stalled = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: web.def",
        tollgate_sandbox::traffic::HEADER_TIMEOUT + std::time::Duration::from_secs(10),
    )
    .await;
    assert!(stalled.is_some(), "a stalled request is closed");
    let ok = raw(
        addr,
        b"GET / HTTP/1.1\r\nHost: web.default\r\nConnection: close\r\n\r\n",
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("answered");
    assert!(ok.starts_with("HTTP/1.1 404"), "{ok}");
}
