//! `kube.revert`: puts back what a step changed, from what it journaled.

use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::Scope;

use super::change::Change;
use super::step::{ActionResult, Failure, KubeStep, describe_error};
use super::{argo, argocd, rollout, scale};
use crate::exec::Journaled;
use crate::runbook::kube::KubeAction;

/// `kube.revert`: puts back what the named step changed, newest change first. What the revert
/// changes is recorded too, so it can be reverted in turn.
pub async fn revert(cx: &mut KubeStep<'_>) -> ActionResult {
    let step = match &cx.call.action {
        KubeAction::Revert(r) => match r.run.as_deref().filter(|x| !x.is_empty()) {
            Some(run) => format!("{}\" of run \"{run}", r.step),
            None => r.step.clone(),
        },
        _ => String::new(),
    };
    let mut changes = Vec::new();
    let reverting = match cx.call.reverting.clone().map_err(Failure::Error)? {
        Journaled::Ran(changes) => changes,
        // Nothing to put back, and nothing changed: no change is journaled.
        Journaled::DidNotRun(line) => {
            cx.out(line).await;
            return Ok(());
        }
    };
    // AWS changes (a run's journal holds both) are `secrets.revert`'s to put back.
    let (aws, cluster): (Vec<_>, Vec<_>) = reverting
        .iter()
        .partition(|v| crate::exec::aws::change::is_aws(v));
    for v in cluster {
        let c: Change = serde_json::from_value(v.clone()).map_err(|e| {
            Failure::Error(format!(
                "step \"{step}\" journaled a change that cannot be read ({e}): {v}"
            ))
        })?;
        changes.push(c);
    }
    if changes.is_empty() {
        return Err(Failure::Error(if aws.is_empty() {
            format!("step \"{step}\" changed nothing that can be put back")
        } else {
            format!(
                "step \"{step}\" changed nothing in the cluster that can be put back: its changes are in AWS (`secrets.revert` puts them back)"
            )
        }));
    }
    for c in changes.iter().rev() {
        put_back(cx, c).await?;
    }
    Ok(())
}

/// Puts one change back.
async fn put_back(cx: &mut KubeStep<'_>, c: &Change) -> ActionResult {
    match c {
        Change::Scaled {
            namespace,
            deployment,
            from,
            ..
        } => scale::scale_one(cx, namespace, deployment, *from).await,
        Change::Image {
            namespace,
            deployment,
            container,
            from,
            ..
        } => {
            let (now, init) = rollout::image_of(cx, namespace, deployment, container).await?;
            rollout::set_image_to(cx, namespace, deployment, container, init, &now, from).await
        }
        Change::Restarted {
            namespace,
            deployment,
            from,
            ..
        } => rollout::unrestart(cx, namespace, deployment, from.as_deref()).await,
        Change::RolledBack {
            namespace,
            deployment,
            from_revision,
            ..
        } => rollout::undo_to(cx, namespace, deployment, Some(*from_revision)).await,
        Change::Applied {
            namespace,
            api_version,
            kind,
            name,
            created,
            before,
            after,
        } => {
            unapply(
                cx,
                namespace.as_deref(),
                api_version,
                kind,
                name,
                *created,
                before.as_ref(),
                after.as_ref(),
            )
            .await
        }
        Change::Patched {
            namespace,
            api_version,
            kind,
            name,
            before,
            ..
        } => unpatch(cx, namespace.as_deref(), api_version, kind, name, before).await,
        Change::Rollout {
            namespace,
            rollout,
            op,
            pod_hash,
            ..
        } => argo::unroll(cx, namespace, rollout, *op, pod_hash).await,
        Change::RolloutImage {
            namespace,
            rollout,
            workload,
            containers,
            to,
        } => argo::unset_image(cx, namespace, rollout, workload.as_deref(), containers, to).await,
        Change::RolloutTemplate {
            namespace,
            rollout,
            workload,
            before,
            after,
            ..
        } => argo::untemplate(cx, namespace, rollout, workload.as_deref(), before, after).await,
        Change::AutoSync {
            namespace,
            app,
            before,
            after,
        } => argocd::unset_automated(cx, namespace, app, before.clone(), after.clone()).await,
        Change::Synced {
            namespace,
            app,
            before_revision,
            ..
        } => match before_revision {
            Some(r) => argocd::sync_to(cx, namespace, app, Some(r.clone()), false).await,
            None => Err(Failure::Error(format!(
                "application/{app} had no synced revision before the sync; left as it is"
            ))),
        },
        Change::JobRan {
            namespace, name, ..
        } => {
            cx.say(format!(
                "job/{name} (namespace {namespace}) ran: nothing to put back"
            ))
            .await;
            Ok(())
        }
    }
}

/// An object's API, found through discovery.
async fn dynamic_api(
    cx: &KubeStep<'_>,
    namespace: Option<&str>,
    api_version: &str,
    kind: &str,
) -> Result<Api<DynamicObject>, Failure> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = kube::discovery::pinned_kind(&cx.client, &gvk)
        .await
        .map_err(|e| {
            Failure::Error(format!(
                "cannot find the API of {api_version} {kind}: {}",
                describe_error(&e)
            ))
        })?;
    Ok(match (caps.scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(cx.client.clone(), ns, &ar),
        (Scope::Namespaced, None) => Api::namespaced_with(cx.client.clone(), &cx.ns, &ar),
        (Scope::Cluster, _) => Api::all_with(cx.client.clone(), &ar),
    })
}

/// An object as it can be written back: without status and the fields the server sets.
fn writable(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            m.remove(k);
        }
    }
    v
}

/// Fails naming what changed when the object is no longer as the apply left it (`after`, from
/// the apply's journal; older journals have none and are not checked). A Secret is never
/// compared: its values are not journaled.
fn changed_since(
    what: &str,
    kind: &str,
    after: Option<&serde_json::Value>,
    current: Option<&DynamicObject>,
) -> Result<(), Failure> {
    let (Some(after), Some(cur)) = (after, current) else {
        return Ok(());
    };
    if kind == "Secret" {
        return Ok(());
    }
    let mut now = serde_json::to_value(cur).unwrap_or_default();
    now["kind"] = serde_json::json!(kind);
    let now = super::apply::comparable(&now);
    if &now == after {
        return Ok(());
    }
    Err(Failure::Error(format!(
        "{what} changed since the step applied it ({}); left as it is",
        super::apply::diff_line(after, &now)
    )))
}

/// Puts an applied object back: deletes it when the apply created it, else replaces it with what
/// it was (created again when it has gone since). An object changed since the apply (`after` is
/// what the apply left) is named and left as it is, and the revert fails.
#[allow(clippy::too_many_arguments)]
async fn unapply(
    cx: &mut KubeStep<'_>,
    namespace: Option<&str>,
    api_version: &str,
    kind: &str,
    name: &str,
    created: bool,
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> ActionResult {
    let api = dynamic_api(cx, namespace, api_version, kind).await?;
    let what = format!("{}/{name}", kind.to_ascii_lowercase());
    let mut current = api.get_opt(name).await?;
    changed_since(&what, kind, after, current.as_ref())?;
    if created {
        let Some(current) = current else {
            cx.say(format!("{what} is already gone")).await;
            return Ok(());
        };
        api.delete(name, &DeleteParams::background())
            .await
            .map_err(|e| Failure::Error(format!("cannot delete {what}: {}", describe_error(&e))))?;
        cx.changed(Change::Applied {
            namespace: namespace.map(str::to_string),
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            created: false,
            // A Secret's values stay out of the journal (see `apply::stripped`).
            before: serde_json::to_value(&current).ok().map(|mut v| {
                v["kind"] = serde_json::json!(kind);
                super::apply::stripped(&writable(v))
            }),
            after: None,
        });
        cx.out(format!("{what} deleted (the step had created it)"))
            .await;
        return Ok(());
    }
    if kind == "Secret" {
        return Err(Failure::Error(format!(
            "{what} cannot be put back: its earlier values are secret and were not journaled; restore it from where it came from"
        )));
    }
    let Some(before) = before else {
        return Err(Failure::Error(format!(
            "{what} was changed but the journal does not hold it as it was"
        )));
    };
    let mut obj: DynamicObject = serde_json::from_value(writable(before.clone()))
        .map_err(|e| Failure::Error(format!("the journaled {what} cannot be read: {e}")))?;
    if obj.types.is_none() {
        obj.types = Some(kube::api::TypeMeta {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
    }
    let pp = PostParams {
        field_manager: Some("tollgate".into()),
        ..PostParams::default()
    };
    let mut attempt = 0;
    let was = loop {
        attempt += 1;
        let Some(cur) = &current else {
            api.create(&pp, &obj).await.map_err(|e| {
                Failure::Error(format!(
                    "cannot create {what} again: {}",
                    describe_error(&e)
                ))
            })?;
            break None;
        };
        obj.metadata.resource_version = cur.metadata.resource_version.clone();
        match api.replace(name, &pp, &obj).await {
            Ok(_) => break serde_json::to_value(cur).ok().map(writable),
            // A controller wrote (its status) between the read and the write: read again, and
            // check again that nothing else changed.
            Err(kube::Error::Api(ae)) if ae.code == 409 && attempt < 5 => {
                current = api.get_opt(name).await?;
                changed_since(&what, kind, after, current.as_ref())?;
            }
            Err(e) => {
                return Err(Failure::Error(format!(
                    "cannot put {what} back: {}",
                    describe_error(&e)
                )));
            }
        }
    };
    cx.changed(Change::Applied {
        namespace: namespace.map(str::to_string),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        created: was.is_none(),
        before: was,
        after: None,
    });
    cx.out(format!("{what} put back as it was")).await;
    Ok(())
}

/// Puts a patched object back exactly as it was (`kube.patch`'s undo): the journaled object
/// replaces the current one, its current status kept (a kind without a status subresource would
/// otherwise lose it).
async fn unpatch(
    cx: &mut KubeStep<'_>,
    namespace: Option<&str>,
    api_version: &str,
    kind: &str,
    name: &str,
    before: &serde_json::Value,
) -> ActionResult {
    let api = dynamic_api(cx, namespace, api_version, kind).await?;
    let what = format!("{}/{name}", kind.to_ascii_lowercase());
    if kind == "Secret" {
        return Err(Failure::Error(format!(
            "{what} cannot be put back: its earlier values are secret and were not journaled; restore it from where it came from"
        )));
    }
    // The object's controller may write it between the read and the replace (a Rollout's status):
    // a conflict reads it again, as `kubectl` and the plugin retry.
    let mut attempt = 0;
    let current_v = loop {
        attempt += 1;
        let Some(current) = api.get_opt(name).await? else {
            return Err(Failure::Error(format!(
                "{what} is gone since it was patched; left as it is"
            )));
        };
        let current_v = serde_json::to_value(&current).unwrap_or_default();
        let mut body = writable(before.clone());
        if let Some(st) = current_v.get("status") {
            body["status"] = st.clone();
        }
        let mut obj: DynamicObject = serde_json::from_value(body)
            .map_err(|e| Failure::Error(format!("the journaled {what} cannot be read: {e}")))?;
        obj.types = Some(kube::api::TypeMeta {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        });
        obj.metadata.resource_version = current.metadata.resource_version.clone();
        let pp = PostParams {
            field_manager: Some("tollgate".into()),
            ..PostParams::default()
        };
        match api.replace(name, &pp, &obj).await {
            Ok(_) => break current_v,
            Err(kube::Error::Api(ae)) if ae.code == 409 && attempt < 5 => continue,
            Err(e) => {
                return Err(Failure::Error(format!(
                    "cannot put {what} back: {}",
                    describe_error(&e)
                )));
            }
        }
    };
    let mut was = writable(current_v);
    was["apiVersion"] = serde_json::json!(api_version);
    was["kind"] = serde_json::json!(kind);
    cx.changed(Change::Patched {
        namespace: namespace.map(str::to_string),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        patch_type: "replace".into(),
        before: was,
    });
    cx.out(format!("{what} put back as it was before the patch"))
        .await;
    Ok(())
}
