//! The Argo CD controller's logic against a real git repository made in a temp dir and a store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::object::PointerLookup;
use crate::resources::by_kind;

/// A git repository in a temp dir, removed on drop.
pub(crate) struct Repo {
    pub dir: PathBuf,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Repo {
    pub(crate) fn new() -> Repo {
        let dir = std::env::temp_dir().join(format!(
            "tollgate-argocd-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["config", "user.email", "t@example.com"]);
        git(&dir, &["config", "user.name", "t"]);
        git(&dir, &["config", "commit.gpgsign", "false"]);
        Repo { dir }
    }

    pub(crate) fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    /// Write files (path, content; empty content removes the file) and commit: the new sha.
    pub(crate) fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (p, text) in files {
            let path = self.dir.join(p);
            if text.is_empty() {
                let _ = std::fs::remove_file(&path);
            } else {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).expect("dir");
                }
                std::fs::write(&path, text).expect("write");
            }
        }
        git(&self.dir, &["add", "-A"]);
        git(&self.dir, &["commit", "-q", "-m", message]);
        git(&self.dir, &["rev-parse", "HEAD"])
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn deployment(image: &str, replicas: i64) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: {image}\n        ports:\n        - containerPort: 8080\n"
    )
}

pub(crate) const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n";

/// An Application over a store and a memory, its stored versions kept as the store would.
struct Harness {
    store: Arc<Store>,
    mem: ArgoCdMemory,
    timing: Timing,
    app: Value,
    writes: Vec<Value>,
    rv: u64,
}

impl Harness {
    fn new(repo_url: &str, sync_policy: Value) -> Harness {
        let store = Store::new();
        for ns in ["default", "shop", "argocd"] {
            let _ = store.create(
                by_kind("Namespace"),
                "",
                json!({"metadata": {"name": ns}}),
                false,
            );
        }
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd", "resourceVersion": "1"},
            "spec": {
                "project": "default",
                "source": {"repoURL": repo_url, "path": "app", "targetRevision": "HEAD"},
                "destination": {"server": IN_CLUSTER, "namespace": "shop"},
                "syncPolicy": sync_policy,
            },
        });
        Harness {
            store,
            mem: ArgoCdMemory::default(),
            timing: Timing {
                speed: 1000.0,
                log_rate: 0.0,
            },
            app,
            writes: Vec::new(),
            rv: 1,
        }
    }

    fn reconcile(&mut self, level: Level) -> f64 {
        let current = self.app.clone();
        let mut stored = self.app.clone();
        let mut writes = Vec::new();
        let mut rv = self.rv;
        let secs = reconcile(
            &self.store,
            &mut self.mem,
            &self.timing,
            &current,
            level,
            &mut |v: &Value| {
                if str_at(v, "/metadata/resourceVersion")
                    != str_at(&stored, "/metadata/resourceVersion")
                {
                    return Err("conflict".into());
                }
                rv += 1;
                let mut next = v.clone();
                next["metadata"]["resourceVersion"] = json!(rv.to_string());
                stored = next.clone();
                writes.push(next.clone());
                Ok(Arc::new(next))
            },
        );
        self.rv = rv;
        self.app = stored;
        self.writes = writes;
        secs
    }

    /// Ask for a sync as Argo CD's API server does.
    fn request_sync(&mut self, prune: bool) {
        self.app["operation"] = json!({
            "sync": {"prune": prune, "syncStrategy": {"hook": {}}},
            "initiatedBy": {"username": "admin"},
        });
    }

    fn live(&self, kind: &str, name: &str) -> Option<Arc<Value>> {
        self.store.get(by_kind(kind), "shop", name).ok()
    }

    fn set_replicas(&self, n: i64) {
        self.store
            .modify(by_kind("Deployment"), "shop", "web", Part::Main, |o| {
                o["spec"]["replicas"] = json!(n);
                Ok(())
            })
            .expect("patch");
    }
}

fn files(image: &str) -> Vec<(&'static str, String)> {
    vec![
        ("app/deployment.yaml", deployment(image, 2)),
        ("app/service.yaml", SERVICE.to_string()),
    ]
}

fn commit(repo: &Repo, f: &[(&'static str, String)], msg: &str) -> String {
    let refs: Vec<(&str, &str)> = f.iter().map(|(p, t)| (*p, t.as_str())).collect();
    repo.commit(&refs, msg)
}

#[test]
fn sync_operation_applies_the_manifests_and_writes_the_status() {
    let repo = Repo::new();
    let sha = commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(&repo.url(), Value::Null);
    let secs = h.reconcile(Level::Latest);
    assert_eq!(secs, RECONCILIATION_TIMEOUT_SECONDS);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "OutOfSync");
    assert_eq!(str_at(&h.app, "/status/sync/revision"), sha);
    assert_eq!(str_at(&h.app, "/status/health/status"), "Missing");
    assert!(
        h.live("Deployment", "web").is_none(),
        "no sync without an operation"
    );
    let res = h.app["status"]["resources"]
        .as_array()
        .expect("resources")
        .clone();
    assert_eq!(res.len(), 2);
    assert!(
        res.iter()
            .all(|r| r["status"] == "OutOfSync" && r["health"]["status"] == "Missing")
    );

    h.request_sync(false);
    h.reconcile(Level::Latest);
    // First the operation Running, then its result.
    assert_eq!(h.writes.len(), 2);
    assert_eq!(
        str_at(&h.writes[0], "/status/operationState/phase"),
        "Running"
    );
    assert!(h.writes[0].get("operation").is_some());
    let app = &h.app;
    assert!(app.get("operation").is_none(), "operation cleared");
    let st = &app["status"];
    assert_eq!(st["sync"]["status"], "Synced");
    assert_eq!(st["sync"]["revision"], json!(sha));
    assert_eq!(
        st["sync"]["comparedTo"]["source"]["repoURL"],
        json!(repo.url())
    );
    assert_eq!(st["sync"]["comparedTo"]["destination"]["namespace"], "shop");
    assert_eq!(st["sourceType"], "Directory");
    assert_eq!(st["summary"]["images"], json!(["shop/web:1.0"]));
    assert!(!str_at(app, "/status/reconciledAt").is_empty());
    let op = &st["operationState"];
    assert_eq!(op["phase"], "Succeeded");
    assert_eq!(op["message"], SYNC_SUCCEEDED);
    assert_eq!(op["operation"]["initiatedBy"]["username"], "admin");
    assert_eq!(op["syncResult"]["revision"], json!(sha));
    assert_eq!(op["syncResult"]["source"]["path"], "app");
    assert!(!str_at(op, "/startedAt").is_empty() && !str_at(op, "/finishedAt").is_empty());
    let results = op["syncResult"]["resources"].as_array().expect("results");
    // Helm's order: the Service before the Deployment.
    assert_eq!(results[0]["kind"], "Service");
    assert_eq!(results[0]["message"], "service/web created");
    assert_eq!(results[1]["message"], "deployment.apps/web created");
    assert!(
        results
            .iter()
            .all(|r| r["status"] == "Synced" && r["namespace"] == "shop")
    );
    let hist = st["history"].as_array().expect("history");
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0]["id"], 0);
    assert_eq!(hist[0]["revision"], json!(sha));
    assert!(!str_at(&hist[0], "/deployedAt").is_empty());
    let d = h.live("Deployment", "web").expect("deployment applied");
    assert_eq!(
        str_at(&d, "/metadata/labels/app.kubernetes.io~1instance"),
        "shop"
    );
    assert_eq!(d["spec"]["replicas"], 2);
    assert!(h.live("Service", "web").is_some());
    // The deployment controller has not observed it yet: Progressing.
    assert_eq!(st["health"]["status"], "Progressing");
    let rs = st["resources"].as_array().expect("resources");
    let dep = rs
        .iter()
        .find(|r| r["kind"] == "Deployment")
        .expect("deployment");
    assert_eq!(dep["group"], "apps");
    assert_eq!(dep["version"], "v1");
    assert_eq!(dep["status"], "Synced");
    assert_eq!(dep["health"]["status"], "Progressing");

    let events: Vec<String> = h
        .mem
        .events
        .iter()
        .map(|(_, t, r, m)| format!("{t} {r} {m}"))
        .collect();
    assert!(
        events.contains(&format!(
            "Normal OperationCompleted Sync operation to {sha} succeeded"
        )),
        "{events:?}"
    );
    assert!(
        events.contains(
            &"Normal ResourceUpdated Updated sync status: OutOfSync -> Synced".to_string()
        ),
        "{events:?}"
    );
    // A second sync changes nothing and says so.
    h.request_sync(false);
    h.reconcile(Level::Latest);
    let results = h.app["status"]["operationState"]["syncResult"]["resources"].clone();
    assert_eq!(results[1]["message"], "deployment.apps/web unchanged");
    assert_eq!(h.app["status"]["history"][1]["id"], 1);
}

#[test]
fn automated_sync_picks_up_a_new_commit_once() {
    let repo = Repo::new();
    let first = commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(&repo.url(), json!({"automated": {"prune": true}}));
    h.reconcile(Level::Latest);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "Synced");
    assert_eq!(
        h.app["status"]["operationState"]["operation"]["initiatedBy"]["automated"],
        true
    );
    assert_eq!(
        str_at(&h.app, "/status/operationState/syncResult/revision"),
        first
    );

    let second = commit(&repo, &files("shop/web:2.0"), "second");
    // A change of a managed object compares against the revision last compared: nothing new.
    h.reconcile(Level::Recent);
    assert_eq!(str_at(&h.app, "/status/sync/revision"), first);
    let image = |h: &Harness| {
        str_at(
            &h.live("Deployment", "web").expect("live"),
            "/spec/template/spec/containers/0/image",
        )
        .to_string()
    };
    assert_eq!(image(&h), "shop/web:1.0");
    // The refresh annotation makes it look now, and is removed.
    h.app["metadata"]["annotations"] = json!({REFRESH_ANNOTATION: "normal"});
    h.reconcile(Level::Recent);
    assert!(
        h.app
            .at("/metadata/annotations/argocd.argoproj.io~1refresh")
            .is_none()
    );
    assert_eq!(str_at(&h.app, "/status/sync/revision"), second);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "Synced");
    assert_eq!(image(&h), "shop/web:2.0");
    assert_eq!(h.app["status"]["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        h.app["status"]["summary"]["images"],
        json!(["shop/web:2.0"])
    );
}

#[test]
fn self_heal_puts_a_manual_change_back_after_its_delay() {
    let repo = Repo::new();
    commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(
        &repo.url(),
        json!({"automated": {"prune": true, "selfHeal": true}}),
    );
    h.reconcile(Level::Latest);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "Synced");
    // A manual canary: kubectl scale.
    h.set_replicas(5);
    let wait = h.reconcile(Level::Recent);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "OutOfSync");
    assert_eq!(
        h.live("Deployment", "web").expect("live")["spec"]["replicas"],
        5
    );
    assert!(
        wait > 0.0 && wait <= SELF_HEAL_TIMEOUT_SECONDS,
        "requeued for the self-heal delay: {wait}"
    );
    // After the delay (simulated seconds at speed 1000) the drift is put back: the controller
    // reconciles again when its timer fires, as here until the deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut heals = 0;
    while h.live("Deployment", "web").expect("live")["spec"]["replicas"] != 2 {
        assert!(std::time::Instant::now() < deadline, "not healed");
        std::thread::sleep(Duration::from_millis(1));
        h.reconcile(Level::Recent);
        heals += 1;
    }
    assert!(heals >= 1);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "Synced");
    let op = &h.app["status"]["operationState"]["operation"]["sync"];
    assert_eq!(op["autoHealAttemptsCount"], 1);
    assert_eq!(
        op["resources"],
        json!([{"group": "apps", "kind": "Deployment", "name": "web"}])
    );
}

#[test]
fn without_self_heal_the_drift_stays_out_of_sync() {
    let repo = Repo::new();
    commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(&repo.url(), json!({"automated": {"prune": true}}));
    h.reconcile(Level::Latest);
    h.set_replicas(5);
    h.reconcile(Level::Recent);
    std::thread::sleep(h.timing.delay(SELF_HEAL_TIMEOUT_SECONDS * 2.0));
    let secs = h.reconcile(Level::Latest);
    assert_eq!(secs, RECONCILIATION_TIMEOUT_SECONDS);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "OutOfSync");
    assert_eq!(
        h.live("Deployment", "web").expect("live")["spec"]["replicas"],
        5
    );
    assert_eq!(h.app["status"]["history"].as_array().map(Vec::len), Some(1));
    let dep = h.app["status"]["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["kind"] == "Deployment").cloned())
        .expect("deployment");
    assert_eq!(dep["status"], "OutOfSync");
}

#[test]
fn prune_deletes_what_git_dropped_only_when_asked() {
    let repo = Repo::new();
    commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(&repo.url(), Value::Null);
    h.request_sync(false);
    h.reconcile(Level::Latest);
    assert!(h.live("Service", "web").is_some());
    repo.commit(&[("app/service.yaml", "")], "drop the service");
    h.request_sync(false);
    h.reconcile(Level::Latest);
    assert!(h.live("Service", "web").is_some(), "kept without prune");
    assert_eq!(str_at(&h.app, "/status/sync/status"), "OutOfSync");
    let svc = h.app["status"]["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["kind"] == "Service").cloned())
        .expect("service listed");
    assert_eq!(svc["requiresPruning"], true);
    let results = h.app["status"]["operationState"]["syncResult"]["resources"].clone();
    assert!(
        results
            .as_array()
            .expect("results")
            .iter()
            .any(|r| r["status"] == "PruneSkipped" && r["message"] == "ignored (requires pruning)")
    );
    h.request_sync(true);
    h.reconcile(Level::Latest);
    assert!(h.live("Service", "web").is_none(), "pruned");
    assert_eq!(str_at(&h.app, "/status/sync/status"), "Synced");
    let results = h.app["status"]["operationState"]["syncResult"]["resources"].clone();
    assert!(
        results
            .as_array()
            .expect("results")
            .iter()
            .any(|r| r["kind"] == "Service" && r["status"] == "Pruned")
    );
    assert_eq!(
        h.app["status"]["resources"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_bad_source_is_a_condition_not_a_panic() {
    let cases: Vec<(String, &str)> = vec![
        (
            "https://github.com/example/shop.git".into(),
            "only local git repositories",
        ),
        ("/nonexistent/tollgate/repo".into(), "no such directory"),
        (
            std::env::temp_dir().display().to_string(),
            "not a git repository",
        ),
    ];
    for (url, want) in cases {
        let mut h = Harness::new(&url, json!({"automated": {"prune": true}}));
        h.request_sync(false);
        h.reconcile(Level::Latest);
        assert_eq!(str_at(&h.app, "/status/sync/status"), "Unknown", "{url}");
        let cond = &h.app["status"]["conditions"][0];
        assert_eq!(cond["type"], "ComparisonError", "{url}");
        assert!(str_at(cond, "/message").contains(want), "{url}: {cond}");
        assert_eq!(
            str_at(&h.app, "/status/operationState/phase"),
            "Error",
            "{url}"
        );
        assert!(h.app.get("operation").is_none());
    }
    let repo = Repo::new();
    commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(&repo.url(), Value::Null);
    h.app["spec"]["source"]["targetRevision"] = json!("no-such-branch");
    h.reconcile(Level::Latest);
    assert!(
        str_at(&h.app, "/status/conditions/0/message")
            .contains("unable to resolve 'no-such-branch'")
    );
    h.app["spec"]["source"]["targetRevision"] = json!("main");
    h.app["spec"]["source"]["path"] = json!("missing");
    h.reconcile(Level::Latest);
    assert!(str_at(&h.app, "/status/conditions/0/message").contains("app path does not exist"));
    repo.commit(
        &[("kust/kustomization.yaml", "resources: []\n")],
        "kustomize",
    );
    h.app["spec"]["source"]["path"] = json!("kust");
    h.reconcile(Level::Latest);
    assert!(str_at(&h.app, "/status/conditions/0/message").contains("Kustomize"));
    repo.commit(&[("bad/x.yaml", "a: [unclosed\n")], "bad yaml");
    h.app["spec"]["source"]["path"] = json!("bad");
    h.reconcile(Level::Latest);
    assert_eq!(
        str_at(&h.app, "/status/conditions/0/type"),
        "ComparisonError"
    );
    h.app["spec"]["source"]["path"] = json!("app");
    h.app["spec"]["destination"] = json!({"server": "https://10.0.0.1:6443", "namespace": "shop"});
    h.reconcile(Level::Latest);
    assert_eq!(
        str_at(&h.app, "/status/conditions/0/type"),
        "InvalidSpecError"
    );
    // Fixed: the conditions go.
    h.app["spec"]["destination"] = json!({"name": "in-cluster", "namespace": "shop"});
    h.reconcile(Level::Latest);
    assert!(
        h.app.at("/status/conditions").is_none(),
        "{}",
        h.app["status"]
    );
    assert_eq!(str_at(&h.app, "/status/sync/status"), "OutOfSync");
}

#[test]
fn health_follows_a_deployment_rolling_out() {
    let repo = Repo::new();
    commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(&repo.url(), Value::Null);
    h.request_sync(false);
    h.reconcile(Level::Latest);
    let set_status = |h: &Harness, updated: i64, available: i64| {
        h.store
            .modify(by_kind("Deployment"), "shop", "web", Part::All, |o| {
                o["status"] = json!({"observedGeneration": 1, "replicas": 2,
                    "updatedReplicas": updated, "availableReplicas": available});
                Ok(())
            })
            .expect("status");
    };
    set_status(&h, 1, 1);
    h.reconcile(Level::Recent);
    assert_eq!(str_at(&h.app, "/status/health/status"), "Progressing");
    let dep = |h: &Harness| {
        h.app["status"]["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["kind"] == "Deployment").cloned())
            .expect("deployment")
    };
    assert!(str_at(&dep(&h), "/health/message").contains("1 out of 2 new replicas"));
    // A status change is not drift.
    assert_eq!(str_at(&h.app, "/status/sync/status"), "Synced");
    set_status(&h, 2, 2);
    h.reconcile(Level::Recent);
    assert_eq!(str_at(&h.app, "/status/health/status"), "Healthy");
    assert_eq!(dep(&h)["health"]["status"], "Healthy");
}

#[test]
fn git_reader_reads_directories_and_revisions() {
    let repo = Repo::new();
    let first = repo.commit(
        &[
            ("app/a.yaml", SERVICE),
            ("app/sub/b.json", "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}"),
            ("app/README.md", "not a manifest"),
        ],
        "first",
    );
    git(&repo.dir, &["tag", "v1"]);
    repo.commit(
        &[(
            "app/c.yml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )],
        "second",
    );
    let dir = &repo.dir;
    assert_eq!(git::resolve(dir, "v1").as_deref(), Ok(first.as_str()));
    assert_eq!(
        git::resolve(dir, &first[..10]).as_deref(),
        Ok(first.as_str())
    );
    let head = git::resolve(dir, "").expect("HEAD");
    assert_eq!(git::resolve(dir, "main").as_deref(), Ok(head.as_str()));
    assert!(git::resolve(dir, "--upload-pack=x").is_err());
    let flat = git::manifests(dir, &head, "app", false).expect("flat");
    assert_eq!(flat.len(), 2);
    let deep = git::manifests(dir, &head, "./app/", true).expect("deep");
    let names: Vec<&str> = deep.iter().map(name_of).collect();
    assert_eq!(names, vec!["web", "c", "b"]);
    assert_eq!(
        git::manifests(dir, &first, "app", false).map(|m| m.len()),
        Ok(1)
    );
    assert!(git::manifests(dir, &head, "../etc", false).is_err());
    assert_eq!(
        git::repo_path("file:///srv/git/shop").ok(),
        Some(PathBuf::from("/srv/git/shop"))
    );
    assert!(git::repo_path("git@github.com:x/y.git").is_err());
}

#[test]
fn malformed_applications_do_not_panic() {
    let repo = Repo::new();
    commit(&repo, &files("shop/web:1.0"), "first");
    let bad = [
        json!({"status": "x"}),
        json!({"spec": null}),
        json!({"spec": {"source": 7, "destination": "x"}}),
        json!({"spec": {"source": {"repoURL": 1, "path": ["a"]}}}),
        json!({"operation": "sync"}),
        json!({"operation": {"sync": {"revision": "--output=/tmp/x", "resources": "all"}}}),
        json!({"spec": {"syncPolicy": {"automated": "yes"}}}),
        json!({"status": {"history": "x", "operationState": 3, "sync": []}}),
        json!({"spec": {"revisionHistoryLimit": -3}, "operation": {"sync": {}}}),
    ];
    for patch in bad {
        let mut h = Harness::new(&repo.url(), json!({"automated": {"selfHeal": true}}));
        crate::patch::merge_patch(&mut h.app, &patch);
        h.reconcile(Level::Latest);
        h.reconcile(Level::Recent);
        assert!(h.app["status"].is_object(), "{patch}: {}", h.app);
        assert!(!str_at(&h.app, "/status/sync/status").is_empty(), "{patch}");
    }
}

#[test]
fn only_status_changes_of_an_application_do_not_requeue_it() {
    let a = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "spec": {"x": 1}});
    let mut b = a.clone();
    b["metadata"]["resourceVersion"] = json!("2");
    b["status"] = json!({"sync": {"status": "Synced"}});
    assert!(status_only(Some(&a), &b));
    b["operation"] = json!({"sync": {}});
    assert!(!status_only(Some(&a), &b));
    let mut c = a.clone();
    c["metadata"]["annotations"] = json!({REFRESH_ANNOTATION: "normal"});
    assert!(!status_only(Some(&a), &c));
    assert!(!status_only(None, &a));
}

#[test]
fn ignore_differences_leaves_the_listed_fields_out_of_the_comparison() {
    let repo = Repo::new();
    commit(&repo, &files("shop/web:1.0"), "first");
    let mut h = Harness::new(&repo.url(), Value::Null);
    h.app["spec"]["ignoreDifferences"] = json!([
        {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
        {"group": "", "kind": "Service", "name": "other", "jsonPointers": ["/spec/ports"]},
    ]);
    h.request_sync(false);
    h.reconcile(Level::Latest);
    h.set_replicas(5);
    h.reconcile(Level::Recent);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "Synced");
    // The image is still compared, and so is the Service the second rule does not name.
    h.store
        .modify(by_kind("Service"), "shop", "web", Part::Main, |o| {
            o["spec"]["ports"][0]["port"] = json!(81);
            Ok(())
        })
        .expect("patch");
    h.reconcile(Level::Recent);
    assert_eq!(str_at(&h.app, "/status/sync/status"), "OutOfSync");
}

/// A Deployment the API server refuses: its template's labels do not match its selector.
fn invalid_deployment(image: &str) -> String {
    deployment(image, 2).replace(
        "      labels:\n        app: web\n    spec:",
        "      labels:\n        app: other\n    spec:",
    )
}

#[test]
fn a_failed_sync_is_retried_with_its_back_off_then_fails_saying_how_often() {
    let repo = Repo::new();
    commit(
        &repo,
        &[
            ("app/deployment.yaml", invalid_deployment("shop/web:1.0")),
            ("app/service.yaml", SERVICE.to_string()),
        ],
        "bad",
    );
    let mut h = Harness::new(&repo.url(), Value::Null);
    h.reconcile(Level::Latest);
    // Two retries, one simulated second apart (1 ms here).
    h.app["operation"] = json!({
        "sync": {"prune": false},
        "initiatedBy": {"username": "admin"},
        "retry": {"limit": 2, "backoff": {"duration": "1", "factor": 1}},
    });
    let secs = h.reconcile(Level::Latest);
    assert!(secs <= 1.0, "requeued for the retry: {secs}");
    let st = h.app["status"]["operationState"].clone();
    assert_eq!(st["phase"], "Running", "{st}");
    assert_eq!(st["retryCount"], 1);
    assert!(!str_at(&st, "/finishedAt").is_empty());
    let msg = str_at(&st, "/message");
    assert!(
        msg.starts_with(
            "one or more objects failed to apply, reason: Deployment.apps \"web\" is invalid: "
        ) && msg.contains(". Retrying attempt #1 at "),
        "{msg}"
    );
    assert!(h.app.get("operation").is_some(), "the operation stays");
    assert!(h.app.at("/status/history").is_none());
    assert!(
        !h.mem.events.iter().any(|e| e.2 == "OperationCompleted"),
        "not completed while retrying"
    );
    // Reconciled until the retries are used up.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut counts = vec![1];
    while h.app.get("operation").is_some() {
        assert!(std::time::Instant::now() < deadline, "{}", h.app["status"]);
        h.reconcile(Level::Recent);
        let n = h.app["status"]["operationState"]["retryCount"]
            .as_i64()
            .unwrap_or(0);
        if counts.last() != Some(&n) {
            counts.push(n);
        }
        std::thread::yield_now();
    }
    assert_eq!(counts, vec![1, 2]);
    let st = &h.app["status"]["operationState"];
    assert_eq!(st["phase"], "Failed");
    assert!(
        str_at(st, "/message").ends_with(" (retried 2 times)."),
        "{st}"
    );
    assert!(h.mem.events.iter().any(|e| e.2 == "OperationCompleted"));
    assert!(h.live("Deployment", "web").is_none());
}

#[test]
fn an_operation_waiting_for_its_retry_is_left_alone_until_then() {
    let repo = Repo::new();
    commit(
        &repo,
        &[("app/deployment.yaml", invalid_deployment("shop/web:1.0"))],
        "bad",
    );
    let mut h = Harness::new(&repo.url(), Value::Null);
    h.app["operation"] = json!({
        "sync": {"prune": false},
        "initiatedBy": {"username": "admin"},
        "retry": {"limit": 3, "backoff": {"duration": "1h", "maxDuration": "3h"}},
    });
    h.reconcile(Level::Latest);
    let before = h.app.clone();
    assert_eq!(before["status"]["operationState"]["retryCount"], 1);
    // The next attempt is 1h × 2^1 after the first one finished: the periodic refresh comes
    // first, and leaves the operation as it is.
    let secs = h.reconcile(Level::Latest);
    assert_eq!(secs, RECONCILIATION_TIMEOUT_SECONDS);
    assert_eq!(
        h.app["status"]["operationState"],
        before["status"]["operationState"]
    );
    assert_eq!(h.app["operation"], before["operation"]);
}

#[test]
fn an_automated_sync_retries_as_the_sync_policy_says() {
    let repo = Repo::new();
    commit(
        &repo,
        &[("app/deployment.yaml", invalid_deployment("shop/web:1.0"))],
        "bad",
    );
    let mut h = Harness::new(
        &repo.url(),
        json!({"automated": {}, "retry": {"limit": 1, "backoff": {"duration": "2m"}}}),
    );
    h.reconcile(Level::Latest);
    let st = &h.app["status"]["operationState"];
    assert_eq!(
        st["operation"]["retry"],
        json!({"limit": 1, "backoff": {"duration": "2m"}})
    );
    assert_eq!(st["phase"], "Running");
    assert_eq!(st["retryCount"], 1);
    // Without one, Argo CD's default of five attempts.
    let mut h = Harness::new(&repo.url(), json!({"automated": {}}));
    h.reconcile(Level::Latest);
    assert_eq!(
        h.app["status"]["operationState"]["operation"]["retry"],
        json!({"limit": 5})
    );
}

#[test]
fn retry_back_off_is_argo_cds() {
    let none = Value::Null;
    let waits: Vec<f64> = (0..8).map(|n| retry_backoff(&none, n).unwrap()).collect();
    assert_eq!(
        waits,
        vec![5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 180.0, 180.0]
    );
    let b = json!({"backoff": {"duration": "1h30m", "factor": 3, "maxDuration": "0"}});
    assert_eq!(retry_backoff(&b, 1).unwrap(), 5400.0 * 3.0);
    assert_eq!(parse_duration("90").unwrap(), 90.0);
    assert_eq!(parse_duration("2m").unwrap(), 120.0);
    assert_eq!(parse_duration("250ms").unwrap(), 0.25);
    for bad in ["", "soon", "5x", "1h-"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    assert_eq!(
        retry_backoff(&json!({"backoff": {"duration": "soon"}}), 0).unwrap_err(),
        "time: invalid duration \"soon\""
    );
    // A huge count or factor stays finite.
    assert_eq!(
        retry_backoff(&json!({"backoff": {"factor": 1e300}}), 1_000_000).unwrap(),
        180.0
    );
}
