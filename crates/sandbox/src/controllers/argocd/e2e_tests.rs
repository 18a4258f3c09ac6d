//! The Argo CD controller in a running sandbox: the Application CRD installed, a real git
//! repository, the deployment controller and kubelet rolling out what Argo CD applies, and manual
//! changes made through kube-rs as `kubectl` would.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::application_type;
use super::tests::{Repo, SERVICE, deployment};
use crate::object::{PointerLookup, str_at};
use crate::resources::by_kind;
use crate::store::Part;
use crate::{Config, Sandbox, crds};

const DEADLINE: Duration = Duration::from_secs(30);

async fn start(repo: &Repo, sync_policy: Value) -> Sandbox {
    let source = json!({"repoURL": repo.url(), "path": "app", "targetRevision": "main"});
    start_with(source, sync_policy).await
}

async fn start_with(source: Value, sync_policy: Value) -> Sandbox {
    let sb = Sandbox::start(Config::fast()).await.expect("sandbox");
    sb.apply_yaml(crds::ARGOCD_APPLICATION, "argocd-application.yaml")
        .expect("CRD");
    sb.apply_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: argocd\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
        "namespaces",
    )
    .expect("namespaces");
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": source,
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            "syncPolicy": sync_policy,
        },
    });
    let rt = application_type(sb.store()).expect("Application served");
    sb.store()
        .create(rt, "argocd", app, false)
        .expect("application");
    sb
}

fn app(sb: &Sandbox) -> Arc<Value> {
    let rt = application_type(sb.store()).expect("served");
    sb.store().get(rt, "argocd", "shop").expect("application")
}

fn edit_app(sb: &Sandbox, f: impl FnOnce(&mut Value)) {
    let rt = application_type(sb.store()).expect("served");
    sb.store()
        .modify(rt, "argocd", "shop", Part::All, |o| {
            f(o);
            Ok(())
        })
        .expect("edit application");
}

/// Wait (with a deadline) until `f` holds of the Application and the cluster.
async fn until(sb: &Sandbox, what: &str, f: impl Fn(&Value, &Sandbox) -> bool) -> Arc<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let a = app(sb);
        if f(&a, sb) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            a.get("status").unwrap_or(&Value::Null)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn live_deployment(sb: &Sandbox) -> Option<Arc<Value>> {
    sb.store().get(by_kind("Deployment"), "shop", "web").ok()
}

fn replicas(sb: &Sandbox) -> i64 {
    live_deployment(sb)
        .and_then(|d| d.at("/spec/replicas").and_then(Value::as_i64))
        .unwrap_or(-1)
}

/// Every version of the Application written so far (the watch history).
fn versions(sb: &Sandbox) -> Vec<Value> {
    let rt = application_type(sb.store()).expect("served");
    let (changes, _) = sb
        .store()
        .changes_since(rt, Some("argocd"), 0, 100_000)
        .expect("history");
    changes.iter().map(|c| (**c.object()).clone()).collect()
}

async fn scale(sb: &Sandbox, n: i64) {
    let api: Api<Deployment> = Api::namespaced(sb.client(), "shop");
    api.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": n}})),
    )
    .await
    .expect("kubectl scale");
}

fn files(image: &str) -> [(&'static str, String); 2] {
    [
        ("app/deployment.yaml", deployment(image, 2)),
        ("app/service.yaml", SERVICE.to_string()),
    ]
}

fn commit(repo: &Repo, image: &str, msg: &str) -> String {
    let f = files(image);
    let refs: Vec<(&str, &str)> = f.iter().map(|(p, t)| (*p, t.as_str())).collect();
    repo.commit(&refs, msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_loop_in_a_running_sandbox() {
    let repo = Repo::new();
    let first = commit(&repo, "shop/web:1.0", "first");
    let sb = start(
        &repo,
        json!({"automated": {"prune": true, "selfHeal": true}}),
    )
    .await;

    // Automated sync of the first revision; the rollout's health goes Progressing → Healthy.
    let a = until(&sb, "synced and healthy", |a, _| {
        str_at(a, "/status/sync/status") == "Synced"
            && str_at(a, "/status/health/status") == "Healthy"
    })
    .await;
    assert_eq!(str_at(&a, "/status/sync/revision"), first);
    assert_eq!(str_at(&a, "/status/operationState/phase"), "Succeeded");
    let healths: Vec<String> = versions(&sb)
        .iter()
        .map(|v| str_at(v, "/status/health/status").to_string())
        .filter(|h| !h.is_empty())
        .collect();
    let progressing = healths.iter().position(|h| h == "Progressing");
    let healthy = healths.iter().position(|h| h == "Healthy");
    assert!(
        progressing.is_some() && progressing < healthy,
        "health went {healths:?}"
    );
    let (events, _) = sb.store().list(by_kind("Event"), Some("argocd"), &|e| {
        str_at(e, "/involvedObject/name") == "shop"
            && str_at(e, "/reason") == "OperationCompleted"
            && str_at(e, "/source/component") == "argocd-application-controller"
    });
    assert!(
        events
            .iter()
            .any(|e| str_at(e, "/message") == format!("Sync operation to {first} succeeded")),
        "{events:?}"
    );
    let d = live_deployment(&sb).expect("applied");
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert!(sb.store().get(by_kind("Service"), "shop", "web").is_ok());

    // A new commit, picked up at once with the refresh annotation (removed once read).
    let second = commit(&repo, "shop/web:2.0", "second");
    edit_app(&sb, |o| {
        o["metadata"]["annotations"] = json!({"argocd.argoproj.io/refresh": "normal"});
    });
    let a = until(&sb, "the second revision synced", |a, sb| {
        str_at(a, "/status/operationState/syncResult/revision") == second
            && a.at("/metadata/annotations/argocd.argoproj.io~1refresh")
                .is_none()
            && str_at(a, "/status/sync/status") == "Synced"
            && live_deployment(sb).is_some_and(|d| {
                str_at(&d, "/spec/template/spec/containers/0/image") == "shop/web:2.0"
            })
    })
    .await;
    assert_eq!(a["status"]["history"].as_array().map(Vec::len), Some(2));

    // A manual change is put back by self-heal.
    scale(&sb, 5).await;
    let a = until(&sb, "self-heal", |a, sb| {
        replicas(sb) == 2
            && a.at("/status/operationState/operation/sync/autoHealAttemptsCount")
                == Some(&json!(1))
    })
    .await;
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"]["automated"],
        true
    );
    let saw_drift = versions(&sb)
        .iter()
        .any(|v| str_at(v, "/status/sync/status") == "OutOfSync");
    assert!(saw_drift, "the drift was reported before it was healed");

    // Without self-heal the drift stays.
    edit_app(&sb, |o| {
        o["spec"]["syncPolicy"]["automated"]["selfHeal"] = json!(false);
    });
    scale(&sb, 5).await;
    until(&sb, "OutOfSync", |a, _| {
        str_at(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    // Four times the self-heal delay, in simulated seconds.
    let wait = sb
        .shared()
        .timing
        .delay(super::SELF_HEAL_TIMEOUT_SECONDS * 4.0);
    tokio::time::sleep(wait).await;
    assert_eq!(replicas(&sb), 5);
    assert_eq!(str_at(&app(&sb), "/status/sync/status"), "OutOfSync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_health_and_manual_sync_with_prune() {
    let repo = Repo::new();
    let rollout = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: api\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: api\n  template:\n    metadata:\n      labels:\n        app: api\n    spec:\n      containers:\n      - name: api\n        image: shop/api:1.0\n  strategy:\n    canary:\n      steps:\n      - setWeight: 20\n      - pause: {}\n";
    repo.commit(
        &[("app/rollout.yaml", rollout), ("app/service.yaml", SERVICE)],
        "first",
    );
    let sb = start(&repo, Value::Null).await;
    sb.apply_yaml(crds::ARGO_ROLLOUTS, "argo-rollouts.yaml")
        .expect("CRD");
    // Before a sync: OutOfSync and nothing applied.
    until(&sb, "compared", |a, _| {
        str_at(a, "/status/sync/status") == "OutOfSync"
    })
    .await;
    edit_app(&sb, |o| {
        o["spec"]["source"]["targetRevision"] = json!("HEAD");
        o["metadata"]["annotations"] = json!({"argocd.argoproj.io/refresh": "hard"});
    });
    edit_app(&sb, |o| {
        o["operation"] = json!({"sync": {"prune": false}, "initiatedBy": {"username": "admin"}});
    });
    until(&sb, "synced", |a, _| {
        str_at(a, "/status/sync/status") == "Synced" && a.get("operation").is_none()
    })
    .await;
    let rrt = sb
        .store()
        .find_api_version_kind("argoproj.io/v1alpha1", "Rollout")
        .expect("Rollout served");
    assert!(sb.store().get(rrt, "shop", "api").is_ok());
    // The Rollout's controller pauses it: the application is Suspended.
    sb.store()
        .modify(rrt, "shop", "api", Part::All, |o| {
            o["status"] =
                json!({"observedGeneration": "1", "phase": "Paused", "message": "CanaryPauseStep"});
            Ok(())
        })
        .expect("rollout status");
    let a = until(&sb, "suspended", |a, _| {
        str_at(a, "/status/health/status") == "Suspended"
    })
    .await;
    let r = a["status"]["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["kind"] == "Rollout").cloned())
        .expect("rollout listed");
    assert_eq!(r["health"]["message"], "CanaryPauseStep");
    assert_eq!(r["group"], "argoproj.io");

    // git drops the Service: a sync with prune deletes it.
    repo.commit(&[("app/service.yaml", "")], "drop the service");
    edit_app(&sb, |o| {
        o["operation"] = json!({"sync": {"prune": true}, "initiatedBy": {"username": "admin"}});
    });
    until(&sb, "pruned", |a, sb| {
        a.get("operation").is_none()
            && str_at(a, "/status/sync/status") == "Synced"
            && sb.store().get(by_kind("Service"), "shop", "web").is_err()
    })
    .await;

    // Deleting the Application with the resources finalizer deletes what it manages.
    edit_app(&sb, |o| {
        o["metadata"]["finalizers"] = json!([super::RESOURCES_FINALIZER]);
    });
    let rt = application_type(sb.store()).expect("served");
    sb.store()
        .delete(rt, "argocd", "shop", &Default::default())
        .expect("delete application");
    let deadline = Instant::now() + DEADLINE;
    while sb.store().get(rt, "argocd", "shop").is_ok() || sb.store().get(rrt, "shop", "api").is_ok()
    {
        assert!(Instant::now() < deadline, "cascade deletion did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const CHART_DEPLOYMENT: &str = "{{- /* The web tier. */ -}}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Values.name | default .Release.Name }}\n  labels:\n    helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: {{ printf \"%s:%s\" \"x\" \"y\" | default \"\" | quote }}\n";

/// The chart of the Helm test: a Deployment and a Service, image and replicas from the values.
fn chart_files(tag: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "charts/normaldance/Chart.yaml",
            "apiVersion: v2\nname: normaldance\nversion: 0.3.1\nappVersion: \"1.0\"\n".into(),
        ),
        (
            "charts/normaldance/values.yaml",
            "name: web\nreplicas: 1\nimage:\n  repository: shop/web\n  tag: dev\n".into(),
        ),
        (
            "charts/normaldance/values-production.yaml",
            format!("replicas: 2\nimage:\n  tag: \"{tag}\"\n"),
        ),
        (
            "charts/normaldance/templates/deployment.yaml",
            CHART_DEPLOYMENT.replace(
                "{{ printf \"%s:%s\" \"x\" \"y\" | default \"\" | quote }}",
                "\"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"",
            ),
        ),
        (
            "charts/normaldance/templates/service.yaml",
            SERVICE.replace("name: web", "name: {{ .Values.name }}"),
        ),
        (
            "charts/normaldance/templates/_helpers.tpl",
            "{{- define \"normaldance.name\" -}}{{ .Chart.Name }}{{- end }}\n".into(),
        ),
    ]
}

fn commit_chart(repo: &Repo, files: &[(&'static str, String)], msg: &str) -> String {
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    repo.commit(&refs, msg)
}

fn image(sb: &Sandbox) -> String {
    live_deployment(sb)
        .map(|d| str_at(&d, "/spec/template/spec/containers/0/image").to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_source_syncs_self_heals_prunes_and_refuses_what_it_cannot_render() {
    let repo = Repo::new();
    let first = commit_chart(&repo, &chart_files("1.0"), "chart");
    let sb = start_with(
        json!({"repoURL": repo.url(), "path": "charts/normaldance", "targetRevision": "HEAD",
               "helm": {"valueFiles": ["values-production.yaml"]}}),
        json!({"automated": {"prune": true, "selfHeal": true}}),
    )
    .await;

    // Synced with values-production.yaml's image and replicas, rolled out and healthy.
    let a = until(&sb, "the chart synced and healthy", |a, sb| {
        str_at(a, "/status/sync/status") == "Synced"
            && str_at(a, "/status/health/status") == "Healthy"
            && image(sb) == "shop/web:1.0"
    })
    .await;
    assert_eq!(str_at(&a, "/status/sync/revision"), first);
    assert!(a.at("/status/conditions").is_none(), "{}", a["status"]);
    assert_eq!(replicas(&sb), 2);
    let d = live_deployment(&sb).expect("applied");
    assert_eq!(
        d["metadata"]["labels"]["helm.sh/chart"],
        "normaldance-0.3.1"
    );
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/instance"],
        "shop"
    );
    assert!(sb.store().get(by_kind("Service"), "shop", "web").is_ok());

    // A commit changing only values-production.yaml's tag is synced automatically, on the
    // periodic refresh (no annotation).
    let mut files = chart_files("1.1");
    let second = commit_chart(&repo, &files, "release 1.1");
    let a = until(&sb, "the new tag synced", |a, sb| {
        str_at(a, "/status/operationState/syncResult/revision") == second
            && str_at(a, "/status/sync/status") == "Synced"
            && image(sb) == "shop/web:1.1"
    })
    .await;
    assert_eq!(
        a["status"]["operationState"]["operation"]["initiatedBy"]["automated"],
        true
    );

    // A manual change is put back by self-heal, to the rendered replicas.
    scale(&sb, 5).await;
    until(&sb, "self-heal", |a, sb| {
        replicas(sb) == 2
            && a.at("/status/operationState/operation/sync/autoHealAttemptsCount")
                == Some(&json!(1))
    })
    .await;

    // The chart drops its Service: pruned.
    files.retain(|(p, _)| !p.ends_with("service.yaml"));
    files.push(("charts/normaldance/templates/service.yaml", String::new()));
    let third = commit_chart(&repo, &files, "drop the service");
    edit_app(&sb, |o| {
        o["metadata"]["annotations"] = json!({"argocd.argoproj.io/refresh": "normal"});
    });
    until(&sb, "the service pruned", |a, sb| {
        str_at(a, "/status/sync/revision") == third
            && str_at(a, "/status/sync/status") == "Synced"
            && sb.store().get(by_kind("Service"), "shop", "web").is_err()
    })
    .await;

    // A template outside the subset: a ComparisonError naming file, line and subset; what runs
    // stays as it was.
    repo.commit(
        &[(
            "charts/normaldance/templates/deployment.yaml",
            CHART_DEPLOYMENT,
        )],
        "printf",
    );
    edit_app(&sb, |o| {
        o["metadata"]["annotations"] = json!({"argocd.argoproj.io/refresh": "normal"});
    });
    let a = until(&sb, "the ComparisonError", |a, _| {
        str_at(a, "/status/conditions/0/type") == "ComparisonError"
    })
    .await;
    assert_eq!(
        str_at(&a, "/status/conditions/0/message"),
        format!(
            "Failed to load target state: helm template: templates/deployment.yaml:20: \"printf\" is not rendered by the sandbox ({})",
            super::helm::RENDERED
        )
    );
    assert_eq!(str_at(&a, "/status/sync/status"), "Unknown");
    assert_eq!(image(&sb), "shop/web:1.1");
    assert_eq!(replicas(&sb), 2);
}
