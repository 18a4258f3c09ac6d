//! The `argocd.*` steps against the sandbox with Argo CD's Application CRD. Argo CD's application
//! controller is not in the sandbox yet: here the test plays it, writing the Application's status
//! the way the controller does (picking the `operation` up, running it, recording its state).

use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::common::sandbox_cluster::{Cluster, Finished, run_as};

const DEADLINE: Duration = Duration::from_secs(30);

fn apps(c: &Cluster) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    );
    Api::namespaced_with(c.sb.client(), "argocd", &ar)
}

/// A sandbox serving Applications, with `argocd/shop` (automated sync with prune and self-heal).
async fn argocd() -> Cluster {
    let c = Cluster::start("prod-east", "shop").await;
    c.sb.apply_yaml(
        tollgate_sandbox::crds::ARGOCD_APPLICATION,
        "argocd-application.yaml",
    )
    .expect("the Application CRD applies");
    c.namespace("argocd");
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
            "source": {"repoURL": "https://git.example.test/shop.git", "path": "deploy", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]}
        },
        "status": {"sync": {"status": "OutOfSync", "revision": "1111111aaaa"}, "health": {"status": "Healthy"}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &app)
        .await
        .expect("application created");
    c
}

async fn app(c: &Cluster) -> Value {
    serde_json::to_value(apps(c).get("shop").await.unwrap()).unwrap()
}

fn runbook(steps: &str) -> String {
    format!(
        "name: argocd\ntargets:\n  kube: {{ context: prod-east, namespace: shop }}\nphases:\n  - id: main\n    steps:\n{steps}"
    )
}

async fn run(c: &Cluster, run_id: &str, steps: &str) -> Finished {
    run_as(
        c.dir.path(),
        &runbook(steps),
        c.target(None, Some("prod-east")),
        run_id,
        &[],
    )
    .await
}

/// Merges `patch` into the Application (its status included: the CRD has no status subresource).
async fn write(c: &Cluster, patch: Value) {
    apps(c)
        .patch("shop", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("application patched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_sync_off_is_undone_exactly_and_on_sets_an_empty_policy() {
    let c = argocd().await;
    let fin = run(
        &c,
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
    let ch = &fin.changes_of("manual")[0];
    assert_eq!(ch["change"], "auto_sync");
    assert_eq!(ch["before"], json!({"prune": true, "selfHeal": true}));
    assert_eq!(ch["after"], Value::Null);
    let a = app(&c).await;
    assert!(a.pointer("/spec/syncPolicy/automated").is_none(), "{a}");
    assert_eq!(
        a.pointer("/spec/syncPolicy/syncOptions/0"),
        Some(&json!("CreateNamespace=true"))
    );

    let back = run(
        &c,
        "run-2",
        r#"      - id: undo
        run:
          kube.revert: { step: manual, run: run-1 }
"#,
    )
    .await;
    assert!(back.succeeded(), "{}\n{}", back.output, back.events_text());
    let a = app(&c).await;
    assert_eq!(
        a.pointer("/spec/syncPolicy"),
        Some(
            &json!({"automated": {"prune": true, "selfHeal": true}, "syncOptions": ["CreateNamespace=true"]})
        )
    );

    // On again from off: an empty policy (no prune, no self-heal), undone back to none.
    write(&c, json!({"spec": {"syncPolicy": {"automated": null}}})).await;
    let on = run(
        &c,
        "run-3",
        r#"      - id: auto
        run:
          argocd.auto_sync: { app: shop, enabled: true }
"#,
    )
    .await;
    assert!(on.succeeded(), "{}", on.output);
    assert_eq!(
        app(&c).await.pointer("/spec/syncPolicy/automated"),
        Some(&json!({}))
    );
    let off = run(
        &c,
        "run-4",
        "      - id: undo\n        run:\n          kube.revert: { step: auto, run: run-3 }\n",
    )
    .await;
    assert!(off.succeeded(), "{}", off.output);
    assert!(
        app(&c)
            .await
            .pointer("/spec/syncPolicy/automated")
            .is_none()
    );
}

/// Plays Argo CD's application controller for one operation: waits for `operation`, then
/// records it Running, then ends it as `phase` with `message` (and the app Synced on success).
async fn controller(c: &Cluster, phase: &'static str, message: &'static str) -> Value {
    let api = apps(c);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let op = loop {
        let a = serde_json::to_value(api.get("shop").await.unwrap()).unwrap();
        if let Some(op) = a.get("operation").filter(|o| !o.is_null()) {
            break op.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no operation was set"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let revision = op["sync"]["revision"].clone();
    write(
        c,
        json!({"status": {"operationState": {"operation": op, "phase": "Running",
        "message": "one sync in progress", "startedAt": "2026-01-01T00:00:00Z"}}}),
    )
    .await;
    let mut done = json!({"operation": null, "status": {"operationState": {"phase": phase, "message": message,
        "finishedAt": "2026-01-01T00:00:05Z", "syncResult": {"revision": revision}}}});
    if phase == "Succeeded" {
        done["status"]["sync"] = json!({"status": "Synced", "revision": revision});
        done["status"]["health"] = json!({"status": "Progressing"});
    }
    write(c, done).await;
    op
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_sets_the_operation_argo_cds_api_sets_and_follows_it_to_its_end() {
    let c = argocd().await;
    // The last operation's state is cleared when a new one is set.
    write(
        &c,
        json!({"status": {"operationState": {"phase": "Succeeded", "message": "an old sync"}}}),
    )
    .await;
    let played = {
        let c2 = &c;
        let steps = r#"      - id: sync
        run:
          argocd.sync: { app: shop, revision: 4f1c2e9, prune: true }
      - id: healthy
        run:
          argocd.wait: { app: shop, sync: Synced, health: Healthy }
        expect: { timeout: 30s }
"#;
        let run_fut = run(c2, "run-1", steps);
        let ctrl = async {
            let op = controller(c2, "Succeeded", "successfully synced (all tasks run)").await;
            // Healthy a moment later, as the app's resources become ready.
            write(c2, json!({"status": {"health": {"status": "Healthy"}}})).await;
            op
        };
        let (fin, op) = tokio::join!(run_fut, ctrl);
        (fin, op)
    };
    let (fin, op) = played;
    assert!(fin.succeeded(), "{}\n{}", fin.output, fin.events_text());
    assert_eq!(
        op,
        json!({"sync": {"revision": "4f1c2e9", "prune": true}, "initiatedBy": {"username": "tollgate"}})
    );
    assert!(
        fin.output
            .contains("application/shop: sync to 4f1c2e9 started"),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains("application/shop synced to 4f1c2e9"),
        "{}",
        fin.output
    );
    assert!(
        fin.output.contains("application/shop: sync Synced · health Healthy · revision 4f1c2e9 · operation Succeeded"),
        "{}",
        fin.output
    );
    let ch = &fin.changes_of("sync")[0];
    assert_eq!(ch["change"], "synced");
    assert_eq!(ch["revision"], "4f1c2e9");
    assert_eq!(ch["before_revision"], "1111111aaaa");
    assert!(fin.changes_of("healthy").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_fails_the_step_with_argo_cds_message_and_a_busy_app_is_refused() {
    let c = argocd().await;
    let (fin, _) = tokio::join!(
        run(
            &c,
            "run-1",
            "      - id: sync\n        run:\n          argocd.sync: { app: shop }\n"
        ),
        controller(
            &c,
            "Failed",
            "one or more objects failed to apply: Deployment.apps \"shop\" is invalid"
        ),
    );
    assert_eq!(
        fin.error_of("sync").as_deref(),
        Some(
            "application/shop: sync Failed: one or more objects failed to apply: Deployment.apps \"shop\" is invalid"
        )
    );
    // Without a revision, the Application's target revision.
    assert_eq!(fin.changes_of("sync")[0]["revision"], "main");
    // An operation already set: refused, nothing changed.
    write(
        &c,
        json!({"operation": {"sync": {"revision": "x"}, "initiatedBy": {"username": "someone"}}}),
    )
    .await;
    let busy = run(
        &c,
        "run-2",
        "      - id: sync\n        run:\n          argocd.sync: { app: shop }\n",
    )
    .await;
    assert_eq!(
        busy.error_of("sync").as_deref(),
        Some("application/shop: another operation is already in progress")
    );
    assert!(busy.changes_of("sync").is_empty());
    assert_eq!(
        app(&c).await["operation"]["initiatedBy"]["username"],
        "someone"
    );
}
