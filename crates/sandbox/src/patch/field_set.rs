//! Field paths and sets of them (`sigs.k8s.io/structured-merge-diff/fieldpath`), and their FieldsV1
//! encoding in `metadata.managedFields`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::values::{JsonMap, canonical_json};
use crate::go_format::{go_quote, go_value};

/// One step of a field path. Ordered like upstream: field names, then keys, values, indexes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum PathElement {
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
    pub(super) fn display(&self) -> String {
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

pub(super) fn path_string(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// A set of field paths (`fieldpath.Set`): `members` end here, `children` go deeper. A path
/// element can be both (a list item that is owned and whose fields are owned).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct FieldSet {
    pub(super) members: BTreeSet<PathElement>,
    pub(super) children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub(super) fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    pub(super) fn insert(&mut self, path: &[PathElement]) {
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

    pub(super) fn union(&self, o: &FieldSet) -> FieldSet {
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

    pub(super) fn intersection(&self, o: &FieldSet) -> FieldSet {
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
    pub(super) fn difference(&self, o: &FieldSet) -> FieldSet {
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
    pub(super) fn recursive_difference(&self, o: &FieldSet) -> FieldSet {
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
    pub(super) fn ensure_named_members(&self) -> FieldSet {
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
    pub(super) fn member_paths(&self) -> Vec<Vec<PathElement>> {
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
    pub(super) fn to_fields_v1(&self) -> Value {
        let mut pes: BTreeSet<&PathElement> = self.members.iter().collect();
        pes.extend(self.children.keys());
        let mut out = JsonMap::new();
        for pe in pes {
            let mut node = match self.children.get(pe) {
                Some(c) if !c.is_empty() => match c.to_fields_v1() {
                    Value::Object(m) => m,
                    _ => JsonMap::new(),
                },
                _ => JsonMap::new(),
            };
            if self.members.contains(pe) && !node.is_empty() {
                node.insert(".".to_string(), Value::Object(JsonMap::new()));
            }
            if self.members.contains(pe) || !node.is_empty() {
                out.insert(pe.encode(), Value::Object(node));
            }
        }
        Value::Object(out)
    }

    pub(super) fn from_fields_v1(v: &Value) -> Option<FieldSet> {
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
pub(super) fn strip_set() -> FieldSet {
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
pub(super) fn ignored_set() -> FieldSet {
    FieldSet::single(PathElement::Field("status".to_string()))
}
