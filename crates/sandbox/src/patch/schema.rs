//! Which lists of the built-in types merge, and by which key.
//!
//! Go decodes objects into typed structs whose tags say how each list merges. Here objects are
//! plain JSON, so a small table ([`Ty`], [`Ty::child`], [`Ty::list_type`]) says, from the field
//! name and where it sits, which lists merge and by which key; strategic merge and server-side
//! apply both read it. Everything else is treated the way an untyped map would be. Custom types
//! read their CRD's structural schema instead ([`Ty::Custom`]).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

/// Where a JSON object sits in a built-in Kubernetes object, as far as merging cares. Computed
/// from the kind at the root and the field names on the way down (list items take the type of
/// their list field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
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
    /// The root of a custom object: `metadata` is ObjectMeta, the rest follows its structural
    /// schema (`None`: no schema).
    CustomRoot(Option<&'static Value>),
    /// A node of a custom object, with its schema (`None`: none known, e.g. under
    /// `x-kubernetes-preserve-unknown-fields`): maps are granular, lists atomic unless the schema
    /// says `x-kubernetes-list-type: map` (by its keys) or `set`.
    Custom(Option<&'static Value>),
}

/// The schema of property `field` of a custom schema node.
fn custom_property(node: Option<&'static Value>, field: &str) -> Option<&'static Value> {
    let n = node?;
    n.get("properties")
        .and_then(|p| p.get(field))
        .or_else(|| n.get("additionalProperties").filter(|a| a.is_object()))
}

/// Whether a schema node is an atomic map or struct.
fn atomic_map(node: &Value) -> bool {
    node.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
}

/// Key fields of an associative list, interned: each distinct list of keys is leaked once.
fn intern_keys(keys: Vec<String>) -> KeyFields {
    static KEYS: OnceLock<Mutex<HashMap<Vec<String>, KeyFields>>> = OnceLock::new();
    let mut map = KEYS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(k) = map.get(&keys) {
        return k;
    }
    let fields: Vec<(&'static str, Option<&'static str>)> = keys
        .iter()
        .map(|k| (&*Box::leak(k.clone().into_boxed_str()), None))
        .collect();
    let leaked: KeyFields = Box::leak(fields.into_boxed_slice());
    map.insert(keys, leaked);
    leaked
}

/// A custom type's structural schema as a `&'static` value: each distinct schema is leaked once
/// (a sandbox serves a few CRDs; re-registering one with the same schema reuses it).
pub fn intern_schema(schema: &Value) -> &'static Value {
    static SCHEMAS: OnceLock<Mutex<HashMap<String, &'static Value>>> = OnceLock::new();
    let key = serde_json::to_string(schema).unwrap_or_default();
    let mut map = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(v) = map.get(&key) {
        return v;
    }
    let leaked: &'static Value = Box::leak(Box::new(schema.clone()));
    map.insert(key, leaked);
    leaked
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RootKind {
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
pub(super) type KeyFields = &'static [(&'static str, Option<&'static str>)];

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListType {
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
    pub(super) fn root(kind: &str) -> Ty {
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
    pub(super) fn child(self, field: &str) -> Ty {
        match self {
            Ty::CustomRoot(_) if field == "metadata" => return Ty::ObjectMeta,
            Ty::CustomRoot(node) | Ty::Custom(node) => {
                let prop = custom_property(node, field);
                // A list field's items.
                let prop = match prop {
                    Some(p) if p.get("type").and_then(Value::as_str) == Some("array") => {
                        p.get("items")
                    }
                    p => p,
                };
                return match prop {
                    Some(p) if atomic_map(p) => Ty::Atomic,
                    p => Ty::Custom(p),
                };
            }
            _ => {}
        }
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
    pub(super) fn list_type(self, field: &str) -> ListType {
        if let Ty::CustomRoot(node) | Ty::Custom(node) = self {
            let Some(prop) = custom_property(node, field) else {
                return ListType::Atomic;
            };
            return match prop.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListType::Set,
                Some("map") => {
                    let keys: Vec<String> = prop
                        .get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    let keys = intern_keys(keys);
                    match keys.first() {
                        Some((first, _)) => ListType::Map {
                            smp_key: first,
                            keys,
                        },
                        None => ListType::Atomic,
                    }
                }
                _ => ListType::Atomic,
            };
        }
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
    pub(super) fn always_present(self, field: &str) -> bool {
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

/// The schema of one node: its type and, if it is a list field, how the list merges.
#[derive(Clone, Copy, Debug)]
pub(super) struct Schema {
    pub(super) ty: Ty,
    pub(super) list: ListType,
}

impl Schema {
    pub(super) fn root(kind: &str) -> Schema {
        Schema {
            ty: Ty::root(kind),
            list: ListType::Atomic,
        }
    }

    /// The root of a custom object with this structural schema.
    pub(super) fn custom_root(schema: Option<&'static Value>) -> Schema {
        Schema {
            ty: Ty::CustomRoot(schema),
            list: ListType::Atomic,
        }
    }

    pub(super) fn field(self, name: &str) -> Schema {
        Schema {
            ty: self.ty.child(name),
            list: self.ty.list_type(name),
        }
    }

    pub(super) fn item(self) -> Schema {
        Schema {
            ty: self.ty,
            list: ListType::Atomic,
        }
    }
}
