//! kube-rs conformance tests for the Kubernetes API backends tollgate is tested against.
//!
//! The same backend-agnostic bodies (list/get, watch, `runtime::watcher`, pod logs) run
//! against:
//!
//! * **kmock** (PyPI `kmock` 0.8, an independent in-memory API emulator; see
//!   `tests/kmock/server.py`), so that tollgate's client code is
//!   not tuned to the quirks of its own sandbox. The venv is made by `tests/kmock/setup.sh` on
//!   first use (6-11 s cold, a few ms warm). `TOLLGATE_SKIP_KMOCK=1` skips these tests (they print
//!   that and pass); otherwise a backend that cannot be installed or started fails them.
//! * **tollgate's sandbox** (`tollgate_sandbox`): see `sandbox_backend()`.
//!
//! The bodies are strict, real-Kubernetes expectations. Each difference of a backend that
//! they tolerate is a named flag in [`Quirks`]; the sandbox runs with none of them set.
//!
//! # Differences of kmock 0.8 from a real API server, as observed through kube-rs 5
//!
//! Tolerated by the tests ([`Quirks`] flags set for kmock):
//! * `ignores_label_selectors` / `ignores_field_selectors`: `labelSelector` and
//!   `fieldSelector` are ignored; a list (or watch) returns every object of the namespace.
//! * `lists_without_kind`: list responses carry no `kind`/`apiVersion`, so kube-rs's
//!   `ObjectList::types` falls back to `v1`/`List` instead of `v1`/`PodList`. Their
//!   `metadata.resourceVersion` is the literal `"..."` (opaque, so legal, but it names no
//!   point in history).
//! * `watch_replays_existing`: a watch ignores `resourceVersion` and first replays every
//!   existing object as `ADDED`; for `runtime::watcher` these come as `Apply` right after
//!   `InitDone` (the objects the list had just given as `InitApply`). From kmock's source,
//!   changes made while it replays can be lost (it subscribes to its event bus only after
//!   the replay), so the tests take the replay in before changing anything.
//!
//! Made right in `server.py` (kmock alone breaks kube-rs or the tests here):
//! * Error reasons: a missing object is HTTP 404 with `code: 404` but `reason: "Object Not
//!   Found"` (also "Resource Not Found", "Endpoint Not Found"; 409 is "Object Already
//!   Exists"). kube-rs trusts a known reason over the code, so `Status::is_not_found()` was
//!   false and `Api::get_opt` failed with an error instead of giving `None`. server.py maps
//!   them to `NotFound`/`AlreadyExists`. Error bodies still carry a Python traceback in
//!   `details` (ignored by kube-rs).
//! * Objects are stored exactly as posted: no `resourceVersion`, `uid`, `creationTimestamp`,
//!   nor `metadata.namespace` (kube-runtime's watcher fails without a resourceVersion).
//!   server.py stamps them (one monotonic counter for resourceVersions, new ones on every
//!   patch and delete).
//! * Namespaces are unusable: `GET /api/v1/namespaces` is HTTP 500 (a `ValueError` in kmock's
//!   URL parser) and `/api/v1/namespaces/NAME` is read as "namespace NAME, no resource"
//!   (404 "Resource Not Found"). server.py parses those paths itself and seeds `default`,
//!   `kube-system`, `kube-public` and the test namespace (kmock starts with no objects).
//! * No pod logs at all: `GET .../pods/NAME/log` returns the Pod's JSON. server.py serves
//!   logs from its own buffer (container, tailLines, limitBytes, sinceSeconds, timestamps,
//!   follow; 404 for a missing pod, 400 for a missing/unknown container, as the kubelet/API do)
//!   and takes lines to add on `POST /_kmock/logs/{ns}/{pod}/{container}`.
//!
//! Seen with curl but not exercised by these bodies: a create answers `200` (real:
//! `201 Created`); `PUT` (replace) is not routed (404); every PATCH is a plain recursive dict
//! merge whatever its content type (strategic-merge lists are replaced, server-side apply has
//! no field ownership), except RFC 6902 JSON patches; nothing reconciles (Pods never get a
//! `status`, a Deployment makes no Pods). From kmock's source: `timeoutSeconds` of a watch is
//! ignored and no BOOKMARK events are sent.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::watcher;
use kube::{Client, Config, ResourceExt};
use serde_json::json;

/// How long any single expected event, line or response may take.
const STEP: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

/// Documented ways in which a backend differs from a real API server (see the top of this
/// file). Every field is `false` for a strict, real-Kubernetes backend.
#[derive(Clone, Copy, Debug, Default)]
struct Quirks {
    /// `labelSelector` is ignored: lists return non-matching objects too.
    ignores_label_selectors: bool,
    /// `fieldSelector` is ignored: lists return non-matching objects too.
    ignores_field_selectors: bool,
    /// List responses have no `kind`/`apiVersion` (kube-rs then reports `v1`/`List`).
    lists_without_kind: bool,
    /// A watch ignores its `resourceVersion` and first replays existing objects as ADDED.
    watch_replays_existing: bool,
}

impl Quirks {
    const KMOCK: Quirks = Quirks {
        ignores_label_selectors: true,
        ignores_field_selectors: true,
        lists_without_kind: true,
        watch_replays_existing: true,
    };
}

/// One running API server and a client for it.
struct Backend {
    name: &'static str,
    client: Client,
    /// A namespace that exists on the backend and that the test may fill.
    namespace: String,
    quirks: Quirks,
    kind: BackendKind,
}

enum BackendKind {
    /// `tests/kmock/server.py`, stopped by PID on drop (held, never read).
    Kmock(#[allow(dead_code)] KmockProcess),
    /// tollgate's sandbox, in process, without controllers (nothing changes objects but the
    /// test, as on kmock); dropping it stops the server.
    Sandbox(Box<tollgate_sandbox::Sandbox>),
}

impl Backend {
    /// Appends `lines` to the log of `container` in pod `pod` of the test namespace; open
    /// `follow=true` streams of that container receive them.
    async fn append_log(&self, pod: &str, container: &str, lines: &[&str]) {
        match &self.kind {
            BackendKind::Kmock(_) => {
                let path = format!("/_kmock/logs/{}/{pod}/{container}", self.namespace);
                let body = serde_json::to_vec(&json!({ "lines": lines })).unwrap();
                let request = kube::core::Request::new(path)
                    .create(&PostParams::default(), body)
                    .unwrap();
                let answer = tokio::time::timeout(STEP, self.client.request_text(request))
                    .await
                    .expect("kmock log injection timed out")
                    .expect("kmock log injection failed");
                assert!(answer.contains("appended"), "unexpected answer: {answer}");
            }
            BackendKind::Sandbox(sb) => {
                for line in lines {
                    sb.logs().append(&self.namespace, pod, container, line);
                }
            }
        }
    }
}

/// A kube-rs client for a plain-HTTP API server at `addr` (`127.0.0.1:PORT`), with
/// `namespace` as its default namespace.
fn client_for(addr: &str, namespace: &str) -> Client {
    let mut config = Config::new(format!("http://{addr}").parse().expect("server address"));
    config.default_namespace = namespace.to_string();
    Client::try_from(config).expect("kube client")
}

/// tollgate's sandbox on 127.0.0.1, port 0, with the test namespace created.
async fn sandbox_backend() -> Backend {
    let sb = tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config {
        no_controllers: true,
        ..tollgate_sandbox::Config::fast()
    })
    .await
    .expect("sandbox starts");
    let client = client_for(&sb.addr().to_string(), TEST_NAMESPACE);
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": TEST_NAMESPACE}})).unwrap(),
    )
    .await
    .expect("test namespace");
    Backend {
        name: "sandbox",
        client,
        namespace: TEST_NAMESPACE.to_string(),
        quirks: Quirks::default(),
        kind: BackendKind::Sandbox(Box::new(sb)),
    }
}

const TEST_NAMESPACE: &str = "tollgate-test";

/// The venv's python, after running `tests/kmock/setup.sh` once per test process (it is a
/// no-op when the venv is already there).
fn kmock_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let started = Instant::now();
            crate::common::venv::setup("kmock")?;
            let elapsed = started.elapsed();
            if elapsed > Duration::from_secs(1) {
                eprintln!("kmock venv set up in {elapsed:.1?}");
            }
            Ok(crate::common::venv::dir("kmock", "KMOCK_VENV").join("bin/python"))
        })
        .clone()
}

/// A running `tests/kmock/server.py`.
struct KmockProcess {
    child: Child,
    /// Held open: the server exits when it closes (`--exit-on-stdin-eof`), so it cannot
    /// outlive a test process that was killed.
    _stdin: ChildStdin,
    _dir: tempfile::TempDir,
    stderr_path: PathBuf,
}

impl KmockProcess {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s; always reaped.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KmockProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("--- kmock server stderr ---\n{}", self.stderr());
        }
    }
}

/// Starts kmock with `TEST_NAMESPACE`, or `None` (after saying so) if `TOLLGATE_SKIP_KMOCK=1`.
async fn kmock_backend() -> Option<Backend> {
    if std::env::var("TOLLGATE_SKIP_KMOCK").as_deref() == Ok("1") {
        println!("skipped: TOLLGATE_SKIP_KMOCK=1, the kmock backend is not run");
        return None;
    }
    let python = kmock_python().unwrap_or_else(|e| panic!("kmock is not installable: {e}"));
    let (process, addr) = tokio::task::spawn_blocking(move || start_kmock(&python))
        .await
        .expect("start_kmock panicked")
        .unwrap_or_else(|e| panic!("kmock did not start: {e}"));
    Some(Backend {
        name: "kmock",
        client: client_for(&addr, TEST_NAMESPACE),
        namespace: TEST_NAMESPACE.to_string(),
        quirks: Quirks::KMOCK,
        kind: BackendKind::Kmock(process),
    })
}

/// Spawns server.py and waits (30 s at most) for its `LISTENING 127.0.0.1:PORT` line.
fn start_kmock(python: &Path) -> Result<(KmockProcess, String), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kmock/server.py");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let stderr_path = dir.path().join("server.stderr");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let mut child = Command::new(python)
        .arg(&script)
        .args(["--namespace", TEST_NAMESPACE, "--exit-on-stdin-eof"])
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut process = KmockProcess {
        child,
        _stdin: stdin,
        _dir: dir,
        stderr_path,
    };

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining, so that the server can never block on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                return match line.trim().strip_prefix("LISTENING ") {
                    Some(addr) if addr.starts_with("127.0.0.1:") => Ok((process, addr.to_string())),
                    _ => Err(format!(
                        "unexpected first line {line:?}; stderr:\n{}",
                        process.stderr()
                    )),
                };
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                if let Ok(Some(status)) = process.child.try_wait() {
                    return Err(format!(
                        "server exited ({status}); stderr:\n{}",
                        process.stderr()
                    ));
                }
            }
            Err(_) => {
                process.stop();
                return Err(format!(
                    "no LISTENING line within 30 s; stderr:\n{}",
                    process.stderr()
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn pod(name: &str, labels: serde_json::Value, containers: &[&str]) -> Pod {
    let containers: Vec<_> = containers
        .iter()
        .map(|c| json!({ "name": c, "image": "registry.invalid/app:1" }))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": labels },
        "spec": { "containers": containers },
    }))
    .unwrap()
}

async fn create(api: &Api<Pod>, pod: &Pod) -> Pod {
    tokio::time::timeout(STEP, api.create(&PostParams::default(), pod))
        .await
        .expect("create timed out")
        .unwrap_or_else(|e| panic!("create {}: {e}", pod.name_any()))
}

fn names<'a>(pods: impl IntoIterator<Item = &'a Pod>) -> BTreeSet<String> {
    pods.into_iter().map(|p| p.name_any()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The `Status` of a kube-rs API error, or a panic naming what was got instead.
fn api_status<T: std::fmt::Debug>(result: kube::Result<T>, what: &str) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("{what}: expected an API error, got {other:?}"),
    }
}

/// Checks a 404 the way real Kubernetes gives it: code 404, reason `NotFound`.
fn assert_not_found(status: &kube::core::Status, what: &str) {
    assert_eq!(
        (status.code, status.reason.as_str()),
        (404, "NotFound"),
        "{what}: {status:?}"
    );
    assert!(status.is_not_found(), "{what}: {status:?}");
}

async fn next_within<S: Stream + Unpin>(stream: &mut S, what: &str) -> S::Item {
    tokio::time::timeout(STEP, stream.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {STEP:?}"))
        .unwrap_or_else(|| panic!("{what}: the stream ended"))
}

// ---------------------------------------------------------------------------------------------
// Backend-agnostic test bodies
// ---------------------------------------------------------------------------------------------

/// (a) `Api::<Namespace>` and `Api::<Pod>` list and get, selectors, 404 on a missing pod.
async fn list_and_get(b: &Backend) {
    let quirks = b.quirks;
    let namespaces: Api<Namespace> = Api::all(b.client.clone());
    let list = namespaces
        .list(&ListParams::default())
        .await
        .expect("list namespaces");
    let listed: BTreeSet<_> = list.items.iter().map(|n| n.name_any()).collect();
    assert!(listed.contains(&b.namespace), "{}: {listed:?}", b.name);
    assert!(listed.contains("default"), "{}: {listed:?}", b.name);
    let ns = namespaces.get(&b.namespace).await.expect("get namespace");
    assert_eq!(ns.name_any(), b.namespace);
    let missing_ns = api_status(
        namespaces.get("no-such-namespace").await,
        "get missing namespace",
    );
    assert_not_found(&missing_ns, "get missing namespace");

    // Api::default_namespaced uses the client's default namespace: the test namespace.
    let pods: Api<Pod> = Api::default_namespaced(b.client.clone());
    let elsewhere: Api<Pod> = Api::namespaced(b.client.clone(), "default");
    create(
        &pods,
        &pod("web-1", json!({"app": "web", "tier": "front"}), &["app"]),
    )
    .await;
    create(
        &pods,
        &pod("web-2", json!({"app": "web", "tier": "back"}), &["app"]),
    )
    .await;
    create(
        &pods,
        &pod("db-1", json!({"app": "db"}), &["db", "exporter"]),
    )
    .await;
    create(&elsewhere, &pod("decoy", json!({"app": "web"}), &["app"])).await;

    let list = pods.list(&ListParams::default()).await.expect("list pods");
    assert_eq!(
        names(&list.items),
        set(&["web-1", "web-2", "db-1"]),
        "{}",
        b.name
    );
    if quirks.lists_without_kind {
        assert_eq!(
            (list.types.api_version.as_str(), list.types.kind.as_str()),
            ("v1", "List")
        );
    } else {
        assert_eq!(
            (list.types.api_version.as_str(), list.types.kind.as_str()),
            ("v1", "PodList")
        );
    }
    assert!(
        list.metadata
            .resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty())
    );
    let mut uids = BTreeSet::new();
    for p in &list.items {
        let meta = &p.metadata;
        assert_eq!(
            meta.namespace.as_deref(),
            Some(b.namespace.as_str()),
            "{meta:?}"
        );
        assert!(
            meta.resource_version
                .as_deref()
                .is_some_and(|rv| !rv.is_empty()),
            "{meta:?}"
        );
        assert!(meta.creation_timestamp.is_some(), "{meta:?}");
        assert!(
            uids.insert(meta.uid.clone().expect("uid")),
            "uids must differ: {meta:?}"
        );
    }

    let all: Api<Pod> = Api::all(b.client.clone());
    let everywhere = names(
        &all.list(&ListParams::default())
            .await
            .expect("list all pods")
            .items,
    );
    assert!(
        everywhere.is_superset(&set(&["web-1", "web-2", "db-1", "decoy"])),
        "{everywhere:?}"
    );

    let web = names(
        &pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items,
    );
    let front = names(
        &pods
            .list(&ListParams::default().labels("app=web,tier!=back"))
            .await
            .unwrap()
            .items,
    );
    if quirks.ignores_label_selectors {
        assert!(web.is_superset(&set(&["web-1", "web-2"])), "{web:?}");
        assert!(front.contains("web-1"), "{front:?}");
    } else {
        assert_eq!(web, set(&["web-1", "web-2"]));
        assert_eq!(front, set(&["web-1"]));
    }
    let by_name = names(
        &pods
            .list(&ListParams::default().fields("metadata.name=db-1"))
            .await
            .unwrap()
            .items,
    );
    if quirks.ignores_field_selectors {
        assert!(by_name.contains("db-1"), "{by_name:?}");
    } else {
        assert_eq!(by_name, set(&["db-1"]));
    }

    let got = pods.get("db-1").await.expect("get pod");
    assert_eq!(got.name_any(), "db-1");
    assert_eq!(got.labels().get("app").map(String::as_str), Some("db"));
    let containers: Vec<_> = got
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(containers, ["db", "exporter"]);
    assert!(pods.get_opt("db-1").await.unwrap().is_some());
    assert!(pods.get_opt("nope").await.unwrap().is_none());
    // A pod of another namespace is not found through this one.
    let status = api_status(pods.get("decoy").await, "get pod of another namespace");
    assert_not_found(&status, "get pod of another namespace");

    let status = api_status(pods.get("no-such-pod").await, "get missing pod");
    assert_not_found(&status, "get missing pod");
}

/// (b) `Api::watch` from a list's resourceVersion sees ADDED/MODIFIED/DELETED for a pod
/// created, patched and deleted after the list.
async fn watch_events(b: &Backend) {
    let pods: Api<Pod> = Api::namespaced(b.client.clone(), &b.namespace);
    create(&pods, &pod("before-1", json!({"app": "old"}), &["app"])).await;
    create(&pods, &pod("before-2", json!({"app": "old"}), &["app"])).await;

    let list = pods.list(&ListParams::default()).await.expect("list");
    let existing = names(&list.items);
    assert_eq!(existing, set(&["before-1", "before-2"]));
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut events = pods
        .watch(&WatchParams::default().timeout(60), &rv)
        .await
        .expect("watch")
        .boxed();

    if b.quirks.watch_replays_existing {
        // Take the replay in first: changes made during it could be lost (see the top).
        let mut replayed = BTreeSet::new();
        while replayed != existing {
            match next_within(&mut events, "replay")
                .await
                .expect("watch event")
            {
                WatchEvent::Added(p) if existing.contains(&p.name_any()) => {
                    replayed.insert(p.name_any());
                }
                WatchEvent::Bookmark(_) => {}
                other => panic!("{}: unexpected event during the replay: {other:?}", b.name),
            }
        }
    }

    let created = create(&pods, &pod("watched", json!({"app": "new"}), &["app"])).await;
    let patched = pods
        .patch(
            "watched",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"stage": "patched"}}})),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched.labels().get("stage").map(String::as_str),
        Some("patched")
    );
    assert_eq!(patched.labels().get("app").map(String::as_str), Some("new"));
    assert_ne!(patched.resource_version(), created.resource_version());
    pods.delete("watched", &DeleteParams::default())
        .await
        .expect("delete");
    let status = api_status(pods.get("watched").await, "get deleted pod");
    assert_not_found(&status, "get deleted pod");

    let mut seen = Vec::new();
    let mut versions = Vec::new();
    loop {
        let event = next_within(&mut events, "watch")
            .await
            .expect("watch event");
        let (kind, p) = match event {
            WatchEvent::Added(p) => ("ADDED", p),
            WatchEvent::Modified(p) => ("MODIFIED", p),
            WatchEvent::Deleted(p) => ("DELETED", p),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(e) => panic!("{}: watch error {e:?}", b.name),
        };
        assert_eq!(
            p.name_any(),
            "watched",
            "{}: {kind} of an object not changed after the list",
            b.name
        );
        if kind == "MODIFIED" {
            assert_eq!(p.labels().get("stage").map(String::as_str), Some("patched"));
        }
        seen.push(kind);
        versions.push(p.resource_version().unwrap_or_default());
        if kind == "DELETED" {
            break;
        }
    }
    assert_eq!(seen, ["ADDED", "MODIFIED", "DELETED"], "{}", b.name);
    assert_eq!(versions[0], created.resource_version().unwrap());
    assert_eq!(versions[1], patched.resource_version().unwrap());
    assert!(
        versions.iter().collect::<BTreeSet<_>>().len() == 3,
        "each event has its own resourceVersion: {versions:?}"
    );
}

/// (c) `kube::runtime::watcher` gives Init, InitApply for each existing pod, InitDone, then
/// Apply for pods created afterwards.
async fn runtime_watcher(b: &Backend) {
    let pods: Api<Pod> = Api::namespaced(b.client.clone(), &b.namespace);
    create(&pods, &pod("old-1", json!({"app": "old"}), &["app"])).await;
    create(&pods, &pod("old-2", json!({"app": "old"}), &["app"])).await;
    let existing = set(&["old-1", "old-2"]);

    let mut stream = watcher(pods.clone(), watcher::Config::default()).boxed();
    match next_within(&mut stream, "watcher")
        .await
        .expect("watcher event")
    {
        watcher::Event::Init => {}
        other => panic!("{}: expected Init first, got {other:?}", b.name),
    }
    let mut initial = BTreeSet::new();
    loop {
        match next_within(&mut stream, "watcher init")
            .await
            .expect("watcher event")
        {
            watcher::Event::InitApply(p) => {
                assert!(p.resource_version().is_some(), "{p:?}");
                initial.insert(p.name_any());
            }
            watcher::Event::InitDone => break,
            other => panic!("{}: unexpected event during init: {other:?}", b.name),
        }
    }
    assert_eq!(initial, existing, "{}", b.name);

    // `fresh` is created before the watch request goes out (the watcher is lazy), `later`
    // once events are flowing from the watch.
    for name in ["fresh", "later"] {
        create(&pods, &pod(name, json!({"app": "new"}), &["app"])).await;
        loop {
            match next_within(&mut stream, name).await.expect("watcher event") {
                watcher::Event::Apply(p) if p.name_any() == name => {
                    assert_eq!(p.labels().get("app").map(String::as_str), Some("new"));
                    break;
                }
                watcher::Event::Apply(p)
                    if b.quirks.watch_replays_existing
                        && (existing.contains(&p.name_any()) || p.name_any() == "fresh") => {}
                other => panic!("{}: waiting for Apply({name}), got {other:?}", b.name),
            }
        }
    }
}

/// (d) Pod logs: `logs` with `container` and `tail_lines`, errors, and `log_stream` with
/// `follow` receiving lines added after it opened.
async fn pod_logs(b: &Backend) {
    let pods: Api<Pod> = Api::namespaced(b.client.clone(), &b.namespace);
    create(
        &pods,
        &pod("logger", json!({"app": "log"}), &["app", "sidecar"]),
    )
    .await;
    create(&pods, &pod("single", json!({"app": "log"}), &["only"])).await;
    b.append_log("logger", "app", &["one", "two", "three"])
        .await;
    b.append_log("logger", "sidecar", &["side 1"]).await;
    b.append_log("single", "only", &["alone"]).await;

    let params = |container: &str, tail: Option<i64>| LogParams {
        container: Some(container.to_string()),
        tail_lines: tail,
        ..LogParams::default()
    };
    let all = pods
        .logs("logger", &params("app", None))
        .await
        .expect("logs");
    assert_eq!(all, "one\ntwo\nthree\n");
    let tail = pods
        .logs("logger", &params("app", Some(2)))
        .await
        .expect("logs tail");
    assert_eq!(tail, "two\nthree\n");
    let side = pods
        .logs("logger", &params("sidecar", Some(10)))
        .await
        .expect("sidecar logs");
    assert_eq!(side, "side 1\n");
    // The only container needs no name.
    let alone = pods
        .logs("single", &LogParams::default())
        .await
        .expect("single logs");
    assert_eq!(alone, "alone\n");

    let status = api_status(
        pods.logs("logger", &LogParams::default()).await,
        "logs, no container",
    );
    assert_eq!(
        status.code, 400,
        "two containers and none named: {status:?}"
    );
    let status = api_status(
        pods.logs("logger", &params("nope", None)).await,
        "logs of bad container",
    );
    assert_eq!(status.code, 400, "unknown container: {status:?}");
    let status = api_status(
        pods.logs("no-such-pod", &params("app", None)).await,
        "logs of missing pod",
    );
    assert_not_found(&status, "logs of missing pod");

    let follow = |tail: i64| LogParams {
        container: Some("app".to_string()),
        follow: true,
        tail_lines: Some(tail),
        ..LogParams::default()
    };
    // One stream starts with the last line; one with nothing (so the response must begin
    // before the container has written anything new).
    let with_tail = tokio::time::timeout(STEP, pods.log_stream("logger", &follow(1)))
        .await
        .expect("log_stream (tail 1) did not open")
        .expect("log_stream (tail 1)");
    let empty = tokio::time::timeout(STEP, pods.log_stream("logger", &follow(0)))
        .await
        .expect("log_stream (tail 0) did not open: no response before the first line")
        .expect("log_stream (tail 0)");
    let mut with_tail = with_tail.lines().boxed();
    let mut empty = empty.lines().boxed();
    assert_eq!(
        next_within(&mut with_tail, "tail line").await.unwrap(),
        "three"
    );

    b.append_log("logger", "app", &["four"]).await;
    assert_eq!(
        next_within(&mut with_tail, "followed line").await.unwrap(),
        "four"
    );
    assert_eq!(
        next_within(&mut empty, "followed line").await.unwrap(),
        "four"
    );
    b.append_log("logger", "sidecar", &["side 2"]).await;
    b.append_log("logger", "app", &["five", "six"]).await;
    for expected in ["five", "six"] {
        assert_eq!(
            next_within(&mut with_tail, expected).await.unwrap(),
            expected
        );
        assert_eq!(next_within(&mut empty, expected).await.unwrap(), expected);
    }
}

// ---------------------------------------------------------------------------------------------
// kmock
// ---------------------------------------------------------------------------------------------

/// `backend_tests!(start_fn, [attributes], test_name => body, ...)`: one `#[tokio::test]` per
/// body, run against the backend that `start_fn()` gives (`None`: skipped, passes).
macro_rules! backend_tests {
    ($backend:ident, [$($attr:meta),*], $test:ident => $body:ident $(, $tests:ident => $bodies:ident)* $(,)?) => {
        #[tokio::test]
        $(#[$attr])*
        async fn $test() {
            let Some(backend) = $backend().await else { return };
            $body(&backend).await;
        }
        backend_tests!($backend, [$($attr),*] $(, $tests => $bodies)*);
    };
    ($backend:ident, [$($attr:meta),*] $(,)?) => {};
}

backend_tests!(kmock_backend, [],
    kmock_list_and_get => list_and_get,
    kmock_watch_events => watch_events,
    kmock_runtime_watcher => runtime_watcher,
    kmock_pod_logs => pod_logs,
);

// ---------------------------------------------------------------------------------------------
// tollgate's own sandbox, strict (Quirks::default()).
// ---------------------------------------------------------------------------------------------

async fn sandbox_backend_opt() -> Option<Backend> {
    Some(sandbox_backend().await)
}

backend_tests!(sandbox_backend_opt, [],
    sandbox_list_and_get => list_and_get,
    sandbox_watch_events => watch_events,
    sandbox_runtime_watcher => runtime_watcher,
    sandbox_pod_logs => pod_logs,
);
