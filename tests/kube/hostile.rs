//! The progressive-delivery steps against hostile or odd peers: `http.check` against servers that
//! never answer, trickle, send an endless body, redirect, speak no TLS or echo a secret header,
//! and URLs holding credentials; `argo.*`/`argocd.*`/`kube.patch` on a cluster that does not serve
//! their kinds, on a rollout no controller ever writes a status for, or whose status has the wrong
//! types; `kube.patch` on a Secret and `kube.revert` after the object was deleted. Each failure is
//! one line, in bounded time, with no secret in it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tollgate::exec::Router;
use tollgate_sandbox::Config;

use super::argo_steps::rollouts;
use super::argocd_steps::apps;
use crate::common::sandbox_cluster::{Cluster, Finished, run_steps, run_with};

/// A failure message as the project promises it: one line, short, present.
fn one_line(fin: &Finished, step: &str) -> String {
    let e = fin
        .error_of(step)
        .unwrap_or_else(|| panic!("step {step} did not fail\n{}", fin.events_text()));
    assert!(!e.contains('\n'), "{step}: more than one line: {e}");
    assert!(e.len() < 400, "{step}: {} characters: {e}", e.len());
    assert!(!e.is_empty(), "{step}: an empty error");
    e
}

/// What a hostile server does with a request for a path.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    /// Bytes of body the server managed to write for `/endless`.
    endless_bytes: AtomicU64,
    /// Requests for `/moved-here` (a followed redirect).
    followed: AtomicU64,
}

/// Reads one request head (up to its blank line); returns its first line and headers.
async fn read_head(s: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// A raw HTTP/1.1 server on 127.0.0.1 that misbehaves by path: `/silent` never answers,
/// `/trickle` sends a byte of body at a time, `/endless` an endless chunked body as fast as it
/// can, `/redirect` a 302 to `/moved-here`, `/echo` a 400 echoing the request's headers.
async fn hostile_server() -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = s2.clone();
            tokio::spawn(async move {
                while let Some(head) = read_head(&mut stream).await {
                    seen.requests.fetch_add(1, Ordering::SeqCst);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                    match path.as_str() {
                        "/silent" => {
                            // Holds the connection open, answering nothing, until the client goes.
                            let mut sink = [0u8; 1024];
                            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                            return;
                        }
                        "/trickle" => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
                                .await;
                            let mut tick = tokio::time::interval(Duration::from_millis(50));
                            loop {
                                tick.tick().await;
                                if stream.write_all(b"x").await.is_err() {
                                    return;
                                }
                            }
                        }
                        "/endless" => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                                .await;
                            let chunk = vec![b'a'; 64 * 1024];
                            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                            framed.extend_from_slice(&chunk);
                            framed.extend_from_slice(b"\r\n");
                            loop {
                                if stream.write_all(&framed).await.is_err() {
                                    return;
                                }
                                seen.endless_bytes
                                    .fetch_add(chunk.len() as u64, Ordering::SeqCst);
                            }
                        }
                        "/redirect" => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 302 Found\r\nlocation: /moved-here\r\ncontent-length: 0\r\n\r\n")
                                .await;
                        }
                        "/moved-here" => {
                            seen.followed.fetch_add(1, Ordering::SeqCst);
                            let _ = stream
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                .await;
                        }
                        _ => {
                            // `/echo`: the request's head in a 400's body and in a header.
                            let body = head.replace("\r\n", " | ");
                            let first = head
                                .lines()
                                .find(|l| l.to_ascii_lowercase().starts_with("authorization"))
                                .unwrap_or("")
                                .to_string();
                            let resp = format!(
                                "HTTP/1.1 400 {first}\r\ncontent-length: {}\r\nx-echo: {first}\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = stream.write_all(resp.as_bytes()).await;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn http_run(
    c: &Cluster,
    sub: &str,
    vars: &str,
    steps: &str,
    values: &[(&str, &str)],
) -> Finished {
    let dir = c.dir.path().join(sub);
    std::fs::create_dir_all(&dir).unwrap();
    run_with(
        &dir,
        &format!("name: http\n{vars}phases:\n  - id: main\n    steps:\n{steps}"),
        Router::shell_only(),
        "run-1",
        values,
    )
    .await
}

/// One `http.check` step `id` against the hostile server's `path` as `https?://hostile.test`.
fn check_step(id: &str, scheme: &str, addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        r#"      - id: {id}
        run:
          http.check:
            url: {scheme}://hostile.test{path}
            resolve: {{ hostile.test: "{addr}" }}
{extra}        expect: {{ timeout: 20s }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_against_hostile_servers_fails_in_bounds_with_one_line() {
    let (addr, seen) = hostile_server().await;
    let c = Cluster::start("prod-east", "default").await;

    // Never answers: the per-request timeout ends each one, long before the step's.
    let started = Instant::now();
    let fin = http_run(
        &c,
        "silent",
        "",
        &check_step(
            "silent",
            "http",
            addr,
            "/silent",
            "            timeout: 300ms\n            requests: 2\n",
        ),
        &[],
    )
    .await;
    let e = one_line(&fin, "silent");
    assert!(e.contains("timed out after 300 ms"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // A body one byte at a time: the request's timeout covers the body too.
    let fin = http_run(
        &c,
        "trickle",
        "",
        &check_step(
            "trickle",
            "http",
            addr,
            "/trickle",
            "            timeout: 400ms\n            body_contains: needle\n",
        ),
        &[],
    )
    .await;
    let e = one_line(&fin, "trickle");
    assert!(e.contains("timed out after 400 ms"), "{e}");

    // An endless body: read up to the limit, then the connection is dropped; the server
    // cannot push gigabytes, and the answer is judged on what was read.
    let fin = http_run(&c, "endless", "", &check_step("endless", "http", addr, "/endless", "            timeout: 15s\n            body_contains: needle\n            requests: 3\n"), &[]).await;
    let e = one_line(&fin, "endless");
    assert!(e.contains("3 × 200 without `needle` in the body"), "{e}");
    let wrote = seen.endless_bytes.load(Ordering::SeqCst);
    assert!(
        wrote < 3 * 48 * 1024 * 1024,
        "the server pushed {wrote} bytes into three bounded reads"
    );

    // A redirect is an answer (302), never followed.
    let fin = http_run(
        &c,
        "redirect",
        "",
        &check_step("redirect", "http", addr, "/redirect", ""),
        &[],
    )
    .await;
    let e = one_line(&fin, "redirect");
    assert!(e.contains("1 × 302"), "{e}");
    assert_eq!(
        seen.followed.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );

    // https to a server that speaks no TLS: one line naming TLS.
    let fin = http_run(
        &c,
        "tls",
        "",
        &check_step(
            "tls",
            "https",
            addr,
            "/redirect",
            "            timeout: 2s\n",
        ),
        &[],
    )
    .await;
    let e = one_line(&fin, "tls");
    assert!(e.contains("TLS"), "{e}");

    // A server echoing the secret header back, in its status line, a header and its body.
    const TOKEN: &str = "echo-s3cr3t-91f2";
    let fin = http_run(
        &c,
        "echo",
        "variables:\n  token: { secret: true }\n",
        &check_step("echo", "http", addr, "/echo", "            headers: { Authorization: \"Bearer {{ token }}\" }\n            body_contains: fine\n            requests: 2\n"),
        &[("token", TOKEN)],
    )
    .await;
    let e = one_line(&fin, "echo");
    assert!(e.contains("2 × 400"), "{e}");
    for (place, text) in [
        ("output", &fin.output),
        ("events", &fin.events_text()),
        ("journal", &fin.journal),
    ] {
        assert!(
            !text.contains(TOKEN),
            "the echoed token reached the {place}: {text}"
        );
    }
    assert!(seen.requests.load(Ordering::SeqCst) >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_refuses_credentials_and_a_huge_interval_filled_in_at_run_time() {
    let (addr, seen) = hostile_server().await;
    let c = Cluster::start("prod-east", "default").await;
    let before = seen.requests.load(Ordering::SeqCst);
    // Variables filled at run time escape the checks made on the file: the step makes them.
    let fin = http_run(
        &c,
        "creds",
        "variables:\n  base: { default: \"http://deploy:hunter2-pw@hostile.test\" }\n",
        &format!(
            r#"      - id: creds
        run:
          http.check:
            url: "{{{{ base }}}}/redirect"
            resolve: {{ hostile.test: "{addr}" }}
"#
        ),
        &[],
    )
    .await;
    let e = one_line(&fin, "creds");
    assert!(e.contains("holds credentials"), "{e}");
    // The variable is not secret (its value is journaled with the run's); the step's own records
    // never show it.
    let steps: String = fin
        .journal
        .lines()
        .filter(|l| !l.contains("\"run_started\""))
        .collect();
    for (place, text) in [("output", &fin.output), ("step records", &steps)] {
        assert!(
            !text.contains("hunter2"),
            "the password reached the {place}: {text}"
        );
    }
    assert_eq!(
        seen.requests.load(Ordering::SeqCst),
        before,
        "a request went out"
    );

    // An interval past the clock's end: refused in one line, not a panic.
    let fin = http_run(
        &c,
        "interval",
        "variables:\n  every: { default: \"18446744073709551615\" }\n",
        &format!(
            r#"      - id: interval
        run:
          http.check:
            url: http://hostile.test/redirect
            resolve: {{ hostile.test: "{addr}" }}
            requests: 3
            interval: "{{{{ every }}}}"
            expect_status: 302
        expect: {{ timeout: 5s }}
"#
        ),
        &[],
    )
    .await;
    let e = one_line(&fin, "interval");
    assert!(e.contains("too long"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progressive_steps_on_a_cluster_without_their_kinds_fail_with_one_line() {
    let c = Cluster::start("prod-east", "shop").await;
    c.namespace("shop");
    let steps = [
        ("status", "argo.status: { rollout: shop }"),
        ("promote", "argo.promote: { rollout: shop }"),
        ("abort", "argo.abort: { rollout: shop }"),
        ("retry", "argo.retry: { rollout: shop }"),
        ("undo", "argo.undo: { rollout: shop }"),
        (
            "image",
            "argo.set_image: { rollout: shop, image: \"shop:2\" }",
        ),
        ("sync", "argocd.sync: { app: shop }"),
        ("wait", "argocd.wait: { app: shop, health: Healthy }"),
        ("autosync", "argocd.auto_sync: { app: shop, enabled: true }"),
        (
            "patch",
            "kube.patch: { resource: rollouts.argoproj.io/shop, patch: { spec: { paused: true } } }",
        ),
        (
            "patch-kind",
            "kube.patch: { resource: rollout/shop, patch: { spec: { paused: true } } }",
        ),
    ];
    for (i, (id, step)) in steps.iter().enumerate() {
        let started = Instant::now();
        let fin = run_steps(
            &c,
            "nocrd",
            &format!("run-{i}"),
            &format!("      - id: {id}\n        run:\n          {step}\n        expect: {{ timeout: 10s }}\n"),
        )
        .await;
        let e = one_line(&fin, id);
        assert!(
            started.elapsed() < Duration::from_secs(9),
            "{id}: {:?}: {e}",
            started.elapsed()
        );
        assert!(
            e.contains("\"shop\"") || e.contains("resource type \"rollout"),
            "{id}: the line names what is missing: {e}"
        );
        assert!(fin.changes_of(id).is_empty(), "{id}: journaled a change");
        eprintln!("{id}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_status_with_no_controller_or_a_status_of_wrong_types_times_out_with_its_line() {
    let c = Cluster::start_with(
        Config {
            no_controllers: true,
            ..Config::fast()
        },
        "prod-east",
        "shop",
    )
    .await;
    c.sb.apply_yaml(tollgate_sandbox::crds::ARGO_ROLLOUTS, "argo-rollouts.yaml")
        .expect("the CRD applies");
    c.namespace("shop");
    let api = rollouts(&c);
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.list(&ListParams::default()).await.is_err() {
        assert!(Instant::now() < deadline, "Rollouts never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ro: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "shop"}},
            "strategy": {"canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}},
            "template": {"metadata": {"labels": {"app": "shop"}},
                         "spec": {"containers": [{"name": "shop", "image": "shop:1"}]}},
        },
    }))
    .unwrap();
    api.create(&PostParams::default(), &ro)
        .await
        .expect("created");

    // No controller: no status ever. The step ends at its timeout, saying what it waited for.
    let started = Instant::now();
    let fin = run_steps(
        &c,
        "nostatus",
        "run-1",
        "      - id: healthy\n        run:\n          argo.status: { rollout: shop, until: \"step 1\" }\n        expect: { timeout: 2s }\n",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(!fin.succeeded());
    assert!(
        fin.output
            .contains("timed out waiting for rollout/shop to be at step 1"),
        "{}\n{}",
        fin.output,
        fin.events_text()
    );

    // A step past the rollout's last (it has two): said at once, not at the timeout.
    let started = Instant::now();
    let fin = run_steps(
        &c,
        "nostep",
        "run-0",
        "      - id: far\n        run:\n          argo.status: { rollout: shop, until: \"step 3\" }\n        expect: { timeout: 20s }\n",
    )
    .await;
    let e = one_line(&fin, "far");
    assert!(
        e.contains("has 2 canary steps: `step 3` is never reached"),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A status of the wrong types everywhere: read as missing, never a panic.
    let mut bad = serde_json::to_value(api.get("shop").await.unwrap()).unwrap();
    bad["status"] = json!({
        "phase": 7, "currentStepIndex": "two", "replicas": "four", "readyReplicas": [1],
        "canary": "x", "pauseConditions": "y", "conditions": {"type": "Available"},
        "observedGeneration": {"x": 1}, "abort": "yes", "stableRS": 3, "currentPodHash": false,
        "blueGreen": [], "message": {"a": 1},
    });
    let bad: DynamicObject = serde_json::from_value(bad).unwrap();
    let status_api: Api<DynamicObject> = api.clone();
    let written = status_api
        .replace_status("shop", &PostParams::default(), &bad)
        .await;
    eprintln!(
        "status written: {:?}",
        written.as_ref().map(|o| o.data.get("status").cloned())
    );
    let fin = run_steps(
        &c,
        "badstatus",
        "run-2",
        "      - id: healthy\n        run:\n          argo.status: { rollout: shop }\n        expect: { timeout: 2s }\n      - id: promote\n        run:\n          argo.promote: { rollout: shop }\n        expect: { timeout: 2s }\n",
    )
    .await;
    assert!(!fin.succeeded());
    assert!(
        fin.output
            .contains("timed out waiting for rollout/shop to be healthy"),
        "{}\n{}",
        fin.output,
        fin.events_text()
    );

    // Deleted while a step follows it: the next look says so, in one line.
    let api2 = api.clone();
    // Degraded with a message over several lines: the failure is still one line.
    let mut degraded = serde_json::to_value(api.get("shop").await.unwrap()).unwrap();
    let generation = degraded["metadata"]["generation"].clone();
    degraded["status"] = json!({
        "phase": "Degraded",
        "message": "ProgressDeadlineExceeded: ReplicaSet \"shop-1\" has timed out progressing.\n\nsee the events\n",
        "observedGeneration": generation.to_string(),
    });
    let degraded: DynamicObject = serde_json::from_value(degraded).unwrap();
    api.replace_status("shop", &PostParams::default(), &degraded)
        .await
        .expect("status written");
    let fin = run_steps(
        &c,
        "degraded",
        "run-3",
        "      - id: healthy\n        run:\n          argo.status: { rollout: shop }\n        expect: { timeout: 5s }\n",
    )
    .await;
    let e = one_line(&fin, "healthy");
    assert!(
        e.starts_with("rollout/shop is Degraded: ProgressDeadlineExceeded:"),
        "{e}"
    );
    assert!(e.contains("progressing.; see the events"), "{e}");

    // Deleted as the step starts (before its first look or between two): either way the step
    // says so in one line instead of waiting out its 20 s.
    let deleter =
        tokio::spawn(async move { api2.delete("shop", &DeleteParams::default()).await.is_ok() });
    let started = Instant::now();
    let fin = run_steps(
        &c,
        "deleted",
        "run-4",
        "      - id: healthy\n        run:\n          argo.status: { rollout: shop }\n        expect: { timeout: 20s }\n",
    )
    .await;
    assert!(deleter.await.unwrap(), "deleted");
    let e = one_line(&fin, "healthy");
    assert!(e.contains("not found"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

const PATCH_FIXTURE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
type: Opaque
data: {password: b2xkLXBhc3N3b3JkLTdmMw==}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: "api:1"}]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_patch_of_a_secret_or_a_bad_patch_shows_no_value_and_changes_nothing() {
    // The old value (`old-password-7f3`, base64 above) and the new one.
    const OLD_B64: &str = "b2xkLXBhc3N3b3JkLTdmMw==";
    const NEW: &str = "new-password-c41a";
    let c = Cluster::start("prod-east", "shop").await;
    c.load(PATCH_FIXTURE);
    let fin = run_steps(
        &c,
        "secret",
        "run-1",
        &format!(
            r#"      - id: rotate
        run:
          kube.patch: {{ resource: secret/db, patch: {{ stringData: {{ password: {NEW} }} }} }}
      - id: back
        run:
          kube.revert: {{ step: rotate }}
"#
        ),
    )
    .await;
    assert!(fin.error_of("rotate").is_none(), "{}", fin.events_text());
    let e = one_line(&fin, "back");
    assert!(e.contains("cannot be put back"), "{e}");
    let step_records: String = fin
        .journal
        .lines()
        .filter(|l| !l.contains("\"step_started\""))
        .collect();
    for (place, text) in [
        ("output", &fin.output),
        ("events", &fin.events_text()),
        ("journal", &step_records),
    ] {
        for v in [OLD_B64, "old-password-7f3", NEW] {
            assert!(!text.contains(v), "`{v}` reached the {place}: {text}");
        }
    }

    // A json patch whose `test` fails, one whose path is not there, one the server's validation
    // refuses: each one line, nothing changed, no value shown.
    let api: Api<DynamicObject> = Api::namespaced_with(
        c.sb.client(),
        "shop",
        &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
    );
    let before = serde_json::to_value(api.get("db").await.unwrap()).unwrap();
    let fin = run_steps(
        &c,
        "secret",
        "run-2",
        r#"      - id: test-fails
        run:
          kube.patch:
            resource: secret/db
            type: json
            patch:
              - { op: test, path: /data/password, value: "Z3Vlc3NlZC12YWx1ZS05OWE=" }
              - { op: replace, path: /data/password, value: "cmVwbGFjZWQtOWIy" }
"#,
    )
    .await;
    let e = one_line(&fin, "test-fails");
    assert!(e.contains("secret/db"), "{e}");
    for v in ["Z3Vlc3NlZC12YWx1ZS05OWE=", "cmVwbGFjZWQtOWIy", OLD_B64] {
        assert!(
            !fin.output.contains(v)
                && !fin
                    .journal
                    .lines()
                    .filter(|l| !l.contains("\"step_started\""))
                    .any(|l| l.contains(v)),
            "`{v}` shown: {e}\n{}",
            fin.output
        );
    }
    let fin = run_steps(
        &c,
        "others",
        "run-3",
        r#"      - id: no-path
        run:
          kube.patch: { resource: deployment/api, type: json, patch: [{ op: remove, path: /spec/nothing/here }] }
"#,
    )
    .await;
    one_line(&fin, "no-path");
    let fin = run_steps(
        &c,
        "others",
        "run-4",
        r#"      - id: invalid
        run:
          kube.patch: { resource: deployment/api, patch: { spec: { replicas: many } } }
"#,
    )
    .await;
    let e = one_line(&fin, "invalid");
    assert!(e.starts_with("cannot patch deployment"), "{e}");
    assert!(e.contains("spec.replicas"), "{e}");
    assert!(fin.changes_of("invalid").is_empty());
    let after = serde_json::to_value(api.get("db").await.unwrap()).unwrap();
    assert_eq!(
        before["data"], after["data"],
        "a failed patch changed the Secret"
    );

    // Reverting a patch of an object deleted since: one line, nothing created.
    let deployments: Api<DynamicObject> = Api::namespaced_with(
        c.sb.client(),
        "shop",
        &ApiResource::erase::<k8s_openapi::api::apps::v1::Deployment>(&()),
    );
    let fin = run_steps(
        &c,
        "gone",
        "run-5",
        r#"      - id: label
        run:
          kube.patch: { resource: deployment/api, patch: { metadata: { labels: { tier: web } } } }
"#,
    )
    .await;
    assert!(fin.error_of("label").is_none(), "{}", fin.events_text());
    deployments
        .delete("api", &DeleteParams::default())
        .await
        .expect("deleted");
    let fin = run_steps(
        &c,
        "gone",
        "run-6",
        "      - id: back\n        run:\n          kube.revert: { step: label, run: run-5 }\n",
    )
    .await;
    let e = one_line(&fin, "back");
    assert!(e.contains("gone"), "{e}");
    assert!(
        deployments.get_opt("api").await.unwrap().is_none(),
        "created again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_sync_with_no_controller_never_takes_a_stale_operation_for_its_own() {
    let c = Cluster::start_with(
        Config {
            no_controllers: true,
            ..Config::fast()
        },
        "prod-east",
        "shop",
    )
    .await;
    c.sb.apply_yaml(tollgate_sandbox::crds::ARGOCD_APPLICATION, "argocd.yaml")
        .expect("the CRD applies");
    c.namespace("argocd");
    let api = apps(&c);
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.list(&ListParams::default()).await.is_err() {
        assert!(Instant::now() < deadline, "Applications never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The last sync succeeded long ago, and its health message runs over lines.
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {"project": "default",
                 "source": {"repoURL": "https://git.example/shop.git", "path": "deploy", "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"}},
        "status": {"sync": {"status": "OutOfSync", "revision": "c2"},
                   "health": {"status": "Degraded", "message": "pod shop-1 crashed\nexit 1"},
                   "operationState": {"phase": "Succeeded", "message": "done",
                                      "syncResult": {"revision": "c1"}}},
    }))
    .unwrap();
    api.create(&PostParams::default(), &app)
        .await
        .expect("created");
    let fin = run_steps(
        &c,
        "stale",
        "run-1",
        "      - id: sync\n        run:\n          argocd.sync: { app: shop }\n        expect: { timeout: 2s }\n      - id: wait\n        run:\n          argocd.wait: { app: shop, health: Healthy }\n        expect: { timeout: 2s }\n",
    )
    .await;
    assert!(!fin.succeeded(), "{}", fin.output);
    assert!(
        fin.output
            .contains("timed out waiting for the sync of application/shop"),
        "a stale operation was taken for the new one:\n{}\n{}",
        fin.output,
        fin.events_text()
    );
    let fin = run_steps(
        &c,
        "stale",
        "run-2",
        "      - id: wait\n        run:\n          argocd.wait: { app: shop, health: Healthy }\n        expect: { timeout: 2s }\n",
    )
    .await;
    let line = fin
        .output
        .lines()
        .find(|l| l.contains("timed out waiting for application/shop"))
        .unwrap_or_else(|| panic!("no timeout line:\n{}", fin.output))
        .to_string();
    assert!(line.contains("(pod shop-1 crashed; exit 1)"), "{line}");
}
