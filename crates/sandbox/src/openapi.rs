//! The OpenAPI documents of the served types, as an API server publishes them: `/openapi/v3` (an
//! index of group-versions), `/openapi/v3/api/v1` and `/openapi/v3/apis/{group}/{version}` (OpenAPI
//! 3.0 documents), and `/openapi/v2` (one Swagger 2.0 document).
//!
//! Nothing is copied from Kubernetes' published specs: the schemas are generated from k8s-openapi's
//! types (their `JsonSchema` impls carry Kubernetes' definition names, e.g.
//! `io.k8s.api.apps.v1.Deployment`), the list types, `x-kubernetes-group-version-kind` and the
//! merge extensions of the lists are added here, and the paths are those [`RESOURCES`] serves, with
//! the verbs and query parameters the sandbox honours (`dryRun`, `fieldManager`,
//! `fieldValidation`, `force`, …). kubectl reads them to decide on server-side field validation
//! (`fieldValidation` on the PATCH operation of the kind), to compute strategic merge patches, and
//! for `kubectl explain`.
//!
//! The documents are built once, on first use, and kept ([`docs`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::schemars::generate::SchemaSettings;
use k8s_openapi::schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::resources::{RESOURCES, ResourceType};

/// Every document, encoded once.
pub struct Docs {
    /// `GET /openapi/v3`.
    pub index: Vec<u8>,
    /// Per group-version path (`api/v1`, `apis/apps/v1`): its hash and its document.
    pub group_versions: BTreeMap<String, (String, Vec<u8>)>,
    /// `GET /openapi/v2`.
    pub v2: Vec<u8>,
    /// Every definition of every group-version (OpenAPI 3 form), for field validation.
    pub schemas: Map<String, Value>,
}

/// The documents, built on first use.
pub fn docs() -> &'static Docs {
    static DOCS: OnceLock<Docs> = OnceLock::new();
    DOCS.get_or_init(build)
}

/// `api/v1` or `apis/apps/v1`: a group-version's path under `/openapi/v3/`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Where a definition lives in one form of document.
#[derive(Clone, Copy)]
enum Form {
    /// OpenAPI 3: `#/components/schemas/NAME`.
    V3,
    /// Swagger 2.0: `#/definitions/NAME`.
    V2,
}

impl Form {
    fn settings(self) -> SchemaSettings {
        match self {
            Form::V3 => SchemaSettings::openapi3(),
            Form::V2 => {
                let mut s = SchemaSettings::draft07();
                s.meta_schema = None;
                s
            }
        }
    }

    fn reference(self, name: &str) -> Value {
        match self {
            Form::V3 => json!({"$ref": format!("#/components/schemas/{name}")}),
            Form::V2 => json!({"$ref": format!("#/definitions/{name}")}),
        }
    }
}

/// Adds the schema of the Rust type of `kind` (and everything it refers to) to `g`; returns its
/// definition name.
fn add_kind(g: &mut SchemaGenerator, kind: &str) -> Option<String> {
    use k8s_openapi::api::apps::v1 as apps;
    use k8s_openapi::api::autoscaling::v1 as autoscaling;
    use k8s_openapi::api::batch::v1 as batch;
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::networking::v1 as networking;
    fn add<T: JsonSchema>(g: &mut SchemaGenerator) -> String {
        g.subschema_for::<T>();
        T::schema_name().into_owned()
    }
    Some(match kind {
        "Namespace" => add::<core::Namespace>(g),
        "Node" => add::<core::Node>(g),
        "Pod" => add::<core::Pod>(g),
        "Service" => add::<core::Service>(g),
        "ConfigMap" => add::<core::ConfigMap>(g),
        "Secret" => add::<core::Secret>(g),
        "Event" => add::<core::Event>(g),
        "Deployment" => add::<apps::Deployment>(g),
        "ReplicaSet" => add::<apps::ReplicaSet>(g),
        "Job" => add::<batch::Job>(g),
        "CronJob" => add::<batch::CronJob>(g),
        "Ingress" => add::<networking::Ingress>(g),
        "Scale" => add::<autoscaling::Scale>(g),
        "CustomResourceDefinition" => add::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(g),
        _ => return None,
    })
}

/// The definitions every group-version document carries besides its kinds.
fn add_common(g: &mut SchemaGenerator) -> [String; 3] {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    g.subschema_for::<meta::Status>();
    g.subschema_for::<meta::DeleteOptions>();
    g.subschema_for::<meta::Patch>();
    [
        meta::Status::schema_name().into_owned(),
        meta::DeleteOptions::schema_name().into_owned(),
        meta::Patch::schema_name().into_owned(),
    ]
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

/// The list type of a kind: `io.k8s.api.core.v1.PodList` beside `io.k8s.api.core.v1.Pod`.
fn list_schema(form: Form, rt: &ResourceType, item: &str) -> Value {
    let item_ref = match form {
        Form::V3 => json!({"allOf": [form.reference(item)]}),
        Form::V2 => form.reference(item),
    };
    let mut meta = form.reference("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta");
    if let Form::V3 = form {
        meta = json!({"allOf": [meta], "default": {}});
    }
    meta["description"] = json!(
        "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
    );
    json!({
        "description": format!("{}List is a list of {} objects.", rt.kind, rt.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "items": {"type": "array", "description": format!("List of {}.", rt.plural), "items": item_ref},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": meta,
        },
        "x-kubernetes-group-version-kind": [gvk(rt.group, rt.version, &format!("{}List", rt.kind))],
    })
}

/// How the lists of the built-in types merge (`patchStrategy`/`patchMergeKey` and
/// `listType`/`listMapKeys` upstream): (definition, property, merge key or "" for a set of
/// scalars, list-map keys).
const LIST_MERGES: &[(&str, &str, &str, &[&str])] = &[
    (
        "apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        "",
        &[],
    ),
    (
        "apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        "uid",
        &["uid"],
    ),
    ("api.core.v1.PodSpec", "containers", "name", &["name"]),
    ("api.core.v1.PodSpec", "initContainers", "name", &["name"]),
    (
        "api.core.v1.PodSpec",
        "ephemeralContainers",
        "name",
        &["name"],
    ),
    ("api.core.v1.PodSpec", "volumes", "name", &["name"]),
    ("api.core.v1.PodSpec", "imagePullSecrets", "name", &["name"]),
    ("api.core.v1.PodSpec", "resourceClaims", "name", &["name"]),
    ("api.core.v1.PodSpec", "schedulingGates", "name", &["name"]),
    ("api.core.v1.PodSpec", "hostAliases", "ip", &["ip"]),
    (
        "api.core.v1.PodSpec",
        "topologySpreadConstraints",
        "topologyKey",
        &["topologyKey", "whenUnsatisfiable"],
    ),
    ("api.core.v1.Container", "env", "name", &["name"]),
    (
        "api.core.v1.Container",
        "ports",
        "containerPort",
        &["containerPort", "protocol"],
    ),
    (
        "api.core.v1.Container",
        "volumeMounts",
        "mountPath",
        &["mountPath"],
    ),
    (
        "api.core.v1.Container",
        "volumeDevices",
        "devicePath",
        &["devicePath"],
    ),
    ("api.core.v1.EphemeralContainer", "env", "name", &["name"]),
    (
        "api.core.v1.EphemeralContainer",
        "ports",
        "containerPort",
        &["containerPort", "protocol"],
    ),
    (
        "api.core.v1.EphemeralContainer",
        "volumeMounts",
        "mountPath",
        &["mountPath"],
    ),
    (
        "api.core.v1.EphemeralContainer",
        "volumeDevices",
        "devicePath",
        &["devicePath"],
    ),
    (
        "api.core.v1.ServiceSpec",
        "ports",
        "port",
        &["port", "protocol"],
    ),
    ("api.core.v1.NodeSpec", "podCIDRs", "", &[]),
    ("api.core.v1.PodStatus", "conditions", "type", &["type"]),
    ("api.core.v1.PodStatus", "podIPs", "ip", &["ip"]),
    ("api.core.v1.PodStatus", "hostIPs", "ip", &["ip"]),
    (
        "api.core.v1.PodStatus",
        "resourceClaimStatuses",
        "name",
        &["name"],
    ),
    ("api.core.v1.NodeStatus", "conditions", "type", &["type"]),
    ("api.core.v1.NodeStatus", "addresses", "type", &["type"]),
    (
        "api.core.v1.NamespaceStatus",
        "conditions",
        "type",
        &["type"],
    ),
    ("api.core.v1.ServiceStatus", "conditions", "type", &["type"]),
    (
        "api.apps.v1.DeploymentStatus",
        "conditions",
        "type",
        &["type"],
    ),
    (
        "api.apps.v1.ReplicaSetStatus",
        "conditions",
        "type",
        &["type"],
    ),
    ("api.batch.v1.JobStatus", "conditions", "", &[]),
];

/// Adds the merge extensions of [`LIST_MERGES`] to the definitions.
fn add_list_merges(defs: &mut Map<String, Value>) {
    for (def, prop, key, keys) in LIST_MERGES {
        let Some(p) = defs
            .get_mut(&format!("io.k8s.{def}"))
            .and_then(|d| d.pointer_mut(&format!("/properties/{prop}")))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if key.is_empty() {
            if *def == "api.batch.v1.JobStatus" {
                p.insert("x-kubernetes-list-type".into(), json!("atomic"));
                continue;
            }
            p.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
            p.insert("x-kubernetes-list-type".into(), json!("set"));
        } else {
            p.insert("x-kubernetes-patch-merge-key".into(), json!(key));
            let strategy = if *prop == "volumes" {
                "merge,retainKeys"
            } else {
                "merge"
            };
            p.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
            p.insert("x-kubernetes-list-type".into(), json!("map"));
            p.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        }
    }
}

/// `CoreV1`, `AppsV1`, `NetworkingV1`: the group-version as operation ids spell it.
fn gv_camel(group: &str, version: &str) -> String {
    let g = group.split('.').next().unwrap_or("");
    let g = if g.is_empty() { "core" } else { g };
    let mut out = String::new();
    for part in [g, version] {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            out.extend(f.to_uppercase());
            out.push_str(c.as_str());
        }
    }
    out
}

fn tag(group: &str, version: &str) -> String {
    let g = group.split('.').next().unwrap_or("");
    let g = if g.is_empty() { "core" } else { g };
    format!("{g}_{version}")
}

/// One query or path parameter.
fn param(form: Form, name: &str, place: &str, ty: &str, description: &str) -> Value {
    let mut p = json!({"name": name, "in": place, "description": description});
    if place == "path" {
        p["required"] = json!(true);
    }
    p["uniqueItems"] = json!(true);
    match form {
        Form::V3 => p["schema"] = json!({"type": ty, "uniqueItems": true}),
        Form::V2 => p["type"] = json!(ty),
    }
    p
}

const DRY_RUN: &str = "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed";
const FIELD_MANAGER: &str =
    "fieldManager is a name associated with the actor or entity that is making these changes.";
const FIELD_VALIDATION: &str = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default. - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.";

fn write_params(form: Form, patch: bool) -> Vec<Value> {
    let mut ps = vec![
        param(form, "dryRun", "query", "string", DRY_RUN),
        param(form, "fieldManager", "query", "string", FIELD_MANAGER),
        param(form, "fieldValidation", "query", "string", FIELD_VALIDATION),
    ];
    if patch {
        ps.push(param(
            form,
            "force",
            "query",
            "boolean",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        ));
    }
    ps
}

fn list_params(form: Form) -> Vec<Value> {
    [
        ("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
        ("continue", "string", "The continue option should be set when retrieving more results from the server."),
        ("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
        ("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
        ("limit", "integer", "limit is a maximum number of responses to return for a list call."),
        ("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
        ("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
        ("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
        ("timeoutSeconds", "integer", "Timeout for the list/watch call."),
        ("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
    ]
    .iter()
    .map(|(n, t, d)| param(form, n, "query", t, d))
    .collect()
}

fn delete_params(form: Form) -> Vec<Value> {
    vec![
        param(form, "dryRun", "query", "string", DRY_RUN),
        param(
            form,
            "gracePeriodSeconds",
            "query",
            "integer",
            "The duration in seconds before the object should be deleted.",
        ),
        param(
            form,
            "propagationPolicy",
            "query",
            "string",
            "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
        ),
    ]
}

const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// What an operation is: its verb, `x-kubernetes-action`, the schema it takes (if any) and the
/// schema it answers with, its GVK.
struct Op<'a> {
    verb: &'static str,
    action: &'static str,
    id: String,
    description: String,
    body: Option<&'a str>,
    params: Vec<Value>,
    response: Value,
    codes: &'static [&'static str],
    gvk: Value,
    tag: String,
}

fn operation(form: Form, op: Op) -> Value {
    let mut out = json!({
        "description": op.description,
        "operationId": op.id,
        "tags": [op.tag],
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": op.gvk,
    });
    let mut params = op.params;
    let produces = ["application/json", "application/yaml"];
    let mut responses = Map::new();
    for code in op.codes {
        let text = match *code {
            "200" => "OK",
            "201" => "Created",
            "202" => "Accepted",
            _ => "",
        };
        let r = match form {
            Form::V3 => {
                let mut content = Map::new();
                for p in produces {
                    content.insert(p.into(), json!({"schema": op.response}));
                }
                json!({"description": text, "content": content})
            }
            Form::V2 => json!({"description": text, "schema": op.response}),
        };
        responses.insert((*code).into(), r);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    out["responses"] = Value::Object(responses);
    if let Some(body) = op.body {
        let types: Vec<&str> = if op.verb == "patch" {
            PATCH_TYPES.to_vec()
        } else {
            vec!["*/*"]
        };
        match form {
            Form::V3 => {
                let mut content = Map::new();
                for t in &types {
                    content.insert((*t).into(), json!({"schema": form.reference(body)}));
                }
                out["requestBody"] = json!({"content": content, "required": true});
            }
            Form::V2 => {
                params.insert(
                    0,
                    json!({"name": "body", "in": "body", "required": true, "schema": form.reference(body)}),
                );
                out["consumes"] = json!(types);
            }
        }
    }
    if let Form::V2 = form {
        out["produces"] = json!(produces);
        out["schemes"] = json!(["https"]);
    }
    out["parameters"] = Value::Array(params);
    out
}

/// The paths of one resource type, with its subresources.
fn resource_paths(form: Form, rt: &ResourceType, def: &str, paths: &mut Map<String, Value>) {
    let camel = gv_camel(rt.group, rt.version);
    let tag = tag(rt.group, rt.version);
    let ns = if rt.namespaced { "Namespaced" } else { "" };
    let kind_gvk = gvk(rt.group, rt.version, rt.kind);
    let list_def = format!("{def}List");
    let status_def = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    let r = |d: &str| form.reference(d);
    let pretty = param(
        form,
        "pretty",
        "query",
        "string",
        "If 'true', then the output is pretty printed.",
    );
    let ns_param = param(
        form,
        "namespace",
        "path",
        "string",
        "object name and auth scope, such as for teams and projects",
    );
    let name_param = |what: &str| {
        param(
            form,
            "name",
            "path",
            "string",
            &format!("name of the {what}"),
        )
    };
    let op = |verb: &'static str,
              action: &'static str,
              id: String,
              body: Option<&str>,
              params: Vec<Value>,
              response: Value,
              codes: &'static [&'static str],
              gvk: &Value| {
        operation(
            form,
            Op {
                verb,
                action,
                description: format!("{action} {}", rt.kind),
                id,
                body,
                params,
                response,
                codes,
                gvk: gvk.clone(),
                tag: tag.clone(),
            },
        )
    };
    let base = rt.prefix();
    let collection = if rt.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", rt.plural)
    } else {
        format!("{base}/{}", rt.plural)
    };
    let mut path_params = vec![pretty.clone()];
    if rt.namespaced {
        path_params.insert(0, ns_param.clone());
    }
    let kind = rt.kind;
    paths.insert(
        collection.clone(),
        json!({
            "get": op("get", "list", format!("list{camel}{ns}{kind}"), None, list_params(form), r(&list_def), &["200"], &kind_gvk),
            "post": op("post", "post", format!("create{camel}{ns}{kind}"), Some(def), write_params(form, false), r(def), &["200", "201", "202"], &kind_gvk),
            "delete": op("delete", "deletecollection", format!("deletecollection{camel}{ns}{kind}"), Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"), {
                let mut p = list_params(form);
                p.extend(delete_params(form));
                p
            }, r(status_def), &["200"], &kind_gvk),
            "parameters": path_params,
        }),
    );
    if rt.namespaced {
        paths.insert(
            format!("{base}/{}", rt.plural),
            json!({
                "get": op("get", "list", format!("list{camel}{kind}ForAllNamespaces"), None, list_params(form), r(&list_def), &["200"], &kind_gvk),
                "parameters": [pretty.clone()],
            }),
        );
    }
    let mut item_params = vec![name_param(kind), pretty.clone()];
    if rt.namespaced {
        item_params.insert(1, ns_param.clone());
    }
    paths.insert(
        format!("{collection}/{{name}}"),
        json!({
            "get": op("get", "get", format!("read{camel}{ns}{kind}"), None, vec![], r(def), &["200"], &kind_gvk),
            "put": op("put", "put", format!("replace{camel}{ns}{kind}"), Some(def), write_params(form, false), r(def), &["200", "201"], &kind_gvk),
            "patch": op("patch", "patch", format!("patch{camel}{ns}{kind}"), Some("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"), write_params(form, true), r(def), &["200", "201"], &kind_gvk),
            "delete": op("delete", "delete", format!("delete{camel}{ns}{kind}"), Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"), delete_params(form), r(status_def), &["200", "202"], &kind_gvk),
            "parameters": item_params,
        }),
    );
    for sub in rt.subresources {
        let mut sub_params = vec![name_param(kind), pretty.clone()];
        if rt.namespaced {
            sub_params.insert(1, ns_param.clone());
        }
        let path = format!("{collection}/{{name}}/{sub}");
        let v = match *sub {
            "log" => {
                let log_params: Vec<Value> = [
                    ("container", "string"),
                    ("follow", "boolean"),
                    ("limitBytes", "integer"),
                    ("previous", "boolean"),
                    ("sinceSeconds", "integer"),
                    ("sinceTime", "string"),
                    ("tailLines", "integer"),
                    ("timestamps", "boolean"),
                ]
                .iter()
                .map(|(n, t)| param(form, n, "query", t, n))
                .collect();
                sub_params.extend(log_params);
                json!({
                    "get": op("get", "get", format!("read{camel}{ns}{kind}Log"), None, vec![], json!({"type": "string"}), &["200"], &kind_gvk),
                    "parameters": sub_params,
                })
            }
            "scale" => {
                let scale_gvk = gvk("autoscaling", "v1", "Scale");
                let scale_def = "io.k8s.api.autoscaling.v1.Scale";
                json!({
                    "get": op("get", "get", format!("read{camel}{ns}{kind}Scale"), None, vec![], r(scale_def), &["200"], &scale_gvk),
                    "put": op("put", "put", format!("replace{camel}{ns}{kind}Scale"), Some(scale_def), write_params(form, false), r(scale_def), &["200", "201"], &scale_gvk),
                    "patch": op("patch", "patch", format!("patch{camel}{ns}{kind}Scale"), Some("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"), write_params(form, true), r(scale_def), &["200", "201"], &scale_gvk),
                    "parameters": sub_params,
                })
            }
            _ => json!({
                "get": op("get", "get", format!("read{camel}{ns}{kind}Status"), None, vec![], r(def), &["200"], &kind_gvk),
                "put": op("put", "put", format!("replace{camel}{ns}{kind}Status"), Some(def), write_params(form, false), r(def), &["200", "201"], &kind_gvk),
                "patch": op("patch", "patch", format!("patch{camel}{ns}{kind}Status"), Some("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"), write_params(form, true), r(def), &["200", "201"], &kind_gvk),
                "parameters": sub_params,
            }),
        };
        paths.insert(path, v);
    }
}

/// The definitions and paths of the resource types `rts`, in one form.
fn definitions_and_paths(
    form: Form,
    rts: &[&'static ResourceType],
) -> (Map<String, Value>, Map<String, Value>) {
    let mut g = form.settings().into_generator();
    let common = add_common(&mut g);
    let mut kinds = Vec::new();
    for rt in rts {
        let Some(def) = add_kind(&mut g, rt.kind) else {
            continue;
        };
        kinds.push((*rt, def));
    }
    if rts.iter().any(|rt| rt.subresources.contains(&"scale")) {
        add_kind(&mut g, "Scale");
    }
    let mut defs = g.take_definitions(true);
    add_list_merges(&mut defs);
    let mut paths = Map::new();
    for (rt, def) in &kinds {
        if let Some(d) = defs.get_mut(def).and_then(Value::as_object_mut) {
            d.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([gvk(rt.group, rt.version, rt.kind)]),
            );
        }
        defs.insert(format!("{def}List"), list_schema(form, rt, def));
        resource_paths(form, rt, def, &mut paths);
    }
    if let Some(d) = defs
        .get_mut("io.k8s.api.autoscaling.v1.Scale")
        .and_then(Value::as_object_mut)
    {
        d.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([gvk("autoscaling", "v1", "Scale")]),
        );
    }
    // Status and DeleteOptions are answered and taken by every group-version.
    let [status, delete_options, _] = common;
    let all_gvs: Vec<Value> = {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for rt in rts {
            if !seen.contains(&(rt.group, rt.version)) {
                seen.push((rt.group, rt.version));
            }
        }
        seen.iter().map(|(g, v)| gvk(g, v, "")).collect()
    };
    for (name, kind) in [(status, "Status"), (delete_options, "DeleteOptions")] {
        if let Some(d) = defs.get_mut(&name).and_then(Value::as_object_mut) {
            let list: Vec<Value> = all_gvs
                .iter()
                .map(|g| {
                    let mut g = g.clone();
                    g["kind"] = json!(kind);
                    g
                })
                .collect();
            d.insert("x-kubernetes-group-version-kind".into(), json!(list));
        }
    }
    (defs, paths)
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": super::resources::version()["gitVersion"].clone()})
}

/// The OpenAPI 3.0 document of one group-version.
fn v3_document(group: &str, version: &str) -> Value {
    let rts: Vec<&'static ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let (defs, paths) = definitions_and_paths(Form::V3, &rts);
    json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
        "security": [{"BearerToken": []}],
    })
}

/// The Swagger 2.0 document of every served type.
fn v2_document() -> Value {
    let rts: Vec<&'static ResourceType> = RESOURCES.iter().collect();
    let (defs, paths) = definitions_and_paths(Form::V2, &rts);
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": paths,
        "definitions": defs,
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}],
    })
}

/// FNV-1a, 64 bits, as upper-case hex: the `hash` of a group-version's URL (an API server uses
/// SHA-512; any digest of the document serves the same purpose, a cache key).
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

fn build() -> Docs {
    let mut gvs: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !gvs.contains(&(r.group, r.version)) {
            gvs.push((r.group, r.version));
        }
    }
    let mut group_versions = BTreeMap::new();
    let mut index = Map::new();
    let mut schemas = Map::new();
    for (g, v) in gvs {
        let doc = v3_document(g, v);
        if let Some(defs) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (k, d) in defs {
                schemas.entry(k.clone()).or_insert_with(|| d.clone());
            }
        }
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        let hash = digest(&bytes);
        let path = gv_path(g, v);
        index.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}),
        );
        group_versions.insert(path, (hash, bytes));
    }
    Docs {
        index: serde_json::to_vec(&json!({"paths": index})).unwrap_or_default(),
        group_versions,
        v2: serde_json::to_vec(&v2_document()).unwrap_or_default(),
        schemas,
    }
}

/// The fields of `obj` that the schema of `kind` does not declare, as paths
/// (`spec.template.spec.containers[0].imagePullPolice`), in document order.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    let Some(rt) = super::resources::find_kind(kind) else {
        return Vec::new();
    };
    let schemas = &docs().schemas;
    let Some(def) = kind_definition(schemas, rt) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(schemas, def, obj, "", &mut out, 0);
    out
}

/// The definition whose `x-kubernetes-group-version-kind` names this type.
fn kind_definition<'a>(schemas: &'a Map<String, Value>, rt: &ResourceType) -> Option<&'a Value> {
    schemas.values().find(|d| {
        d.get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter().any(|g| {
                    g["group"] == rt.group && g["version"] == rt.version && g["kind"] == rt.kind
                })
            })
    })
}

/// The schema a `$ref` or a single `allOf` stands for.
fn resolve<'a>(schemas: &'a Map<String, Value>, mut s: &'a Value) -> &'a Value {
    for _ in 0..16 {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or("");
            match schemas.get(name) {
                Some(d) => s = d,
                None => return s,
            }
        } else if let Some([one]) = s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            s = one;
        } else {
            return s;
        }
    }
    s
}

/// How a resolved schema governs a value's children: its fields by name (`properties`) or any
/// name (`additionalProperties`), its items; or not at all (`Any`: unknown fields preserved, or
/// an object without declared fields such as RawExtension or FieldsV1, which takes anything).
enum Children<'a> {
    Fields {
        props: Option<&'a Map<String, Value>>,
        additional: Option<&'a Value>,
    },
    Items(Option<&'a Value>),
    Any,
}

impl<'a> Children<'a> {
    fn of(schemas: &'a Map<String, Value>, schema: &'a Value, v: &Value) -> Children<'a> {
        let s = resolve(schemas, schema);
        if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            return Children::Any;
        }
        match v {
            Value::Object(_) => {
                let props = s.get("properties").and_then(Value::as_object);
                let additional = s.get("additionalProperties").filter(|a| a.is_object());
                if props.is_none() && additional.is_none() {
                    return Children::Any;
                }
                Children::Fields { props, additional }
            }
            Value::Array(_) => Children::Items(s.get("items")),
            _ => Children::Any,
        }
    }

    /// The schema of field `k`; `None` when the schema does not declare it.
    fn field(&self, k: &str) -> Option<&'a Value> {
        match self {
            Children::Fields { props, additional } => {
                props.and_then(|ps| ps.get(k)).or(*additional)
            }
            _ => None,
        }
    }
}

/// The paths of the fields in `v` that `schema` does not declare.
fn walk(
    schemas: &Map<String, Value>,
    schema: &Value,
    v: &Value,
    path: &str,
    out: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let children = Children::of(schemas, schema, v);
    match (v, &children) {
        (Value::Object(m), Children::Fields { .. }) => {
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match children.field(k) {
                    Some(cs) => walk(schemas, cs, child, &p, out, depth + 1),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(items), Children::Items(Some(is))) => {
            for (i, child) in items.iter().enumerate() {
                walk(schemas, is, child, &format!("{path}[{i}]"), out, depth + 1);
            }
        }
        _ => {}
    }
}

/// An answer to `GET /openapi/...`.
#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'static [u8],
}

/// Whether an `Accept` header takes JSON (no header takes anything).
fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    accept.split(',').any(|t| {
        let t = t.split(';').next().unwrap_or("").trim();
        matches!(t, "application/json" | "application/*" | "*/*")
    })
}

fn not_acceptable() -> super::ApiError {
    super::ApiError::new(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json",
    )
}

/// `GET /openapi/{rest}` (`rest`: `v2`, `v3`, `v3/api/v1`, `v3/apis/apps/v1`), `query` the
/// request's query string, `accept` its `Accept` header. JSON is the only encoding served: a
/// client that takes only protobuf (kubectl's `/openapi/v2`) is answered 406 Not Acceptable.
pub fn answer(
    rest: &str,
    query: Option<&str>,
    accept: Option<&str>,
) -> Result<Answer, super::ApiError> {
    let d = docs();
    let json_answer = |body: &'static [u8], mut headers: Vec<(&'static str, String)>| {
        headers.insert(0, ("content-type", "application/json".to_string()));
        Answer {
            code: 200,
            headers,
            body,
        }
    };
    match rest {
        "v2" => {
            if !accepts_json(accept) {
                return Err(not_acceptable());
            }
            Ok(json_answer(
                &d.v2,
                vec![("etag", format!("\"{}\"", digest(&d.v2)))],
            ))
        }
        "v3" => {
            if !accepts_json(accept) {
                return Err(not_acceptable());
            }
            Ok(json_answer(&d.index, Vec::new()))
        }
        _ => {
            let gv = rest.strip_prefix("v3/").unwrap_or("");
            let Some((hash, body)) = d.group_versions.get(gv) else {
                return Err(super::ApiError::path_not_found());
            };
            let asked = query.and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "hash")
                    .map(|(_, v)| v.into_owned())
            });
            match asked {
                // An old hash is sent to the current one, as the API server does.
                Some(h) if h != *hash => Ok(Answer {
                    code: 301,
                    headers: vec![("location", format!("/openapi/v3/{gv}?hash={hash}"))],
                    body: b"",
                }),
                _ if !accepts_json(accept) => Err(not_acceptable()),
                Some(_) => Ok(json_answer(
                    body,
                    vec![
                        ("etag", format!("\"{hash}\"")),
                        ("cache-control", "public, immutable".to_string()),
                    ],
                )),
                None => Ok(json_answer(
                    body,
                    vec![
                        ("etag", format!("\"{hash}\"")),
                        ("cache-control", "no-cache, private".to_string()),
                    ],
                )),
            }
        }
    }
}

/// Drops the fields of `obj` that the schema of `kind` does not declare, as decoding into the
/// typed object does on an API server (fieldValidation Warn or Ignore).
pub fn prune_unknown_fields(kind: &str, obj: &mut Value) {
    let Some(rt) = super::resources::find_kind(kind) else {
        return;
    };
    let schemas = &docs().schemas;
    if let Some(def) = kind_definition(schemas, rt) {
        prune(schemas, def, obj, 0);
    }
}

fn prune(schemas: &Map<String, Value>, schema: &Value, v: &mut Value, depth: usize) {
    if depth > 64 {
        return;
    }
    let children = Children::of(schemas, schema, v);
    match (v, &children) {
        (Value::Object(m), Children::Fields { .. }) => {
            m.retain(|k, _| children.field(k).is_some());
            for (k, child) in m.iter_mut() {
                if let Some(cs) = children.field(k) {
                    prune(schemas, cs, child, depth + 1);
                }
            }
        }
        (Value::Array(items), Children::Items(Some(is))) => {
            for child in items {
                prune(schemas, is, child, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gv_doc(rt: &ResourceType) -> Value {
        let (_, bytes) = &docs().group_versions[&gv_path(rt.group, rt.version)];
        serde_json::from_slice(bytes).unwrap()
    }

    /// Every `$ref` in `v`.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_served_kind_is_in_its_group_version_document() {
        let index: Value = serde_json::from_slice(&docs().index).unwrap();
        for rt in RESOURCES {
            let gv = gv_path(rt.group, rt.version);
            let url = index["paths"][&gv]["serverRelativeURL"].as_str().unwrap();
            assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
            let doc = gv_doc(rt);
            assert_eq!(doc["openapi"], "3.0.0");
            let schemas = doc["components"]["schemas"].as_object().unwrap();
            let def = kind_definition(schemas, rt)
                .unwrap_or_else(|| panic!("{} has no schema in {gv}", rt.kind));
            assert!(def["properties"]["metadata"].is_object(), "{}", rt.kind);
            assert!(schemas.contains_key(&format!(
                "{}List",
                schemas.iter().find(|(_, d)| *d == def).unwrap().0
            )));
            let collection = if rt.namespaced {
                format!("{}/namespaces/{{namespace}}/{}", rt.prefix(), rt.plural)
            } else {
                format!("{}/{}", rt.prefix(), rt.plural)
            };
            let item = &doc["paths"][format!("{collection}/{{name}}")];
            for verb in ["get", "put", "patch", "delete"] {
                assert_eq!(
                    item[verb]["x-kubernetes-group-version-kind"],
                    gvk(rt.group, rt.version, rt.kind),
                    "{} {verb}",
                    rt.kind
                );
            }
            for verb in ["get", "post", "delete"] {
                assert!(doc["paths"][&collection][verb].is_object(), "{collection}");
            }
            // kubectl chooses server-side field validation from the PATCH operations' parameters.
            for sub in rt.subresources.iter().filter(|s| **s != "log") {
                let params =
                    doc["paths"][format!("{collection}/{{name}}/{sub}")]["patch"]["parameters"]
                        .as_array()
                        .unwrap();
                assert!(params.iter().any(|p| p["name"] == "fieldValidation"));
            }
            let params = item["patch"]["parameters"].as_array().unwrap();
            for p in ["dryRun", "fieldManager", "fieldValidation", "force"] {
                assert!(
                    params.iter().any(|x| x["name"] == p && x["in"] == "query"),
                    "{p}"
                );
            }
            // Every reference resolves inside the document itself.
            let mut rs = Vec::new();
            refs(&doc, &mut rs);
            for r in rs {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                assert!(schemas.contains_key(name), "{gv}: {r} does not resolve");
            }
        }
    }

    #[test]
    fn schemas_carry_kubernetes_names_and_merge_extensions() {
        let doc = gv_doc(super::super::resources::by_kind("Deployment"));
        let s = &doc["components"]["schemas"];
        assert_eq!(
            s["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "version": "v1", "kind": "Deployment"}])
        );
        let containers = &s["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
        let strategy = &s["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(
            strategy["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
        );
        assert!(s["io.k8s.api.autoscaling.v1.Scale"].is_object());
        assert!(s["io.k8s.apimachinery.pkg.apis.meta.v1.Status"].is_object());
    }

    #[test]
    fn v2_document_is_swagger_with_every_kind() {
        let doc: Value = serde_json::from_slice(&docs().v2).unwrap();
        assert_eq!(doc["swagger"], "2.0");
        for rt in RESOURCES {
            let found = doc["definitions"].as_object().unwrap().values().any(|d| {
                d["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|g| g["kind"] == rt.kind))
            });
            assert!(found, "{}", rt.kind);
        }
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["parameters"][0]["in"], "body");
        assert_eq!(
            patch["parameters"][0]["schema"]["$ref"],
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        );
    }

    #[test]
    fn answers_json_only_and_sends_old_hashes_to_the_current_one() {
        let v2 = answer("v2", None, Some("application/json")).unwrap();
        assert_eq!(v2.code, 200);
        assert!(
            v2.headers
                .contains(&("content-type", "application/json".into()))
        );
        // kubectl asks /openapi/v2 for protobuf only: not served.
        let pb = answer(
            "v2",
            None,
            Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
        )
        .unwrap_err();
        assert_eq!(pb.code, 406);
        assert_eq!(
            answer("v3", None, Some("application/json, */*"))
                .unwrap()
                .code,
            200
        );
        let (hash, _) = &docs().group_versions["apis/apps/v1"];
        let ok = answer("v3/apis/apps/v1", Some(&format!("hash={hash}")), None).unwrap();
        assert_eq!(ok.code, 200);
        assert!(
            ok.headers
                .contains(&("cache-control", "public, immutable".into()))
        );
        let old = answer("v3/apis/apps/v1", Some("hash=0123"), None).unwrap();
        assert_eq!(old.code, 301);
        assert_eq!(
            old.headers,
            vec![("location", format!("/openapi/v3/apis/apps/v1?hash={hash}"))]
        );
        assert_eq!(
            answer("v3/apis/widgets/v1", None, None).unwrap_err().code,
            404
        );
        assert_eq!(answer("v3/", None, None).unwrap_err().code, 404);
        assert_eq!(answer("v4", None, None).unwrap_err().code, 404);
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"any-label": "x"}, "annotations": {"a": "b"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [
                        {"name": "web", "image": "nginx", "resources": {"limits": {"cpu": "1"}}},
                        {"name": "side", "image": "busybox", "imagePullPolice": "Always"},
                    ]},
                },
            },
            "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]},
        })
    }

    #[test]
    fn unknown_fields_are_named_by_their_paths() {
        assert_eq!(
            unknown_fields("Deployment", &deployment()),
            ["spec.template.spec.containers[1].imagePullPolice"]
        );
        let mut d = deployment();
        d["spec"]["replicass"] = json!(3);
        d["bogus"] = json!({"deep": 1});
        assert_eq!(
            unknown_fields("Deployment", &d),
            [
                "bogus",
                "spec.replicass",
                "spec.template.spec.containers[1].imagePullPolice"
            ]
        );
        // Maps take any key, managed fields any content.
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {"f:x": {}}}}]},
            "data": {"anything": "goes"}});
        assert!(unknown_fields("ConfigMap", &cm).is_empty());
        assert!(unknown_fields("Widget", &cm).is_empty());
        assert!(unknown_fields("ConfigMap", &json!("not an object")).is_empty());
    }

    #[test]
    fn pruning_drops_exactly_the_unknown_fields() {
        let mut d = deployment();
        d["spec"]["replicass"] = json!(3);
        prune_unknown_fields("Deployment", &mut d);
        assert!(unknown_fields("Deployment", &d).is_empty());
        assert_eq!(d["spec"].get("replicass"), None);
        assert_eq!(
            d.pointer("/spec/template/spec/containers/1"),
            Some(&json!({"name": "side", "image": "busybox"}))
        );
        assert_eq!(d.pointer("/metadata/labels/any-label"), Some(&json!("x")));
        assert_eq!(
            d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            Some(&json!("25%"))
        );
    }
}
