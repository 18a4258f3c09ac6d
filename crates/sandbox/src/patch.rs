//! The patch types of the in-memory API server, and server-side apply.
//!
//! - [`merge_patch`]: RFC 7386 JSON merge patch (`application/merge-patch+json`).
//! - [`json_patch`]: RFC 6902 JSON patch (`application/json-patch+json`), applied atomically.
//! - [`strategic_merge`]: strategic merge patch (`application/strategic-merge-patch+json`), a port of
//!   the apply half of `k8s.io/apimachinery/pkg/util/strategicpatch` (`mergeMap`, `mergeSlice`,
//!   the `$patch`, `$retainKeys`, `$deleteFromPrimitiveList/` and `$setElementOrder/` directives,
//!   upstream's ordering rules and error texts).
//! - [`apply`] / [`record_update`]: server-side apply and field ownership, a port of the parts of
//!   `sigs.k8s.io/structured-merge-diff` (`merge.Updater`) and `k8s.io/apiserver`'s field manager
//!   that matter for built-in types: merge, prune, conflicts, `force`, and `metadata.managedFields`
//!   in the real FieldsV1 encoding.
//!
//! Go decodes objects into typed structs whose tags say how each list merges. Here objects are
//! plain JSON, so a small schema table (`Ty`, `Ty::child`, `Ty::list_type`) says, from the
//! field name and where it sits, which lists merge and by which key. Everything else is treated
//! the way an untyped map would be.
//!
//! Nothing here panics on any input.

use super::go_format::{
    GO_MAP_TYPE, GO_SLICE_TYPE, go_map, go_quote, go_slice, go_type, go_value, json_kind,
};
use super::object::metadata_mut;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

type JMap = Map<String, Value>;

// =============================================================================================
// JSON merge patch (RFC 7386)
// =============================================================================================

/// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes a key, any non-object
/// patch replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(JMap::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

// =============================================================================================
// JSON patch (RFC 6902)
// =============================================================================================

/// RFC 6902 JSON patch: `add`, `remove`, `replace`, `move`, `copy`, `test`; JSON pointers with
/// `~0`/`~1` escapes and `-` (append) for arrays. Atomic: on any error `target` is unchanged.
/// Errors name the failing operation's index and path.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let Value::Array(list) = ops else {
        return Err(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(ops)
        ));
    };
    let mut doc = target.clone();
    for (i, op) in list.iter().enumerate() {
        if let Err(e) = apply_json_patch_op(&mut doc, op) {
            let name = op.get("op").and_then(Value::as_str).unwrap_or("?");
            let path = op.get("path").and_then(Value::as_str).unwrap_or("");
            return Err(format!(
                "json patch operation {i} ({name} \"{path}\") failed: {e}"
            ));
        }
    }
    *target = doc;
    Ok(())
}

fn apply_json_patch_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let Value::Object(o) = op else {
        return Err("operation is not a JSON object".to_string());
    };
    let name = match o.get("op") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("\"op\" is not a string".to_string()),
        None => return Err("missing \"op\"".to_string()),
    };
    let path = match o.get("path") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("\"path\" is not a string".to_string()),
        None => return Err("missing \"path\"".to_string()),
    };
    let tokens = parse_pointer(path)?;
    let value = || {
        o.get("value")
            .cloned()
            .ok_or_else(|| "missing \"value\"".to_string())
    };
    let from = || -> Result<Vec<String>, String> {
        match o.get("from") {
            Some(Value::String(s)) => parse_pointer(s),
            Some(_) => Err("\"from\" is not a string".to_string()),
            None => Err("missing \"from\"".to_string()),
        }
    };
    match name {
        "add" => pointer_add(doc, &tokens, value()?),
        "remove" => pointer_remove(doc, &tokens).map(|_| ()),
        "replace" => pointer_replace(doc, &tokens, value()?),
        "move" => {
            let from = from()?;
            if from == tokens {
                return pointer_get(doc, &from).map(|_| ());
            }
            if tokens.len() > from.len() && tokens.starts_with(&from) {
                return Err("cannot move a value into one of its own children".to_string());
            }
            let v = pointer_remove(doc, &from)?;
            pointer_add(doc, &tokens, v)
        }
        "copy" => {
            let v = pointer_get(doc, &from()?)?.clone();
            pointer_add(doc, &tokens, v)
        }
        "test" => {
            let want = value()?;
            let got = pointer_get(doc, &tokens)?;
            if json_eq(got, &want) {
                Ok(())
            } else {
                Err(format!("test failed: value is {got}, not {want}"))
            }
        }
        other => Err(format!("unsupported operation \"{other}\"")),
    }
}

/// RFC 6901: `""` is the whole document; otherwise `/`-separated reference tokens where `~1`
/// stands for `/` and `~0` for `~`.
fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!("invalid JSON pointer \"{p}\": must start with '/'"));
    };
    rest.split('/')
        .map(|tok| {
            let mut out = String::with_capacity(tok.len());
            let mut chars = tok.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(format!("invalid JSON pointer \"{p}\": bad '~' escape")),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

/// An array index token: decimal digits without leading zeros.
fn array_index(tok: &str) -> Result<usize, String> {
    let digits = !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit());
    if !digits || (tok.len() > 1 && tok.starts_with('0')) {
        return Err(format!("\"{tok}\" is not a valid array index"));
    }
    tok.parse::<usize>()
        .map_err(|_| format!("\"{tok}\" is not a valid array index"))
}

fn pointer_get<'a>(doc: &'a Value, tokens: &[String]) -> Result<&'a Value, String> {
    let mut cur = doc;
    for tok in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get(tok)
                .ok_or_else(|| format!("path segment \"{tok}\" not found"))?,
            Value::Array(a) => {
                let i = array_index(tok)?;
                a.get(i)
                    .ok_or_else(|| format!("array index {i} out of bounds (length {})", a.len()))?
            }
            _ => return Err(format!("cannot descend into a scalar at \"{tok}\"")),
        };
    }
    Ok(cur)
}

fn pointer_get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for tok in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(tok)
                .ok_or_else(|| format!("path segment \"{tok}\" not found"))?,
            Value::Array(a) => {
                let len = a.len();
                let i = array_index(tok)?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of bounds (length {len})"))?
            }
            _ => return Err(format!("cannot descend into a scalar at \"{tok}\"")),
        };
    }
    Ok(cur)
}

fn pointer_add(doc: &mut Value, tokens: &[String], v: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = v;
        return Ok(());
    };
    match pointer_get_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                array_index(last)?
            };
            if i > a.len() {
                return Err(format!(
                    "array index {i} out of bounds (length {})",
                    a.len()
                ));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err("parent is not an object or array".to_string()),
    }
}

fn pointer_remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".to_string());
    };
    match pointer_get_mut(doc, parent)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path segment \"{last}\" not found")),
        Value::Array(a) => {
            let i = array_index(last)?;
            if i >= a.len() {
                return Err(format!(
                    "array index {i} out of bounds (length {})",
                    a.len()
                ));
            }
            Ok(a.remove(i))
        }
        _ => Err("parent is not an object or array".to_string()),
    }
}

fn pointer_replace(doc: &mut Value, tokens: &[String], v: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = v;
        return Ok(());
    };
    match pointer_get_mut(doc, parent)? {
        Value::Object(m) => match m.get_mut(last) {
            Some(slot) => {
                *slot = v;
                Ok(())
            }
            None => Err(format!("path segment \"{last}\" not found")),
        },
        Value::Array(a) => {
            let len = a.len();
            let i = array_index(last)?;
            match a.get_mut(i) {
                Some(slot) => {
                    *slot = v;
                    Ok(())
                }
                None => Err(format!("array index {i} out of bounds (length {len})")),
            }
        }
        _ => Err("parent is not an object or array".to_string()),
    }
}

// =============================================================================================
// The schema table
// =============================================================================================

/// Where a JSON object sits in a built-in Kubernetes object, as far as merging cares. Computed
/// from the kind at the root and the field names on the way down (list items take the type of
/// their list field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    /// The object itself.
    Root(RootKind),
    /// `metadata` (and the `metadata` of templates).
    ObjectMeta,
    /// `PodTemplateSpec`: `template` of workloads and PodTemplate.
    PodTemplateSpec,
    /// `PodSpec`: Pod `spec`, `template.spec`.
    PodSpec,
    /// Items of `containers`, `initContainers`, `ephemeralContainers`.
    Container,
    /// `spec` of Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController.
    WorkloadSpec,
    /// CronJob `spec`.
    CronJobSpec,
    /// CronJob `spec.jobTemplate`.
    JobTemplateSpec,
    /// Service `spec`.
    ServiceSpec,
    /// Node `spec`.
    NodeSpec,
    /// Pod `status`.
    PodStatus,
    /// Node `status`.
    NodeStatus,
    /// `status` of any other kind.
    Status,
    /// An atomic struct or map for server-side apply (`+structType=atomic` / `+mapType=atomic`):
    /// label selectors, `fieldRef` & co, owner references. Strategic merge still merges these
    /// key by key, as it does upstream.
    Atomic,
    /// Anything else.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RootKind {
    Pod,
    PodTemplate,
    Workload,
    CronJob,
    Service,
    Node,
    ServiceAccount,
    Other,
}

/// The key fields of an associative list for server-side apply (`x-kubernetes-list-map-keys`),
/// each with the default the schema gives it, if any.
type KeyFields = &'static [(&'static str, Option<&'static str>)];

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListType {
    /// Replaced as a whole (no `patchStrategy`; `listType=atomic`).
    Atomic,
    /// `patchStrategy:"merge"` on a list of scalars (`listType=set`): union of values.
    Set,
    /// `patchStrategy:"merge"` with `patchMergeKey` (`listType=map`): items matched by key.
    /// Strategic merge uses the single `smp_key`; server-side apply uses all of `keys`.
    Map {
        smp_key: &'static str,
        keys: KeyFields,
    },
}

const BY_NAME: ListType = ListType::Map {
    smp_key: "name",
    keys: &[("name", None)],
};
const BY_TYPE: ListType = ListType::Map {
    smp_key: "type",
    keys: &[("type", None)],
};
const BY_IP: ListType = ListType::Map {
    smp_key: "ip",
    keys: &[("ip", None)],
};

impl Ty {
    fn root(kind: &str) -> Ty {
        Ty::Root(match kind {
            "Pod" => RootKind::Pod,
            "PodTemplate" => RootKind::PodTemplate,
            "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "ReplicationController" => RootKind::Workload,
            "CronJob" => RootKind::CronJob,
            "Service" => RootKind::Service,
            "Node" => RootKind::Node,
            "ServiceAccount" => RootKind::ServiceAccount,
            _ => RootKind::Other,
        })
    }

    /// The type of the value of `field` inside an object of this type (for a list field: the
    /// type of its items).
    fn child(self, field: &str) -> Ty {
        if self == Ty::Atomic
            || matches!(
                field,
                "selector"
                    | "labelSelector"
                    | "namespaceSelector"
                    | "fieldRef"
                    | "configMapKeyRef"
                    | "secretKeyRef"
                    | "resourceFieldRef"
            )
        {
            return Ty::Atomic;
        }
        match (self, field) {
            (Ty::Root(_), "metadata") => Ty::ObjectMeta,
            (Ty::Root(RootKind::Pod), "spec") => Ty::PodSpec,
            (Ty::Root(RootKind::Pod), "status") => Ty::PodStatus,
            (Ty::Root(RootKind::PodTemplate), "template") => Ty::PodTemplateSpec,
            (Ty::Root(RootKind::Workload), "spec") => Ty::WorkloadSpec,
            (Ty::Root(RootKind::CronJob), "spec") => Ty::CronJobSpec,
            (Ty::Root(RootKind::Service), "spec") => Ty::ServiceSpec,
            (Ty::Root(RootKind::Node), "spec") => Ty::NodeSpec,
            (Ty::Root(RootKind::Node), "status") => Ty::NodeStatus,
            (Ty::Root(_), "status") => Ty::Status,
            (Ty::WorkloadSpec, "template") => Ty::PodTemplateSpec,
            (Ty::CronJobSpec, "jobTemplate") => Ty::JobTemplateSpec,
            (Ty::JobTemplateSpec, "metadata") | (Ty::PodTemplateSpec, "metadata") => Ty::ObjectMeta,
            (Ty::JobTemplateSpec, "spec") => Ty::WorkloadSpec,
            (Ty::PodTemplateSpec, "spec") => Ty::PodSpec,
            (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => Ty::Container,
            (Ty::ObjectMeta, "ownerReferences") => Ty::Atomic,
            _ => Ty::Other,
        }
    }

    /// How the list field `field` of an object of this type merges. This is the table of
    /// `patchStrategy`/`patchMergeKey` (strategic merge) and `listType`/`listMapKey` (apply)
    /// declarations of the built-in types; lists not named here are atomic (replaced).
    ///
    /// | where | field | merge key |
    /// |---|---|---|
    /// | metadata | `finalizers` | set of scalars |
    /// | metadata | `ownerReferences` | `uid` |
    /// | PodSpec | `containers`, `initContainers`, `ephemeralContainers`, `volumes`, `imagePullSecrets`, `resourceClaims`, `schedulingGates` | `name` |
    /// | PodSpec | `hostAliases` | `ip` |
    /// | PodSpec | `topologySpreadConstraints` | `topologyKey` (apply: + `whenUnsatisfiable`) |
    /// | PodSpec | `tolerations`, `readinessGates`, … | replaced |
    /// | container | `env` | `name` |
    /// | container | `ports` | `containerPort` (apply: + `protocol`, default `TCP`) |
    /// | container | `volumeMounts` / `volumeDevices` | `mountPath` / `devicePath` |
    /// | container | `envFrom`, `command`, `args`, … | replaced |
    /// | Service spec | `ports` | `port` (apply: + `protocol`, default `TCP`) |
    /// | Node spec | `podCIDRs` | set of scalars |
    /// | Pod status | `conditions` / `podIPs`, `hostIPs` / `resourceClaimStatuses` | `type` / `ip` / `name` |
    /// | Node status | `conditions`, `addresses` | `type` |
    /// | any other status | `conditions` | `type` |
    /// | ServiceAccount | `secrets` | `name` (its `imagePullSecrets` are replaced) |
    ///
    /// Ingress `rules`, `tolerations`, `envFrom`, … have no merge key upstream and are replaced.
    fn list_type(self, field: &str) -> ListType {
        match (self, field) {
            (Ty::ObjectMeta, "finalizers") => ListType::Set,
            (Ty::ObjectMeta, "ownerReferences") => ListType::Map {
                smp_key: "uid",
                keys: &[("uid", None)],
            },
            (
                Ty::PodSpec,
                "containers"
                | "initContainers"
                | "ephemeralContainers"
                | "volumes"
                | "imagePullSecrets"
                | "resourceClaims"
                | "schedulingGates",
            ) => BY_NAME,
            (Ty::PodSpec, "hostAliases") => BY_IP,
            (Ty::PodSpec, "topologySpreadConstraints") => ListType::Map {
                smp_key: "topologyKey",
                keys: &[("topologyKey", None), ("whenUnsatisfiable", None)],
            },
            (Ty::Container, "env") => BY_NAME,
            (Ty::Container, "ports") => ListType::Map {
                smp_key: "containerPort",
                keys: &[("containerPort", None), ("protocol", Some("TCP"))],
            },
            (Ty::Container, "volumeMounts") => ListType::Map {
                smp_key: "mountPath",
                keys: &[("mountPath", None)],
            },
            (Ty::Container, "volumeDevices") => ListType::Map {
                smp_key: "devicePath",
                keys: &[("devicePath", None)],
            },
            (Ty::ServiceSpec, "ports") => ListType::Map {
                smp_key: "port",
                keys: &[("port", None), ("protocol", Some("TCP"))],
            },
            (Ty::NodeSpec, "podCIDRs") => ListType::Set,
            (Ty::PodStatus, "conditions") => BY_TYPE,
            (Ty::PodStatus, "podIPs" | "hostIPs") => BY_IP,
            (Ty::PodStatus, "resourceClaimStatuses") => BY_NAME,
            (Ty::NodeStatus, "conditions" | "addresses") => BY_TYPE,
            (Ty::Status, "conditions") => BY_TYPE,
            (Ty::Root(RootKind::ServiceAccount), "secrets") => BY_NAME,
            _ => ListType::Atomic,
        }
    }

    /// Fields that a typed Go object always has (non-pointer structs, and the one list without
    /// `omitempty`), so that an update never "adds" them as a whole: they get no `.` entry in an
    /// Update manager's FieldsV1, exactly like the API server's managed fields.
    fn always_present(self, field: &str) -> bool {
        match self {
            Ty::Root(_) => matches!(field, "metadata" | "spec" | "status"),
            Ty::WorkloadSpec => matches!(field, "template" | "strategy" | "updateStrategy"),
            Ty::PodTemplateSpec | Ty::JobTemplateSpec => matches!(field, "metadata" | "spec"),
            Ty::CronJobSpec => field == "jobTemplate",
            Ty::PodSpec => field == "containers",
            Ty::Container => field == "resources",
            _ => false,
        }
    }
}

// =============================================================================================
// Strategic merge patch
// =============================================================================================

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER: &str =
    "invalid patch format of setElementOrder list";
const ERR_NO_LIST_OF_LISTS: &str = "lists of lists are not supported";

/// Strategic merge patch as the API server applies it to built-in types of kind `kind`
/// (`strategicpatch.StrategicMergeMapPatch` with `MergeParallelList` and `IgnoreUnmatchedNulls`).
/// On error `target` is unchanged.
pub fn strategic_merge(target: &mut Value, patch: &Value, kind: &str) -> Result<(), String> {
    let p = match patch {
        Value::Object(p) => p.clone(),
        // `json.Unmarshal("null", &map)` leaves the map empty: nothing to do.
        Value::Null => return Ok(()),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind(other)
            ));
        }
    };
    let original = match target {
        Value::Object(m) => m.clone(),
        _ => JMap::new(),
    };
    let merged = smp_merge_map(original, p, Ty::root(kind))?;
    *target = Value::Object(merged);
    Ok(())
}

/// `mergeMap`.
fn smp_merge_map(mut original: JMap, mut patch: JMap, ty: Ty) -> Result<JMap, String> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER).cloned() {
        return handle_directive_in_merge_map(&directive, patch);
    }
    apply_retain_keys_directive(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, ty)?;

    for (key, patch_v) in patch {
        let (k, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            (extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?, true)
        } else {
            (key, false)
        };
        // null deletes; unmatched nulls are ignored.
        if patch_v.is_null() {
            original.remove(&k);
            continue;
        }
        let Some(orig_v) = original.get_mut(&k).map(std::mem::take) else {
            if !is_delete_list && let Some(v) = value_from_patch(patch_v) {
                original.insert(k, v);
            }
            continue;
        };
        let new_v = match (orig_v, patch_v) {
            (Value::Object(o), Value::Object(p)) => {
                Some(Value::Object(smp_merge_map(o, p, ty.child(&k))?))
            }
            (Value::Array(o), Value::Array(p)) => Some(Value::Array(smp_merge_slice_handler(
                o,
                p,
                ty,
                &k,
                is_delete_list,
            )?)),
            // Different types (or scalars): the patch value wins, unless this is a deletion
            // list, which never replaces anything.
            (o, _) if is_delete_list => Some(o),
            (_, p) => value_from_patch(p),
        };
        match new_v {
            Some(v) => {
                if let Some(slot) = original.get_mut(&k) {
                    *slot = v;
                }
            }
            None => {
                original.remove(&k);
            }
        }
    }
    Ok(original)
}

/// `handleDirectiveInMergeMap`: `$patch: replace` keeps only the patch, `$patch: delete` empties
/// the map; any other value (including `merge`) is rejected.
fn handle_directive_in_merge_map(directive: &Value, mut patch: JMap) -> Result<JMap, String> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            match sanitize(Value::Object(patch)) {
                Value::Object(m) => Ok(m),
                _ => Ok(JMap::new()),
            }
        }
        Some(DELETE_DIRECTIVE) => Ok(JMap::new()),
        _ => Err(err_bad_patch_type(directive, &patch)),
    }
}

/// `applyRetainKeysDirective`: keys of the original that are not listed are cleared; every key
/// the patch sets must be listed.
fn apply_retain_keys_directive(original: &mut JMap, patch: &mut JMap) -> Result<(), String> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(list) = retain else {
        return Err(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string());
    };
    let retained = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !retained(k) {
            return Err(ERR_BAD_PATCH_FORMAT_FOR_RETAIN_KEYS.to_string());
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// `mergePatchIntoOriginal`: merges each list that has a `$setElementOrder/<field>` directive and
/// orders it: `$setElementOrder` first, then patch order, then live order.
fn merge_set_element_order(original: &mut JMap, patch: &mut JMap, ty: Ty) -> Result<(), String> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for key in keys {
        let Some(order_v) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order_v else {
            return Err(err_bad_arg_type(GO_SLICE_TYPE, &order_v));
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = match original.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(err_bad_arg_type(GO_SLICE_TYPE, other)),
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(other) => return Err(err_bad_arg_type(GO_SLICE_TYPE, other)),
        };
        let merge_key = smp_merge_key(ty.list_type(&field));
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            merge_key,
        )?;
        let orig_vals = original_list.clone().unwrap_or_default();
        let patch_vals = patch_list.clone().unwrap_or_default();
        let merged = match (original_list, patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => p.into_iter().filter_map(value_from_patch).collect(),
            (Some(o), Some(p)) => smp_merge_slice_handler(o, p, ty, &field, false)?,
            (None, None) => continue,
        };
        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives(merged, &order)
        } else {
            partition_maps(merged, &order, merge_key)?
        };
        let kind = slice_element_kind(&[&orig_vals, &patch_vals])?;
        let both = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &orig_vals,
            merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

/// `validatePatchWithSetOrderList`: the patch list must follow the `$setElementOrder` order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), String> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete = if merge_key.is_empty() {
        patch_list.to_vec()
    } else {
        extract_to_delete_items(patch_list.to_vec())?.0
    };
    let (mut pi, mut si) = (0, 0);
    while pi < non_delete.len() && si < order.len() {
        if contains_directive_marker(&non_delete[pi]) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(&non_delete[pi], &order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= order.len() {
        return Err(format!(
            "the order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}",
            go_slice(patch_list),
            go_slice(order)
        ));
    }
    Ok(())
}

fn contains_directive_marker(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, String> {
    if merge_key.is_empty() {
        return Ok(json_eq(left, right));
    }
    let Value::Object(l) = left else {
        return Err(err_bad_arg_type(GO_MAP_TYPE, left));
    };
    let Value::Object(r) = right else {
        return Err(err_bad_arg_type(GO_MAP_TYPE, right));
    };
    let lv = l
        .get(merge_key)
        .ok_or_else(|| err_no_merge_key(l, merge_key))?;
    let rv = r
        .get(merge_key)
        .ok_or_else(|| err_no_merge_key(r, merge_key))?;
    Ok(json_eq(lv, rv))
}

/// `extractKey`: `$prefix/field` → `field`.
fn extract_key(s: &str, prefix: &str) -> Result<String, String> {
    match s.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX {
            ERR_BAD_PATCH_FORMAT_FOR_PRIMITIVE_LIST.to_string()
        } else {
            ERR_BAD_PATCH_FORMAT_FOR_SET_ELEMENT_ORDER.to_string()
        }),
    }
}

fn smp_merge_key(lt: ListType) -> &'static str {
    match lt {
        ListType::Map { smp_key, .. } => smp_key,
        ListType::Set | ListType::Atomic => "",
    }
}

/// `mergeSliceHandler`: merge-strategy lists (and deletion lists, whatever the strategy) are
/// merged; other lists are replaced by the patch.
fn smp_merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    parent: Ty,
    field: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, String> {
    let lt = parent.list_type(field);
    if lt == ListType::Atomic && !is_delete_list {
        return Ok(patch.into_iter().map(sanitize).collect());
    }
    smp_merge_slice(
        original,
        patch,
        smp_merge_key(lt),
        parent.child(field),
        is_delete_list,
        field,
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ElemKind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

fn elem_kind(v: &Value) -> ElemKind {
    match v {
        Value::Object(_) => ElemKind::Object,
        Value::Array(_) => ElemKind::Array,
        Value::String(_) => ElemKind::String,
        Value::Number(_) => ElemKind::Number,
        Value::Bool(_) => ElemKind::Bool,
        Value::Null => ElemKind::Null,
    }
}

/// `sliceElementType`: all elements of all the slices must have one type, not a list.
fn slice_element_kind(slices: &[&[Value]]) -> Result<ElemKind, String> {
    let mut prev: Option<ElemKind> = None;
    for s in slices {
        for v in s.iter() {
            let k = elem_kind(v);
            match prev {
                None => {
                    if k == ElemKind::Array {
                        return Err(ERR_NO_LIST_OF_LISTS.to_string());
                    }
                    prev = Some(k);
                }
                Some(p) if p != k => {
                    let all: Vec<String> = slices.iter().map(|s| go_slice(s)).collect();
                    return Err(format!(
                        "list element types are not identical: [{}]",
                        all.join(" ")
                    ));
                }
                Some(_) => {}
            }
        }
    }
    prev.ok_or_else(|| "no elements in any of the given slices".to_string())
}

/// `mergeSlice`.
fn smp_merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    item_ty: Ty,
    is_delete_list: bool,
    field: &str,
) -> Result<Vec<Value>, String> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = slice_element_kind(&[&original, &patch])?;
    let (server_order, patch_order, merged) = if kind != ElemKind::Object {
        if is_delete_list {
            return Ok(delete_from_slice(original, &patch));
        }
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (original, patch, dedup_scalars(both))
    } else {
        if merge_key.is_empty() {
            return Err(format!("cannot merge lists without merge key for {field}"));
        }
        let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key)?;
        let merged =
            merge_slice_without_special_elements(original.clone(), &patch, merge_key, item_ty)?;
        (original, patch, merged)
    };
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives(merged, &patch_order)
    } else {
        partition_maps(merged, &patch_order, merge_key)?
    };
    normalize_element_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        merge_key,
        kind,
    )
}

/// `mergeSliceWithSpecialElements`: applies `$patch: delete` items (by merge key) and
/// `$patch: replace` (the list becomes the patch's other items).
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut without_special = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            return Err(err_bad_arg_type(GO_MAP_TYPE, &v));
        };
        match m.get(DIRECTIVE_MARKER) {
            None => without_special.push(v),
            Some(directive) => match directive.as_str() {
                Some(DELETE_DIRECTIVE) => match m.get(merge_key) {
                    Some(key_value) => {
                        original = delete_matching_entries(original, merge_key, key_value)?;
                    }
                    None => return Err(err_no_merge_key(m, merge_key)),
                },
                Some(REPLACE_DIRECTIVE) => replace = true,
                Some(MERGE_DIRECTIVE) => {
                    return Err("merging lists cannot yet be specified in the patch".to_string());
                }
                _ => return Err(err_bad_patch_type(directive, m)),
            },
        }
    }
    if replace {
        let items = without_special.into_iter().map(sanitize).collect();
        return Ok((items, Vec::new()));
    }
    Ok((original, without_special))
}

fn delete_matching_entries(
    mut original: Vec<Value>,
    merge_key: &str,
    key_value: &Value,
) -> Result<Vec<Value>, String> {
    while let Some(i) = find_map_in_slice(&original, merge_key, key_value)? {
        original.remove(i);
    }
    Ok(original)
}

/// `findMapInSliceBasedOnKeyValue`.
fn find_map_in_slice(list: &[Value], key: &str, value: &Value) -> Result<Option<usize>, String> {
    for (i, v) in list.iter().enumerate() {
        let Value::Object(m) = v else {
            return Err(format!("value for key {i} is not a map"));
        };
        if m.get(key).is_some_and(|x| json_eq(x, value)) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// `mergeSliceWithoutSpecialElements`: items with a matching key merge, others are appended.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    item_ty: Ty,
) -> Result<Vec<Value>, String> {
    for v in patch {
        let Value::Object(m) = v else {
            return Err(err_bad_arg_type(GO_MAP_TYPE, v));
        };
        let key_value = m
            .get(merge_key)
            .ok_or_else(|| err_no_merge_key(m, merge_key))?;
        match find_map_in_slice(&original, merge_key, key_value)? {
            Some(i) => {
                let Some(Value::Object(o)) = original.get_mut(i).map(std::mem::take) else {
                    continue;
                };
                let merged = smp_merge_map(o, m.clone(), item_ty)?;
                if let Some(slot) = original.get_mut(i) {
                    *slot = Value::Object(merged);
                }
            }
            None => original.push(sanitize(v.clone())),
        }
    }
    Ok(original)
}

/// `deleteFromSlice`.
fn delete_from_slice(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    current
        .into_iter()
        .filter(|v| !to_delete.iter().any(|d| json_eq(d, v)))
        .collect()
}

fn dedup_scalars(list: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(list.len());
    for v in list {
        if !out.iter().any(|o| json_eq(o, &v)) {
            out.push(v);
        }
    }
    out
}

/// `partitionPrimitivesByPresentInList`.
fn partition_primitives(list: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    list.into_iter()
        .partition(|v| by.iter().any(|b| json_eq(b, v)))
}

/// `partitionMapsByPresentInList`.
fn partition_maps(
    list: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut in_patch = Vec::new();
    let mut server_only = Vec::new();
    for v in list {
        let Value::Object(m) = &v else {
            return Err(err_bad_arg_type(GO_MAP_TYPE, &v));
        };
        let key_value = m
            .get(merge_key)
            .ok_or_else(|| err_no_merge_key(m, merge_key))?;
        if find_map_in_slice(by, merge_key, key_value)?.is_some() {
            in_patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((in_patch, server_only))
}

/// `normalizeElementOrder`: sort the patch items by the patch order and the server-only items by
/// the live order, then interleave them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: ElemKind,
) -> Result<Vec<Value>, String> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted_slice(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

/// `index`: position of `item` in `list`, comparing merge key values for maps.
fn index_of(list: &[Value], item: &Value, merge_key: &str, kind: ElemKind) -> Option<usize> {
    let key_of = |v: &'_ Value| -> Option<Value> {
        if kind == ElemKind::Object {
            v.as_object().and_then(|m| m.get(merge_key)).cloned()
        } else {
            Some(v.clone())
        }
    };
    let want = key_of(item);
    list.iter().position(|v| match (key_of(v), &want) {
        (None, None) => true,
        (Some(a), Some(b)) => json_eq(&a, b),
        _ => false,
    })
}

/// `normalizeSliceOrder` (Go's `sort.SliceStable`, an insertion sort for short lists, with
/// upstream's comparator).
fn normalize_slice_order(
    mut to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: ElemKind,
) -> Result<Vec<Value>, String> {
    let mut to_delete = Vec::new();
    if kind == ElemKind::Object {
        validate_merge_key_in_lists(merge_key, &[&to_sort, order])?;
        (to_sort, to_delete) = extract_to_delete_items(to_sort)?;
    }
    // Each item's position in `order`, looked up once.
    let mut ranked: Vec<(Option<usize>, Value)> = to_sort
        .into_iter()
        .map(|v| (index_of(order, &v, merge_key, kind), v))
        .collect();
    let less = |a: Option<usize>, b: Option<usize>| match (a, b) {
        (Some(ia), Some(ib)) => ia < ib,
        _ => true,
    };
    for i in 1..ranked.len() {
        let mut j = i;
        while j > 0 && less(ranked[j].0, ranked[j - 1].0) {
            ranked.swap(j, j - 1);
            j -= 1;
        }
    }
    let mut to_sort: Vec<Value> = ranked.into_iter().map(|(_, v)| v).collect();
    to_sort.extend(to_delete);
    Ok(to_sort)
}

fn validate_merge_key_in_lists(merge_key: &str, lists: &[&[Value]]) -> Result<(), String> {
    for list in lists {
        for item in list.iter() {
            let Value::Object(m) = item else {
                return Err(err_bad_arg_type(GO_MAP_TYPE, item));
            };
            if !m.contains_key(merge_key) {
                return Err(err_no_merge_key(m, merge_key));
            }
        }
    }
    Ok(())
}

/// `extractToDeleteItems`: split off items carrying `$patch: delete`.
fn extract_to_delete_items(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), String> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for v in list {
        let Value::Object(m) = &v else {
            return Err(err_bad_arg_type(GO_MAP_TYPE, &v));
        };
        if m.get(DIRECTIVE_MARKER).and_then(Value::as_str) == Some(DELETE_DIRECTIVE) {
            delete.push(v);
        } else {
            keep.push(v);
        }
    }
    Ok((keep, delete))
}

/// `mergeSortedSlice`: insert the server-only items (`left`) into the patch items (`right`),
/// using the live order where both are known.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: ElemKind,
) -> Vec<Value> {
    let rank = |v: Value| (index_of(server_order, &v, merge_key, kind), v);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().map(rank).peekable();
    let mut right = right.into_iter().map(rank).peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((Some(li), _)), Some((Some(ri), _))) => li < ri,
            (Some(_), Some(_)) => false,
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((_, v)) = next {
            out.push(v);
        }
    }
    out
}

/// A value taken from the patch where there is nothing to merge it with: nulls discarded
/// (`discardNullValuesFromPatch`) and directive-carrying maps dropped (`removeDirectives`).
/// `None` means the field is not set at all.
fn value_from_patch(v: Value) -> Option<Value> {
    remove_directives(discard_nulls(v)).map(sanitize)
}

fn discard_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, discard_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(discard_nulls).collect()),
        other => other,
    }
}

/// `removeDirectives`.
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE_MARKER
        || k == RETAIN_KEYS_DIRECTIVE
        || k.starts_with(&format!("{SET_ELEMENT_ORDER_PREFIX}/"))
        || k.starts_with(&format!("{DELETE_FROM_PRIMITIVE_LIST_PREFIX}/"))
}

/// What decoding into a typed object does to a value copied verbatim from a patch: null fields
/// disappear and directive keys (unknown fields) are dropped.
fn sanitize(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, v)| !v.is_null() && !is_directive_key(k))
                .map(|(k, v)| (k, sanitize(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(sanitize).collect()),
        other => other,
    }
}

fn err_no_merge_key(m: &JMap, key: &str) -> String {
    format!(
        "map: {} does not contain declared merge key: {key}",
        go_map(m)
    )
}

fn err_bad_arg_type(expected: &str, actual: &Value) -> String {
    format!("expected a {expected}, but received a {}", go_type(actual))
}

fn err_bad_patch_type(t: &Value, m: &JMap) -> String {
    let t = match t {
        Value::String(s) => s.clone(),
        other => format!("%!s({}={})", go_type(other), go_value(other)),
    };
    format!("unknown patch type: {t} in map: {}", go_map(m))
}

// =============================================================================================
// Field sets (sigs.k8s.io/structured-merge-diff/fieldpath) and FieldsV1
// =============================================================================================

/// One step of a field path. Ordered like upstream: field names, then keys, values, indexes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum PathElement {
    /// `f:<name>`: a struct field or map key.
    Field(String),
    /// `k:<json>`: an associative list item, by its key fields (canonical JSON object).
    Key(String),
    /// `v:<json>`: a set list item, by value (canonical JSON).
    Value(String),
    /// `i:<n>`: a list item by position.
    Index(u64),
}

impl PathElement {
    fn encode(&self) -> String {
        match self {
            PathElement::Field(n) => format!("f:{n}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<PathElement> {
        if let Some(n) = s.strip_prefix("f:") {
            return Some(PathElement::Field(n.to_string()));
        }
        if let Some(k) = s.strip_prefix("k:") {
            let v: Value = serde_json::from_str(k).ok()?;
            return v.is_object().then(|| PathElement::Key(canonical_json(&v)));
        }
        if let Some(v) = s.strip_prefix("v:") {
            let v: Value = serde_json::from_str(v).ok()?;
            return Some(PathElement::Value(canonical_json(&v)));
        }
        if let Some(i) = s.strip_prefix("i:") {
            return i.parse().ok().map(PathElement::Index);
        }
        None
    }

    /// `PathElement.String()`: `.name`, `[k="v",n=1]`, `[="v"]`, `[3]`.
    fn display(&self) -> String {
        let scalar = |v: &Value| match v {
            Value::String(s) => go_quote(s),
            other => go_value(other),
        };
        match self {
            PathElement::Field(n) => format!(".{n}"),
            PathElement::Key(k) => {
                let fields = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => {
                        let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
                        pairs.sort_by(|a, b| a.0.cmp(b.0));
                        pairs
                            .iter()
                            .map(|(k, v)| format!("{k}={}", scalar(v)))
                            .collect::<Vec<_>>()
                            .join(",")
                    }
                    _ => k.clone(),
                };
                format!("[{fields}]")
            }
            PathElement::Value(v) => match serde_json::from_str::<Value>(v) {
                Ok(v) => format!("[={}]", scalar(&v)),
                Err(_) => format!("[={v}]"),
            },
            PathElement::Index(i) => format!("[{i}]"),
        }
    }
}

fn path_string(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// A set of field paths (`fieldpath.Set`): `members` end here, `children` go deeper. A path
/// element can be both (a list item that is owned and whose fields are owned).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [pe] => {
                self.members.insert(pe.clone());
            }
            [pe, rest @ ..] => self.children.entry(pe.clone()).or_default().insert(rest),
        }
    }

    fn single(pe: PathElement) -> FieldSet {
        let mut s = FieldSet::default();
        s.members.insert(pe);
        s
    }

    fn union(&self, o: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(o.members.iter().cloned());
        for (pe, c) in &o.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            if !merged.is_empty() {
                out.children.insert(pe.clone(), merged);
            }
        }
        out
    }

    fn intersection(&self, o: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&o.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, c)| {
                let other = o.children.get(pe)?;
                let i = c.intersection(other);
                (!i.is_empty()).then(|| (pe.clone(), i))
            })
            .collect();
        FieldSet { members, children }
    }

    /// `Set.Difference`: members minus members, children minus children (a parent does not
    /// remove its children).
    fn difference(&self, o: &FieldSet) -> FieldSet {
        let members = self.members.difference(&o.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, c)| {
                let d = match o.children.get(pe) {
                    Some(other) => c.difference(other),
                    None => c.clone(),
                };
                (!d.is_empty()).then(|| (pe.clone(), d))
            })
            .collect();
        FieldSet { members, children }
    }

    /// `Set.RecursiveDifference`: like `difference`, but a member of `o` also removes everything
    /// below it.
    fn recursive_difference(&self, o: &FieldSet) -> FieldSet {
        let members = self.members.difference(&o.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, c)| {
                if o.members.contains(pe) {
                    return None;
                }
                let d = match o.children.get(pe) {
                    Some(other) => c.recursive_difference(other),
                    None => c.clone(),
                };
                (!d.is_empty()).then(|| (pe.clone(), d))
            })
            .collect();
        FieldSet { members, children }
    }

    /// `Set.EnsureNamedFieldsAreMembers`: every field that has owned children is itself a member.
    fn ensure_named_members(&self) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.clone(),
            children: BTreeMap::new(),
        };
        for (pe, c) in &self.children {
            if matches!(pe, PathElement::Field(_)) && !c.is_empty() {
                out.members.insert(pe.clone());
            }
            out.children.insert(pe.clone(), c.ensure_named_members());
        }
        out
    }

    /// Every member path, in order.
    fn member_paths(&self) -> Vec<Vec<PathElement>> {
        fn walk(s: &FieldSet, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
            let mut pes: BTreeSet<&PathElement> = s.members.iter().collect();
            pes.extend(s.children.keys());
            for pe in pes {
                prefix.push(pe.clone());
                if s.members.contains(pe) {
                    out.push(prefix.clone());
                }
                if let Some(c) = s.children.get(pe) {
                    walk(c, prefix, out);
                }
                prefix.pop();
            }
        }
        let mut out = Vec::new();
        walk(self, &mut Vec::new(), &mut out);
        out
    }

    /// The FieldsV1 JSON encoding: `{"f:a":{".":{},"f:b":{}}}`.
    fn to_fields_v1(&self) -> Value {
        let mut pes: BTreeSet<&PathElement> = self.members.iter().collect();
        pes.extend(self.children.keys());
        let mut out = JMap::new();
        for pe in pes {
            let mut node = match self.children.get(pe) {
                Some(c) if !c.is_empty() => match c.to_fields_v1() {
                    Value::Object(m) => m,
                    _ => JMap::new(),
                },
                _ => JMap::new(),
            };
            if self.members.contains(pe) && !node.is_empty() {
                node.insert(".".to_string(), Value::Object(JMap::new()));
            }
            if self.members.contains(pe) || !node.is_empty() {
                out.insert(pe.encode(), Value::Object(node));
            }
        }
        Value::Object(out)
    }

    fn from_fields_v1(v: &Value) -> Option<FieldSet> {
        let m = v.as_object()?;
        let mut set = FieldSet::default();
        for (k, child) in m {
            if k == "." {
                continue;
            }
            let pe = PathElement::decode(k)?;
            let cm = child.as_object()?;
            let sub = FieldSet::from_fields_v1(child)?;
            if cm.is_empty() || cm.contains_key(".") {
                set.members.insert(pe.clone());
            }
            if !sub.is_empty() {
                set.children.insert(pe, sub);
            }
        }
        Some(set)
    }
}

/// Paths the field manager never records (`stripMetaManager`).
fn strip_set() -> FieldSet {
    let mut s = FieldSet::default();
    for p in [
        vec!["apiVersion"],
        vec!["kind"],
        vec!["metadata"],
        vec!["metadata", "name"],
        vec!["metadata", "namespace"],
        vec!["metadata", "creationTimestamp"],
        vec!["metadata", "selfLink"],
        vec!["metadata", "uid"],
        vec!["metadata", "clusterName"],
        vec!["metadata", "generation"],
        vec!["metadata", "managedFields"],
        vec!["metadata", "resourceVersion"],
    ] {
        let path: Vec<PathElement> = p
            .into_iter()
            .map(|f| PathElement::Field(f.to_string()))
            .collect();
        s.insert(&path);
    }
    s
}

/// Fields reset on the main resource and never owned through it (`status`).
fn ignored_set() -> FieldSet {
    FieldSet::single(PathElement::Field("status".to_string()))
}

// =============================================================================================
// Typed-value operations over JSON (structured-merge-diff's typed package, simplified)
// =============================================================================================

/// The schema of one node: its type and, if it is a list field, how the list merges.
#[derive(Clone, Copy, Debug)]
struct Schema {
    ty: Ty,
    list: ListType,
}

impl Schema {
    fn root(kind: &str) -> Schema {
        Schema {
            ty: Ty::root(kind),
            list: ListType::Atomic,
        }
    }

    fn field(self, name: &str) -> Schema {
        Schema {
            ty: self.ty.child(name),
            list: self.ty.list_type(name),
        }
    }

    fn item(self) -> Schema {
        Schema {
            ty: self.ty,
            list: ListType::Atomic,
        }
    }
}

/// How a value is walked: a leaf (scalar, atomic list or atomic struct), a granular object, or a
/// granular list with one path element per item.
enum Shape<'a> {
    Leaf,
    Object(&'a JMap),
    List {
        items: &'a [Value],
        pes: Vec<PathElement>,
        assoc: bool,
    },
}

fn shape(v: &Value, s: Schema) -> Shape<'_> {
    match v {
        Value::Object(m) if s.ty != Ty::Atomic => Shape::Object(m),
        Value::Array(items) => {
            let (pes, assoc) = match s.list {
                ListType::Set => (
                    items
                        .iter()
                        .map(|i| {
                            matches!(i, Value::String(_) | Value::Number(_) | Value::Bool(_))
                                .then(|| PathElement::Value(canonical_json(i)))
                        })
                        .collect::<Option<Vec<_>>>(),
                    false,
                ),
                ListType::Map { keys, .. } => (
                    items
                        .iter()
                        .map(|i| assoc_key(i, keys))
                        .collect::<Option<Vec<_>>>(),
                    true,
                ),
                ListType::Atomic => (None, false),
            };
            match pes {
                Some(pes) if pes.iter().collect::<BTreeSet<_>>().len() == pes.len() => {
                    Shape::List { items, pes, assoc }
                }
                // Items without keys, duplicates, non-scalars in a set: treat the list as atomic.
                _ => Shape::Leaf,
            }
        }
        _ => Shape::Leaf,
    }
}

/// The `k:` path element of an associative list item.
fn assoc_key(item: &Value, keys: KeyFields) -> Option<PathElement> {
    let m = item.as_object()?;
    let mut fields: Vec<(&str, Value)> = Vec::with_capacity(keys.len());
    for (name, default) in keys {
        let v = match m.get(*name) {
            Some(Value::Object(_) | Value::Array(_)) => return None,
            Some(v) if !v.is_null() => v.clone(),
            _ => Value::String((*default)?.to_string()),
        };
        fields.push((name, v));
    }
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), canonical_json(v)))
        .collect();
    Some(PathElement::Key(format!("{{{}}}", inner.join(","))))
}

/// `TypedValue.Merge`: `rhs` (the applied configuration) over `lhs` (the live object).
fn ssa_merge(lhs: Option<&Value>, rhs: &Value, s: Schema) -> Value {
    let Some(lhs) = lhs else {
        return rhs.clone();
    };
    match (shape(lhs, s), shape(rhs, s)) {
        (Shape::Object(l), Shape::Object(r)) => {
            let mut out = l.clone();
            for (k, rv) in r {
                let merged = ssa_merge(l.get(k), rv, s.field(k));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (
            Shape::List {
                items: li,
                pes: lp,
                assoc: la,
            },
            Shape::List {
                items: ri,
                pes: rp,
                assoc: ra,
            },
        ) if la == ra => Value::Array(merge_list(li, &lp, ri, &rp, s.item(), la)),
        _ => rhs.clone(),
    }
}

/// `mergingWalker.visitListItems`: live items keep their place, applied items their relative
/// order.
fn merge_list(
    l: &[Value],
    lp: &[PathElement],
    r: &[Value],
    rp: &[PathElement],
    item: Schema,
    assoc: bool,
) -> Vec<Value> {
    let lhs: BTreeMap<&PathElement, &Value> = lp.iter().zip(l).rev().collect();
    let rhs: BTreeMap<&PathElement, &Value> = rp.iter().zip(r).rev().collect();
    let mut shared = rp.iter().filter(|pe| lhs.contains_key(pe));
    let mut next_shared = shared.next();
    let merge_item = |pe: &PathElement| -> Option<Value> {
        match (lhs.get(pe), rhs.get(pe)) {
            (lc, Some(rc)) if assoc => Some(ssa_merge(lc.copied(), rc, item)),
            (_, Some(rc)) => Some((*rc).clone()),
            (Some(lc), None) => Some((*lc).clone()),
            (None, None) => None,
        }
    };
    let mut out = Vec::with_capacity(l.len().max(r.len()));
    let (mut li, mut ri) = (0, 0);
    while li < l.len() || ri < r.len() {
        let before = (li, ri);
        'step: {
            if let (Some(lpe), Some(rpe)) = (lp.get(li), rp.get(ri)) {
                if lpe == rpe {
                    out.extend(merge_item(lpe));
                    li += 1;
                    ri += 1;
                    next_shared = shared.next();
                    break 'step;
                }
                if rhs.contains_key(lpe) && next_shared.is_some_and(|ns| ns != lpe) {
                    li += 1;
                    break 'step;
                }
            }
            if let Some(lpe) = lp.get(li)
                && !rhs.contains_key(lpe)
            {
                out.extend(merge_item(lpe));
                li += 1;
                break 'step;
            }
            if let Some(rpe) = rp.get(ri) {
                out.extend(merge_item(rpe));
                ri += 1;
                if next_shared.is_some_and(|ns| ns == rpe) {
                    next_shared = shared.next();
                }
            }
        }
        if (li, ri) == before {
            // Cannot happen with unique path elements; never loop forever.
            li += 1;
        }
    }
    out
}

/// `TypedValue.ToFieldSet`: leaves, atomic values and list items (which are also members).
fn to_field_set(v: &Value, s: Schema, path: &mut Vec<PathElement>, out: &mut FieldSet) {
    match shape(v, s) {
        Shape::Leaf => out.insert(path),
        Shape::Object(m) => {
            for (k, c) in m {
                path.push(PathElement::Field(k.clone()));
                to_field_set(c, s.field(k), path, out);
                path.pop();
            }
        }
        Shape::List { items, pes, assoc } => {
            for (item, pe) in items.iter().zip(pes) {
                path.push(pe);
                if assoc {
                    to_field_set(item, s.item(), path, out);
                }
                out.insert(path);
                path.pop();
            }
        }
    }
}

fn field_set_of(v: &Value, s: Schema) -> FieldSet {
    let mut out = FieldSet::default();
    to_field_set(v, s, &mut Vec::new(), &mut out);
    out
}

#[derive(Default)]
struct Comparison {
    added: FieldSet,
    modified: FieldSet,
    removed: FieldSet,
}

impl Comparison {
    fn exclude(self, ignored: &FieldSet) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }
}

/// `TypedValue.Compare`.
fn compare(
    l: Option<&Value>,
    r: Option<&Value>,
    s: Schema,
    path: &mut Vec<PathElement>,
    always_present: bool,
    out: &mut Comparison,
) {
    let ls = l.map(|v| shape(v, s));
    let rs = r.map(|v| shape(v, s));
    let leaf = match (&ls, &rs) {
        (Some(Shape::Leaf), _) | (_, Some(Shape::Leaf)) | (None, None) => true,
        (Some(Shape::Object(_)), Some(Shape::Object(_))) => false,
        (Some(Shape::List { assoc: a, .. }), Some(Shape::List { assoc: b, .. })) => a != b,
        (Some(_), Some(_)) => true,
        _ => false,
    };
    if leaf {
        match (l, r) {
            (None, Some(_)) => out.added.insert(path),
            (Some(_), None) => out.removed.insert(path),
            (Some(a), Some(b)) if !json_eq(a, b) => out.modified.insert(path),
            _ => {}
        }
        return;
    }
    match ls.as_ref().or(rs.as_ref()) {
        Some(Shape::Object(_)) => {
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            let mut keys: BTreeSet<&String> = BTreeSet::new();
            keys.extend(lm.into_iter().flat_map(|m| m.keys()));
            keys.extend(rm.into_iter().flat_map(|m| m.keys()));
            for k in keys {
                path.push(PathElement::Field(k.clone()));
                compare(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    s.field(k),
                    path,
                    s.ty.always_present(k),
                    out,
                );
                path.pop();
            }
        }
        Some(Shape::List { .. }) => {
            let index = |sh: &Option<Shape<'_>>| -> BTreeMap<PathElement, Value> {
                match sh {
                    Some(Shape::List { items, pes, .. }) => {
                        pes.iter().cloned().zip(items.iter().cloned()).collect()
                    }
                    _ => BTreeMap::new(),
                }
            };
            let li = index(&ls);
            let ri = index(&rs);
            let mut pes: BTreeSet<&PathElement> = li.keys().collect();
            pes.extend(ri.keys());
            for pe in pes {
                path.push(pe.clone());
                compare(li.get(pe), ri.get(pe), s.item(), path, false, out);
                path.pop();
            }
        }
        _ => {}
    }
    if !path.is_empty() && !always_present {
        if l.is_none() {
            out.added.insert(path);
        } else if r.is_none() {
            out.removed.insert(path);
        }
    }
}

fn compare_objects(l: &Value, r: &Value, s: Schema) -> Comparison {
    let mut out = Comparison::default();
    compare(Some(l), Some(r), s, &mut Vec::new(), true, &mut out);
    out
}

/// `TypedValue.RemoveItems`: drop every member of `set` (with everything below it). Objects and
/// lists left empty disappear (`None`), as they do once the result is decoded into a typed
/// object.
fn remove_items(v: &Value, set: &FieldSet, s: Schema) -> Option<Value> {
    match shape(v, s) {
        Shape::Leaf => Some(v.clone()),
        Shape::Object(m) => {
            let mut out = JMap::new();
            for (k, c) in m {
                let pe = PathElement::Field(k.clone());
                if set.members.contains(&pe) {
                    continue;
                }
                match set.children.get(&pe) {
                    Some(sub) => {
                        if let Some(nc) = remove_items(c, sub, s.field(k)) {
                            out.insert(k.clone(), nc);
                        }
                    }
                    None => {
                        out.insert(k.clone(), c.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Shape::List { items, pes, assoc } => {
            let mut out = Vec::new();
            for (item, pe) in items.iter().zip(&pes) {
                if set.members.contains(pe) {
                    continue;
                }
                match set.children.get(pe) {
                    Some(sub) if assoc => out.extend(remove_items(item, sub, s.item())),
                    _ => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
    }
}

fn remove_items_root(v: &Value, set: &FieldSet, s: Schema) -> Value {
    remove_items(v, set, s).unwrap_or_else(|| Value::Object(JMap::new()))
}

/// `Updater.prune`: drop what the applier applied last time, no longer applies, and nobody else
/// (applier or updater) owns.
fn prune(merged: &Value, all_managed: &FieldSet, last: &FieldSet, s: Schema) -> Value {
    let last_e = last.ensure_named_members();
    let pruned0 = remove_items_root(merged, &last_e, s);
    // addBackOwnedItems
    let merged_set = field_set_of(merged, s).ensure_named_members();
    let pruned0_set = field_set_of(&pruned0, s).ensure_named_members();
    let managed = all_managed.ensure_named_members();
    let pruned1 = remove_items_root(
        merged,
        &merged_set.difference(&pruned0_set.union(&managed)),
        s,
    );
    // addBackDanglingItems
    let pruned1_set = field_set_of(&pruned1, s).ensure_named_members();
    remove_items_root(
        merged,
        &merged_set.difference(&pruned1_set).intersection(&last_e),
        s,
    )
}

// =============================================================================================
// metadata.managedFields
// =============================================================================================

#[derive(Clone, Debug)]
struct ManagedEntry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    set: FieldSet,
}

impl ManagedEntry {
    fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.is_none()
    }

    fn encode(&self) -> Value {
        let mut m = JMap::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation.clone()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::String(t.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), Value::String(s.clone()));
        }
        Value::Object(m)
    }
}

/// Decode `metadata.managedFields`; `None` when absent, not a list, or not decodable (the API
/// server then falls back to the live object's entries).
fn decode_managed_fields(obj: &Value) -> Option<Vec<ManagedEntry>> {
    let list = obj.get("metadata")?.get("managedFields")?.as_array()?;
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let m = e.as_object()?;
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let operation = s("operation")?;
        if operation != "Apply" && operation != "Update" {
            return None;
        }
        if m.get("fieldsType").and_then(Value::as_str) != Some("FieldsV1") {
            return None;
        }
        let set = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::default(),
            Some(v) => FieldSet::from_fields_v1(v)?,
        };
        out.push(ManagedEntry {
            manager: s("manager").unwrap_or_default(),
            operation,
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").filter(|x| !x.is_empty()),
            set,
        });
    }
    Some(out)
}

/// Write the entries back, sorted like the API server does (operation, time, manager).
fn set_managed_fields(obj: &mut Value, mut entries: Vec<ManagedEntry>) {
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    if !obj.is_object() {
        return;
    }
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
            meta.remove("managedFields");
        }
        return;
    }
    metadata_mut(obj).insert(
        "managedFields".into(),
        Value::Array(entries.iter().map(ManagedEntry::encode).collect()),
    );
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.remove("managedFields");
    }
    v
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

// =============================================================================================
// Server-side apply
// =============================================================================================

/// A server-side apply that would change fields owned by other managers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflict {
    /// `(manager, field path)`, e.g. `("kubectl-edit", ".spec.replicas")` or
    /// `("ci", ".spec.template.spec.containers[name=\"web\"].image")`; sorted by manager.
    pub conflicts: Vec<(String, String)>,
}

impl fmt::Display for ApplyConflict {
    /// The API server's message (`getConflictMessage`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [(m, p)] = self.conflicts.as_slice() {
            return write!(
                f,
                "Apply failed with 1 conflict: conflict with {}: {p}",
                go_quote(m)
            );
        }
        let mut lines = Vec::new();
        let mut last: Option<&str> = None;
        for (m, p) in &self.conflicts {
            if last != Some(m.as_str()) {
                lines.push(format!("conflicts with {}:", go_quote(m)));
                last = Some(m);
            }
            lines.push(format!("- {p}"));
        }
        write!(
            f,
            "Apply failed with {} conflicts: {}",
            self.conflicts.len(),
            lines.join("\n")
        )
    }
}

impl std::error::Error for ApplyConflict {}

/// Server-side apply of `config` (the full intended object) by `manager` to `live` (`None`:
/// the object does not exist yet; the caller stamps uid, timestamps and resourceVersion).
///
/// The result is `live` merged with `config` (granular objects merge, associative lists merge by
/// key, sets by value, everything else is replaced), minus the fields this manager applied last
/// time and no longer applies unless another manager owns them. A field whose value would change
/// and that another manager (Apply or Update) owns is a conflict; with `force` its ownership
/// moves to `manager` instead. Ownership is recorded in `metadata.managedFields`.
/// `metadata.managedFields` and `metadata.resourceVersion` in `config` are ignored, `status` is
/// never owned (the caller strips it from the config of the main resource).
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    kind: &str,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyConflict> {
    let schema = Schema::root(kind);
    let live = live.filter(|v| v.is_object());
    let mut managers = live.and_then(decode_managed_fields).unwrap_or_default();
    let live_body = live
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(JMap::new()));
    let mut cfg = match config {
        Value::Object(_) => config.clone(),
        _ => Value::Object(JMap::new()),
    };
    drop_nulls(&mut cfg);
    if let Some(Value::Object(meta)) = cfg.get_mut("metadata") {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    let api_version = cfg
        .get("apiVersion")
        .or_else(|| live_body.get("apiVersion"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();

    let merged = ssa_merge(Some(&live_body), &cfg, schema);
    let ignored = ignored_set();
    let new_set = field_set_of(&cfg, schema).recursive_difference(&ignored);

    let me = match managers.iter().position(|m| m.is(manager, "Apply")) {
        Some(i) => i,
        None => {
            managers.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Apply".to_string(),
                api_version: api_version.clone(),
                time: None,
                subresource: None,
                set: FieldSet::default(),
            });
            managers.len() - 1
        }
    };
    let last_set = std::mem::replace(&mut managers[me].set, new_set);

    let result = if last_set.is_empty() {
        merged
    } else {
        let all = managers
            .iter()
            .fold(FieldSet::default(), |acc, m| acc.union(&m.set));
        prune(&merged, &all, &last_set, schema)
    };

    // Updater.update: conflicts, then ownership changes.
    let cmp = compare_objects(&live_body, &result, schema).exclude(&ignored);
    let changed = cmp.added.union(&cmp.modified);
    let conflicts: Vec<(usize, FieldSet)> = managers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != me)
        .map(|(i, m)| (i, m.set.intersection(&changed)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if !force && !conflicts.is_empty() {
        let mut list: Vec<(String, Vec<PathElement>)> = Vec::new();
        for (i, c) in &conflicts {
            for p in c.member_paths() {
                list.push((managers[*i].manager.clone(), p));
            }
        }
        list.sort();
        list.dedup();
        return Err(ApplyConflict {
            conflicts: list
                .into_iter()
                .map(|(m, p)| (m, path_string(&p)))
                .collect(),
        });
    }
    for (i, c) in conflicts {
        managers[i].set = managers[i].set.difference(&c);
    }
    for (i, m) in managers.iter_mut().enumerate() {
        if i != me {
            m.set = m.set.difference(&cmp.removed);
        }
    }
    let object_changed = !json_eq(&live_body, &result);
    let entry = &mut managers[me];
    entry.set = entry.set.difference(&strip_set());
    entry.api_version = api_version;
    if object_changed || entry.time.is_none() {
        entry.time = Some(now.to_string());
    }
    managers.retain(|m| !m.set.is_empty());

    let mut out = result;
    set_managed_fields(&mut out, managers);
    Ok(out)
}

/// Record a create/update/patch by `manager` (`""` = `"unknown"`): `obj` is the object about to
/// be stored, `before` the stored one (`None` on create). The fields the change added or
/// modified move to an `operation: "Update"` entry of `manager` (taken from whoever owned them,
/// without conflicts); removed fields are dropped from every entry. The entries come from `obj`
/// when it carries decodable ones (a client may write them), otherwise from `before`;
/// `managedFields: [{}]` resets them.
pub fn record_update(obj: &mut Value, before: Option<&Value>, manager: &str, now: &str) {
    if !obj.is_object() {
        return;
    }
    let manager = if manager.is_empty() {
        "unknown"
    } else {
        manager
    };
    if let Some(Value::Array(list)) = obj.get("metadata").and_then(|m| m.get("managedFields"))
        && list.len() == 1
        && list[0].as_object().is_some_and(JMap::is_empty)
    {
        set_managed_fields(obj, Vec::new());
        return;
    }
    let before = before.filter(|b| b.is_object());
    let mut managers = decode_managed_fields(obj)
        .filter(|m| !m.is_empty())
        .or_else(|| before.and_then(decode_managed_fields))
        .unwrap_or_default();
    let kind = obj
        .get("kind")
        .or_else(|| before.and_then(|b| b.get("kind")))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let schema = Schema::root(kind);
    let before_body = before
        .map(without_managed_fields)
        .unwrap_or_else(|| Value::Object(JMap::new()));
    let after_body = without_managed_fields(obj);
    let ignored = ignored_set();
    let cmp = compare_objects(&before_body, &after_body, schema).exclude(&ignored);
    let changed = cmp.added.union(&cmp.modified);
    for m in managers.iter_mut() {
        m.set = m.set.difference(&changed).difference(&cmp.removed);
    }
    managers.retain(|m| !m.set.is_empty());
    let current = changed
        .difference(&cmp.removed)
        .recursive_difference(&ignored)
        .difference(&strip_set());
    if !current.is_empty() {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match managers.iter_mut().find(|m| m.is(manager, "Update")) {
            Some(m) => {
                m.set = m.set.union(&current);
                m.time = Some(now.to_string());
                m.api_version = api_version;
            }
            None => managers.push(ManagedEntry {
                manager: manager.to_string(),
                operation: "Update".to_string(),
                api_version,
                time: Some(now.to_string()),
                subresource: None,
                set: current,
            }),
        }
    }
    set_managed_fields(obj, managers);
}

// =============================================================================================
// Helpers
// =============================================================================================

/// JSON equality with numbers compared by value (`1 == 1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                return x == y;
            }
            matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if x == y)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Compact JSON with object keys sorted.
fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<(&String, &Value)> = m.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            let inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}:{}", json_string(k), canonical_json(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // ---------------------------------------------------------------- merge patch (RFC 7386)

    #[test]
    fn merge_patch_rfc7386_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, want) in cases {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, want, "{target} + {patch}");
        }
    }

    // ---------------------------------------------------------------- JSON patch (RFC 6902)

    fn jp(doc: Value, ops: Value) -> Result<Value, String> {
        let mut d = doc;
        json_patch(&mut d, &ops).map(|()| d)
    }

    #[test]
    fn json_patch_every_operation() {
        let doc =
            json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"list": [1, 2, 3]}});
        let out = jp(
            doc,
            json!([
                {"op": "test", "path": "/metadata/name", "value": "a"},
                {"op": "add", "path": "/metadata/labels/y", "value": "2"},
                {"op": "add", "path": "/spec/list/1", "value": 9},
                {"op": "add", "path": "/spec/list/-", "value": 4},
                {"op": "replace", "path": "/spec/list/0", "value": 0},
                {"op": "remove", "path": "/spec/list/2"},
                {"op": "copy", "from": "/metadata/labels", "path": "/spec/labels"},
                {"op": "move", "from": "/metadata/labels/x", "path": "/spec/moved"},
                {"op": "replace", "path": "/metadata/name", "value": "b"},
                {"op": "test", "path": "/spec/list", "value": [0, 9, 3, 4]}
            ]),
        );
        assert_eq!(
            out,
            Ok(json!({
                "metadata": {"name": "b", "labels": {"y": "2"}},
                "spec": {"list": [0, 9, 3, 4], "labels": {"x": "1", "y": "2"}, "moved": "1"}
            }))
        );
    }

    #[test]
    fn json_patch_pointer_escapes_and_root() {
        let doc = json!({"metadata": {"annotations": {"example.com/a~b": "1"}}});
        let out = jp(
            doc,
            json!([
                {"op": "test", "path": "/metadata/annotations/example.com~1a~0b", "value": "1"},
                {"op": "add", "path": "/metadata/annotations/x~1y", "value": "2"},
                {"op": "remove", "path": "/metadata/annotations/example.com~1a~0b"}
            ]),
        );
        assert_eq!(out, Ok(json!({"metadata": {"annotations": {"x/y": "2"}}})));
        assert_eq!(
            jp(
                json!({"a": 1}),
                json!([{"op": "replace", "path": "", "value": [1]}])
            ),
            Ok(json!([1]))
        );
        assert_eq!(
            jp(
                json!({"a": 1}),
                json!([{"op": "add", "path": "", "value": {"b": 2}}])
            ),
            Ok(json!({"b": 2}))
        );
        // Empty key is a real key.
        assert_eq!(
            jp(json!({}), json!([{"op": "add", "path": "/", "value": 1}])),
            Ok(json!({"": 1}))
        );
        // Numbers compare by value in `test`.
        assert!(
            jp(
                json!({"a": 1}),
                json!([{"op": "test", "path": "/a", "value": 1.0}])
            )
            .is_ok()
        );
    }

    #[test]
    fn json_patch_errors_are_atomic_and_name_the_op() {
        let doc = json!({"a": {"b": [1, 2]}});
        let cases = [
            (
                json!([{"op": "remove", "path": "/a/missing"}]),
                "operation 0 (remove \"/a/missing\")",
            ),
            (
                json!([{"op": "replace", "path": "/x", "value": 1}]),
                "not found",
            ),
            (
                json!([{"op": "add", "path": "/a/b/5", "value": 1}]),
                "out of bounds",
            ),
            (
                json!([{"op": "add", "path": "/a/b/01", "value": 1}]),
                "not a valid array index",
            ),
            (
                json!([{"op": "remove", "path": "/a/b/-"}]),
                "not a valid array index",
            ),
            (
                json!([{"op": "add", "path": "/x/y", "value": 1}]),
                "not found",
            ),
            (
                json!([{"op": "add", "path": "a", "value": 1}]),
                "must start with '/'",
            ),
            (
                json!([{"op": "add", "path": "/a~2", "value": 1}]),
                "bad '~' escape",
            ),
            (json!([{"op": "add", "path": "/a"}]), "missing \"value\""),
            (json!([{"op": "move", "path": "/a/c"}]), "missing \"from\""),
            (
                json!([{"op": "move", "from": "/q", "path": "/q"}]),
                "not found",
            ),
            (
                json!([{"op": "move", "from": "/a", "path": "/a/b/0"}]),
                "children",
            ),
            (
                json!([{"op": "test", "path": "/a/b/0", "value": 2}]),
                "test failed",
            ),
            (
                json!([{"op": "frob", "path": "/a"}]),
                "unsupported operation",
            ),
            (json!([{"path": "/a"}]), "missing \"op\""),
            (json!([1]), "not a JSON object"),
            (
                json!([{"op": "add", "path": "/a/b/0/c", "value": 1}]),
                "parent is not",
            ),
            (
                json!([{"op": "test", "path": "/a/b/0/c", "value": 1}]),
                "scalar",
            ),
            (json!([{"op": "remove", "path": ""}]), "whole document"),
            (json!({"op": "add"}), "cannot unmarshal object"),
            (
                json!([
                    {"op": "add", "path": "/z", "value": 1},
                    {"op": "remove", "path": "/nope"}
                ]),
                "operation 1 (remove \"/nope\")",
            ),
        ];
        for (ops, want) in cases {
            let mut d = doc.clone();
            let err = json_patch(&mut d, &ops).err().unwrap_or_default();
            assert!(err.contains(want), "{ops}: {err}");
            assert_eq!(d, doc, "target changed by failing patch {ops}");
        }
    }

    // ---------------------------------------------------------------- strategic merge patch

    fn smp(kind: &str, original: Value, patch: Value) -> Result<Value, String> {
        let mut t = original;
        strategic_merge(&mut t, &patch, kind).map(|()| t)
    }

    fn spec(v: Value) -> Value {
        json!({ "spec": v })
    }

    fn containers(v: Value) -> Value {
        spec(json!({ "containers": v }))
    }

    fn finalizers(v: Value) -> Value {
        json!({"metadata": {"finalizers": v}})
    }

    /// Cases from apimachinery strategicpatch/patch_test.go (customStrategicMergePatchTestCaseData
    /// and the raw test cases), with the test struct's fields mapped onto Pod fields of the same
    /// strategy: mergingList → spec.containers (key `name`), mergingIntList → metadata.finalizers,
    /// nonMergingIntList → spec.nonMergingIntList (no strategy), simpleMap → metadata.labels.
    #[test]
    fn strategic_merge_upstream_table() {
        let ok = |original: Value, patch: Value, want: Value| {
            assert_eq!(
                smp("Pod", original.clone(), patch.clone()),
                Ok(want),
                "{original} + {patch}"
            );
        };
        // unique scalars when merging lists
        ok(
            finalizers(json!([1, 2])),
            finalizers(json!([2, 3])),
            finalizers(json!([1, 2, 3])),
        );
        // delete map from nested map
        ok(
            json!({"metadata": {"labels": {"key1": "1", "key2": "1"}}}),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
            json!({"metadata": {"labels": {}}}),
        );
        // delete all items from merging list
        ok(
            containers(json!([{"name": "1"}, {"name": "2"}])),
            containers(json!([{"$patch": "replace"}])),
            containers(json!([])),
        );
        // merge empty merging lists
        ok(
            containers(json!([])),
            containers(json!([])),
            containers(json!([])),
        );
        // delete all keys from map
        ok(
            json!({"name": 1, "value": 1}),
            json!({"$patch": "replace"}),
            json!({}),
        );
        // add key and delete all keys from map
        ok(
            json!({"name": 1, "value": 1}),
            json!({"other": "a", "$patch": "replace"}),
            json!({"other": "a"}),
        );
        // delete all duplicate entries in a merging list
        ok(
            containers(json!([
                {"name": "1"}, {"name": "1"}, {"name": "2", "value": "a"}, {"name": "3"}, {"name": "3"}
            ])),
            containers(
                json!([{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]),
            ),
            containers(json!([{"name": "2", "value": "a"}])),
        );
        // preserve the order from the patch in a merging list
        ok(
            containers(json!([{"name": "1"}, {"name": "2", "value": "b"}, {"name": "3"}])),
            containers(json!([
                {"name": "3", "value": "c"}, {"name": "1", "value": "a"}, {"name": "2", "other": "x"}
            ])),
            containers(json!([
                {"name": "3", "value": "c"},
                {"name": "1", "value": "a"},
                {"name": "2", "value": "b", "other": "x"}
            ])),
        );
        // preserve the order from the patch in a merging list 2
        ok(
            containers(json!([{"name": "1"}, {"name": "2", "value": "b"}, {"name": "3"}])),
            containers(json!([{"name": "3", "value": "c"}, {"name": "1", "value": "a"}])),
            containers(json!([
                {"name": "2", "value": "b"}, {"name": "3", "value": "c"}, {"name": "1", "value": "a"}
            ])),
        );
        // preserve the order from the patch in a merging int list (twice)
        ok(
            finalizers(json!([1, 2, 3])),
            finalizers(json!([3, 1, 2])),
            finalizers(json!([3, 1, 2])),
        );
        ok(
            finalizers(json!([1, 2, 3])),
            finalizers(json!([3, 1])),
            finalizers(json!([2, 3, 1])),
        );
        // $setElementOrder contains item that is not present in the list to be merged
        ok(
            containers(json!([{"name": "1"}, {"name": "3"}])),
            spec(json!({
                "$setElementOrder/containers": [{"name": "3"}, {"name": "2"}, {"name": "1"}],
                "containers": [{"name": "3", "value": "3"}, {"name": "1", "value": "1"}]
            })),
            containers(json!([{"name": "3", "value": "3"}, {"name": "1", "value": "1"}])),
        );
        // ... and in the int list
        ok(
            finalizers(json!([1, 3])),
            json!({"metadata": {"$setElementOrder/finalizers": [3, 2, 1]}}),
            finalizers(json!([3, 1])),
        );
        // $deleteFromPrimitiveList of nonexistent item should not add the item
        ok(
            finalizers(json!([1, 2])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [3]}}),
            finalizers(json!([1, 2])),
        );
        // ... on an empty primitive list
        ok(
            finalizers(json!(null)),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [3]}}),
            finalizers(json!(null)),
        );
        // ... on a nonexistent primitive list
        ok(
            json!({"metadata": {"foo": ["bar"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [3]}}),
            json!({"metadata": {"foo": ["bar"]}}),
        );
        // ... with and without merge patch strategy
        ok(
            finalizers(json!([1, 2, 3])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [2]}}),
            finalizers(json!([1, 3])),
        );
        ok(
            spec(json!({"nonMergingIntList": [1, 2, 3]})),
            spec(json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]})),
            spec(json!({"nonMergingIntList": [1, 3]})),
        );
        // nested patch merge with empty list (directive items of a new list are dropped)
        ok(
            json!({"name": "hi"}),
            containers(json!([{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}])),
            json!({"name": "hi", "spec": {"containers": [{"name": "hello"}]}}),
        );
        // delete items in lists of scalars
        ok(
            finalizers(json!([1, 2, 3, 4])),
            json!({"metadata": {
                "$setElementOrder/finalizers": [1, 2],
                "$deleteFromPrimitiveList/finalizers": [3]
            }}),
            finalizers(json!([1, 2, 4])),
        );
        // add and delete items in lists of scalars
        ok(
            finalizers(json!([1, 2, 3, 4])),
            json!({"metadata": {
                "$setElementOrder/finalizers": [1, 2, 4],
                "$deleteFromPrimitiveList/finalizers": [3],
                "finalizers": [4]
            }}),
            finalizers(json!([1, 2, 4])),
        );
        // merge lists of maps
        ok(
            containers(
                json!([{"name": "1", "other": "a"}, {"name": "2", "value": "2", "other": "b"}]),
            ),
            spec(json!({
                "$setElementOrder/containers": [{"name": "4"}, {"name": "1"}, {"name": "2"}, {"name": "3"}],
                "containers": [{"name": "4", "value": "4"}, {"name": "3", "value": "3"}]
            })),
            containers(json!([
                {"name": "4", "value": "4"},
                {"name": "1", "other": "a"},
                {"name": "2", "value": "2", "other": "b"},
                {"name": "3", "value": "3"}
            ])),
        );
        // defined null values should propagate removing original fields
        ok(
            json!({"name": "original-name", "value": "original-value", "other": "current-other"}),
            json!({"name": "modified-name", "value": null}),
            json!({"name": "modified-name", "other": "current-other"}),
        );
        // retainKeys map merge an empty map
        ok(
            spec(json!({"strategy": {"name": "foo", "value": "a"}})),
            spec(json!({"strategy": {}})),
            spec(json!({"strategy": {"name": "foo", "value": "a"}})),
        );
    }

    #[test]
    fn strategic_merge_upstream_error_cases() {
        let err =
            |original: Value, patch: Value| smp("Pod", original, patch).err().unwrap_or_default();
        // should check if order in $setElementOrder and patch list match
        let e = err(
            containers(json!([{"name": "1"}, {"name": "3"}, {"name": "2"}])),
            spec(json!({
                "$setElementOrder/containers": [{"name": "1"}, {"name": "2"}, {"name": "3"}],
                "containers": [{"name": "3", "value": "3"}, {"name": "1", "value": "1"}]
            })),
        );
        assert!(e.contains("doesn't match"), "{e}");
        let e = err(
            finalizers(json!([1, 3, 2])),
            json!({"metadata": {"$setElementOrder/finalizers": [1, 2, 3], "finalizers": [3, 1]}}),
        );
        assert!(e.contains("doesn't match"), "{e}");
        // missing merge key should error out
        assert_eq!(
            err(
                containers(json!([{"name": "1", "value": "a"}])),
                containers(json!([{"value": "b"}]))
            ),
            "map: map[value:b] does not contain declared merge key: name"
        );
        assert_eq!(
            err(
                containers(json!([{"name": "1"}])),
                containers(json!([{"$patch": "merge"}]))
            ),
            "merging lists cannot yet be specified in the patch"
        );
        assert_eq!(
            err(
                containers(json!([{"name": "1"}])),
                containers(json!([{"$patch": "bogus", "name": "1"}]))
            ),
            "unknown patch type: bogus in map: map[$patch:bogus name:1]"
        );
        assert_eq!(
            err(
                containers(json!([{"name": "1"}])),
                containers(json!([{"$patch": "delete"}]))
            ),
            "map: map[$patch:delete] does not contain declared merge key: name"
        );
        assert_eq!(
            err(
                json!({"spec": {"a": 1}}),
                spec(json!({"$patch": "merge", "a": 2}))
            ),
            "unknown patch type: merge in map: map[$patch:merge a:2]"
        );
        assert_eq!(
            err(finalizers(json!([[1]])), finalizers(json!([[2]]))),
            "lists of lists are not supported"
        );
        assert_eq!(
            err(finalizers(json!(["a"])), finalizers(json!([1]))),
            "list element types are not identical: [[a] [1]]"
        );
        assert_eq!(
            err(finalizers(json!([{"a": 1}])), finalizers(json!([{"b": 1}]))),
            "cannot merge lists without merge key for finalizers"
        );
        assert_eq!(
            err(containers(json!(["a"])), containers(json!(["b"]))),
            "expected a map[string]interface {}, but received a string"
        );
        assert_eq!(
            err(
                spec(json!({})),
                spec(json!({"$setElementOrderX/containers": []}))
            ),
            "invalid patch format of setElementOrder list"
        );
        assert_eq!(
            err(
                spec(json!({})),
                spec(json!({"$deleteFromPrimitiveList": [1]}))
            ),
            "invalid patch format of primitive list"
        );
        assert_eq!(
            err(
                spec(json!({})),
                spec(json!({"$setElementOrder/containers": {}}))
            ),
            "expected a []interface {}, but received a map[string]interface {}"
        );
        assert_eq!(
            smp("Pod", json!({}), json!([1])),
            Err(
                "json: cannot unmarshal array into Go value of type map[string]interface {}"
                    .to_string()
            )
        );
    }

    #[test]
    fn strategic_merge_failure_leaves_target_unchanged() {
        let original = containers(json!([{"name": "a", "image": "x"}]));
        let mut t = original.clone();
        let patch =
            json!({"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"image": "y"}]}});
        assert!(strategic_merge(&mut t, &patch, "Pod").is_err());
        assert_eq!(t, original);
        // null patch is a no-op, a non-object target is treated as {}.
        assert_eq!(
            smp("Pod", json!({"a": 1}), json!(null)),
            Ok(json!({"a": 1}))
        );
        assert_eq!(smp("Pod", json!("x"), json!({"a": 1})), Ok(json!({"a": 1})));
    }

    #[test]
    fn strategic_merge_map_directives_and_nulls() {
        // $patch: replace on a nested map
        assert_eq!(
            smp(
                "Pod",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}})
            ),
            Ok(json!({"metadata": {"labels": {"c": "3"}}}))
        );
        // $patch: delete on the whole object
        assert_eq!(
            smp("Pod", json!({"a": 1}), json!({"$patch": "delete"})),
            Ok(json!({}))
        );
        // null deletes; unmatched nulls are ignored; nulls inside new values are dropped.
        assert_eq!(
            smp(
                "Pod",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"a": null, "zz": null}, "annotations": {"x": "1", "y": null}}})
            ),
            Ok(json!({"metadata": {"labels": {"b": "2"}, "annotations": {"x": "1"}}}))
        );
        // A new map carrying a directive is dropped entirely (removeDirectives).
        assert_eq!(
            smp(
                "Pod",
                json!({}),
                json!({"metadata": {"labels": {"$patch": "replace", "a": "1"}}})
            ),
            Ok(json!({"metadata": {}}))
        );
        // Type change: the patch wins.
        assert_eq!(
            smp(
                "Pod",
                json!({"spec": {"x": {"a": 1}}}),
                json!({"spec": {"x": [1]}})
            ),
            Ok(json!({"spec": {"x": [1]}}))
        );
    }

    #[test]
    fn strategic_merge_retain_keys() {
        let deploy = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        assert_eq!(
            smp(
                "Deployment",
                deploy.clone(),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
            ),
            Ok(json!({"spec": {"strategy": {"type": "Recreate"}}}))
        );
        assert_eq!(
            smp(
                "Deployment",
                deploy.clone(),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}})
            ),
            Err("invalid patch format of retainKeys".to_string())
        );
        assert_eq!(
            smp(
                "Deployment",
                deploy,
                json!({"spec": {"strategy": {"$retainKeys": "type"}}})
            ),
            Err("invalid patch format of retainKeys".to_string())
        );
        // Volumes use retainKeys to switch the volume source.
        assert_eq!(
            smp(
                "Pod",
                spec(json!({"volumes": [{"name": "v", "emptyDir": {}}]})),
                spec(
                    json!({"volumes": [{"name": "v", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]})
                )
            ),
            Ok(spec(
                json!({"volumes": [{"name": "v", "configMap": {"name": "cm"}}]})
            ))
        );
    }

    #[test]
    fn strategic_merge_list_keys_depend_on_context() {
        // Container ports merge by containerPort; new items come first (no $setElementOrder).
        assert_eq!(
            smp(
                "Pod",
                containers(
                    json!([{"name": "web", "ports": [{"containerPort": 80, "name": "http"}]}])
                ),
                containers(
                    json!([{"name": "web", "ports": [{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]}])
                )
            ),
            Ok(containers(json!([{"name": "web", "ports": [
                {"containerPort": 443},
                {"containerPort": 80, "name": "http", "protocol": "TCP"}
            ]}])))
        );
        // Service ports merge by port; a container-style item has no merge key there.
        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}});
        assert_eq!(
            smp(
                "Service",
                svc.clone(),
                json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
            ),
            Ok(json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}))
        );
        assert!(
            smp(
                "Service",
                svc,
                json!({"spec": {"ports": [{"containerPort": 80}]}})
            )
            .is_err_and(|e| e.contains("does not contain declared merge key: port"))
        );
        // Deployment template: containers by name, env by name, volumeMounts by mountPath.
        let deploy = json!({"spec": {"replicas": 1, "template": {"spec": {
            "containers": [{"name": "web", "image": "v1",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "volumeMounts": [{"mountPath": "/a", "name": "x"}],
                "envFrom": [{"configMapRef": {"name": "c1"}}],
                "args": ["a", "b"]}],
            "tolerations": [{"key": "k1"}]
        }}}});
        let patched = smp(
            "Deployment",
            deploy,
            json!({"spec": {"replicas": 3, "template": {"spec": {
                "containers": [{"name": "web", "image": "v2",
                    "env": [{"name": "B", "value": "3"}],
                    "volumeMounts": [{"mountPath": "/a", "readOnly": true}],
                    "envFrom": [{"secretRef": {"name": "s"}}],
                    "args": ["c"]}],
                "tolerations": [{"key": "k2"}]
            }}}}),
        );
        assert_eq!(
            patched,
            Ok(json!({"spec": {"replicas": 3, "template": {"spec": {
                "containers": [{"name": "web", "image": "v2",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}],
                    "volumeMounts": [{"mountPath": "/a", "name": "x", "readOnly": true}],
                    "envFrom": [{"secretRef": {"name": "s"}}],
                    "args": ["c"]}],
                "tolerations": [{"key": "k2"}]
            }}}}))
        );
        // CronJob: spec.jobTemplate.spec.template.spec.containers merge by name.
        let cj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}}}}});
        assert_eq!(
            smp(
                "CronJob",
                cj,
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}}}})
            ),
            Ok(
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}, {"name": "b"}]}}}}}})
            )
        );
        // imagePullSecrets: merged by name in a PodSpec, replaced in a ServiceAccount.
        assert_eq!(
            smp(
                "Pod",
                spec(json!({"imagePullSecrets": [{"name": "a"}]})),
                spec(json!({"imagePullSecrets": [{"name": "b"}]}))
            ),
            Ok(spec(
                json!({"imagePullSecrets": [{"name": "b"}, {"name": "a"}]})
            ))
        );
        assert_eq!(
            smp(
                "ServiceAccount",
                json!({"imagePullSecrets": [{"name": "a"}], "secrets": [{"name": "t"}]}),
                json!({"imagePullSecrets": [{"name": "b"}], "secrets": [{"name": "u"}]})
            ),
            Ok(
                json!({"imagePullSecrets": [{"name": "b"}], "secrets": [{"name": "u"}, {"name": "t"}]})
            )
        );
        // Pod-level keyed lists.
        let pod = spec(json!({
            "initContainers": [{"name": "i", "image": "1"}],
            "ephemeralContainers": [{"name": "e", "image": "1"}],
            "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
            "volumes": [{"name": "v", "emptyDir": {}}]
        }));
        assert_eq!(
            smp(
                "Pod",
                pod,
                spec(json!({
                    "initContainers": [{"name": "i", "image": "2"}],
                    "ephemeralContainers": [{"name": "e", "image": "2"}],
                    "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
                    "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
                    "volumes": [{"name": "w", "emptyDir": {}}]
                }))
            ),
            Ok(spec(json!({
                "initContainers": [{"name": "i", "image": "2"}],
                "ephemeralContainers": [{"name": "e", "image": "2"}],
                "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
                "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
                "volumes": [{"name": "w", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]
            })))
        );
        // volumeDevices by devicePath.
        assert_eq!(
            smp(
                "Pod",
                containers(
                    json!([{"name": "c", "volumeDevices": [{"devicePath": "/d", "name": "x"}]}])
                ),
                containers(
                    json!([{"name": "c", "volumeDevices": [{"devicePath": "/d", "name": "y"}]}])
                )
            ),
            Ok(containers(
                json!([{"name": "c", "volumeDevices": [{"devicePath": "/d", "name": "y"}]}])
            ))
        );
        // metadata: ownerReferences by uid, finalizers as a set.
        assert_eq!(
            smp(
                "ConfigMap",
                json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}], "finalizers": ["x"]}}),
                json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "b"}], "finalizers": ["y", "x"]}})
            ),
            Ok(
                json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "b"}], "finalizers": ["y", "x"]}})
            )
        );
        // status.conditions by type; Ingress rules (no strategy) are replaced.
        assert_eq!(
            smp(
                "Deployment",
                json!({"status": {"conditions": [{"type": "Available", "status": "False"}, {"type": "Progressing", "status": "True"}]}}),
                json!({"status": {"conditions": [{"type": "Available", "status": "True"}]}})
            ),
            Ok(
                json!({"status": {"conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}]}})
            )
        );
        assert_eq!(
            smp(
                "Ingress",
                spec(json!({"rules": [{"host": "a"}]})),
                spec(json!({"rules": [{"host": "b"}]}))
            ),
            Ok(spec(json!({"rules": [{"host": "b"}]})))
        );
    }

    #[test]
    fn strategic_merge_appended_items_are_cleaned() {
        assert_eq!(
            smp(
                "Pod",
                containers(json!([{"name": "a"}])),
                containers(
                    json!([{"name": "b", "image": null, "env": [{"name": "X", "value": null}]}])
                )
            ),
            Ok(containers(
                json!([{"name": "b", "env": [{"name": "X"}]}, {"name": "a"}])
            ))
        );
    }

    // ---------------------------------------------------------------- server-side apply

    const T1: &str = "2024-01-01T00:00:00Z";
    const T2: &str = "2024-01-02T00:00:00Z";
    const T3: &str = "2024-01-03T00:00:00Z";

    fn deployment(replicas: i64, image: &str, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}
                }
            }
        })
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
        obj.pointer("/metadata/managedFields")?
            .as_array()?
            .iter()
            .find(|e| e["manager"] == manager)
    }

    fn fields_of(obj: &Value, manager: &str) -> Value {
        entry(obj, manager)
            .map(|e| e["fieldsV1"].clone())
            .unwrap_or(Value::Null)
    }

    fn body(obj: &Value) -> Value {
        without_managed_fields(obj)
    }

    #[test]
    fn apply_create_records_fields_v1() {
        let cfg = deployment(2, "nginx:1", json!({"app": "web"}));
        let out = apply(None, &cfg, "Deployment", "mgr", false, T1).unwrap();
        assert_eq!(body(&out), cfg);
        let e = entry(&out, "mgr").unwrap();
        assert_eq!(e["operation"], "Apply");
        assert_eq!(e["apiVersion"], "apps/v1");
        assert_eq!(e["time"], T1);
        assert_eq!(e["fieldsType"], "FieldsV1");
        assert_eq!(
            e["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                                ".": {},
                                "f:containerPort": {}
                            }}
                        }}}
                    }
                }
            })
        );
        assert_eq!(entries(&out).len(), 1);
    }

    #[test]
    fn apply_updates_replicas_image_env_and_removes_dropped_label() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web", "tier": "fe"})),
            "Deployment",
            "mgr",
            false,
            T1,
        )
        .unwrap();
        let mut cfg = deployment(3, "nginx:2", json!({"app": "web"}));
        cfg["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "MODE", "value": "prod"}]);
        // Something the server defaulted and nobody owns must survive.
        let mut live = live;
        live["spec"]["progressDeadlineSeconds"] = json!(600);
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        let out = apply(Some(&live), &cfg, "Deployment", "mgr", false, T2).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        let c = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "nginx:2");
        assert_eq!(c["env"], json!([{"name": "MODE", "value": "prod"}]));
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(out["spec"]["progressDeadlineSeconds"], 600);
        let f = fields_of(&out, "mgr");
        assert_eq!(f["f:metadata"], json!({"f:labels": {"f:app": {}}}));
        assert_eq!(
            f.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:env"),
            Some(&json!({"k:{\"name\":\"MODE\"}": {".": {}, "f:name": {}, "f:value": {}}}))
        );
        assert_eq!(entry(&out, "mgr").unwrap()["time"], T2);
        // Dropping the env var from the applied config removes it again.
        let out = apply(
            Some(&out),
            &deployment(3, "nginx:2", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T3,
        )
        .unwrap();
        assert!(
            out["spec"]["template"]["spec"]["containers"][0]
                .get("env")
                .is_none()
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn apply_conflicts_with_an_update_manager_unless_forced() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T1,
        )
        .unwrap();
        // `kubectl scale`-like update by another manager.
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(&mut scaled, Some(&live), "kubectl-edit", T2);
        assert_eq!(
            fields_of(&scaled, "kubectl-edit"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert_eq!(
            entry(&scaled, "kubectl-edit").unwrap()["operation"],
            "Update"
        );
        assert!(
            fields_of(&scaled, "mgr")
                .pointer("/f:spec/f:replicas")
                .is_none()
        );

        // Applying a different value conflicts.
        let err = apply(
            Some(&scaled),
            &deployment(3, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T3,
        )
        .unwrap_err();
        assert_eq!(
            err.conflicts,
            vec![("kubectl-edit".to_string(), ".spec.replicas".to_string())]
        );
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\": .spec.replicas"
        );
        // Applying the same value shares ownership.
        let shared = apply(
            Some(&scaled),
            &deployment(5, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(
            fields_of(&shared, "kubectl-edit"),
            json!({"f:spec": {"f:replicas": {}}})
        );
        assert!(
            fields_of(&shared, "mgr")
                .pointer("/f:spec/f:replicas")
                .is_some()
        );
        // Forcing takes the field over; the now-empty entry goes away.
        let forced = apply(
            Some(&scaled),
            &deployment(3, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            true,
            T3,
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        assert!(entry(&forced, "kubectl-edit").is_none());
        assert!(
            fields_of(&forced, "mgr")
                .pointer("/f:spec/f:replicas")
                .is_some()
        );
    }

    #[test]
    fn apply_conflicts_between_appliers() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "a",
            false,
            T1,
        )
        .unwrap();
        let err = apply(
            Some(&live),
            &deployment(4, "nginx:2", json!({"app": "web"})),
            "Deployment",
            "b",
            false,
            T2,
        )
        .unwrap_err();
        assert_eq!(
            err.conflicts,
            vec![
                ("a".to_string(), ".spec.replicas".to_string()),
                (
                    "a".to_string(),
                    ".spec.template.spec.containers[name=\"web\"].image".to_string()
                ),
            ]
        );
        assert_eq!(
            err.to_string(),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
        );
        let forced = apply(
            Some(&live),
            &deployment(4, "nginx:2", json!({"app": "web"})),
            "Deployment",
            "b",
            true,
            T2,
        )
        .unwrap();
        let fa = fields_of(&forced, "a");
        assert!(fa.pointer("/f:spec/f:replicas").is_none());
        assert!(
            fa.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:image")
                .is_none()
        );
        assert!(
            fa.pointer("/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"web\"}/f:name")
                .is_some()
        );
        assert_eq!(forced["spec"]["replicas"], 4);
    }

    #[test]
    fn apply_keeps_dropped_fields_another_manager_owns() {
        let cm = |labels: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": labels}, "data": {"k": "v"}});
        let live = apply(
            None,
            &cm(json!({"app": "x", "tier": "fe"})),
            "ConfigMap",
            "a",
            false,
            T1,
        )
        .unwrap();
        // b co-owns tier (same value: no conflict).
        let live = apply(Some(&live), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"tier": "fe"}}}), "ConfigMap", "b", false, T2).unwrap();
        assert_eq!(
            fields_of(&live, "b"),
            json!({"f:metadata": {"f:labels": {"f:tier": {}}}})
        );
        // a drops tier: still owned by b, so it stays.
        let live = apply(
            Some(&live),
            &cm(json!({"app": "x"})),
            "ConfigMap",
            "a",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(
            live["metadata"]["labels"],
            json!({"app": "x", "tier": "fe"})
        );
        // b drops it too: now it goes, and b has nothing left.
        let live = apply(
            Some(&live),
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            "ConfigMap",
            "b",
            false,
            T3,
        )
        .unwrap();
        assert_eq!(live["metadata"]["labels"], json!({"app": "x"}));
        assert!(entry(&live, "b").is_none());
        // a drops all labels: the map goes away.
        let live = apply(Some(&live), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}), "ConfigMap", "a", false, T3).unwrap();
        assert!(live["metadata"].get("labels").is_none());
        assert_eq!(live["data"], json!({"k": "v"}));
    }

    #[test]
    fn apply_container_list_by_name() {
        let mut two = deployment(1, "nginx:1", json!({"app": "web"}));
        two["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy"}]);
        let live = apply(None, &two, "Deployment", "mgr", false, T1).unwrap();
        // Another client adds a container with an update.
        let mut debugged = live.clone();
        debugged["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "debug", "image": "busybox"}));
        record_update(&mut debugged, Some(&live), "kubectl-debug", T2);
        assert_eq!(
            fields_of(&debugged, "kubectl-debug"),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"debug\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        // The applier drops the sidecar and changes web's image: sidecar removed, debug kept.
        let mut one = deployment(1, "nginx:2", json!({"app": "web"}));
        one["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "web", "image": "nginx:2"}]);
        let out = apply(Some(&debugged), &one, "Deployment", "mgr", false, T3).unwrap();
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["web", "debug"]);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
    }

    #[test]
    fn apply_merges_lists_in_structured_merge_diff_order() {
        let cm = |f: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": f}});
        let live = apply(None, &cm(json!(["a", "b"])), "ConfigMap", "x", false, T1).unwrap();
        assert_eq!(
            fields_of(&live, "x"),
            json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}})
        );
        let out = apply(Some(&live), &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["c"]}}), "ConfigMap", "y", false, T2).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        // x drops b (only x owned it) but keeps a.
        let out = apply(Some(&out), &cm(json!(["a"])), "ConfigMap", "x", false, T3).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
    }

    #[test]
    fn apply_ignores_status_resource_version_and_managed_fields_in_config() {
        let mut live = apply(
            None,
            &deployment(1, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "mgr",
            false,
            T1,
        )
        .unwrap();
        live["status"] = json!({"replicas": 1});
        live["metadata"]["resourceVersion"] = json!("7");
        let mut cfg = deployment(1, "nginx:1", json!({"app": "web"}));
        cfg["metadata"]["resourceVersion"] = json!("1");
        cfg["metadata"]["managedFields"] = json!([{"manager": "evil", "operation": "Apply"}]);
        let out = apply(Some(&live), &cfg, "Deployment", "mgr", false, T2).unwrap();
        assert_eq!(out["status"], json!({"replicas": 1}));
        assert_eq!(out["metadata"]["resourceVersion"], "7");
        assert_eq!(entries(&out).len(), 1);
        // No-op apply keeps the entry's time.
        assert_eq!(entry(&out, "mgr").unwrap()["time"], T1);
        assert!(fields_of(&out, "mgr").get("f:status").is_none());
        // A config carrying status does not own it.
        let mut with_status = cfg.clone();
        with_status["status"] = json!({"replicas": 9});
        let out = apply(Some(&live), &with_status, "Deployment", "mgr", false, T2).unwrap();
        assert!(fields_of(&out, "mgr").get("f:status").is_none());
    }

    #[test]
    fn record_update_on_create_and_update() {
        let mut cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "uid": "u", "resourceVersion": "1",
                         "creationTimestamp": T1, "labels": {"app": "x"}},
            "data": {"a": "1"}
        });
        record_update(&mut cm, None, "", T1);
        let e = entry(&cm, "unknown").unwrap();
        assert_eq!(e["operation"], "Update");
        assert_eq!(e["apiVersion"], "v1");
        assert_eq!(
            e["fieldsV1"],
            json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        );
        // A no-op update records nothing new.
        let before = cm.clone();
        let mut same = cm.clone();
        record_update(&mut same, Some(&before), "other", T2);
        assert_eq!(same, before);
        // A change by another manager moves the field and keeps the rest.
        let mut changed = cm.clone();
        changed["data"]["a"] = json!("2");
        changed["data"]["b"] = json!("3");
        changed["metadata"]["resourceVersion"] = json!("2");
        record_update(&mut changed, Some(&before), "other", T2);
        assert_eq!(
            fields_of(&changed, "other"),
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        assert_eq!(
            fields_of(&changed, "unknown"),
            json!({"f:data": {}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
        );
        // Removing a field drops it from every owner.
        let before = changed.clone();
        let mut removed = changed.clone();
        removed["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        record_update(&mut removed, Some(&before), "other", T3);
        assert_eq!(fields_of(&removed, "unknown"), json!({"f:data": {}}));
        // Entries missing from the new object come from the stored one.
        let mut stripped = removed.clone();
        stripped["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        stripped["data"]["c"] = json!("4");
        record_update(&mut stripped, Some(&removed), "other", T3);
        assert_eq!(
            fields_of(&stripped, "other"),
            json!({"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}})
        );
        assert!(entry(&stripped, "unknown").is_some());
        // [{}] resets managed fields.
        let mut reset = stripped.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        record_update(&mut reset, Some(&stripped), "other", T3);
        assert!(reset["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn managed_fields_are_sorted_and_round_trip() {
        let live = apply(
            None,
            &deployment(2, "nginx:1", json!({"app": "web"})),
            "Deployment",
            "z-applier",
            false,
            T2,
        )
        .unwrap();
        let mut upd = live.clone();
        upd["metadata"]["annotations"] = json!({"note": "x"});
        record_update(&mut upd, Some(&live), "a-updater", T1);
        let managers: Vec<String> = entries(&upd)
            .iter()
            .filter_map(|e| e["manager"].as_str().map(str::to_string))
            .collect();
        assert_eq!(managers, ["z-applier", "a-updater"]);
        for e in entries(&upd) {
            let set = FieldSet::from_fields_v1(&e["fieldsV1"]).unwrap();
            assert_eq!(set.to_fields_v1(), e["fieldsV1"]);
        }
        let set = FieldSet::from_fields_v1(
            &json!({"f:a": {".": {}, "f:b": {}}, "k:{\"x\":1}": {}, "v:\"s\"": {}, "i:3": {}}),
        )
        .unwrap();
        let paths: Vec<String> = set.member_paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(paths, [".a", ".a.b", "[x=1]", "[=\"s\"]", "[3]"]);
        assert!(FieldSet::from_fields_v1(&json!({"bogus": {}})).is_none());
    }

    #[test]
    fn ssa_never_panics_on_junk() {
        let junk = [
            json!(null),
            json!(1),
            json!("x"),
            json!([1, {"a": null}]),
            json!({"metadata": "x"}),
            json!({"metadata": {"managedFields": "x"}}),
            json!({"metadata": {"managedFields": [{"manager": 1}]}}),
            json!({"metadata": {"managedFields": [{"operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"k:notjson": {}}}]}}),
            json!({"spec": {"template": {"spec": {"containers": [{"noname": 1}, "str", [1]]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}}),
            json!({"metadata": {"finalizers": [1, "1", {"a": 1}, null]}}),
        ];
        for live in &junk {
            for cfg in &junk {
                for kind in ["Deployment", "Pod", "Widget"] {
                    let _ = apply(Some(live), cfg, kind, "m", false, T1);
                    let _ = apply(Some(live), cfg, kind, "m", true, T1);
                    let mut o = cfg.clone();
                    record_update(&mut o, Some(live), "m", T1);
                    let mut t = live.clone();
                    let _ = strategic_merge(&mut t, cfg, kind);
                    let mut t = live.clone();
                    let _ = json_patch(&mut t, cfg);
                    merge_patch(&mut t, cfg);
                }
            }
        }
    }
}
