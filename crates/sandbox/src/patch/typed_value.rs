//! Operations on an object as a typed value (structured-merge-diff's `typed` package, simplified to
//! JSON and the `schema` table): merge, the field set, compare, remove and prune.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::field_set::{FieldSet, PathElement};
use super::schema::{KeyFields, ListType, Schema, Ty};
use super::values::{JsonMap, canonical_json, json_eq, json_string};

/// How a value is walked: a leaf (scalar, atomic list or atomic struct), a granular object, or a
/// granular list with one path element per item.
enum Shape<'a> {
    Leaf,
    Object(&'a JsonMap),
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
pub(super) fn ssa_merge(lhs: Option<&Value>, rhs: &Value, s: Schema) -> Value {
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

pub(super) fn field_set_of(v: &Value, s: Schema) -> FieldSet {
    let mut out = FieldSet::default();
    to_field_set(v, s, &mut Vec::new(), &mut out);
    out
}

#[derive(Default)]
pub(super) struct Comparison {
    pub(super) added: FieldSet,
    pub(super) modified: FieldSet,
    pub(super) removed: FieldSet,
}

impl Comparison {
    pub(super) fn exclude(self, ignored: &FieldSet) -> Comparison {
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

pub(super) fn compare_objects(l: &Value, r: &Value, s: Schema) -> Comparison {
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
            let mut out = JsonMap::new();
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
    remove_items(v, set, s).unwrap_or_else(|| Value::Object(JsonMap::new()))
}

/// `Updater.prune`: drop what the applier applied last time, no longer applies, and nobody else
/// (applier or updater) owns.
pub(super) fn prune(merged: &Value, all_managed: &FieldSet, last: &FieldSet, s: Schema) -> Value {
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
