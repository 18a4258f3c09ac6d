//! The `argocd.*` steps against the sandbox's own Argo CD application controller, through headless
//! runs. Each test makes a real git repository in a temp dir (a Deployment `web` and a Service
//! `web` under `app/`), commits to it, and points the Application `argocd/shop` at it with
//! `file:///…`; the controller compares, syncs, self-heals and writes every status: the tests
//! never write one.
//!
//! - `argocd.auto_sync` off and on, each journaled and undone exactly by `kube.revert`; a sync to
//!   another revision than the target one is refused while auto-sync is on;
//! - `argocd.sync` without a revision (the target one), then of a second commit: the operation as
//!   sent, Succeeded, that commit's image live, `argocd.wait` Synced and Healthy with its live
//!   line; the revision journaled as "before" is the one last synced (not the one compared), and
//!   `kube.revert` of the sync syncs back to it;
//! - a commit the API server refuses fails the step with Argo CD's message; an Application whose
//!   operation is still running (a failed sync waiting for its retry) is refused and left as it is;
//! - the GitOps trap: with automated sync and self-heal on, a `kube.set_image` made without first
//!   suspending auto-sync is put back by self-heal (a later `kube.wait` for the hotfix fails); with
//!   `argocd.auto_sync {enabled: false}` first the hotfix stays (Argo CD reports the drift and
//!   leaves it); `kube.revert` of that step turns self-heal back on, which puts git's image back.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::common::sandbox_cluster::{Cluster, Finished, run_steps};

const DEADLINE: Duration = Duration::from_secs(30);

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n";

/// Deployment `web`, two replicas of `image`; with `labels` other than `app: web` in its pod
/// template, one the API server refuses (the selector does not match).
fn deployment(image: &str, labels: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: {labels}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n        ports:\n        - containerPort: 8080\n"
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A git repository in a temp dir (branch `main`), the Application's source.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["config", "user.email", "ops@example.com"]);
        git(dir.path(), &["config", "user.name", "ops"]);
        git(dir.path(), &["config", "commit.gpgsign", "false"]);
        Repo { dir }
    }

    fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// `app/deployment.yaml` (as given) and `app/service.yaml` committed: the commit's sha.
    fn commit(&self, deployment: &str, message: &str) -> String {
        let app = self.dir.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("deployment.yaml"), deployment).unwrap();
        std::fs::write(app.join("service.yaml"), SERVICE).unwrap();
        git(self.dir.path(), &["add", "-A"]);
        git(self.dir.path(), &["commit", "-q", "-m", message]);
        git(self.dir.path(), &["rev-parse", "HEAD"])
    }
}

/// A sandbox with Argo CD's controller, a repository whose first commit (`first`) runs
/// `shop/web:1.0`, and the Application `argocd/shop` tracking its `main` with `sync_policy`.
struct Gitops {
    c: Cluster,
    repo: Repo,
    first: String,
}

/// The Applications of namespace `argocd`.
pub(crate) fn apps(c: &Cluster) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(c.sb.client(), "argocd", &ar)
}

async fn gitops(sync_policy: Value) -> Gitops {
    let repo = Repo::new();
    let first = repo.commit(&deployment("shop/web:1.0", "web"), "web 1.0");
    let c = Cluster::start("prod-east", "shop").await;
    c.sb.apply_yaml(
        tollgate_sandbox::crds::ARGOCD_APPLICATION,
        "argocd-application.yaml",
    )
    .expect("the Application CRD applies");
    c.namespace("argocd");
    c.namespace("shop");
    let api = apps(&c);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while api.list(&ListParams::default()).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Applications never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo.url(), "path": "app", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "syncPolicy": sync_policy,
        },
    }))
    .unwrap();
    api.create(&PostParams::default(), &app)
        .await
        .expect("application created");
    Gitops { c, repo, first }
}

async fn app(c: &Cluster) -> Value {
    serde_json::to_value(apps(c).get("shop").await.unwrap()).unwrap()
}

fn at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The Application once `f` holds of it (the controller's doing), within the deadline.
async fn until_app(c: &Cluster, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let a = app(c).await;
        if f(&a) {
            return a;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            a.get("status").unwrap_or(&Value::Null)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Synced, Healthy, and no operation in flight.
async fn settled(c: &Cluster) -> Value {
    until_app(c, "synced, healthy and idle", |a| {
        at(a, "/status/sync/status") == "Synced"
            && at(a, "/status/health/status") == "Healthy"
            && a.get("operation").is_none_or(Value::is_null)
            && at(a, "/status/operationState/phase") == "Succeeded"
    })
    .await
}

/// The live Deployment's image.
fn image(c: &Cluster) -> String {
    c.sb.store()
        .get(
            tollgate_sandbox::resources::by_kind("Deployment"),
            "shop",
            "web",
        )
        .map(|d| at(&d, "/spec/template/spec/containers/0/image").to_string())
        .unwrap_or_default()
}

async fn until_image(c: &Cluster, want: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while image(c) != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the live image stayed {:?}, not {want}",
            image(c)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Merges `patch` into the Application, as `kubectl patch --type merge` would.
async fn patch_app(c: &Cluster, patch: Value) {
    apps(c)
        .patch("shop", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("application patched");
}

/// Asks for a refresh (`argocd app get --refresh`) and waits until the controller compared
/// `revision`.
async fn refreshed_to(c: &Cluster, revision: &str) -> Value {
    patch_app(
        c,
        json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}),
    )
    .await;
    until_app(c, "the refresh", |a| {
        a.pointer("/metadata/annotations/argocd.argoproj.io~1refresh")
            .is_none()
            && at(a, "/status/sync/revision") == revision
    })
    .await
}

async fn run(c: &Cluster, run_id: &str, steps: &str) -> Finished {
    run_steps(c, "argocd", run_id, steps).await
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sync_off_and_on_are_journaled_and_undone_exactly() {
    let g = gitops(json!({"automated": {"prune": true, "selfHeal": true},
        "syncOptions": ["CreateNamespace=true"]}))
    .await;
    let c = &g.c;
    // The controller's automated sync of the first commit.
    let a = settled(c).await;
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"]["automated"],
        true
    );
    assert_eq!(image(c), "shop/web:1.0");

    // While auto-sync is on: a sync of the target revision is fine, one pinned to a commit is
    // refused as Argo CD's API refuses it, and nothing is set.
    let pinned = run(
        c,
        "run-0",
        &format!(
            r#"      - id: target
        run:
          argocd.sync: {{ app: shop }}
      - id: pinned
        run:
          argocd.sync: {{ app: shop, revision: {first} }}
"#,
            first = g.first
        ),
    )
    .await;
    assert_eq!(
        pinned.error_of("target"),
        None,
        "{}\n{}",
        pinned.output,
        pinned.events_text()
    );
    assert_eq!(
        pinned.error_of("pinned"),
        Some(format!(
            "application/shop: Cannot sync to {}: auto-sync currently set to main (turn it off first: argocd.auto_sync {{enabled: false}})",
            g.first
        ))
    );
    assert!(pinned.changes_of("pinned").is_empty());
    let a = settled(c).await;
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"],
        json!({"username": "tollgate"}),
        "the last operation is the target sync's"
    );

    let fin = run(
        c,
        "run-1",
        r#"      - id: manual
        run:
          argocd.auto_sync: { app: shop, enabled: false }
      - id: again
        run:
          argocd.auto_sync: { app: shop, enabled: false }
"#,
    )
    .await;
    assert!(fin.succeeded(), "{}", fin.output);
    assert!(
        fin.output.contains(
            r#"application/shop: automated sync on {"prune":true,"selfHeal":true} → off"#
        ),
        "{}",
        fin.output
    );
    assert!(
        fin.output
            .contains("application/shop: automated sync is already off")
    );
    assert!(fin.changes_of("again").is_empty());
    let changes = fin.changes_of("manual");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        changes[0],
        json!({"change": "auto_sync", "namespace": "argocd", "app": "shop",
            "before": {"prune": true, "selfHeal": true}, "after": null})
    );
    let a = app(c).await;
    assert_eq!(
        a.pointer("/spec/syncPolicy"),
        Some(&json!({"syncOptions": ["CreateNamespace=true"]}))
    );

    let back = run(
        c,
        "run-2",
        "      - id: undo\n        run:\n          kube.revert: { step: manual, run: run-1 }\n",
    )
    .await;
    assert!(back.succeeded(), "{}\n{}", back.output, back.events_text());
    assert_eq!(
        app(c).await.pointer("/spec/syncPolicy"),
        Some(&json!({"automated": {"prune": true, "selfHeal": true},
            "syncOptions": ["CreateNamespace=true"]}))
    );

    // On from off: an empty policy (no prune, no self-heal), undone back to none.
    let on = run(
        c,
        "run-3",
        r#"      - id: off
        run:
          argocd.auto_sync: { app: shop, enabled: false }
      - id: auto
        run:
          argocd.auto_sync: { app: shop, enabled: true }
"#,
    )
    .await;
    assert!(on.succeeded(), "{}", on.output);
    assert!(
        on.output
            .contains("application/shop: automated sync off → on {}"),
        "{}",
        on.output
    );
    assert_eq!(
        on.changes_of("auto"),
        vec![
            json!({"change": "auto_sync", "namespace": "argocd", "app": "shop",
            "before": null, "after": {}})
        ]
    );
    assert_eq!(
        app(c).await.pointer("/spec/syncPolicy/automated"),
        Some(&json!({}))
    );
    let off = run(
        c,
        "run-4",
        "      - id: undo\n        run:\n          kube.revert: { step: auto, run: run-3 }\n",
    )
    .await;
    assert!(off.succeeded(), "{}", off.output);
    assert_eq!(
        app(c).await.pointer("/spec/syncPolicy"),
        Some(&json!({"syncOptions": ["CreateNamespace=true"]}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_runs_a_commit_wait_sees_it_synced_and_healthy_and_revert_syncs_back() {
    let g = gitops(Value::Null).await;
    let c = &g.c;
    let first = g.first.clone();
    // Without automated sync the controller only compares: OutOfSync, nothing applied.
    until_app(c, "the first comparison", |a| {
        at(a, "/status/sync/status") == "OutOfSync" && at(a, "/status/sync/revision") == first
    })
    .await;
    assert_eq!(image(c), "");

    // A sync without a revision: the target revision (`main`).
    let fin = run(
        c,
        "run-1",
        r#"      - id: first
        run:
          argocd.sync: { app: shop }
      - id: ready
        run:
          argocd.wait: { app: shop, sync: Synced, health: Healthy }
        expect: { timeout: 30s }
"#,
    )
    .await;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    let a = app(c).await;
    assert_eq!(
        a["status"]["operationState"]["operation"],
        json!({"sync": {"revision": "main", "prune": false}, "initiatedBy": {"username": "tollgate"}})
    );
    assert_eq!(at(&a, "/status/operationState/syncResult/revision"), first);
    assert_eq!(image(c), "shop/web:1.0");
    assert!(
        fin.output
            .contains("application/shop: sync to main started"),
        "{}",
        fin.output
    );
    assert!(
        fin.output
            .contains(&format!("application/shop synced to {first}")),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains(&format!(
            "application/shop: sync Synced · health Healthy · revision {} · operation Succeeded",
            short(&first)
        )),
        "{}",
        fin.output
    );
    // Never synced before: nothing to go back to.
    assert_eq!(
        fin.changes_of("first"),
        vec![json!({"change": "synced", "namespace": "argocd", "app": "shop", "revision": "main"})]
    );
    assert!(fin.changes_of("ready").is_empty());

    // A second commit, seen by Argo CD before the sync: the compared revision moves to it while
    // the cluster still runs the first.
    let second = g.repo.commit(&deployment("shop/web:2.0", "web"), "web 2.0");
    let a = refreshed_to(c, &second).await;
    assert_eq!(at(&a, "/status/sync/status"), "OutOfSync");
    assert_eq!(image(c), "shop/web:1.0");

    let fin = run(
        c,
        "run-2",
        &format!(
            r#"      - id: sync
        run:
          argocd.sync: {{ app: shop, revision: {second}, prune: true }}
      - id: ready
        run:
          argocd.wait: {{ app: shop, sync: Synced, health: Healthy }}
        expect: {{ timeout: 30s }}
"#
        ),
    )
    .await;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    let a = app(c).await;
    // The operation exactly as the step sent it, run to Succeeded by the controller.
    assert_eq!(
        a["status"]["operationState"]["operation"],
        json!({"sync": {"revision": second, "prune": true}, "initiatedBy": {"username": "tollgate"}})
    );
    assert_eq!(at(&a, "/status/operationState/phase"), "Succeeded");
    assert_eq!(at(&a, "/status/operationState/syncResult/revision"), second);
    assert_eq!(image(c), "shop/web:2.0");
    let history = a["status"]["history"].as_array().unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| at(h, "/revision"))
            .collect::<Vec<_>>(),
        vec![first.as_str(), second.as_str()]
    );
    assert!(
        fin.output
            .contains(&format!("application/shop: sync to {second} started")),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains(&format!(
            "application/shop: sync Synced · health Healthy · revision {} · operation Succeeded",
            short(&second)
        )),
        "{}",
        fin.output
    );
    // Before: the revision last synced, not the one compared (already the second).
    assert_eq!(
        fin.changes_of("sync"),
        vec![
            json!({"change": "synced", "namespace": "argocd", "app": "shop",
            "revision": second, "before_revision": first})
        ]
    );

    // Its undo: a sync back to the first commit. Git's main is still the second: OutOfSync.
    let back = run(
        c,
        "run-3",
        "      - id: undo\n        run:\n          kube.revert: { step: sync, run: run-2 }\n",
    )
    .await;
    assert!(back.succeeded(), "{}\n{}", back.output, back.events_text());
    assert_eq!(image(c), "shop/web:1.0");
    assert!(
        back.output
            .contains(&format!("application/shop synced to {first}")),
        "{}",
        back.output
    );
    let a = until_app(c, "the comparison with main after the undo", |a| {
        at(a, "/status/sync/status") == "OutOfSync" && at(a, "/status/sync/revision") == second
    })
    .await;
    assert_eq!(
        a["status"]["operationState"]["operation"],
        json!({"sync": {"revision": first, "prune": false}, "initiatedBy": {"username": "tollgate"}})
    );
    assert_eq!(at(&a, "/status/operationState/syncResult/revision"), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_fails_the_step_with_argo_cds_message_and_a_busy_app_is_refused() {
    let g = gitops(Value::Null).await;
    let c = &g.c;
    let ok = run(
        c,
        "run-1",
        "      - id: sync\n        run:\n          argocd.sync: { app: shop }\n",
    )
    .await;
    assert!(ok.succeeded(), "{}", ok.output);
    assert_eq!(image(c), "shop/web:1.0");

    // A commit whose Deployment the API server refuses.
    let bad = g
        .repo
        .commit(&deployment("shop/web:2.0", "other"), "web 2.0, mislabelled");
    let fin = run(
        c,
        "run-2",
        "      - id: sync\n        run:\n          argocd.sync: { app: shop }\n",
    )
    .await;
    assert_eq!(
        fin.error_of("sync").as_deref(),
        Some(
            "application/shop: sync Failed: one or more objects failed to apply, reason: Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"
        ),
        "{}",
        fin.output
    );
    assert_eq!(
        fin.changes_of("sync"),
        vec![
            json!({"change": "synced", "namespace": "argocd", "app": "shop",
            "revision": "main", "before_revision": g.first})
        ]
    );
    let a = app(c).await;
    assert_eq!(at(&a, "/status/operationState/syncResult/revision"), bad);
    assert_eq!(
        image(c),
        "shop/web:1.0",
        "the refused object left as it was"
    );

    // Someone else's sync of that commit, retried in an hour: it stays in progress.
    patch_app(
        c,
        json!({"operation": {"sync": {"revision": bad}, "initiatedBy": {"username": "someone"},
            "retry": {"limit": 3, "backoff": {"duration": "1h"}}}}),
    )
    .await;
    let before = until_app(c, "the operation waiting for its retry", |a| {
        at(a, "/status/operationState/phase") == "Running"
            && a.pointer("/status/operationState/retryCount") == Some(&json!(1))
    })
    .await;
    assert!(
        at(&before, "/status/operationState/message").contains(". Retrying attempt #1 at "),
        "{}",
        before["status"]["operationState"]
    );
    let busy = run(
        c,
        "run-3",
        "      - id: sync\n        run:\n          argocd.sync: { app: shop }\n",
    )
    .await;
    assert_eq!(
        busy.error_of("sync").as_deref(),
        Some("application/shop: another operation is already in progress")
    );
    assert!(busy.changes_of("sync").is_empty());
    let after = app(c).await;
    for p in ["/operation", "/status/operationState", "/spec"] {
        assert_eq!(after.pointer(p), before.pointer(p), "{p} changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_heal_undoes_a_hotfix_unless_auto_sync_is_suspended_first() {
    let g = gitops(json!({"automated": {"prune": true, "selfHeal": true}})).await;
    let c = &g.c;
    settled(c).await;
    assert_eq!(image(c), "shop/web:1.0");

    // The trap: a hotfix with self-heal on. It is applied, then put back to git's image, and a
    // later step that expects the hotfix fails.
    let trap = run(
        c,
        "run-1",
        r#"      - id: hotfix
        run:
          kube.set_image: { deployment: web, image: "shop/web:hotfix" }
      - id: healed
        run:
          kube.wait: { resource: deployment/web, condition: "jsonpath={.spec.template.spec.containers[0].image}=shop/web:1.0" }
        expect: { timeout: 20s }
      - id: check
        run:
          kube.wait: { resource: deployment/web, condition: "jsonpath={.spec.template.spec.containers[0].image}=shop/web:hotfix" }
        expect: { timeout: 2s }
"#,
    )
    .await;
    assert!(!trap.succeeded());
    assert_eq!(trap.error_of("hotfix"), None, "{}", trap.output);
    assert_eq!(trap.error_of("healed"), None, "{}", trap.output);
    assert_eq!(
        trap.error_of("check").as_deref(),
        Some("timed out after 2s"),
        "{}",
        trap.output
    );
    assert!(
        trap.output.contains("timed out waiting for deployments {.spec.template.spec.containers[0].image}=shop/web:hotfix: 0 of 1 wanted"),
        "{}",
        trap.output
    );
    until_image(c, "shop/web:1.0").await;
    let a = settled(c).await;
    let op = &a["status"]["operationState"]["operation"];
    assert_eq!(op["initiatedBy"]["automated"], true, "{op}");
    assert!(
        op["sync"]["autoHealAttemptsCount"].as_i64() >= Some(1),
        "self-heal put it back: {op}"
    );
    let healed_state = a["status"]["operationState"].clone();
    let synced = a["status"]["history"].as_array().map(Vec::len);

    // Auto-sync suspended first: the hotfix stays. Argo CD sees the drift (OutOfSync) and
    // leaves it.
    let fin = run(
        c,
        "run-2",
        r#"      - id: suspend
        run:
          argocd.auto_sync: { app: shop, enabled: false }
      - id: hotfix
        run:
          kube.set_image: { deployment: web, image: "shop/web:hotfix" }
      - id: drift
        run:
          argocd.wait: { app: shop, sync: OutOfSync }
        expect: { timeout: 20s }
      - id: check
        run:
          kube.get: { resource: deployment/web, jsonpath: "{.spec.template.spec.containers[0].image}" }
        expect: { output_contains: "shop/web:hotfix" }
"#,
    )
    .await;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    assert_eq!(image(c), "shop/web:hotfix");
    let a = app(c).await;
    assert_eq!(at(&a, "/status/sync/status"), "OutOfSync");
    assert_eq!(a["status"]["operationState"], healed_state, "no sync since");
    assert_eq!(a["status"]["history"].as_array().map(Vec::len), synced);
    assert!(a.pointer("/spec/syncPolicy/automated").is_none());

    // Undoing the suspension turns self-heal back on: git's image comes back.
    let back = run(
        c,
        "run-3",
        r#"      - id: undo
        run:
          kube.revert: { step: suspend, run: run-2 }
      - id: healed
        run:
          kube.wait: { resource: deployment/web, condition: "jsonpath={.spec.template.spec.containers[0].image}=shop/web:1.0" }
        expect: { timeout: 20s }
      - id: synced
        run:
          argocd.wait: { app: shop, sync: Synced, health: Healthy }
        expect: { timeout: 30s }
"#,
    )
    .await;
    assert!(back.succeeded(), "{}\n{}", back.output, back.events_text());
    assert_eq!(image(c), "shop/web:1.0");
    let a = settled(c).await;
    assert_eq!(
        a.pointer("/spec/syncPolicy/automated"),
        Some(&json!({"prune": true, "selfHeal": true}))
    );
    let op = &a["status"]["operationState"]["operation"];
    assert!(
        op["sync"]["autoHealAttemptsCount"].as_i64()
            > healed_state["operation"]["sync"]["autoHealAttemptsCount"].as_i64(),
        "healed again: {op}"
    );
}
