//! The resource types the sandbox serves, as the API server's discovery documents describe them.

use serde_json::{Value, json};

/// One served resource type.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; "" is the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources served under `.../{name}/{sub}`.
    pub subresources: &'static [&'static str],
    /// Whether the main resource ignores `status` on update (it has a status subresource).
    pub has_status: bool,
    pub categories: &'static [&'static str],
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

macro_rules! rt {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $ns:expr, $short:expr, $subs:expr, $status:expr, $cat:expr) => {
        ResourceType {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: $short,
            subresources: $subs,
            has_status: $status,
            categories: $cat,
        }
    };
}

/// Every type the sandbox serves, core group first.
pub static RESOURCES: &[ResourceType] = &[
    rt!(
        "",
        "v1",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        &["ns"],
        &["status"],
        true,
        &[]
    ),
    rt!(
        "",
        "v1",
        "Node",
        "nodes",
        "node",
        false,
        &["no"],
        &["status"],
        true,
        &[]
    ),
    rt!(
        "",
        "v1",
        "Pod",
        "pods",
        "pod",
        true,
        &["po"],
        &["eviction", "log", "status"],
        true,
        &["all"]
    ),
    rt!(
        "",
        "v1",
        "Service",
        "services",
        "service",
        true,
        &["svc"],
        &["status"],
        true,
        &["all"]
    ),
    rt!(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        &["cm"],
        &[],
        false,
        &[]
    ),
    rt!(
        "",
        "v1",
        "Secret",
        "secrets",
        "secret",
        true,
        &[],
        &[],
        false,
        &[]
    ),
    rt!(
        "",
        "v1",
        "Event",
        "events",
        "event",
        true,
        &["ev"],
        &[],
        false,
        &[]
    ),
    rt!(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        "deployment",
        true,
        &["deploy"],
        &["scale", "status"],
        true,
        &["all"]
    ),
    rt!(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        "replicaset",
        true,
        &["rs"],
        &["scale", "status"],
        true,
        &["all"]
    ),
    rt!(
        "batch",
        "v1",
        "Job",
        "jobs",
        "job",
        true,
        &[],
        &["status"],
        true,
        &["all"]
    ),
    rt!(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        "cronjob",
        true,
        &["cj"],
        &["status"],
        true,
        &["all"]
    ),
    rt!(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        false,
        &["crd", "crds"],
        &["status"],
        true,
        &["api-extensions"]
    ),
    rt!(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        "ingress",
        true,
        &["ing"],
        &["status"],
        true,
        &[]
    ),
];

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this is one of the built-in types of [`RESOURCES`] (not a custom type).
    pub fn is_builtin(&self) -> bool {
        RESOURCES.iter().any(|r| std::ptr::eq(r, self))
    }

    /// Index of this type in [`RESOURCES`] (built-in types only: a custom type is not there and
    /// gets 0; the store finds custom types by pointer).
    pub fn index(&'static self) -> usize {
        RESOURCES
            .iter()
            .position(|r| std::ptr::eq(r, self))
            .unwrap_or(0)
    }

    /// The path prefix of the group-version: `/api/v1` or `/apis/apps/v1`.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// The type with this kind, e.g. `by_kind("Pod")`.
pub fn by_kind(kind: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("sandbox serves no kind {kind}"))
}

/// The type with this kind, if served.
pub fn find_kind(kind: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| r.kind == kind)
}

/// The type served at group/version/plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The type with this apiVersion and kind, as a manifest names it.
pub fn find_api_version_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The groups of `types` and each group's versions, preferred (kube-aware highest) first.
fn groups_of(types: &[&'static ResourceType]) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in types {
        if r.group.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, vs)) => {
                if !vs.contains(&r.version) {
                    vs.push(r.version);
                }
            }
            None => out.push((r.group, vec![r.version])),
        }
    }
    for (_, vs) in &mut out {
        vs.sort_by_key(|v| version_priority(v));
    }
    out
}

/// `version.CompareKubeAwareVersionStrings` as a sort key: GA before beta before alpha, higher
/// numbers first, then anything else alphabetically.
fn version_priority(v: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    use std::cmp::Reverse;
    let parsed = v.strip_prefix('v').and_then(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((0, major, 0));
        }
        let (level, n) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (2, n)
        } else {
            return None;
        };
        Some((level, major, n.parse().ok()?))
    });
    match parsed {
        Some((level, major, minor)) => (level, Reverse(major), Reverse(minor), String::new()),
        None => (3, Reverse(0), Reverse(0), v.to_string()),
    }
}

fn group_versions_json(g: &str, versions: &[&str]) -> Value {
    let gvs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = gvs.first().cloned().unwrap_or(Value::Null);
    json!({"name": g, "versions": gvs, "preferredVersion": preferred})
}

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "35",
        "gitVersion": "v1.35.0-tollgate-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `GET /api`.
pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    })
}

/// Every built-in type.
fn builtins() -> Vec<&'static ResourceType> {
    RESOURCES.iter().collect()
}

/// `GET /apis` for the built-in types.
pub fn group_list() -> Value {
    group_list_of(&builtins())
}

/// `GET /apis` for `types` (the built-in and a store's served custom types).
pub fn group_list_of(types: &[&'static ResourceType]) -> Value {
    let groups: Vec<Value> = groups_of(types)
        .into_iter()
        .map(|(g, vs)| group_versions_json(g, &vs))
        .chain(EXTRA_GROUPS.iter().map(ExtraGroup::group))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}` for the built-in types.
pub fn group(group: &str) -> Option<Value> {
    group_of(&builtins(), group)
}

/// `GET /apis/{group}` for `types`.
pub fn group_of(types: &[&'static ResourceType], group: &str) -> Option<Value> {
    if let Some(e) = EXTRA_GROUPS.iter().find(|e| e.group == group) {
        let mut g = e.group();
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        return Some(g);
    }
    let (_, vs) = groups_of(types).into_iter().find(|(g, _)| *g == group)?;
    let mut g = group_versions_json(group, &vs);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn subresource_parts(
    r: &ResourceType,
    sub: &str,
) -> (&'static str, &'static str, &'static [&'static str]) {
    match sub {
        "log" => ("", "Pod", &["get"]),
        "eviction" => ("policy", "Eviction", &["create"]),
        "scale" => ("autoscaling", "Scale", &["get", "patch", "update"]),
        _ => (r.group, r.kind, &["get", "patch", "update"]),
    }
}

fn api_resources(types: &[&'static ResourceType], group: &str, version: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for r in types
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut main = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS, "shortNames": r.short_names,
            "categories": r.categories,
        });
        if !r.is_builtin() {
            // As the API server lists a custom type: its storage version's hash is omitted too.
            if r.short_names.is_empty() {
                main.as_object_mut().map(|m| m.remove("shortNames"));
            }
            if r.categories.is_empty() {
                main.as_object_mut().map(|m| m.remove("categories"));
            }
        }
        out.push(main);
        for sub in r.subresources {
            let (g, kind, verbs) = subresource_parts(r, sub);
            let mut v = json!({
                "name": format!("{}/{}", r.plural, sub), "singularName": "",
                "namespaced": r.namespaced, "kind": kind, "verbs": verbs,
            });
            if *sub == "scale" || *sub == "eviction" {
                v["group"] = json!(g);
                v["version"] = json!("v1");
            }
            out.push(v);
        }
    }
    out
}

/// `GET /api/v1` or `GET /apis/{group}/{version}` for the built-in types.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    resource_list_of(&builtins(), group, version)
}

/// `GET /api/v1` or `GET /apis/{group}/{version}` for `types`.
pub fn resource_list_of(
    types: &[&'static ResourceType],
    group: &str,
    version: &str,
) -> Option<Value> {
    let mut resources = api_resources(types, group, version);
    if let Some(e) = EXTRA_GROUPS
        .iter()
        .find(|e| e.group == group && e.version == version)
    {
        resources = e.api_resources();
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources,
    }))
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`) of the built-in types.
pub fn aggregated(core: bool) -> Value {
    aggregated_of(&builtins(), core)
}

fn aggregated_resource(r: &ResourceType) -> Value {
    let subs: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| {
            let (g, kind, verbs) = subresource_parts(r, s);
            let version = if matches!(*s, "log" | "eviction" | "scale") {
                "v1"
            } else {
                r.version
            };
            json!({
                "subresource": s,
                "responseKind": {"group": g, "version": version, "kind": kind},
                "verbs": verbs,
            })
        })
        .collect();
    let mut v = json!({
        "resource": r.plural, "singularResource": r.singular,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "verbs": VERBS, "shortNames": r.short_names, "categories": r.categories,
        "subresources": subs,
    });
    if !r.is_builtin() {
        for (k, empty) in [
            ("shortNames", r.short_names.is_empty()),
            ("categories", r.categories.is_empty()),
            ("subresources", r.subresources.is_empty()),
        ] {
            if empty {
                v.as_object_mut().map(|m| m.remove(k));
            }
        }
    }
    v
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`) of `types`, for the core group (`core =
/// true`) or the named groups; a group's versions preferred first.
pub fn aggregated_of(types: &[&'static ResourceType], core: bool) -> Value {
    let groups: Vec<(&str, Vec<&str>)> = if core {
        vec![("", vec!["v1"])]
    } else {
        groups_of(types)
    };
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .into_iter()
                .map(|v| {
                    let resources: Vec<Value> = types
                        .iter()
                        .filter(|r| r.group == g && r.version == v)
                        .map(|r| aggregated_resource(r))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut meta = json!({});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({"metadata": meta, "versions": versions})
        })
        .chain(
            EXTRA_GROUPS
                .iter()
                .filter(|_| !core)
                .map(ExtraGroup::aggregated),
        )
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// A resource of an [`ExtraGroup`].
#[derive(Debug)]
pub struct ExtraResource {
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
}

/// A group served by hand rather than from the store (reviews answered at once, metrics computed
/// from the pods): listed in discovery like the others.
#[derive(Debug)]
pub struct ExtraGroup {
    pub group: &'static str,
    pub version: &'static str,
    pub resources: &'static [ExtraResource],
}

/// The groups served by hand: `auth can-i` and `auth whoami`'s reviews, and the metrics API of
/// `kubectl top`.
pub static EXTRA_GROUPS: &[ExtraGroup] = &[
    ExtraGroup {
        group: "authorization.k8s.io",
        version: "v1",
        resources: &[
            ExtraResource {
                plural: "selfsubjectaccessreviews",
                singular: "selfsubjectaccessreview",
                kind: "SelfSubjectAccessReview",
                namespaced: false,
                verbs: &["create"],
            },
            ExtraResource {
                plural: "selfsubjectrulesreviews",
                singular: "selfsubjectrulesreview",
                kind: "SelfSubjectRulesReview",
                namespaced: false,
                verbs: &["create"],
            },
        ],
    },
    ExtraGroup {
        group: "authentication.k8s.io",
        version: "v1",
        resources: &[ExtraResource {
            plural: "selfsubjectreviews",
            singular: "selfsubjectreview",
            kind: "SelfSubjectReview",
            namespaced: false,
            verbs: &["create"],
        }],
    },
    ExtraGroup {
        group: "metrics.k8s.io",
        version: "v1beta1",
        resources: &[
            ExtraResource {
                plural: "nodes",
                singular: "",
                kind: "NodeMetrics",
                namespaced: false,
                verbs: &["get", "list"],
            },
            ExtraResource {
                plural: "pods",
                singular: "",
                kind: "PodMetrics",
                namespaced: true,
                verbs: &["get", "list"],
            },
        ],
    },
];

impl ExtraGroup {
    fn group(&self) -> Value {
        let gv = json!({"groupVersion": format!("{}/{}", self.group, self.version), "version": self.version});
        json!({"name": self.group, "versions": [gv.clone()], "preferredVersion": gv})
    }

    fn api_resources(&self) -> Vec<Value> {
        self.resources
            .iter()
            .map(|r| {
                json!({
                    "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": r.verbs,
                })
            })
            .collect()
    }

    fn aggregated(&self) -> Value {
        let resources: Vec<Value> = self
            .resources
            .iter()
            .map(|r| {
                json!({
                    "resource": r.plural, "singularResource": r.singular,
                    "responseKind": {"group": self.group, "version": self.version, "kind": r.kind},
                    "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                    "verbs": r.verbs,
                })
            })
            .collect();
        json!({
            "metadata": {"name": self.group},
            "versions": [{"version": self.version, "resources": resources, "freshness": "Current"}],
        })
    }
}
