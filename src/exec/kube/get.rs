//! `kube.get`: read resources; output as JSON or through a JSONPath template. Also the kind lookup
//! the other steps share: kubectl's names for a resource (`po`, `pods`, `pod`, `Pod`,
//! `deployments.apps`) resolved through the server's discovery documents, so any kind it serves
//! works.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::{Value, json};

use super::{ActionResult, Failure, KubeStep, describe_error};
use crate::runbook::jsonpath;
use crate::runbook::kube::Get;

/// One resource type the server serves.
#[derive(Clone, Debug)]
pub struct Kind {
    pub ar: ApiResource,
    pub namespaced: bool,
    pub singular: String,
    pub short_names: Vec<String>,
    /// The group's preferred version.
    pub preferred: bool,
}

impl Kind {
    /// kubectl's name of the type in its output, e.g. `deployment.apps`, `pod`.
    pub fn display(&self) -> String {
        let k = self.ar.kind.to_lowercase();
        if self.ar.group.is_empty() {
            k
        } else {
            format!("{k}.{}", self.ar.group)
        }
    }

    /// An API for it: in `ns` when namespaced.
    pub fn api(&self, client: &Client, ns: &str) -> Api<DynamicObject> {
        if self.namespaced {
            Api::namespaced_with(client.clone(), ns, &self.ar)
        } else {
            Api::all_with(client.clone(), &self.ar)
        }
    }
}

/// The server's resource types, from discovery.
#[derive(Clone, Debug, Default)]
pub struct Kinds {
    pub list: Vec<Kind>,
}

impl Kinds {
    /// Reads the discovery documents (`/api/v1`, then every group version under `/apis`). A group
    /// that does not answer (an aggregated API that is down) is left out.
    pub async fn discover(client: &Client) -> Result<Kinds, kube::Error> {
        let mut kinds = Kinds::default();
        let core = client.list_core_api_versions().await?;
        for (i, v) in core.versions.iter().enumerate() {
            let rl = client.list_core_api_resources(v).await?;
            kinds.add("", v, i == 0, rl);
        }
        let groups = client.list_api_groups().await?;
        let mut asks = Vec::new();
        for g in &groups.groups {
            let preferred = g.preferred_version.as_ref().map(|p| p.version.clone());
            for v in &g.versions {
                let is_pref = preferred.as_deref() == Some(v.version.as_str());
                asks.push(async move {
                    let rl = client.list_api_group_resources(&v.group_version).await;
                    (g.name.clone(), v.version.clone(), is_pref, rl)
                });
            }
        }
        for (group, version, preferred, rl) in futures::future::join_all(asks).await {
            if let Ok(rl) = rl {
                kinds.add(&group, &version, preferred, rl);
            }
        }
        Ok(kinds)
    }

    fn add(
        &mut self,
        group: &str,
        version: &str,
        preferred: bool,
        rl: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList,
    ) {
        for r in rl.resources {
            if r.name.contains('/') {
                continue;
            }
            let group = r.group.clone().unwrap_or_else(|| group.to_string());
            let version = r.version.clone().unwrap_or_else(|| version.to_string());
            let api_version = if group.is_empty() {
                version.clone()
            } else {
                format!("{group}/{version}")
            };
            self.list.push(Kind {
                ar: ApiResource {
                    group,
                    version,
                    api_version,
                    kind: r.kind.clone(),
                    plural: r.name.clone(),
                },
                namespaced: r.namespaced,
                singular: if r.singular_name.is_empty() {
                    r.kind.to_lowercase()
                } else {
                    r.singular_name.clone()
                },
                short_names: r.short_names.clone().unwrap_or_default(),
                preferred,
            });
        }
    }

    /// A type by a kubectl name: plural, singular, short name or kind (any case), optionally with
    /// its group (`deployments.apps`) or version and group (`deployments.v1.apps`).
    pub fn find(&self, name: &str) -> Option<&Kind> {
        let lower = name.to_lowercase();
        let (res, group) = match lower.split_once('.') {
            Some((r, g)) => (r.to_string(), Some(g.to_string())),
            None => (lower.clone(), None),
        };
        let named = |k: &Kind| {
            k.ar.plural == res
                || k.singular == res
                || k.ar.kind.to_lowercase() == res
                || k.short_names.iter().any(|s| s.to_lowercase() == res)
        };
        let in_group = |k: &Kind| match &group {
            None => true,
            Some(g) => *g == k.ar.group || *g == format!("{}.{}", k.ar.version, k.ar.group),
        };
        let mut found: Vec<&Kind> = self
            .list
            .iter()
            .filter(|k| named(k) && in_group(k))
            .collect();
        // kubectl's order: exact plural first, the preferred version, then the core group.
        found.sort_by_key(|k| (k.ar.plural != res, !k.preferred, !k.ar.group.is_empty()));
        found.first().copied()
    }

    /// The type of a manifest's `apiVersion` and `kind`.
    pub fn by_gvk(&self, api_version: &str, kind: &str) -> Option<&Kind> {
        self.list
            .iter()
            .find(|k| k.ar.api_version == api_version && k.ar.kind == kind)
    }
}

/// `KIND` or `KIND/NAME`.
pub fn split_resource(resource: &str) -> Result<(&str, Option<&str>), String> {
    let resource = resource.trim();
    match resource.split_once('/') {
        Some((k, n)) if !k.is_empty() && !n.is_empty() && !n.contains('/') => Ok((k, Some(n))),
        None if !resource.is_empty() => Ok((resource, None)),
        _ => Err(format!(
            "`{resource}` is not a resource: `KIND` or `KIND/NAME` expected (e.g. `pods`, `deployment/api`)"
        )),
    }
}

/// Resolves `KIND` through discovery, or says the server has no such type.
pub async fn resolve(client: &Client, kind: &str) -> Result<Kind, Failure> {
    let kinds = Kinds::discover(client).await?;
    kinds.find(kind).cloned().ok_or_else(|| {
        Failure::Error(format!(
            "the server doesn't have a resource type \"{kind}\""
        ))
    })
}

/// What replaces a Secret's values in anything shown.
pub const MASKED: &str = "<masked>";

/// An object as shown: types filled in, managed fields left out, a Secret's values masked (and its
/// last-applied annotation, which holds them, dropped).
pub fn shown(obj: &DynamicObject, kind: &Kind) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), json!(kind.ar.api_version));
        o.insert("kind".into(), json!(kind.ar.kind));
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
    }
    mask_secret(&mut v);
    v
}

/// Masks a Secret's `data` and `stringData` values.
pub fn mask_secret(v: &mut Value) {
    if v.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    for field in ["data", "stringData"] {
        if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
            for val in m.values_mut() {
                *val = json!(MASKED);
            }
        }
    }
    if let Some(a) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

pub async fn get(cx: &mut KubeStep<'_>, a: &Get) -> ActionResult {
    let (res, name) = split_resource(&a.resource)?;
    let template = match &a.jsonpath {
        Some(t) => Some(jsonpath::JsonPath::parse(t)?),
        None => None,
    };
    let kind = resolve(&cx.client, res).await?;
    let api = kind.api(&cx.client, &cx.ns);
    let value = match name {
        Some(name) => {
            if a.selector.is_some() {
                return Err(Failure::Error(format!(
                    "`{}`: a selector cannot be used with a name",
                    a.resource
                )));
            }
            let obj = api.get(name).await.map_err(|e| {
                Failure::Error(format!("{}/{name}: {}", kind.display(), describe_error(&e)))
            })?;
            shown(&obj, &kind)
        }
        None => {
            let mut lp = ListParams::default();
            if let Some(s) = &a.selector {
                lp = lp.labels(s);
            }
            let list = api.list(&lp).await?;
            let mut items: Vec<Value> = list.items.iter().map(|o| shown(o, &kind)).collect();
            items.sort_by_key(|i| {
                (
                    i.pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    i.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                )
            });
            json!({"apiVersion": "v1", "kind": "List", "items": items,
                   "metadata": {"resourceVersion": list.metadata.resource_version.unwrap_or_default()}})
        }
    };
    let text = match &template {
        Some(t) => {
            let mut s = t.render(&value);
            if s.ends_with('\n') {
                s.pop();
            }
            s
        }
        None => serde_json::to_string_pretty(&value).unwrap_or_default(),
    };
    cx.out(text).await;
    Ok(())
}
