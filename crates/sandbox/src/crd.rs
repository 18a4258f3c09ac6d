//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): what a CRD declares, checked as the API
//! server checks it, and the custom types it makes served.
//!
//! A CRD is stored like any object; the store ([`crate::store::Store`]) calls into this module
//! when one is written: [`prepare`] defaults it, [`validate`] gives the API server's 422 causes,
//! [`status`] computes `status.acceptedNames`, `status.storedVersions` and the `NamesAccepted` and
//! `Established` conditions (as the naming and establishing controllers would, at once), and
//! [`served_versions`] turns an established CRD into one [`Served`] type per served version.
//! Each becomes a `&'static ResourceType` (leaked once and reused while its names stay the same)
//! with a [`CustomType`] beside it in that store: its printer columns, scale paths and schema.
//!
//! Also here: the custom table convertor (additionalPrinterColumns evaluated by their JSONPath,
//! [`cells`]), the Scale of a custom object ([`scale_of`]) and pruning to a structural schema
//! ([`unknown_fields`], [`prune`]). Server-side apply reads the schema in `patch::schema`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::go_format::go_value;
use crate::object::PointerLookup;
use crate::resources::ResourceType;
use crate::validation::{is_dns1035_label, is_dns1123_subdomain};

/// The finalizer the API server puts on every CRD: its objects are deleted before it goes.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The media types a custom resource accepts for PATCH (no strategic merge: there is no Go
/// struct to read patch strategies from).
pub const PATCH_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

/// One `additionalPrinterColumns` entry (`CustomResourceColumnDefinition`).
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    /// OpenAPI type: integer, number, string, boolean or date.
    pub kind: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    /// A simple JSONPath, e.g. `.status.replicas` (evaluated as `{.status.replicas}`).
    pub json_path: String,
}

/// `subresources.scale`: where the Scale's fields live in a custom object.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalePaths {
    /// e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// e.g. `.status.replicas`.
    pub status_replicas: String,
    /// e.g. `.status.selector` (a label selector in its string form).
    pub label_selector: Option<String>,
}

/// What a store knows of a served custom type beside its [`ResourceType`].
#[derive(Clone, Debug, PartialEq)]
pub struct CustomType {
    /// The CRD's name, e.g. `rollouts.argoproj.io`.
    pub crd: String,
    /// The table's columns after NAME, as served: the CRD's `additionalPrinterColumns` of this
    /// version, or AGE when it declares none.
    pub columns: Vec<PrinterColumn>,
    pub scale: Option<ScalePaths>,
    /// `schema.openAPIV3Schema` of this version.
    pub schema: Option<Value>,
    /// The same schema as a `&'static` value (interned), for server-side apply's merge types.
    pub apply_schema: Option<&'static Value>,
    /// e.g. `RolloutList`.
    pub list_kind: String,
    /// Whether this is the storage version.
    pub storage: bool,
}

/// `spec.names` (or `status.acceptedNames`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn s(v: &Value, pointer: &str) -> String {
    v.at(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

impl Names {
    /// The names at `v` (a `names` or `acceptedNames` map).
    pub fn of(v: &Value) -> Names {
        Names {
            plural: s(v, "/plural"),
            singular: s(v, "/singular"),
            kind: s(v, "/kind"),
            list_kind: s(v, "/listKind"),
            short_names: strs(v.get("shortNames")),
            categories: strs(v.get("categories")),
        }
    }

    fn to_json(&self) -> Value {
        let mut m = json!({"plural": self.plural, "singular": self.singular, "kind": self.kind, "listKind": self.list_kind});
        if !self.short_names.is_empty() {
            m["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            m["categories"] = json!(self.categories);
        }
        m
    }
}

/// The CRD's group.
pub fn group_of(crd: &Value) -> &str {
    crd.at("/spec/group").and_then(Value::as_str).unwrap_or("")
}

/// Defaulting, as `SetDefaults_CustomResourceDefinition`: singular from the kind, listKind,
/// conversion strategy None; every version's `served`/`storage` present.
pub fn prepare(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if names
            .get("singular")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names
            .get("listKind")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && !kind.is_empty()
        {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    let conversion = spec.entry("conversion").or_insert_with(|| json!({}));
    if let Some(c) = conversion.as_object_mut() {
        c.entry("strategy").or_insert_with(|| json!("None"));
    }
}

/// Go's `field.Invalid` value for a string.
fn q(v: &str) -> String {
    crate::go_format::go_quote(v)
}

fn invalid(errs: &mut Vec<(String, String)>, field: String, value: &str, why: &str) {
    errs.push((field, format!("Invalid value: {}: {why}", q(value))));
}

fn required(errs: &mut Vec<(String, String)>, field: String, detail: &str) {
    if detail.is_empty() {
        errs.push((field, "Required value".into()));
    } else {
        errs.push((field, format!("Required value: {detail}")));
    }
}

fn unsupported(errs: &mut Vec<(String, String)>, field: String, value: &str, allowed: &[&str]) {
    let list: Vec<String> = allowed.iter().map(|a| q(a)).collect();
    errs.push((
        field,
        format!(
            "Unsupported value: {}: supported values: {}",
            q(value),
            list.join(", ")
        ),
    ));
}

/// `validateSimpleJSONPath`.
fn simple_json_path(errs: &mut Vec<(String, String)>, field: String, p: &str) -> bool {
    if p.is_empty() {
        invalid(errs, field, p, "must not be empty");
        false
    } else if !p.starts_with('.') {
        invalid(errs, field, p, "must be a simple json path starting with .");
        false
    } else {
        true
    }
}

const COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
const COLUMN_FORMATS: &[&str] = &[
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];

/// The API server's validation of a CRD (`ValidateCustomResourceDefinition`), as (field,
/// message) causes; empty when valid. `crd` is defaulted ([`prepare`]) first.
pub fn validate(crd: &Value) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let name = s(crd, "/metadata/name");
    let group = group_of(crd).to_string();
    let names = Names::of(crd.at("/spec/names").unwrap_or(&Value::Null));
    let want = format!("{}.{}", names.plural, group);
    if !name.is_empty() {
        for e in is_dns1123_subdomain(&name) {
            invalid(&mut errs, "metadata.name".into(), &name, &e);
        }
        if name != want {
            invalid(
                &mut errs,
                "metadata.name".into(),
                &name,
                "must be spec.names.plural+\".\"+spec.group",
            );
        }
    }
    if group.is_empty() {
        required(&mut errs, "spec.group".into(), "");
    } else if let e @ [_, ..] = is_dns1123_subdomain(&group).as_slice() {
        invalid(&mut errs, "spec.group".into(), &group, &e.join(","));
    } else if group.split('.').count() < 2 {
        invalid(
            &mut errs,
            "spec.group".into(),
            &group,
            "should be a domain with at least one dot",
        );
    }
    let scope = s(crd, "/spec/scope");
    if scope.is_empty() {
        required(&mut errs, "spec.scope".into(), "");
    } else if scope != "Cluster" && scope != "Namespaced" {
        unsupported(
            &mut errs,
            "spec.scope".into(),
            &scope,
            &["Cluster", "Namespaced"],
        );
    }
    validate_versions(crd, &mut errs);
    if names.plural.is_empty() {
        required(&mut errs, "spec.names.plural".into(), "");
    }
    if names.singular.is_empty() {
        required(&mut errs, "spec.names.singular".into(), "");
    }
    if names.kind.is_empty() {
        required(&mut errs, "spec.names.kind".into(), "");
    }
    if names.list_kind.is_empty() {
        required(&mut errs, "spec.names.listKind".into(), "");
    }
    validate_names(&names, "spec.names", &mut errs);
    errs
}

fn validate_names(names: &Names, at: &str, errs: &mut Vec<(String, String)>) {
    for (field, v, lower) in [
        ("plural", &names.plural, false),
        ("singular", &names.singular, false),
        ("kind", &names.kind, true),
        ("listKind", &names.list_kind, true),
    ] {
        if v.is_empty() {
            continue;
        }
        let checked = if lower { v.to_lowercase() } else { v.clone() };
        let e = is_dns1035_label(&checked);
        if !e.is_empty() {
            let why = if lower {
                format!(
                    "may have mixed case, but should otherwise match: {}",
                    e.join(",")
                )
            } else {
                e.join(",")
            };
            invalid(errs, format!("{at}.{field}"), v, &why);
        }
    }
    for (i, sn) in names.short_names.iter().enumerate() {
        let e = is_dns1035_label(sn);
        if !e.is_empty() {
            invalid(errs, format!("{at}.shortNames[{i}]"), sn, &e.join(","));
        }
    }
    if !names.kind.is_empty() && names.kind == names.list_kind {
        invalid(
            errs,
            format!("{at}.listKind"),
            &names.list_kind,
            "kind and listKind may not be the same",
        );
    }
    for (i, c) in names.categories.iter().enumerate() {
        let e = is_dns1035_label(c);
        if !e.is_empty() {
            invalid(errs, format!("{at}.categories[{i}]"), c, &e.join(","));
        }
    }
}

fn validate_versions(crd: &Value, errs: &mut Vec<(String, String)>) {
    let versions = crd
        .at("/spec/versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut seen = HashSet::new();
    let mut unique = true;
    let mut storage = 0;
    for (i, v) in versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        let name = s(v, "/name");
        if v.get("storage") == Some(&json!(true)) {
            storage += 1;
        }
        if !seen.insert(name.clone()) {
            unique = false;
        }
        let e = is_dns1035_label(&name);
        if !e.is_empty() {
            invalid(errs, format!("{at}.name"), &name, &e.join(","));
        }
        match v.at("/schema/openAPIV3Schema") {
            None | Some(Value::Null) => required(
                errs,
                format!("{at}.schema.openAPIV3Schema"),
                "schemas are required",
            ),
            Some(schema) => match schema.get("type").and_then(Value::as_str) {
                None | Some("") => required(
                    errs,
                    format!("{at}.schema.openAPIV3Schema.type"),
                    "must not be empty at the root",
                ),
                Some("object") => {}
                Some(t) => invalid(
                    errs,
                    format!("{at}.schema.openAPIV3Schema.type"),
                    t,
                    "must be object at the root",
                ),
            },
        }
        if let Some(scale) = v.at("/subresources/scale").filter(|s| s.is_object()) {
            let sat = format!("{at}.subresources.scale");
            for (field, prefix, why) in [
                (
                    "specReplicasPath",
                    ".spec.",
                    "should be a json path under .spec",
                ),
                (
                    "statusReplicasPath",
                    ".status.",
                    "should be a json path under .status",
                ),
            ] {
                let p = s(scale, &format!("/{field}"));
                if p.is_empty() {
                    required(errs, format!("{sat}.{field}"), "");
                } else if simple_json_path(errs, format!("{sat}.{field}"), &p)
                    && !p.starts_with(prefix)
                {
                    invalid(errs, format!("{sat}.{field}"), &p, why);
                }
            }
            let p = s(scale, "/labelSelectorPath");
            if !p.is_empty()
                && simple_json_path(errs, format!("{sat}.labelSelectorPath"), &p)
                && !p.starts_with(".spec.")
                && !p.starts_with(".status.")
            {
                invalid(
                    errs,
                    format!("{sat}.labelSelectorPath"),
                    &p,
                    "should be a json path under either .spec or .status",
                );
            }
        }
        let columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (j, c) in columns.iter().enumerate() {
            let cat = format!("{at}.additionalPrinterColumns[{j}]");
            if s(c, "/name").is_empty() {
                required(errs, format!("{cat}.name"), "");
            }
            let ty = s(c, "/type");
            if ty.is_empty() {
                required(
                    errs,
                    format!("{cat}.type"),
                    &format!("must be one of {}", COLUMN_TYPES.join(",")),
                );
            } else if !COLUMN_TYPES.contains(&ty.as_str()) {
                unsupported(errs, format!("{cat}.type"), &ty, COLUMN_TYPES);
            }
            let format = s(c, "/format");
            if !format.is_empty() && !COLUMN_FORMATS.contains(&format.as_str()) {
                unsupported(errs, format!("{cat}.format"), &format, COLUMN_FORMATS);
            }
            let path = s(c, "/jsonPath");
            if path.is_empty() {
                required(errs, format!("{cat}.jsonPath"), "");
            } else {
                simple_json_path(errs, format!("{cat}.jsonPath"), &path);
            }
        }
    }
    let summary = format!(
        "[]apiextensions.CustomResourceDefinitionVersion{{{}}}",
        versions
            .iter()
            .map(|v| format!("{{Name:{}}}", q(&s(v, "/name"))))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !unique {
        errs.push((
            "spec.versions".into(),
            format!("Invalid value: {summary}: must contain unique version names"),
        ));
    }
    if storage != 1 && !versions.is_empty() {
        errs.push((
            "spec.versions".into(),
            format!(
                "Invalid value: {summary}: must have exactly one version marked as storage version"
            ),
        ));
    }
    if versions.is_empty() {
        required(
            errs,
            "spec.versions".into(),
            "must have exactly one version marked as storage version",
        );
    }
}

/// Names other established CRDs of the same group have taken: resource names (plural,
/// singular, short names) and kinds (kind, listKind).
#[derive(Debug, Default)]
pub struct Taken {
    pub resources: HashSet<String>,
    pub kinds: HashSet<String>,
}

impl Taken {
    /// Adds the accepted names of a CRD.
    pub fn add(&mut self, n: &Names) {
        for r in [&n.plural, &n.singular]
            .into_iter()
            .chain(n.short_names.iter())
        {
            if !r.is_empty() {
                self.resources.insert(r.clone());
            }
        }
        for k in [&n.kind, &n.list_kind] {
            if !k.is_empty() {
                self.kinds.insert(k.clone());
            }
        }
    }
}

fn condition(
    old: Option<&Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let since = old
        .and_then(|o| o.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type") == Some(&json!(type_))))
        .filter(|c| c.get("status") == Some(&json!(status)))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    json!({"type": type_, "status": status, "lastTransitionTime": since, "reason": reason, "message": message})
}

/// `equalToAcceptedOrFresh`.
fn fresh(requested: &str, accepted: &str, used: &HashSet<String>) -> Result<(), String> {
    if requested == accepted || !used.contains(requested) {
        Ok(())
    } else {
        Err(format!("{} is already in use", q(requested)))
    }
}

/// The CRD's status as the naming and establishing controllers leave it: `acceptedNames`
/// (the requested names that do not conflict with `taken`), `NamesAccepted` (True, or False
/// with the conflict), `Established` (True once the names are accepted) and `storedVersions`.
/// Returns the status and whether the CRD is established.
pub fn status(crd: &Value, taken: &Taken, now: &str) -> (Value, bool) {
    let old = crd.get("status");
    let requested = Names::of(crd.at("/spec/names").unwrap_or(&Value::Null));
    let accepted = old
        .and_then(|o| o.get("acceptedNames"))
        .map(Names::of)
        .unwrap_or_default();
    let mut names = accepted.clone();
    let mut problem: Option<(&str, String)> = None;
    let mut note = |reason: &'static str, r: Result<(), String>| -> bool {
        match r {
            Ok(()) => true,
            Err(m) => {
                problem = Some((reason, m));
                false
            }
        }
    };
    if note(
        "PluralConflict",
        fresh(&requested.plural, &accepted.plural, &taken.resources),
    ) {
        names.plural = requested.plural.clone();
    }
    if note(
        "SingularConflict",
        fresh(&requested.singular, &accepted.singular, &taken.resources),
    ) {
        names.singular = requested.singular.clone();
    }
    if requested.short_names != accepted.short_names {
        let errs: Vec<String> = requested
            .short_names
            .iter()
            .filter(|sn| !accepted.short_names.contains(sn))
            .filter_map(|sn| fresh(sn, "", &taken.resources).err())
            .collect();
        if note(
            "ShortNamesConflict",
            if errs.is_empty() {
                Ok(())
            } else if errs.len() == 1 {
                Err(errs[0].clone())
            } else {
                Err(format!("[{}]", errs.join(", ")))
            },
        ) {
            names.short_names = requested.short_names.clone();
        }
    }
    if note(
        "KindConflict",
        fresh(&requested.kind, &accepted.kind, &taken.kinds),
    ) {
        names.kind = requested.kind.clone();
    }
    if note(
        "ListKindConflict",
        fresh(&requested.list_kind, &accepted.list_kind, &taken.kinds),
    ) {
        names.list_kind = requested.list_kind.clone();
    }
    names.categories = requested.categories.clone();
    let (names_accepted, established) = match &problem {
        Some((reason, message)) => {
            let was = old
                .and_then(|o| o.get("conditions"))
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("type") == Some(&json!("Established")))
                })
                .filter(|c| c.get("status") == Some(&json!("True")))
                .is_some();
            let est = if was {
                condition(
                    old,
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    now,
                )
            } else {
                condition(
                    old,
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                    now,
                )
            };
            (
                condition(old, "NamesAccepted", "False", reason, message, now),
                est,
            )
        }
        None => (
            condition(
                old,
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                now,
            ),
            condition(
                old,
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                now,
            ),
        ),
    };
    let is_established = established.get("status") == Some(&json!("True"));
    let mut stored: Vec<String> = strs(old.and_then(|o| o.get("storedVersions")));
    if let Some(v) = storage_version(crd)
        && !stored.contains(&v)
    {
        stored.push(v);
    }
    let st = json!({
        "conditions": [names_accepted, established],
        "acceptedNames": names.to_json(),
        "storedVersions": stored,
    });
    (st, is_established)
}

/// The version marked `storage: true`.
pub fn storage_version(crd: &Value) -> Option<String> {
    crd.at("/spec/versions")
        .and_then(Value::as_array)?
        .iter()
        .find(|v| v.get("storage") == Some(&json!(true)))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .map(str::to_string)
}

/// Whether an established CRD's `status` says so.
pub fn is_established(crd: &Value) -> bool {
    crd.at("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type") == Some(&json!("Established"))
                    && c.get("status") == Some(&json!("True"))
            })
        })
}

/// One served version of a CRD: what its [`ResourceType`] and [`CustomType`] are made of.
#[derive(Clone, Debug, PartialEq)]
pub struct Served {
    pub group: String,
    pub version: String,
    /// The accepted names.
    pub names: Names,
    pub namespaced: bool,
    pub has_status: bool,
    pub custom: CustomType,
}

fn printer_column(c: &Value) -> PrinterColumn {
    PrinterColumn {
        name: s(c, "/name"),
        kind: s(c, "/type"),
        format: s(c, "/format"),
        description: s(c, "/description"),
        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
        json_path: s(c, "/jsonPath"),
    }
}

/// The AGE column a CRD without printer columns is served with (`serveDefaultColumnsIfEmpty`).
pub fn age_column() -> PrinterColumn {
    PrinterColumn {
        name: "Age".into(),
        kind: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata".into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }
}

/// The versions an established CRD serves, in the CRD's order, with its accepted names.
pub fn served_versions(crd: &Value) -> Vec<Served> {
    let names = Names::of(crd.at("/status/acceptedNames").unwrap_or(&Value::Null));
    let name = s(crd, "/metadata/name");
    let group = group_of(crd).to_string();
    let namespaced = s(crd, "/spec/scope") == "Namespaced";
    let versions = crd
        .at("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served") == Some(&json!(true)))
        .map(|v| {
            let mut columns: Vec<PrinterColumn> = v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .map(|cs| cs.iter().map(printer_column).collect())
                .unwrap_or_default();
            if columns.is_empty() {
                columns.push(age_column());
            }
            let scale = v
                .at("/subresources/scale")
                .filter(|s| s.is_object())
                .map(|sc| ScalePaths {
                    spec_replicas: s(sc, "/specReplicasPath"),
                    status_replicas: s(sc, "/statusReplicasPath"),
                    label_selector: Some(s(sc, "/labelSelectorPath")).filter(|p| !p.is_empty()),
                });
            Served {
                group: group.clone(),
                version: s(v, "/name"),
                names: names.clone(),
                namespaced,
                has_status: v.at("/subresources/status").is_some_and(Value::is_object),
                custom: CustomType {
                    crd: name.clone(),
                    columns,
                    scale,
                    schema: v.at("/schema/openAPIV3Schema").cloned(),
                    apply_schema: v
                        .at("/schema/openAPIV3Schema")
                        .map(crate::patch::intern_schema),
                    list_kind: names.list_kind.clone(),
                    storage: v.get("storage") == Some(&json!(true)),
                },
            }
        })
        .collect()
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leak_strs(v: &[String]) -> &'static [&'static str] {
    let v: Vec<&'static str> = v.iter().map(|s| leak_str(s)).collect();
    Box::leak(v.into_boxed_slice())
}

impl Served {
    /// The subresources served under an object of this type.
    pub fn subresources(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.custom.scale.is_some() {
            out.push("scale");
        }
        if self.has_status {
            out.push("status");
        }
        out
    }

    /// Whether `rt` is this type (so it can be served again without leaking another).
    pub fn is(&self, rt: &ResourceType) -> bool {
        rt.group == self.group
            && rt.version == self.version
            && rt.kind == self.names.kind
            && rt.plural == self.names.plural
            && rt.singular == self.names.singular
            && rt.namespaced == self.namespaced
            && rt.has_status == self.has_status
            && rt.subresources == self.subresources().as_slice()
            && rt.short_names.iter().eq(self.names.short_names.iter())
            && rt.categories.iter().eq(self.names.categories.iter())
    }

    /// This type as a `&'static ResourceType` (its strings leaked: a type lives as long as
    /// the process, which is fine for the few CRDs a sandbox serves).
    pub fn leak(&self) -> &'static ResourceType {
        let subs: Vec<&'static str> = self.subresources();
        Box::leak(Box::new(ResourceType {
            group: leak_str(&self.group),
            version: leak_str(&self.version),
            kind: leak_str(&self.names.kind),
            plural: leak_str(&self.names.plural),
            singular: leak_str(&self.names.singular),
            namespaced: self.namespaced,
            short_names: leak_strs(&self.names.short_names),
            subresources: Box::leak(subs.into_boxed_slice()),
            has_status: self.has_status,
            categories: leak_strs(&self.names.categories),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// JSONPath, as printer columns and scale paths use it.

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    /// `[?(@.a.b=="v")]` (or `!=`), or `[?(@.a)]` (exists).
    Filter {
        path: Vec<String>,
        op: Option<(bool, Value)>,
    },
}

fn parse_path(p: &str) -> Option<Vec<Step>> {
    let p = p.trim();
    let p = p
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let b: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            '.' => {
                i += 1;
                let mut name = String::new();
                while i < b.len() && b[i] != '.' && b[i] != '[' {
                    if b[i] == '\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    name.push(b[i]);
                    i += 1;
                }
                if name == "*" {
                    out.push(Step::All);
                } else if !name.is_empty() {
                    out.push(Step::Field(name));
                }
            }
            '[' => {
                let close = b[i..].iter().position(|c| *c == ']')? + i;
                // A filter may hold `]` only inside quotes; find the close after `)`.
                let inner: String = if b.get(i + 1) == Some(&'?') {
                    let end = b[i..]
                        .windows(2)
                        .position(|w| w == [')', ']'])
                        .map(|x| x + i + 1)?;
                    let s: String = b[i + 1..end].iter().collect();
                    i = end + 1;
                    s
                } else {
                    let s: String = b[i + 1..close].iter().collect();
                    i = close + 1;
                    s
                };
                let inner = inner.trim();
                if inner == "*" {
                    out.push(Step::All);
                } else if let Some(f) = inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')')) {
                    out.push(parse_filter(f.trim())?);
                } else if (inner.starts_with('\'') && inner.ends_with('\'')
                    || inner.starts_with('"') && inner.ends_with('"'))
                    && inner.len() >= 2
                {
                    out.push(Step::Field(inner[1..inner.len() - 1].to_string()));
                } else {
                    out.push(Step::Index(inner.parse().ok()?));
                }
            }
            c if c.is_whitespace() => i += 1,
            _ => return None,
        }
    }
    Some(out)
}

fn parse_filter(f: &str) -> Option<Step> {
    let (lhs, op) = if let Some((l, r)) = f.split_once("==") {
        (l.trim(), Some((true, r.trim())))
    } else if let Some((l, r)) = f.split_once("!=") {
        (l.trim(), Some((false, r.trim())))
    } else {
        (f, None)
    };
    let path: Vec<String> = lhs
        .strip_prefix('@')?
        .split('.')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect();
    let op = match op {
        None => None,
        Some((eq, r)) => {
            let v = if (r.starts_with('"') && r.ends_with('"')
                || r.starts_with('\'') && r.ends_with('\''))
                && r.len() >= 2
            {
                json!(r[1..r.len() - 1])
            } else {
                serde_json::from_str(r).unwrap_or_else(|_| json!(r))
            };
            Some((eq, v))
        }
    };
    Some(Step::Filter { path, op })
}

/// The values a JSONPath (`.status.replicas`, `{.a[0].b}`,
/// `.status.conditions[?(@.type=="Ready")].status`) finds in `obj`, in order.
pub fn find_all<'a>(obj: &'a Value, path: &str) -> Vec<&'a Value> {
    let Some(steps) = parse_path(path) else {
        return Vec::new();
    };
    let mut cur: Vec<&Value> = vec![obj];
    for st in &steps {
        let mut next = Vec::new();
        for v in cur {
            match st {
                Step::Field(f) => {
                    if let Some(x) = v.get(f.as_str()) {
                        next.push(x);
                    }
                }
                Step::Index(n) => {
                    if let Some(a) = v.as_array() {
                        let i = if *n < 0 { a.len() as i64 + n } else { *n };
                        if let Some(x) = usize::try_from(i).ok().and_then(|i| a.get(i)) {
                            next.push(x);
                        }
                    }
                }
                Step::All => match v {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter { path, op } => {
                    let Some(a) = v.as_array() else { continue };
                    for item in a {
                        let mut x = Some(item);
                        for f in path {
                            x = x.and_then(|x| x.get(f.as_str()));
                        }
                        let keep = match (x, op) {
                            (None, _) => false,
                            (Some(_), None) => true,
                            (Some(x), Some((eq, want))) => (x == want) == *eq,
                        };
                        if keep {
                            next.push(item);
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// The first value a JSONPath finds.
pub fn find<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    find_all(obj, path).into_iter().next()
}

/// A simple dotted path (`.spec.replicas`) as field names.
fn simple_fields(path: &str) -> Vec<&str> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|x| !x.is_empty())
        .collect()
}

/// Sets the value at a simple dotted path, making maps on the way.
pub fn set_path(obj: &mut Value, path: &str, v: Value) {
    let fields = simple_fields(path);
    let Some((last, parents)) = fields.split_last() else {
        return;
    };
    let mut cur = obj;
    for f in parents {
        if !cur.get(*f).is_some_and(Value::is_object) {
            if let Some(m) = cur.as_object_mut() {
                m.insert((*f).to_string(), Value::Object(Map::new()));
            } else {
                return;
            }
        }
        let Some(next) = cur.get_mut(*f) else {
            return;
        };
        cur = next;
    }
    if let Some(m) = cur.as_object_mut() {
        m.insert((*last).to_string(), v);
    }
}

// ---------------------------------------------------------------------------------------------
// The table convertor.

/// The Name column of a custom table.
pub fn name_column() -> Value {
    json!({
        "name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        "priority": 0,
    })
}

/// The column definitions of a custom type's table: Name, then its printer columns.
pub fn column_definitions(ct: &CustomType) -> Vec<Value> {
    std::iter::once(name_column())
        .chain(ct.columns.iter().map(|c| {
            json!({
                "name": c.name, "type": c.kind, "format": c.format,
                "description": c.description, "priority": c.priority,
            })
        }))
        .collect()
}

/// `cellForJSONValue`: a column's cell from the value its path found.
fn cell(ty: &str, v: &Value, now: DateTime<Utc>) -> Value {
    match ty {
        "string" => match v {
            Value::String(s) => json!(s),
            other => json!(go_value(other)),
        },
        "integer" => match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map_or(Value::Null, |i| json!(i)),
            _ => Value::Null,
        },
        "number" => match v {
            Value::Number(n) => n.as_f64().map_or(Value::Null, |f| json!(f)),
            _ => Value::Null,
        },
        "boolean" => match v {
            Value::Bool(b) => json!(b),
            _ => Value::Null,
        },
        "date" => match v {
            Value::String(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => json!(crate::printers::human_duration(now - t.with_timezone(&Utc))),
                Err(_) => json!("<invalid>"),
            },
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

/// The cells of a custom object's row: its name, then each printer column's value (null when
/// its path finds nothing), as the API server's custom table convertor makes them.
pub fn cells(ct: &CustomType, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = obj
        .at("/metadata/name")
        .cloned()
        .unwrap_or_else(|| json!(""));
    std::iter::once(name)
        .chain(ct.columns.iter().map(|c| match find(obj, &c.json_path) {
            None | Some(Value::Null) => Value::Null,
            Some(v) => cell(&c.kind, v, now),
        }))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The scale subresource.

/// The `autoscaling/v1` Scale of a custom object.
pub fn scale_of(obj: &Value, paths: &ScalePaths) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or(json!({}));
    let mut meta = json!({});
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = m.get(k) {
            meta[k] = v.clone();
        }
    }
    let replicas = |p: &str| {
        find(obj, p)
            .and_then(Value::as_i64)
            .map_or(json!(0), |n| json!(n))
    };
    let mut status = json!({"replicas": replicas(&paths.status_replicas)});
    if let Some(sel) = paths
        .label_selector
        .as_deref()
        .and_then(|p| find(obj, p))
        .and_then(Value::as_str)
    {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": replicas(&paths.spec_replicas)},
        "status": status,
    })
}

// ---------------------------------------------------------------------------------------------
// Pruning: the fields a structural schema does not declare.

/// Walks `v` against schema `node`; calls `unknown` with the path of each field the schema
/// does not declare (and, when pruning, removes it).
fn walk_unknown(
    node: &Value,
    v: &mut Value,
    path: &str,
    root: bool,
    prune: bool,
    out: &mut Vec<String>,
) {
    let preserve = node.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    let embedded = node.get("x-kubernetes-embedded-resource") == Some(&json!(true));
    match v {
        Value::Object(m) => {
            let props = node.get("properties").and_then(Value::as_object);
            let additional = node.get("additionalProperties");
            let mut doomed = Vec::new();
            for (k, child) in m.iter_mut() {
                if (root || embedded) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if let Some(s) = props.and_then(|ps| ps.get(k)) {
                    walk_unknown(s, child, &p, false, prune, out);
                } else if let Some(a) = additional.filter(|a| a.is_object()) {
                    walk_unknown(a, child, &p, false, prune, out);
                } else if preserve || additional == Some(&json!(true)) {
                    continue;
                } else {
                    out.push(p);
                    doomed.push(k.clone());
                }
            }
            if prune {
                for k in doomed {
                    m.remove(&k);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = node.get("items").filter(|i| i.is_object()) {
                for (i, it) in a.iter_mut().enumerate() {
                    walk_unknown(items, it, &format!("{path}[{i}]"), false, prune, out);
                }
            }
        }
        _ => {}
    }
}

/// The fields of a custom object its structural schema does not declare, as paths
/// (`spec.strategy.canary.stepz`), in document order; `apiVersion`, `kind` and `metadata` of
/// the object (and of embedded resources) are not checked.
pub fn unknown_fields(schema: &Value, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut v = obj.clone();
    walk_unknown(schema, &mut v, "", true, false, &mut out);
    out
}

/// Removes the fields the structural schema does not declare, as the API server prunes a
/// custom object before storing it.
pub fn prune(schema: &Value, obj: &mut Value) {
    let mut out = Vec::new();
    walk_unknown(schema, obj, "", true, true, &mut out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "rollouts.argoproj.io"},
            "spec": {
                "group": "argoproj.io", "scope": "Namespaced",
                "names": {"kind": "Rollout", "plural": "rollouts", "shortNames": ["ro"], "categories": ["all"]},
                "versions": [{
                    "name": "v1alpha1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.HPAReplicas", "labelSelectorPath": ".status.selector"}},
                    "additionalPrinterColumns": [
                        {"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
                        {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                }],
            },
        })
    }

    #[test]
    fn a_valid_crd_is_defaulted_and_passes() {
        let mut c = rollout_crd();
        prepare(&mut c);
        assert_eq!(c["spec"]["names"]["singular"], "rollout");
        assert_eq!(c["spec"]["names"]["listKind"], "RolloutList");
        assert_eq!(c["spec"]["conversion"]["strategy"], "None");
        assert_eq!(validate(&c), Vec::<(String, String)>::new());
    }

    #[test]
    fn invalid_crds_get_the_api_server_s_causes() {
        let mut c = rollout_crd();
        c["metadata"]["name"] = json!("rollout.argoproj.io");
        c["spec"]["scope"] = json!("Global");
        c["spec"]["group"] = json!("argoproj");
        c["spec"]["versions"][0]["storage"] = json!(false);
        c["spec"]["versions"][0]["additionalPrinterColumns"][0]["type"] = json!("int");
        c["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] =
            json!(".status.replicas");
        c["spec"]["names"]["shortNames"] = json!(["Ro"]);
        prepare(&mut c);
        let errs: Vec<String> = validate(&c)
            .into_iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect();
        let want = [
            "metadata.name: Invalid value: \"rollout.argoproj.io\": must be spec.names.plural+\".\"+spec.group",
            "spec.group: Invalid value: \"argoproj\": should be a domain with at least one dot",
            "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
            "spec.versions[0].subresources.scale.specReplicasPath: Invalid value: \".status.replicas\": should be a json path under .spec",
            "spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: \"int\": supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"",
            "spec.versions: Invalid value: []apiextensions.CustomResourceDefinitionVersion{{Name:\"v1alpha1\"}}: must have exactly one version marked as storage version",
        ];
        for w in want {
            assert!(errs.iter().any(|e| e == w), "missing {w}\n in {errs:#?}");
        }
        assert!(
            errs.iter().any(|e| e
                .starts_with("spec.names.shortNames[0]: Invalid value: \"Ro\": a DNS-1035 label")),
            "{errs:#?}"
        );
        let mut none = json!({"metadata": {"name": "x.y.z"}, "spec": {}});
        prepare(&mut none);
        let errs: Vec<String> = validate(&none)
            .into_iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect();
        for w in [
            "spec.group: Required value",
            "spec.scope: Required value",
            "spec.versions: Required value: must have exactly one version marked as storage version",
            "spec.names.plural: Required value",
            "spec.names.kind: Required value",
        ] {
            assert!(errs.iter().any(|e| e == w), "missing {w}\n in {errs:#?}");
        }
    }

    #[test]
    fn names_taken_by_another_crd_are_not_accepted() {
        let mut c = rollout_crd();
        prepare(&mut c);
        let (st, ok) = status(&c, &Taken::default(), "2026-01-01T00:00:00Z");
        assert!(ok);
        assert_eq!(st["conditions"][0]["type"], "NamesAccepted");
        assert_eq!(st["conditions"][0]["reason"], "NoConflicts");
        assert_eq!(st["conditions"][1]["type"], "Established");
        assert_eq!(st["conditions"][1]["status"], "True");
        assert_eq!(st["acceptedNames"]["shortNames"], json!(["ro"]));
        assert_eq!(st["storedVersions"], json!(["v1alpha1"]));
        let mut taken = Taken::default();
        taken.add(&Names {
            kind: "Rollout".into(),
            ..Names::default()
        });
        let (st, ok) = status(&c, &taken, "2026-01-01T00:00:00Z");
        assert!(!ok);
        assert_eq!(st["conditions"][0]["status"], "False");
        assert_eq!(st["conditions"][0]["reason"], "KindConflict");
        assert_eq!(
            st["conditions"][0]["message"],
            "\"Rollout\" is already in use"
        );
        assert_eq!(st["conditions"][1]["reason"], "NotAccepted");
        assert_eq!(st["acceptedNames"]["kind"], "");
    }

    #[test]
    fn json_paths_find_fields_items_and_filtered_items() {
        let o = json!({"spec": {"replicas": 3, "a.b": 1}, "status": {"conditions": [
            {"type": "Progressing", "status": "True"}, {"type": "Ready", "status": "False"}]}});
        assert_eq!(find(&o, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(find(&o, "{.spec.replicas}"), Some(&json!(3)));
        assert_eq!(
            find(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("False"))
        );
        assert_eq!(
            find(&o, ".status.conditions[-1].type"),
            Some(&json!("Ready"))
        );
        assert_eq!(find(&o, ".spec['a.b']"), Some(&json!(1)));
        assert_eq!(find(&o, ".spec.a\\.b"), Some(&json!(1)));
        assert_eq!(find_all(&o, ".status.conditions[*].type").len(), 2);
        assert_eq!(find(&o, ".status.missing"), None);
        assert_eq!(find(&o, "not a path"), None);
        let mut x = json!({});
        set_path(&mut x, ".spec.replicas", json!(4));
        assert_eq!(x, json!({"spec": {"replicas": 4}}));
    }

    #[test]
    fn unknown_fields_are_found_and_pruned_by_the_schema() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer"},
                "steps": {"type": "array", "items": {"type": "object", "properties": {"setWeight": {"type": "integer"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            }},
        }});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a", "odd": 1},
            "spec": {"replicas": 1, "replicaz": 2, "steps": [{"setWeight": 1, "pauze": {}}],
                "labels": {"a": "b"}, "free": {"anything": {"goes": true}}},
            "status": {"x": 1}});
        assert_eq!(
            unknown_fields(&schema, &obj),
            ["spec.replicaz", "spec.steps[0].pauze", "status"]
        );
        prune(&schema, &mut obj);
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a", "odd": 1},
                "spec": {"replicas": 1, "steps": [{"setWeight": 1}], "labels": {"a": "b"},
                    "free": {"anything": {"goes": true}}}})
        );
    }

    #[test]
    fn cells_follow_the_column_types() {
        let mut c = rollout_crd();
        prepare(&mut c);
        let (st, _) = status(&c, &Taken::default(), "2026-01-01T00:00:00Z");
        c["status"] = st;
        let served = served_versions(&c);
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].subresources(), ["scale", "status"]);
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let obj = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": 2.0}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let cells = cells(&served[0].custom, &obj, now);
        assert_eq!(
            cells,
            vec![json!("web"), json!(2), json!("True"), json!("10m")]
        );
        let bare = json!({"metadata": {"name": "x"}});
        assert_eq!(
            super::cells(&served[0].custom, &bare, now),
            vec![json!("x"), Value::Null, Value::Null, Value::Null]
        );
    }
}
