//! Argo CD steps (`argocd.*`) through the Kubernetes API, without the argocd CLI or API server:
//!
//! - sync: what Argo CD's API server does (`Sync`, `SetAppOperation`): read the Application, refuse
//!   while another operation is set or, with automated sync on, a revision other than the target
//!   one, put `operation: {sync: {revision, prune}, initiatedBy: {username:
//!   tollgate}}` on it and clear `status.operationState`, and update it (again on a conflict);
//!   the application controller runs the operation and writes `status.operationState`, which is
//!   then followed to `Succeeded` (`Failed` or `Error` fail the step with its message);
//! - wait: `status.sync.status` and `status.health.status`, as a live line;
//! - auto_sync: a merge patch of `spec.syncPolicy.automated`, journaled as it was.

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::argo::s;
use super::change::Change;
use super::{ActionResult, Failure, KubeStep, describe_error};
use crate::runbook::argo::{ArgocdAutoSync, ArgocdSync, ArgocdWait};

/// Who a sync says started it.
pub const INITIATED_BY: &str = "tollgate";
const POLL: Duration = Duration::from_millis(250);
/// Attempts of an update that meets a conflict.
const ATTEMPTS: usize = 5;

/// The Application type (`argoproj.io/v1alpha1`).
pub fn application_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

fn apps(cx: &KubeStep<'_>, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(cx.client.clone(), ns, &application_resource())
}

async fn get_app(cx: &KubeStep<'_>, ns: &str, name: &str) -> Result<Value, Failure> {
    match apps(cx, ns).get(name).await {
        Ok(o) => Ok(serde_json::to_value(o).unwrap_or(Value::Null)),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(Failure::Error(format!(
            "application \"{name}\" not found in namespace \"{ns}\" (is Argo CD installed? {})",
            e.message
        ))),
        Err(e) => Err(Failure::Error(format!(
            "cannot read application/{name}: {}",
            describe_error(&e)
        ))),
    }
}

/// The sync operation Argo CD's API server puts on an Application.
pub fn sync_operation(revision: &str, prune: bool) -> Value {
    json!({
        "sync": {"revision": revision, "prune": prune},
        "initiatedBy": {"username": INITIATED_BY},
    })
}

/// The Application with `operation` set and the last operation's state cleared
/// (`SetAppOperation`); `Err` when another operation is already set.
pub fn with_operation(app: &Value, op: &Value) -> Result<Value, String> {
    if app.get("operation").is_some_and(|o| !o.is_null()) {
        return Err("another operation is already in progress".into());
    }
    let mut a = app.clone();
    a["operation"] = op.clone();
    if let Some(st) = a.get_mut("status").and_then(Value::as_object_mut) {
        st.remove("operationState");
    }
    if let Some(m) = a.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    Ok(a)
}

/// Why Argo CD's API server refuses a sync to `revision` (`Sync`): while automated sync is on, only
/// the target revision may be synced to (auto-sync would take the app back to it at once).
pub fn refused_revision(app: &Value, revision: Option<&str>) -> Option<String> {
    let rev = revision.filter(|r| !r.is_empty())?;
    let auto = app
        .pointer("/spec/syncPolicy/automated")
        .filter(|a| a.is_object())?;
    if auto.get("enabled").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    let target = target_revision(app);
    let target = if target.is_empty() { "HEAD" } else { &target };
    (rev != target).then(|| {
        format!(
            "Cannot sync to {rev}: auto-sync currently set to {target} (turn it off first: argocd.auto_sync {{enabled: false}})"
        )
    })
}

/// The revision the Application was last synced to (`status.history`'s newest entry, else a
/// succeeded operation's), not `status.sync.revision`: that one is the revision compared, which
/// moves to a new commit as soon as Argo CD sees it, synced or not.
pub fn deployed_revision(app: &Value) -> Option<String> {
    let last = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .and_then(|h| h.last())
        .map(|h| s(h, "/revision"))
        .filter(|r| !r.is_empty());
    let last = last.or_else(|| {
        (s(app, "/status/operationState/phase") == "Succeeded")
            .then(|| s(app, "/status/operationState/syncResult/revision"))
            .filter(|r| !r.is_empty())
    });
    last.map(str::to_string)
}

/// The revision a sync without one goes to: the Application's target revision.
fn target_revision(app: &Value) -> String {
    let t = s(app, "/spec/source/targetRevision");
    if !t.is_empty() {
        return t.to_string();
    }
    s(app, "/spec/sources/0/targetRevision").to_string()
}

pub async fn sync(cx: &mut KubeStep<'_>, a: &ArgocdSync) -> ActionResult {
    let ns = cx.ns.clone();
    sync_to(cx, &ns, &a.app, a.revision.clone(), a.prune).await
}

pub(super) async fn sync_to(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    revision: Option<String>,
    prune: bool,
) -> ActionResult {
    let api = apps(cx, ns);
    let mut before_revision = None;
    let mut started = false;
    let mut rev = String::new();
    for _ in 0..ATTEMPTS {
        let app = get_app(cx, ns, name).await?;
        rev = revision
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| target_revision(&app));
        if let Some(e) = refused_revision(&app, revision.as_deref()) {
            return Err(Failure::Error(format!("application/{name}: {e}")));
        }
        let new = with_operation(&app, &sync_operation(&rev, prune))
            .map_err(|e| Failure::Error(format!("application/{name}: {e}")))?;
        before_revision = deployed_revision(&app);
        let new: DynamicObject = serde_json::from_value(new)
            .map_err(|e| Failure::Error(format!("application/{name}: {e}")))?;
        match api.replace(name, &PostParams::default(), &new).await {
            Ok(_) => {
                started = true;
                break;
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => {
                return Err(Failure::Error(format!(
                    "cannot start a sync of application/{name}: {}",
                    describe_error(&e)
                )));
            }
        }
    }
    if !started {
        return Err(Failure::Error(format!(
            "cannot start a sync of application/{name}: it kept changing"
        )));
    }
    cx.changed(Change::Synced {
        namespace: ns.to_string(),
        app: name.to_string(),
        revision: Some(rev.clone()).filter(|r| !r.is_empty()),
        before_revision,
    });
    let shown = if rev.is_empty() {
        "its target revision".to_string()
    } else {
        rev.clone()
    };
    cx.say(format!("application/{name}: sync to {shown} started"))
        .await;
    let mut said = String::new();
    loop {
        let app = get_app(cx, ns, name).await?;
        let phase = s(&app, "/status/operationState/phase");
        let message = crate::text::one_line(s(&app, "/status/operationState/message"));
        let line = status_line(&app);
        if line != said {
            cx.progress(line.clone()).await;
            cx.say(line.clone()).await;
            said = line.clone();
        }
        match phase {
            "Succeeded" => {
                let synced = s(&app, "/status/operationState/syncResult/revision");
                cx.out(format!(
                    "application/{name} synced{}",
                    if synced.is_empty() {
                        String::new()
                    } else {
                        format!(" to {synced}")
                    }
                ))
                .await;
                return Ok(());
            }
            "Failed" | "Error" => {
                return Err(Failure::Error(format!(
                    "application/{name}: sync {phase}: {message}"
                )));
            }
            _ => {}
        }
        if let Some(d) = cx.deadline
            && tokio::time::Instant::now() + POLL >= d
        {
            return Err(Failure::Timeout(format!(
                "timed out waiting for the sync of application/{name}: {line}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `sync Synced · health Healthy · revision 4f1c2e9 · operation Running`.
pub fn status_line(app: &Value) -> String {
    let mut parts = vec![
        format!("sync {}", or_unknown(s(app, "/status/sync/status"))),
        format!("health {}", or_unknown(s(app, "/status/health/status"))),
    ];
    let rev = s(app, "/status/sync/revision");
    if !rev.is_empty() {
        parts.push(format!(
            "revision {}",
            rev.chars().take(7).collect::<String>()
        ));
    }
    let phase = s(app, "/status/operationState/phase");
    if !phase.is_empty() {
        parts.push(format!("operation {phase}"));
    }
    parts.join(" · ")
}

fn or_unknown(v: &str) -> &str {
    if v.is_empty() { "Unknown" } else { v }
}

pub async fn wait(cx: &mut KubeStep<'_>, a: &ArgocdWait) -> ActionResult {
    let ns = cx.ns.clone();
    let name = &a.app;
    let mut said = String::new();
    loop {
        let app = get_app(cx, &ns, name).await?;
        let line = status_line(&app);
        if line != said {
            cx.progress(line.clone()).await;
            cx.say(line.clone()).await;
            said = line.clone();
        }
        let sync_ok = a
            .sync
            .as_deref()
            .is_none_or(|w| w == s(&app, "/status/sync/status"));
        let health_ok = a
            .health
            .as_deref()
            .is_none_or(|w| w == s(&app, "/status/health/status"));
        if sync_ok && health_ok {
            cx.out(format!("application/{name}: {line}")).await;
            return Ok(());
        }
        if let Some(d) = cx.deadline
            && tokio::time::Instant::now() + POLL >= d
        {
            let want: Vec<String> = [("sync", &a.sync), ("health", &a.health)]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
                .collect();
            let msg = crate::text::one_line(s(&app, "/status/health/message"));
            return Err(Failure::Timeout(format!(
                "timed out waiting for application/{name} to be {}: {line}{}",
                want.join(" and "),
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(" ({msg})")
                }
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The merge patch that sets `spec.syncPolicy.automated` to `to` (`None`: removes it).
pub fn automated_patch(to: Option<&Value>) -> Value {
    json!({"spec": {"syncPolicy": {"automated": to.cloned().unwrap_or(Value::Null)}}})
}

pub async fn auto_sync(cx: &mut KubeStep<'_>, a: &ArgocdAutoSync) -> ActionResult {
    let ns = cx.ns.clone();
    let name = &a.app;
    let app = get_app(cx, &ns, name).await?;
    let before = app
        .pointer("/spec/syncPolicy/automated")
        .filter(|v| !v.is_null())
        .cloned();
    if before.is_some() == a.enabled {
        cx.out(format!(
            "application/{name}: automated sync is already {}",
            if a.enabled { "on" } else { "off" }
        ))
        .await;
        return Ok(());
    }
    let to = a.enabled.then(|| json!({}));
    set_automated(cx, &ns, name, before, to).await
}

/// Sets `spec.syncPolicy.automated` from `before` to `to`, exactly: a merge patch removing it,
/// then one setting it (a merge patch alone would keep keys `to` does not have).
pub(super) async fn set_automated(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    before: Option<Value>,
    to: Option<Value>,
) -> ActionResult {
    let api = apps(cx, ns);
    let fail = |e: kube::Error| {
        Failure::Error(format!(
            "cannot set the sync policy of application/{name}: {}",
            describe_error(&e)
        ))
    };
    if before.is_some() {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(automated_patch(None)),
        )
        .await
        .map_err(fail)?;
    }
    if let Some(t) = &to {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(automated_patch(Some(t))),
        )
        .await
        .map_err(fail)?;
    }
    cx.changed(Change::AutoSync {
        namespace: ns.to_string(),
        app: name.to_string(),
        before: before.clone(),
        after: to.clone(),
    });
    let shown = |v: &Option<Value>| match v {
        None => "off".to_string(),
        Some(v) => format!("on {v}"),
    };
    cx.out(format!(
        "application/{name}: automated sync {} → {}",
        shown(&before),
        shown(&to)
    ))
    .await;
    Ok(())
}

/// Puts an Application's automated sync policy back (`argocd.auto_sync`'s undo), while it is
/// still what the step set.
pub(super) async fn unset_automated(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> ActionResult {
    let app = get_app(cx, ns, name).await?;
    let now = app
        .pointer("/spec/syncPolicy/automated")
        .filter(|v| !v.is_null())
        .cloned();
    if now == before {
        cx.say(format!(
            "application/{name}: the sync policy is already as it was"
        ))
        .await;
        return Ok(());
    }
    if now != after {
        return Err(Failure::Error(format!(
            "application/{name}: its automated sync policy changed since ({}); left as it is",
            now.map_or("off".to_string(), |v| v.to_string())
        )));
    }
    set_automated(cx, ns, name, now, before).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_is_the_operation_argo_cds_api_sets() {
        let app = json!({"metadata": {"name": "shop", "resourceVersion": "7", "managedFields": []},
            "spec": {"source": {"targetRevision": "main"}},
            "status": {"sync": {"status": "OutOfSync"}, "operationState": {"phase": "Succeeded"}}});
        let op = sync_operation("4f1c2e9", true);
        assert_eq!(
            op,
            json!({"sync": {"revision": "4f1c2e9", "prune": true}, "initiatedBy": {"username": "tollgate"}})
        );
        let new = with_operation(&app, &op).unwrap();
        assert_eq!(new["operation"], op);
        assert!(new.pointer("/status/operationState").is_none());
        assert_eq!(
            new.pointer("/status/sync/status"),
            Some(&json!("OutOfSync"))
        );
        assert_eq!(new.pointer("/metadata/resourceVersion"), Some(&json!("7")));
        assert_eq!(
            with_operation(&new, &op).unwrap_err(),
            "another operation is already in progress"
        );
        assert_eq!(target_revision(&app), "main");
    }

    #[test]
    fn with_auto_sync_on_only_the_target_revision_may_be_synced_to() {
        let app = |automated: Value, target: &str| {
            json!({"spec": {"source": {"targetRevision": target},
                "syncPolicy": {"automated": automated}}})
        };
        let on = app(json!({"selfHeal": true}), "main");
        assert_eq!(
            refused_revision(&on, Some("4f1c2e9")).as_deref(),
            Some(
                "Cannot sync to 4f1c2e9: auto-sync currently set to main (turn it off first: argocd.auto_sync {enabled: false})"
            )
        );
        assert_eq!(refused_revision(&on, Some("main")), None);
        assert_eq!(refused_revision(&on, None), None);
        assert_eq!(refused_revision(&on, Some("")), None);
        assert_eq!(
            refused_revision(&app(json!({}), ""), Some("HEAD")),
            None,
            "no target revision is HEAD"
        );
        assert!(refused_revision(&app(json!({}), ""), Some("v2")).is_some());
        assert_eq!(
            refused_revision(&app(Value::Null, "main"), Some("v2")),
            None
        );
        assert_eq!(
            refused_revision(&app(json!({"enabled": false}), "main"), Some("v2")),
            None
        );
    }

    #[test]
    fn the_revision_before_a_sync_is_the_one_last_synced_not_the_one_compared() {
        let app = json!({"status": {
            "sync": {"status": "OutOfSync", "revision": "c2"},
            "history": [{"id": 0, "revision": "c0"}, {"id": 1, "revision": "c1"}],
            "operationState": {"phase": "Failed", "syncResult": {"revision": "c2"}}}});
        assert_eq!(deployed_revision(&app).as_deref(), Some("c1"));
        let app = json!({"status": {"sync": {"revision": "c2"},
            "operationState": {"phase": "Succeeded", "syncResult": {"revision": "c1"}}}});
        assert_eq!(deployed_revision(&app).as_deref(), Some("c1"));
        let never = json!({"status": {"sync": {"status": "OutOfSync", "revision": "c2"}}});
        assert_eq!(deployed_revision(&never), None);
    }

    #[test]
    fn the_automated_policy_is_set_and_removed_by_merge_patches() {
        assert_eq!(
            automated_patch(None),
            json!({"spec": {"syncPolicy": {"automated": null}}})
        );
        let was = json!({"prune": true, "selfHeal": true});
        assert_eq!(
            automated_patch(Some(&was)),
            json!({"spec": {"syncPolicy": {"automated": {"prune": true, "selfHeal": true}}}})
        );
    }

    #[test]
    fn the_live_line_says_sync_health_revision_and_operation() {
        let app = json!({"status": {"sync": {"status": "Synced", "revision": "4f1c2e9d00aa"},
            "health": {"status": "Progressing"}, "operationState": {"phase": "Running"}}});
        assert_eq!(
            status_line(&app),
            "sync Synced · health Progressing · revision 4f1c2e9 · operation Running"
        );
        assert_eq!(status_line(&json!({})), "sync Unknown · health Unknown");
    }
}
