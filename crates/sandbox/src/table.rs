//! Table responses: a list, one object or each watch event as a `meta.k8s.io/v1` Table (columns
//! and rows of cells, as [`crate::printers`] makes them), when the client asks for one with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` — what `kubectl get` prints from.
//!
//! Each row carries its object as `PartialObjectMetadata` (the default: kubectl reads the labels
//! and the namespace from it), the whole object (`includeObject=Object`) or nothing
//! (`includeObject=None`). In a watch, only the first event's table has column definitions, as the
//! API server sends them.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Value, json};

use crate::crd::{self, CustomType};
use crate::printers;
use crate::resources::ResourceType;

/// What a row carries of its object (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

/// A request for tables: the Table's group-version and what rows carry.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRequest {
    /// "meta.k8s.io/v1" or "meta.k8s.io/v1beta1".
    pub api_version: &'static str,
    pub include: Include,
    /// The custom type's columns, when the table is of a custom type.
    pub custom: Option<Arc<CustomType>>,
}

/// Whether the `Accept` header values ask for a Table in JSON before anything else they accept,
/// and what `includeObject` asks rows to carry.
pub fn requested<'a>(
    accept: impl IntoIterator<Item = &'a str>,
    include_object: Option<&str>,
) -> Option<TableRequest> {
    let include = match include_object {
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        _ => Include::Metadata,
    };
    for range in accept.into_iter().flat_map(|h| h.split(',')) {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let (mut as_, mut g, mut v) = ("", "", "");
        for p in parts {
            match p.split_once('=') {
                Some(("as", x)) => as_ = x,
                Some(("g", x)) => g = x,
                Some(("v", x)) => v = x,
                _ => {}
            }
        }
        let json_like = matches!(media, "application/json" | "application/*" | "*/*");
        if !json_like {
            continue;
        }
        match (as_, g, v) {
            ("", _, _) => return None,
            ("Table", "meta.k8s.io", "v1") => {
                return Some(TableRequest {
                    api_version: "meta.k8s.io/v1",
                    include,
                    custom: None,
                });
            }
            ("Table", "meta.k8s.io", "v1beta1") => {
                return Some(TableRequest {
                    api_version: "meta.k8s.io/v1beta1",
                    include,
                    custom: None,
                });
            }
            _ => {}
        }
    }
    None
}

impl TableRequest {
    /// This request for a custom type's table (its printer columns), or a built-in one's.
    pub fn with_custom(mut self, custom: Option<Arc<CustomType>>) -> TableRequest {
        self.custom = custom;
        self
    }
    /// The response's content type.
    pub fn content_type(&self) -> &'static str {
        if self.api_version.ends_with("v1beta1") {
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
        } else {
            "application/json;as=Table;v=v1;g=meta.k8s.io"
        }
    }

    /// A list as a Table; `metadata` is the list's (resourceVersion, continue…).
    pub fn list(&self, rt: &ResourceType, metadata: Value, items: &[Arc<Value>]) -> Vec<u8> {
        let t = Table {
            req: self,
            rt,
            metadata,
            columns: true,
            rows: Rows::Many(items),
            now: Utc::now(),
        };
        serde_json::to_vec(&t).unwrap_or_default()
    }

    /// One object as a Table of one row.
    pub fn single(&self, rt: &ResourceType, obj: &Value) -> Vec<u8> {
        serde_json::to_vec(&self.one(rt, obj, true)).unwrap_or_default()
    }

    fn one<'a>(&'a self, rt: &'a ResourceType, obj: &'a Value, columns: bool) -> Table<'a> {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null);
        let metadata = if rv.is_null() {
            json!({})
        } else {
            json!({"resourceVersion": rv})
        };
        Table {
            req: self,
            rt,
            metadata,
            columns,
            rows: Rows::One(obj),
            now: Utc::now(),
        }
    }

    /// A watch event whose object is a Table of one row; `first` is true for the watch's first
    /// event (the only one with column definitions) and is cleared.
    pub fn watch_line(
        &self,
        rt: &ResourceType,
        event: &str,
        obj: &Value,
        first: &mut bool,
    ) -> Bytes {
        #[derive(Serialize)]
        struct Line<'a> {
            #[serde(rename = "type")]
            kind: &'a str,
            object: Table<'a>,
        }
        let line = Line {
            kind: event,
            object: self.one(rt, obj, *first),
        };
        *first = false;
        let mut out = serde_json::to_vec(&line).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

enum Rows<'a> {
    Many(&'a [Arc<Value>]),
    One(&'a Value),
}

struct Table<'a> {
    req: &'a TableRequest,
    rt: &'a ResourceType,
    metadata: Value,
    columns: bool,
    rows: Rows<'a>,
    now: DateTime<Utc>,
}

impl Serialize for Table<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", "Table")?;
        m.serialize_entry("apiVersion", self.req.api_version)?;
        m.serialize_entry("metadata", &self.metadata)?;
        if self.columns
            && let Some(c) = &self.req.custom
        {
            m.serialize_entry("columnDefinitions", &crd::column_definitions(c))?;
        } else if self.columns {
            m.serialize_entry("columnDefinitions", &ColumnDefs(self.rt.kind))?;
        } else {
            m.serialize_entry("columnDefinitions", &Value::Null)?;
        }
        let rows = RowsOut(self);
        m.serialize_entry("rows", &rows)?;
        m.end()
    }
}

struct ColumnDefs(&'static str);

impl Serialize for ColumnDefs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let cols = printers::columns(self.0);
        let mut seq = s.serialize_seq(Some(cols.len()))?;
        for c in cols {
            seq.serialize_element(&json!({
                "name": c.name, "type": c.kind, "format": c.format,
                "description": c.description, "priority": c.priority,
            }))?;
        }
        seq.end()
    }
}

struct RowsOut<'a>(&'a Table<'a>);

impl Serialize for RowsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        match t.rows {
            Rows::Many(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for it in items {
                    seq.serialize_element(&Row { t, obj: it })?;
                }
                seq.end()
            }
            Rows::One(obj) => {
                let mut seq = s.serialize_seq(Some(1))?;
                seq.serialize_element(&Row { t, obj })?;
                seq.end()
            }
        }
    }
}

struct Row<'a> {
    t: &'a Table<'a>,
    obj: &'a Value,
}

impl Serialize for Row<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.t.rt.kind;
        let mut m = s.serialize_map(None)?;
        match &self.t.req.custom {
            Some(c) => m.serialize_entry("cells", &crd::cells(c, self.obj, self.t.now))?,
            None => m.serialize_entry("cells", &printers::cells(kind, self.obj, self.t.now))?,
        }
        if let Some(c) = printers::row_conditions(kind, self.obj) {
            m.serialize_entry("conditions", &c)?;
        }
        match self.t.req.include {
            Include::None => m.serialize_entry("object", &Value::Null)?,
            Include::Metadata => m.serialize_entry(
                "object",
                &Partial {
                    api_version: self.t.req.api_version,
                    obj: self.obj,
                },
            )?,
            Include::Object => m.serialize_entry(
                "object",
                &Whole {
                    rt: self.t.rt,
                    obj: self.obj,
                },
            )?,
        }
        m.end()
    }
}

/// The object's metadata as a `PartialObjectMetadata`.
struct Partial<'a> {
    api_version: &'static str,
    obj: &'a Value,
}

impl Serialize for Partial<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("kind", "PartialObjectMetadata")?;
        m.serialize_entry("apiVersion", self.api_version)?;
        match self.obj.get("metadata") {
            Some(meta) => m.serialize_entry("metadata", meta)?,
            None => m.serialize_entry("metadata", &json!({}))?,
        }
        m.end()
    }
}

/// The whole object, with its kind and apiVersion.
struct Whole<'a> {
    rt: &'a ResourceType,
    obj: &'a Value,
}

impl Serialize for Whole<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(fields) = self.obj.as_object() else {
            return self.obj.serialize(s);
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", self.rt.kind)?;
        m.serialize_entry("apiVersion", &self.rt.api_version())?;
        for (k, v) in fields {
            if k != "kind" && k != "apiVersion" {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_kind;

    const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    #[test]
    fn kubectl_get_asks_for_a_table_and_a_plain_client_does_not() {
        let t = requested([KUBECTL], None).unwrap();
        assert_eq!(t.api_version, "meta.k8s.io/v1");
        assert_eq!(t.include, Include::Metadata);
        assert_eq!(
            requested([KUBECTL], Some("Object")).unwrap().include,
            Include::Object
        );
        assert_eq!(
            requested(
                ["application/json;as=Table;v=v1beta1;g=meta.k8s.io"],
                Some("None")
            ),
            Some(TableRequest {
                api_version: "meta.k8s.io/v1beta1",
                include: Include::None,
                custom: None,
            })
        );
        assert_eq!(requested(["application/json"], None), None);
        assert_eq!(requested(Vec::<&str>::new(), None), None);
        assert_eq!(
            requested(
                ["application/json, application/json;as=Table;v=v1;g=meta.k8s.io"],
                None
            ),
            None,
            "plain JSON preferred"
        );
        assert_eq!(
            requested(
                ["application/json;as=Table;v=v9;g=meta.k8s.io,application/json"],
                None
            ),
            None
        );
        assert_eq!(
            requested(
                ["application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"],
                None
            ),
            None
        );
        assert!(requested([";;;,=,as=Table"], None).is_none());
    }

    fn pod(name: &str) -> Arc<Value> {
        Arc::new(json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "demo", "resourceVersion": "7",
                "labels": {"app": "web"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            "status": {"phase": "Pending"},
        }))
    }

    #[test]
    fn a_list_becomes_a_table_with_its_list_metadata() {
        let t = requested([KUBECTL], None).unwrap();
        let rt = by_kind("Pod");
        let body = t.list(
            rt,
            json!({"resourceVersion": "9", "continue": "abc"}),
            &[pod("a"), pod("b")],
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "Table");
        assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(v["metadata"]["continue"], "abc");
        let names: Vec<&str> = v["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(v["columnDefinitions"][0]["format"], "name");
        assert_eq!(v["columnDefinitions"][5]["priority"], 1);
        assert_eq!(v["rows"].as_array().unwrap().len(), 2);
        assert_eq!(v["rows"][1]["cells"][0], "b");
        assert_eq!(v["rows"][1]["cells"][2], "Pending");
        assert_eq!(v["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(v["rows"][0]["object"]["metadata"]["labels"]["app"], "web");
        assert!(v["rows"][0]["object"].get("spec").is_none());

        let whole = TableRequest {
            include: Include::Object,
            ..t.clone()
        };
        let v: Value = serde_json::from_slice(&whole.single(rt, &pod("c"))).unwrap();
        assert_eq!(v["metadata"]["resourceVersion"], "7");
        assert_eq!(v["rows"][0]["object"]["kind"], "Pod");
        assert_eq!(
            v["rows"][0]["object"]["spec"]["containers"][0]["name"],
            "web"
        );
        let none = TableRequest {
            include: Include::None,
            ..t.clone()
        };
        let v: Value = serde_json::from_slice(&none.single(rt, &pod("c"))).unwrap();
        assert!(v["rows"][0]["object"].is_null());
    }

    #[test]
    fn only_a_watch_s_first_table_has_columns() {
        let t = requested([KUBECTL], None).unwrap();
        let rt = by_kind("Deployment");
        let mut first = true;
        let obj = json!({"metadata": {"name": "web"}});
        let a: Value =
            serde_json::from_slice(&t.watch_line(rt, "ADDED", &obj, &mut first)).unwrap();
        let b: Value =
            serde_json::from_slice(&t.watch_line(rt, "MODIFIED", &obj, &mut first)).unwrap();
        assert_eq!(a["type"], "ADDED");
        assert_eq!(a["object"]["columnDefinitions"][1]["name"], "Ready");
        assert_eq!(a["object"]["rows"][0]["cells"][1], "0/1");
        assert_eq!(b["type"], "MODIFIED");
        assert!(b["object"]["columnDefinitions"].is_null());
        assert_eq!(b["object"]["rows"][0]["cells"][0], "web");
        // Odd objects make rows too.
        let odd: Value =
            serde_json::from_slice(&t.watch_line(rt, "ADDED", &json!([1]), &mut first)).unwrap();
        assert_eq!(odd["object"]["rows"][0]["cells"][0], "");
    }
}
