//! Strategic merge patch (`application/strategic-merge-patch+json`), a port of the apply half of
//! `k8s.io/apimachinery/pkg/util/strategicpatch` (`mergeMap`, `mergeSlice`, the `$patch`,
//! `$retainKeys`, `$deleteFromPrimitiveList/` and `$setElementOrder/` directives, upstream's
//! ordering rules and error texts). Which lists merge, and by which key, comes from
//! `schema`.

use serde_json::Value;

use super::schema::{ListType, Ty};
use super::values::{JsonMap, json_eq};
use crate::go_format::{
    GO_MAP_TYPE, GO_SLICE_TYPE, go_map, go_slice, go_type, go_value, json_kind,
};

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
        _ => JsonMap::new(),
    };
    let merged = smp_merge_map(original, p, Ty::root(kind))?;
    *target = Value::Object(merged);
    Ok(())
}

/// `mergeMap`.
fn smp_merge_map(mut original: JsonMap, mut patch: JsonMap, ty: Ty) -> Result<JsonMap, String> {
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
fn handle_directive_in_merge_map(directive: &Value, mut patch: JsonMap) -> Result<JsonMap, String> {
    match directive.as_str() {
        Some(REPLACE_DIRECTIVE) => {
            patch.remove(DIRECTIVE_MARKER);
            match sanitize(Value::Object(patch)) {
                Value::Object(m) => Ok(m),
                _ => Ok(JsonMap::new()),
            }
        }
        Some(DELETE_DIRECTIVE) => Ok(JsonMap::new()),
        _ => Err(err_bad_patch_type(directive, &patch)),
    }
}

/// `applyRetainKeysDirective`: keys of the original that are not listed are cleared; every key
/// the patch sets must be listed.
fn apply_retain_keys_directive(original: &mut JsonMap, patch: &mut JsonMap) -> Result<(), String> {
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
fn merge_set_element_order(
    original: &mut JsonMap,
    patch: &mut JsonMap,
    ty: Ty,
) -> Result<(), String> {
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

fn err_no_merge_key(m: &JsonMap, key: &str) -> String {
    format!(
        "map: {} does not contain declared merge key: {key}",
        go_map(m)
    )
}

fn err_bad_arg_type(expected: &str, actual: &Value) -> String {
    format!("expected a {expected}, but received a {}", go_type(actual))
}

fn err_bad_patch_type(t: &Value, m: &JsonMap) -> String {
    let t = match t {
        Value::String(s) => s.clone(),
        other => format!("%!s({}={})", go_type(other), go_value(other)),
    };
    format!("unknown patch type: {t} in map: {}", go_map(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
