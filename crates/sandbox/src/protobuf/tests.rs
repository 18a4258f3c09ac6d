//! Bodies as kubectl v1.37 sends them (`testdata/create-*.pb`, captured from `kubectl create …`),
//! and broken ones, which are refused, never a panic.

use super::*;

fn body(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/protobuf/testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_job_from_kubectl_create_job() {
    let v = decode(&body("create-jobs.pb")).unwrap();
    assert_eq!(v["apiVersion"], "batch/v1");
    assert_eq!(v["kind"], "Job");
    assert_eq!(v["metadata"], json!({"name": "smoke"}));
    let c = &v["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "smoke");
    assert_eq!(c["image"], "busybox");
    assert_eq!(c["command"], json!(["echo", "hi"]));
    assert_eq!(c["resources"], json!({}));
    assert_eq!(v["spec"]["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(v["status"], json!({}));
}

#[test]
fn a_deployment_keeps_an_explicit_zero_of_replicas() {
    let v = decode(&body("create-deployments.pb")).unwrap();
    assert_eq!(v["kind"], "Deployment");
    assert_eq!(v["metadata"]["labels"], json!({"app": "d1"}));
    assert_eq!(v["spec"]["replicas"], 0);
    assert_eq!(v["spec"]["selector"], json!({"matchLabels": {"app": "d1"}}));
    assert_eq!(
        v["spec"]["template"]["metadata"]["labels"],
        json!({"app": "d1"})
    );
    assert_eq!(
        v["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx"
    );
    assert!(v["metadata"].get("creationTimestamp").is_none(), "{v}");
}

#[test]
fn configmaps_secrets_and_namespaces() {
    let cm = decode(&body("create-configmaps.pb")).unwrap();
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["data"], json!({"a": "b"}));
    let s = decode(&body("create-secrets.pb")).unwrap();
    assert_eq!(s["kind"], "Secret");
    assert_eq!(s["data"], json!({"a": "Yg=="}));
    let ns = decode(&body("create-namespaces.pb")).unwrap();
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "n1");
}

/// Protobuf bytes, written by hand.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn bytes_field(n: u64, b: &[u8], out: &mut Vec<u8>) {
    varint(n << 3 | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Vec::new();
    bytes_field(1, api_version.as_bytes(), &mut tm);
    bytes_field(2, kind.as_bytes(), &mut tm);
    let mut out = b"k8s\0".to_vec();
    bytes_field(1, &tm, &mut out);
    bytes_field(2, raw, &mut out);
    out
}

#[test]
fn times_quantities_and_int_or_strings() {
    // Pod{metadata{creationTimestamp{seconds}}, spec{containers[{resources{requests{cpu: 250m}}, ports[{containerPort 80}]}]}}
    let mut time = Vec::new();
    varint(1 << 3, &mut time);
    varint(1_700_000_000, &mut time);
    let mut meta = Vec::new();
    bytes_field(8, &time, &mut meta);
    let mut q = Vec::new();
    bytes_field(1, b"250m", &mut q);
    let mut entry = Vec::new();
    bytes_field(1, b"cpu", &mut entry);
    bytes_field(2, &q, &mut entry);
    let mut res = Vec::new();
    bytes_field(2, &entry, &mut res);
    let mut c = Vec::new();
    bytes_field(1, b"web", &mut c);
    bytes_field(8, &res, &mut c);
    let mut spec = Vec::new();
    bytes_field(2, &c, &mut spec);
    let mut pod = Vec::new();
    bytes_field(1, &meta, &mut pod);
    bytes_field(2, &spec, &mut pod);
    let v = decode(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(v["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(
        v["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "250m"
    );
}

/// `secretKeyRef`, `configMapRef` and a probe's `httpGet` are embedded Go structs: their fields
/// come out inline (`{name, key}`), as the JSON API has them, not under `localObjectReference`.
#[test]
fn embedded_structs_come_out_inline() {
    // Pod{spec{containers[{name: web, env[{name: DB, valueFrom{secretKeyRef{{name: s}, key: k}}}],
    //   envFrom[{configMapRef{{name: c}}}], readinessProbe{handler{httpGet{path: /health}}}}]}}
    let mut local = Vec::new();
    bytes_field(1, b"s", &mut local);
    let mut selector = Vec::new();
    bytes_field(1, &local, &mut selector);
    bytes_field(2, b"k", &mut selector);
    let mut from = Vec::new();
    bytes_field(4, &selector, &mut from);
    let mut env = Vec::new();
    bytes_field(1, b"DB", &mut env);
    bytes_field(3, &from, &mut env);
    let mut cm_local = Vec::new();
    bytes_field(1, b"c", &mut cm_local);
    let mut cm = Vec::new();
    bytes_field(1, &cm_local, &mut cm);
    let mut env_from = Vec::new();
    bytes_field(2, &cm, &mut env_from);
    let mut get = Vec::new();
    bytes_field(1, b"/health", &mut get);
    let mut handler = Vec::new();
    bytes_field(2, &get, &mut handler);
    let mut probe = Vec::new();
    bytes_field(1, &handler, &mut probe);
    let mut c = Vec::new();
    bytes_field(1, b"web", &mut c);
    bytes_field(7, &env, &mut c);
    bytes_field(19, &env_from, &mut c);
    bytes_field(11, &probe, &mut c);
    let mut spec = Vec::new();
    bytes_field(2, &c, &mut spec);
    let mut pod = Vec::new();
    bytes_field(2, &spec, &mut pod);
    let v = decode(&envelope("v1", "Pod", &pod)).unwrap();
    let c = &v["spec"]["containers"][0];
    assert_eq!(
        c["env"][0]["valueFrom"]["secretKeyRef"],
        json!({"name": "s", "key": "k"}),
        "{v}"
    );
    assert_eq!(c["envFrom"][0]["configMapRef"], json!({"name": "c"}), "{v}");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health", "{v}");
}

#[test]
fn broken_bodies_are_refused_not_panicked_on() {
    let good = body("create-deployments.pb");
    for cut in 0..good.len() {
        let _ = decode(&good[..cut]);
    }
    for i in 4..good.len() {
        let mut b = good.clone();
        b[i] ^= 0xff;
        let _ = decode(&b);
    }
    let e = decode(b"{\"kind\":\"Pod\"}").unwrap_err();
    assert_eq!(e.code, 400);
    assert_eq!(decode(&envelope("v1", "", &[])).unwrap_err().code, 400);
    let e = decode(&envelope("example.com/v1", "Widget", &[])).unwrap_err();
    assert_eq!(e.code, 415, "{e}");
    // A length far past the end.
    let mut b = b"k8s\0".to_vec();
    b.extend_from_slice(&[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(decode(&b).unwrap_err().code, 400);
    // Objects nested in objects (metadata.managedFields[0].fieldsV1 holding an object) deeper
    // than any real one: refused.
    let mut body = envelope("v1", "Namespace", &[]);
    for _ in 0..100 {
        let mut fields = Vec::new();
        bytes_field(1, &body, &mut fields);
        let mut entry = Vec::new();
        bytes_field(7, &fields, &mut entry);
        let mut meta = Vec::new();
        bytes_field(17, &entry, &mut meta);
        let mut ns = Vec::new();
        bytes_field(1, &meta, &mut ns);
        body = envelope("v1", "Namespace", &ns);
    }
    assert_eq!(decode(&body).unwrap_err().code, 400);
}

#[test]
fn go_durations() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(3_600_000_000_000 + 60_000_000_000), "1h1m0s");
}
