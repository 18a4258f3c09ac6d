//! `kube.scale`: one deployment or every deployment of a namespace; the counts it replaced are journaled.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::{ActionResult, Change, Failure, KubeStep, describe_error};
use crate::runbook::kube::Scale;

pub async fn scale(cx: &mut KubeStep<'_>, a: &Scale) -> ActionResult {
    let replicas: i32 = a.replicas.within("replicas").map_err(Failure::Error)?;
    if replicas < 0 {
        return Err(Failure::Error(format!(
            "replicas must be 0 or more, not {replicas}"
        )));
    }
    let ns = cx.ns.clone();
    let names = match &a.deployment {
        Some(d) => vec![d.clone()],
        None => {
            let names = deployments_in(cx, &ns).await?;
            if names.is_empty() {
                return Err(Failure::Error(format!(
                    "no deployments in namespace \"{ns}\""
                )));
            }
            names
        }
    };
    for name in names {
        scale_one(cx, &ns, &name, replicas).await?;
    }
    Ok(())
}

/// The names of the deployments of `ns`, sorted.
pub(super) async fn deployments_in(cx: &KubeStep<'_>, ns: &str) -> Result<Vec<String>, Failure> {
    let api: Api<Deployment> = Api::namespaced(cx.client.clone(), ns);
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    Ok(names)
}

/// `deployment "x" not found in namespace "y"`.
pub(super) fn not_found(ns: &str, name: &str) -> Failure {
    Failure::Error(format!(
        "deployment \"{name}\" not found in namespace \"{ns}\""
    ))
}

/// A deployment, or the error saying it is not there.
pub(super) async fn deployment(
    cx: &KubeStep<'_>,
    ns: &str,
    name: &str,
) -> Result<Deployment, Failure> {
    let api: Api<Deployment> = Api::namespaced(cx.client.clone(), ns);
    api.get_opt(name).await?.ok_or_else(|| not_found(ns, name))
}

/// Scales `name` to `to`, recording the change when the count was another; an unchanged count is
/// said and not recorded.
pub(super) async fn scale_one(
    cx: &mut KubeStep<'_>,
    ns: &str,
    name: &str,
    to: i32,
) -> ActionResult {
    let api: Api<Deployment> = Api::namespaced(cx.client.clone(), ns);
    let from = match api.get_scale(name).await {
        Ok(s) => s.spec.and_then(|s| s.replicas).unwrap_or(0),
        Err(kube::Error::Api(e)) if e.code == 404 => return Err(not_found(ns, name)),
        Err(e) => return Err(e.into()),
    };
    if from == to {
        cx.say(format!("deployment/{name} already has {to} replicas"))
            .await;
        return Ok(());
    }
    api.patch_scale(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": to}})),
    )
    .await
    .map_err(|e| {
        Failure::Error(format!(
            "cannot scale deployment/{name}: {}",
            describe_error(&e)
        ))
    })?;
    cx.changed(Change::Scaled {
        namespace: ns.to_string(),
        deployment: name.to_string(),
        from,
        to,
    });
    cx.out(format!("deployment/{name} scaled {from} → {to}"))
        .await;
    Ok(())
}
