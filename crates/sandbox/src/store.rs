//! The object store: every object as JSON, one resourceVersion counter, and a history of changes that
//! watches read from.
//!
//! Writes follow the API server's rules: names are validated, namespaces must exist, `resourceVersion`
//! preconditions give 409, the main resource ignores `status` and the `status` subresource ignores everything
//! else, `generation` moves only when the spec does, an update that changes nothing writes nothing, and a
//! delete honours finalizers, graceful pod termination and owner-reference cascading.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};

use super::crd::{self, CustomType, Served, Taken};
use super::defaults;
use super::error::ApiError;
use super::object::{Key, meta, metadata_mut, name_of, namespace_of, resource_version_of, uid_of};
use super::resources::{RESOURCES, ResourceType, by_kind};
use super::validation::{
    dns1123_label_error, dns1123_subdomain_error, is_dns1123_label, is_dns1123_subdomain,
};

/// The most changes the history keeps, whatever their size; a watch from an older
/// resourceVersion gets 410 Gone.
pub const HISTORY: usize = 20_000;

/// Bytes of encoded changes the history keeps by default (64 MiB): the oldest go first.
pub const HISTORY_BYTES: usize = 64 << 20;

/// How many of the newest changes are kept as objects as well as encoded, for the controllers and
/// watchers that read them as they happen; older ones are kept encoded only, and decoded again
/// when a watch reads that far back.
pub const HOT: usize = 512;

/// What a kept change costs beyond its bytes (the `Change` itself, its names, the deque's slot).
const CHANGE_OVERHEAD: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One write, as watches see it.
///
/// The newest changes hold the object (and the one it replaced) as values, shared with the store;
/// older ones hold only the encoded watch line and the old object's JSON, and decode them on
/// demand ([`Change::object`], [`Change::old`]).
#[derive(Debug)]
pub struct Change {
    pub resource_version: u64,
    pub event: EventType,
    pub resource: &'static ResourceType,
    pub namespace: String,
    pub name: String,
    /// The object after the write (for a delete: as it was, with the delete's resourceVersion).
    object: OnceLock<Arc<Value>>,
    /// The object before the write, for modifications; watches with selectors need it.
    old: OnceLock<Option<Arc<Value>>>,
    /// The watch line of this change as its own event type, encoded once.
    encoded: OnceLock<Bytes>,
    /// The old object as JSON, for a change kept encoded only.
    old_encoded: Option<Bytes>,
    /// Kept encoded only (the values are decoded on demand).
    cold: bool,
}

/// `{"type":"KIND","object":` — what a watch line starts with.
fn line_prefix(kind: &str) -> usize {
    r#"{"type":"","object":"#.len() + kind.len()
}

/// A watch line, `{"type":KIND,"object":OBJECT}` and a newline, around an object's JSON.
pub fn watch_line_around(kind: &str, object_json: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(line_prefix(kind) + object_json.len() + 2);
    line.extend_from_slice(br#"{"type":""#);
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(br#"","object":"#);
    line.extend_from_slice(object_json);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// A watch line of `kind` for an object: encoded from the borrowed value (no copy).
pub fn watch_line(kind: &str, obj: &Value) -> Bytes {
    let mut line = Vec::with_capacity(1024);
    line.extend_from_slice(br#"{"type":""#);
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(br#"","object":"#);
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut line, obj);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn decode(json: &[u8]) -> Arc<Value> {
    Arc::new(serde_json::from_slice(json).unwrap_or(Value::Null))
}

impl Change {
    fn hot(
        resource_version: u64,
        event: EventType,
        resource: &'static ResourceType,
        namespace: String,
        name: String,
        object: Arc<Value>,
        old: Option<Arc<Value>>,
    ) -> Change {
        Change {
            resource_version,
            event,
            resource,
            namespace,
            name,
            object: OnceLock::from(object),
            old: OnceLock::from(old),
            encoded: OnceLock::new(),
            old_encoded: None,
            cold: false,
        }
    }

    /// The object after the write (for a delete: as it was, with the delete's resourceVersion).
    pub fn object(&self) -> &Arc<Value> {
        self.object.get_or_init(|| decode(self.object_json()))
    }

    /// The object before the write, for modifications.
    pub fn old(&self) -> Option<&Arc<Value>> {
        self.old
            .get_or_init(|| self.old_encoded.as_deref().map(decode))
            .as_ref()
    }

    /// The watch line of this change as its own event type, encoded once and shared.
    pub fn line(&self) -> &Bytes {
        self.encoded.get_or_init(|| {
            let obj = self.object.get().map_or(&Value::Null, |o| &**o);
            watch_line(self.event.as_str(), obj)
        })
    }

    /// The watch line of this change as event `kind` (a watch with a selector may see a
    /// modification as ADDED or DELETED).
    pub fn line_as(&self, kind: &str) -> Bytes {
        if kind == self.event.as_str() {
            self.line().clone()
        } else {
            watch_line_around(kind, self.object_json())
        }
    }

    /// The object's JSON, inside the encoded line.
    fn object_json(&self) -> &[u8] {
        let line = self.line();
        let start = line_prefix(self.event.as_str());
        line.get(start..line.len().saturating_sub(2))
            .unwrap_or(b"null")
    }

    /// Bytes this change holds when kept encoded only.
    fn cost(&self) -> usize {
        CHANGE_OVERHEAD
            + self.namespace.len()
            + self.name.len()
            + self.encoded.get().map_or(0, Bytes::len)
            + self.old_encoded.as_ref().map_or(0, Bytes::len)
    }
}
/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Everything but `status` (for types with a status subresource).
    Main,
    /// Only `status`.
    Status,
    /// Everything, status included: controllers and fixtures.
    All,
}

/// What a delete asks for.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// "Background", "Foreground" or "Orphan"; `None` is the type's default.
    pub propagation: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

struct Inner {
    rv: u64,
    objects: Vec<BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Change>>,
    /// The most changes kept, and the most bytes the encoded ones may hold.
    history_limit: usize,
    history_bytes: usize,
    /// Bytes held by the changes kept encoded only.
    cold_bytes: usize,
    /// The newest resourceVersion dropped from the history (0: none yet): a watch from before it
    /// gets 410 Gone.
    dropped: u64,
    /// Per object, the JSON of its newest version among the changes kept encoded, and that
    /// change's resourceVersion: the next change's old object shares these bytes.
    cold_latest: HashMap<(usize, Key), (u64, Bytes)>,
    cluster_ip: u32,
    /// Owner uid → the objects whose ownerReferences name it: the garbage collector's graph.
    owned: HashMap<String, BTreeSet<(usize, Key)>>,
    /// Custom types this store has held objects of, in slot order after [`RESOURCES`]: a type
    /// keeps its slot (and its `&'static` self) when its CRD goes and comes back unchanged.
    extra: Vec<&'static ResourceType>,
    /// The custom types served now, in the order their CRDs were established.
    served: Vec<(&'static ResourceType, Arc<CustomType>)>,
}

/// The objects of a type this store has never held.
static EMPTY: BTreeMap<Key, Arc<Value>> = BTreeMap::new();

fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

impl Inner {
    /// The slot of `rt` in `objects`, if this store has one for it.
    fn slot(&self, rt: &ResourceType) -> Option<usize> {
        if let Some(i) = RESOURCES.iter().position(|r| std::ptr::eq(r, rt)) {
            return Some(i);
        }
        self.extra
            .iter()
            .position(|r| std::ptr::eq(*r, rt))
            .map(|i| RESOURCES.len() + i)
    }

    /// The slot of `rt`, made if it has none.
    fn ensure_slot(&mut self, rt: &'static ResourceType) -> usize {
        if let Some(i) = self.slot(rt) {
            return i;
        }
        self.extra.push(rt);
        self.objects.push(BTreeMap::new());
        self.objects.len() - 1
    }

    /// The type in slot `i`.
    fn type_at(&self, i: usize) -> &'static ResourceType {
        match RESOURCES.get(i) {
            Some(r) => r,
            None => self.extra[i - RESOURCES.len()],
        }
    }

    /// The objects of `rt` (none for a type this store has never held).
    fn map(&self, rt: &ResourceType) -> &BTreeMap<Key, Arc<Value>> {
        self.slot(rt).map_or(&EMPTY, |i| &self.objects[i])
    }

    /// Every type with a slot: the built-in ones, then the custom ones.
    fn all_types(&self) -> impl Iterator<Item = &'static ResourceType> + '_ {
        RESOURCES.iter().chain(self.extra.iter().copied())
    }

    /// The custom type served at this apiVersion and kind.
    fn served_by_api_version_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<&'static ResourceType> {
        self.served
            .iter()
            .map(|(r, _)| *r)
            .find(|r| r.kind == kind && r.api_version() == api_version)
    }

    /// A custom object loses the fields its CRD's structural schema does not declare, as the
    /// API server prunes them before storing (whoever writes: clients, controllers, fixtures).
    fn prune_custom(&self, rt: &ResourceType, obj: &mut Value) {
        if rt.is_builtin() {
            return;
        }
        if let Some((_, c)) = self.served.iter().find(|(r, _)| std::ptr::eq(*r, rt))
            && let Some(schema) = &c.schema
        {
            crd::prune(schema, obj);
        }
    }

    fn is_served(&self, rt: &ResourceType) -> bool {
        rt.is_builtin() || self.served.iter().any(|(r, _)| std::ptr::eq(*r, rt))
    }

    fn unlink(&mut self, idx: usize, k: &Key, obj: &Value) {
        for uid in owner_uids(obj) {
            if let Some(set) = self.owned.get_mut(uid) {
                set.remove(&(idx, k.clone()));
                if set.is_empty() {
                    self.owned.remove(uid);
                }
            }
        }
    }

    fn link(&mut self, idx: usize, k: &Key, obj: &Value) {
        for uid in owner_uids(obj) {
            self.owned
                .entry(uid.to_string())
                .or_default()
                .insert((idx, k.clone()));
        }
    }
}

/// The store. Cheap to share; every method takes `&self`.
pub struct Store {
    inner: Mutex<Inner>,
    notify: tokio::sync::watch::Sender<u64>,
}

fn key(ns: &str, name: &str) -> Key {
    (ns.to_string(), name.to_string())
}

/// `2026-11-23T13:45:00Z`, as Kubernetes writes metav1.Time.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2026-11-23T13:45:00.123456Z`, as Kubernetes writes metav1.MicroTime.
pub fn now_micro() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A random UUID (version 4).
pub fn uuid() -> String {
    let a = fastrand::u128(..);
    let b = (a & !(0xf000 << 64) & !(0xc000 << 48)) | (0x4000 << 64) | (0x8000 << 48);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Random suffix characters as apimachinery uses them (no vowels, no confusable digits).
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// Whether this kind carries `metadata.generation`.
fn has_generation(rt: &ResourceType) -> bool {
    !rt.is_builtin()
        || matches!(
            rt.kind,
            "Deployment"
                | "ReplicaSet"
                | "Job"
                | "CronJob"
                | "Pod"
                | "Ingress"
                | "Service"
                | "CustomResourceDefinition"
        )
}

/// Whether `rt` is the CustomResourceDefinition type.
fn is_crd(rt: &ResourceType) -> bool {
    rt.kind == "CustomResourceDefinition" && rt.group == "apiextensions.k8s.io"
}

/// What moves `generation`: the object minus `metadata` and `status`, or, for a custom type
/// without a status subresource, minus `metadata` only (its status is an ordinary field).
fn generation_part(rt: &ResourceType, obj: &Value) -> Value {
    if rt.is_builtin() || rt.has_status {
        return spec_part(obj);
    }
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("kind");
        m.remove("apiVersion");
    }
    v
}

/// An object minus `metadata` and `status`: what moves `generation`.
fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("kind");
        m.remove("apiVersion");
    }
    v
}

/// Which names a kind accepts, and what an invalid one is told.
fn name_rule(rt: &ResourceType) -> (fn(&str) -> Vec<String>, String) {
    match rt.kind {
        "Namespace" | "Service" => (is_dns1123_label, dns1123_label_error()),
        _ => (is_dns1123_subdomain, dns1123_subdomain_error()),
    }
}

impl Store {
    pub fn new() -> Arc<Store> {
        Store::with_history(HISTORY)
    }

    /// A store that keeps `limit` changes for watches (at least 1), within [`HISTORY_BYTES`].
    pub fn with_history(limit: usize) -> Arc<Store> {
        Store::with_history_bytes(limit, HISTORY_BYTES)
    }

    /// A store that keeps at most `limit` changes for watches, and of those older than the
    /// newest [`HOT`] (kept as objects too), as many as fit in `bytes` of encoded JSON: the
    /// oldest are dropped first.
    pub fn with_history_bytes(limit: usize, bytes: usize) -> Arc<Store> {
        let (notify, _) = tokio::sync::watch::channel(0);
        Arc::new(Store {
            inner: Mutex::new(Inner {
                rv: 1000,
                objects: RESOURCES.iter().map(|_| BTreeMap::new()).collect(),
                history: VecDeque::new(),
                history_limit: limit.max(1),
                history_bytes: bytes,
                cold_bytes: 0,
                dropped: 0,
                cold_latest: HashMap::new(),
                cluster_ip: 10,
                owned: HashMap::new(),
                extra: Vec::new(),
                served: Vec::new(),
            }),
            notify,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// A receiver that changes whenever anything is written; its value is the newest resourceVersion.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Changes after `rv` of type `rt` in namespace `ns` (all namespaces for `None`), at most `max`, and
    /// the resourceVersion they run up to. `Err` with 410 Gone when `rv` is older than the history.
    pub fn changes_since(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        rv: u64,
        max: usize,
    ) -> Result<(Vec<Arc<Change>>, u64), ApiError> {
        let inner = self.lock();
        if rv < inner.dropped {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                inner.dropped
            )));
        }
        let start = inner.history.partition_point(|c| c.resource_version <= rv);
        let mut out = Vec::new();
        let mut upto = inner.rv.max(rv);
        for c in inner.history.range(start..) {
            if out.len() >= max {
                upto = c.resource_version - 1;
                break;
            }
            if std::ptr::eq(c.resource, rt) && ns.is_none_or(|n| n == c.namespace) {
                out.push(c.clone());
            }
        }
        Ok((out, upto))
    }

    fn commit(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        event: EventType,
        mut obj: Value,
        old: Option<Arc<Value>>,
    ) -> Arc<Value> {
        inner.rv += 1;
        let rv = inner.rv;
        metadata_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let ns = namespace_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        let obj = Arc::new(obj);
        let idx = inner.ensure_slot(rt);
        let k = key(&ns, &name);
        let previous = match event {
            EventType::Deleted => inner.objects[idx].remove(&k),
            _ => inner.objects[idx].insert(k.clone(), obj.clone()),
        };
        if let Some(p) = previous {
            inner.unlink(idx, &k, &p);
        }
        if event != EventType::Deleted {
            inner.link(idx, &k, &obj);
        }
        inner.history.push_back(Arc::new(Change::hot(
            rv,
            event,
            rt,
            ns,
            name,
            obj.clone(),
            old,
        )));
        Store::trim_history(inner);
        self.notify.send_replace(rv);
        if is_crd(rt) {
            match event {
                EventType::Deleted => self.drop_crd(inner, name_of(&obj)),
                _ => serve_crd(inner, &obj),
            }
        }
        obj
    }

    /// A CRD is gone: its objects are deleted (in every version it served) and its types are
    /// no longer served.
    fn drop_crd(&self, inner: &mut Inner, crd_name: &str) {
        let types: Vec<&'static ResourceType> = inner
            .served
            .iter()
            .filter(|(_, c)| c.crd == crd_name)
            .map(|(r, _)| *r)
            .collect();
        for rt in &types {
            let doomed: Vec<Arc<Value>> = inner.map(rt).values().cloned().collect();
            for d in doomed {
                self.remove(inner, rt, d);
            }
        }
        inner.served.retain(|(_, c)| c.crd != crd_name);
    }

    /// Keeps the history within its bounds: the change that leaves the newest [`HOT`] is kept
    /// encoded only, and the oldest go while there are too many or their bytes exceed the limit.
    fn trim_history(inner: &mut Inner) {
        let hot = HOT.min(inner.history_limit);
        if inner.history.len() > hot {
            let i = inner.history.len() - hot - 1;
            if !inner.history[i].cold {
                let c = inner.history[i].clone();
                let cold = Store::cool(inner, &c);
                inner.cold_bytes += cold.cost();
                inner.history[i] = Arc::new(cold);
            }
        }
        while inner.history.len() > inner.history_limit
            || (inner.cold_bytes > inner.history_bytes
                && inner.history.front().is_some_and(|c| c.cold))
        {
            let Some(c) = inner.history.pop_front() else {
                break;
            };
            if c.cold {
                inner.cold_bytes = inner.cold_bytes.saturating_sub(c.cost());
                let k = (
                    inner.slot(c.resource).unwrap_or(usize::MAX),
                    key(&c.namespace, &c.name),
                );
                if inner
                    .cold_latest
                    .get(&k)
                    .is_some_and(|(rv, _)| *rv == c.resource_version)
                {
                    inner.cold_latest.remove(&k);
                }
            }
            inner.dropped = c.resource_version;
        }
    }

    /// The change `c` kept encoded only: its watch line (the one watchers already sent, if any)
    /// and its old object's JSON, shared with the change that wrote that version when it can be.
    fn cool(inner: &mut Inner, c: &Change) -> Change {
        let line = c.line().clone();
        let k = (
            inner.slot(c.resource).unwrap_or(usize::MAX),
            key(&c.namespace, &c.name),
        );
        let old_encoded = c.old().map(|o| {
            let rv = resource_version_of(o);
            match inner.cold_latest.get(&k) {
                Some((at, json)) if rv.parse() == Ok(*at) => json.clone(),
                _ => Bytes::from(serde_json::to_vec(&**o).unwrap_or_default()),
            }
        });
        let start = line_prefix(c.event.as_str());
        let object_json = line.slice(start..line.len().saturating_sub(2).max(start));
        match c.event {
            EventType::Deleted => {
                inner.cold_latest.remove(&k);
            }
            _ => {
                inner
                    .cold_latest
                    .insert(k, (c.resource_version, object_json));
            }
        }
        Change {
            resource_version: c.resource_version,
            event: c.event,
            resource: c.resource,
            namespace: c.namespace.clone(),
            name: c.name.clone(),
            object: OnceLock::new(),
            old: OnceLock::new(),
            encoded: OnceLock::from(line),
            old_encoded,
            cold: true,
        }
    }

    /// How many changes the history keeps, and the bytes of those kept encoded only.
    pub fn history_size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.history.len(), inner.cold_bytes)
    }

    /// `GET` one object.
    pub fn get(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        let inner = self.lock();
        inner
            .map(rt)
            .get(&key(if rt.namespaced { ns } else { "" }, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(rt, name))
    }

    /// Every object of a type in a namespace (all for `None`), in key order, that `keep` accepts, and the
    /// resourceVersion of the snapshot.
    pub fn list(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        keep: &dyn Fn(&Value) -> bool,
    ) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let map = inner.map(rt);
        let items = match ns.filter(|_| rt.namespaced) {
            Some(ns) => map
                .range(key(ns, "")..)
                .take_while(|((n, _), _)| n == ns)
                .filter(|(_, v)| keep(v))
                .map(|(_, v)| v.clone())
                .collect(),
            None => map.values().filter(|v| keep(v)).cloned().collect(),
        };
        (items, inner.rv)
    }

    /// A page of a list: objects after `after` (a `namespace/name` key), at most `limit`; returns the
    /// items, the snapshot's resourceVersion and how many matching items remain after the page.
    pub fn list_page(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
        keep: &dyn Fn(&Value) -> bool,
    ) -> (Vec<Arc<Value>>, u64, usize) {
        let inner = self.lock();
        let map = inner.map(rt);
        let ns = ns.filter(|_| rt.namespaced);
        let in_ns = |k: &Key| ns.is_none_or(|n| k.0 == n);
        let start = match (after, ns) {
            (Some((a, b)), _) => std::ops::Bound::Excluded(key(a, b)),
            (None, Some(n)) => std::ops::Bound::Included(key(n, "")),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut remaining = 0;
        for (k, v) in map.range((start, std::ops::Bound::Unbounded)) {
            if !in_ns(k) {
                if ns.is_some() {
                    break;
                }
                continue;
            }
            if !keep(v) {
                continue;
            }
            if items.len() < limit {
                items.push(v.clone());
            } else {
                remaining += 1;
            }
        }
        (items, inner.rv, remaining)
    }

    /// `POST`: create an object. `ns` is the request's namespace ("" for cluster-scoped types).
    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not an object",
            ));
        }
        self.check_kind(rt, &obj)?;
        let mut inner = self.lock();
        if !inner.is_served(rt) {
            return Err(ApiError::path_not_found());
        }
        {
            let m = metadata_mut(&mut obj);
            if rt.namespaced {
                match m.get("namespace").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() && n != ns => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ));
                    }
                    _ => {
                        m.insert("namespace".into(), json!(ns));
                    }
                }
            } else {
                m.remove("namespace");
            }
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                match m.get("generateName").and_then(Value::as_str) {
                    Some(g) if !g.is_empty() => {
                        let name = format!("{g}{}", random_suffix(5));
                        m.insert("name".into(), json!(name));
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            rt,
                            "",
                            vec![(
                                "metadata.name".into(),
                                "Required value: name or generateName is required".into(),
                            )],
                        ));
                    }
                }
            }
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.insert("uid".into(), json!(uuid()));
            m.insert("creationTimestamp".into(), json!(now()));
            if has_generation(rt) {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        let name = name_of(&obj).to_string();
        let (check, rule) = name_rule(rt);
        if !check(&name).is_empty() {
            return Err(ApiError::invalid(
                rt,
                &name,
                vec![(
                    "metadata.name".into(),
                    format!("Invalid value: \"{name}\": {rule}"),
                )],
            ));
        }
        if rt.namespaced {
            let nsrt = by_kind("Namespace");
            match inner.map(nsrt).get(&key("", ns)) {
                None => return Err(ApiError::not_found(nsrt, ns)),
                Some(n) if n.pointer("/status/phase") == Some(&json!("Terminating")) => {
                    return Err(ApiError::forbidden(format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        rt.plural
                    )));
                }
                _ => {}
            }
        }
        let map_ns = if rt.namespaced { ns } else { "" };
        if inner.map(rt).contains_key(&key(map_ns, &name)) {
            return Err(ApiError::already_exists(rt, &name));
        }
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), json!(rt.api_version()));
            o.insert("kind".into(), json!(rt.kind));
        }
        defaults::prepare_for_create(rt, &mut obj);
        if !rt.is_builtin()
            && rt.has_status
            && let Some(o) = obj.as_object_mut()
        {
            // Create cannot set the status of a type with a status subresource.
            o.remove("status");
        }
        inner.prune_custom(rt, &mut obj);
        if rt.kind == "Service" {
            defaults::allocate_cluster_ip(&mut obj, &mut inner.cluster_ip);
        }
        let mut errors = defaults::validate(rt, &obj);
        if is_crd(rt) {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
            crd::prepare(&mut obj);
            errors.extend(crd::validate(&obj));
            let mut finalizers: Vec<Value> = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !finalizers.contains(&json!(crd::CLEANUP_FINALIZER)) {
                finalizers.push(json!(crd::CLEANUP_FINALIZER));
            }
            metadata_mut(&mut obj).insert("finalizers".into(), json!(finalizers));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(rt, &name, errors));
        }
        // The sandbox holds at most MAX_PODS pods, as a quota would: a replica count of two
        // billion (which the API admits) fills the store up to there and no further, instead of
        // taking the process's memory. Controllers record the refusal as FailedCreate.
        if rt.kind == "Pod" && rt.group.is_empty() && inner.map(rt).len() >= MAX_PODS {
            return Err(ApiError::forbidden(format!(
                "pods \"{name}\" is forbidden: exceeded quota: sandbox-pods, requested: pods=1, used: pods={MAX_PODS}, limited: pods={MAX_PODS}"
            )));
        }
        if rt.kind == "Pod"
            && rt.group.is_empty()
            && let Some(n) = inner.map(by_kind("Namespace")).get(&key("", ns))
            && let Some(refusal) = crate::pod_security::refuse(n, &name, &obj)
        {
            // The PodSecurity admission plugin, after validation as validating admission runs.
            return Err(refusal);
        }
        if is_crd(rt) {
            let (st, _) = crd::status(&obj, &taken_names(&inner, &obj), &now());
            obj["status"] = st;
        }
        if dry_run {
            return Ok(Arc::new(obj));
        }
        Ok(self.commit(&mut inner, rt, EventType::Added, obj, None))
    }

    /// Create an object as a fixture or controller does: status kept as given.
    pub fn create_with_status(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        obj: Value,
    ) -> Result<Arc<Value>, ApiError> {
        let status = obj.get("status").cloned();
        let created = self.create(rt, ns, obj, false)?;
        match status {
            Some(s) if created.get("status") != Some(&s) => {
                let ns = namespace_of(&created).to_string();
                let name = name_of(&created).to_string();
                self.modify(rt, &ns, &name, Part::All, |o| {
                    o["status"] = s;
                    Ok(())
                })
            }
            _ => Ok(created),
        }
    }

    fn check_kind(&self, rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
        if let Some(k) = obj.get("kind").and_then(Value::as_str)
            && !k.is_empty()
            && k != rt.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind of the object ({k}) does not match the kind of the request ({})",
                rt.kind
            )));
        }
        if !rt.is_builtin()
            && let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
            && !av.is_empty()
            && av != rt.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
        Ok(())
    }

    /// The type served at `group`/`version`/`plural`: a built-in one or one of this store's
    /// custom types.
    pub fn find_type(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<&'static ResourceType> {
        if let Some(r) = super::resources::find(group, version, plural) {
            return Some(r);
        }
        self.lock()
            .served
            .iter()
            .map(|(r, _)| *r)
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The type with this apiVersion and kind, as a manifest names it: built-in or served here.
    pub fn find_api_version_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<&'static ResourceType> {
        if let Some(r) = super::resources::find_api_version_kind(api_version, kind) {
            return Some(r);
        }
        self.lock().served_by_api_version_kind(api_version, kind)
    }

    /// Every type served now: the built-in ones, then the custom ones.
    pub fn served_types(&self) -> Vec<&'static ResourceType> {
        let inner = self.lock();
        RESOURCES
            .iter()
            .chain(inner.served.iter().map(|(r, _)| *r))
            .collect()
    }

    /// What this store knows of a served custom type (`None` for built-in types and for types
    /// not served here).
    pub fn custom(&self, rt: &ResourceType) -> Option<Arc<CustomType>> {
        self.lock()
            .served
            .iter()
            .find(|(r, _)| std::ptr::eq(*r, rt))
            .map(|(_, c)| c.clone())
    }

    /// `PUT`: replace an object (or its status). A non-empty `metadata.resourceVersion` must match.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        part: Part,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not an object",
            ));
        }
        self.check_kind(rt, &obj)?;
        if name_of(&obj) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&obj)
            )));
        }
        let want_rv = resource_version_of(&obj).to_string();
        let mut inner = self.lock();
        let ns = if rt.namespaced { ns } else { "" };
        let Some(current) = inner.map(rt).get(&key(ns, name)).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        if !want_rv.is_empty() && want_rv != resource_version_of(&current) {
            return Err(ApiError::conflict(rt, name));
        }
        let next = merge_update(rt, &current, obj, part);
        self.finish_update(&mut inner, rt, current, next, dry_run)
    }

    /// Change an object in place with `f`, under the store's lock: patches and controllers.
    /// Returns the object unchanged (no write, no event) when `f` changes nothing.
    pub fn modify(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        part: Part,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        self.modify_opts(rt, ns, name, part, false, f)
    }

    /// [`Store::modify`] with a dry-run switch.
    pub fn modify_opts(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        part: Part,
        dry_run: bool,
        f: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let ns = if rt.namespaced { ns } else { "" };
        let Some(current) = inner.map(rt).get(&key(ns, name)).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        let mut edited = (*current).clone();
        f(&mut edited)?;
        self.check_kind(rt, &edited)?;
        if name_of(&edited) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&edited)
            )));
        }
        let want_rv = resource_version_of(&edited).to_string();
        if !want_rv.is_empty() && want_rv != resource_version_of(&current) {
            return Err(ApiError::conflict(rt, name));
        }
        let next = merge_update(rt, &current, edited, part);
        self.finish_update(&mut inner, rt, current, next, dry_run)
    }

    fn finish_update(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        current: Arc<Value>,
        mut next: Value,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let name = name_of(&current).to_string();
        defaults::apply_defaults(rt, &mut next);
        inner.prune_custom(rt, &mut next);
        let mut errors = defaults::validate(rt, &next);
        if is_crd(rt) {
            crd::prepare(&mut next);
            errors.extend(crd::validate(&next));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(rt, &name, errors));
        }
        if is_crd(rt) {
            // The naming and establishing controllers' view, from the stored status on.
            match current.get("status") {
                Some(st) => next["status"] = st.clone(),
                None => {
                    if let Some(o) = next.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            let (st, _) = crd::status(&next, &taken_names(inner, &next), &now());
            next["status"] = st;
        }
        // The stored resourceVersion is compared, not the one in the request.
        metadata_mut(&mut next).insert(
            "resourceVersion".into(),
            json!(resource_version_of(&current)),
        );
        if next == *current {
            return Ok(current);
        }
        // Binding a pod to a node (spec.nodeName) is not a spec change the pod's generation counts.
        let bound_only = rt.kind == "Pod" && {
            let mut a = spec_part(&next);
            let mut b = spec_part(&current);
            for v in [&mut a, &mut b] {
                if let Some(sp) = v.get_mut("spec").and_then(Value::as_object_mut) {
                    sp.remove("nodeName");
                }
            }
            a == b
        };
        if has_generation(rt)
            && !bound_only
            && generation_part(rt, &next) != generation_part(rt, &current)
        {
            let g = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            metadata_mut(&mut next).insert("generation".into(), json!(g + 1));
        }
        if dry_run {
            return Ok(Arc::new(next));
        }
        let deleting = next.pointer("/metadata/deletionTimestamp").is_some();
        let no_finalizers = next
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        let graceful_pod = rt.kind == "Pod"
            && next
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .is_some_and(|g| g > 0);
        let saved = self.commit(inner, rt, EventType::Modified, next, Some(current));
        if deleting && no_finalizers && !graceful_pod {
            self.remove(inner, rt, saved.clone());
        }
        Ok(saved)
    }

    fn remove(&self, inner: &mut Inner, rt: &'static ResourceType, obj: Arc<Value>) {
        let v = (*obj).clone();
        self.commit(inner, rt, EventType::Deleted, v, None);
        self.finish_foreground(inner, &obj, 0);
    }

    /// `obj` marked for foreground deletion: a deletionTimestamp and the `foregroundDeletion`
    /// finalizer, kept until its dependents are gone.
    fn mark_foreground(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        obj: Arc<Value>,
    ) -> Arc<Value> {
        let mut next = (*obj).clone();
        let m = metadata_mut(&mut next);
        m.entry("deletionTimestamp").or_insert_with(|| json!(now()));
        m.entry("deletionGracePeriodSeconds").or_insert(json!(0));
        let mut finalizers = m
            .get("finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !finalizers.contains(&json!("foregroundDeletion")) {
            finalizers.push(json!("foregroundDeletion"));
        }
        m.insert("finalizers".into(), json!(finalizers));
        self.commit(inner, rt, EventType::Modified, next, Some(obj))
    }

    /// The garbage collector's foreground cascade: each dependent is deleted in the foreground
    /// too, so one with dependents of its own (a replica set with terminating pods) stays, marked,
    /// until they are gone.
    fn cascade_foreground(&self, inner: &mut Inner, uid: &str, depth: usize) {
        if depth > 16 {
            return;
        }
        for (rt, dep) in self.dependents(inner, uid) {
            let refs = dep
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let others: Vec<Value> = refs
                .into_iter()
                .filter(|r| r.get("uid") != Some(&json!(uid)))
                .collect();
            if !others.is_empty() {
                let mut next = (*dep).clone();
                metadata_mut(&mut next).insert("ownerReferences".into(), json!(others));
                self.commit(inner, rt, EventType::Modified, next, Some(dep));
                continue;
            }
            let duid = uid_of(&dep).to_string();
            self.cascade_foreground(inner, &duid, depth + 1);
            let Some(dep) = inner
                .map(rt)
                .get(&key(namespace_of(&dep), name_of(&dep)))
                .cloned()
            else {
                continue;
            };
            if inner.owned.get(&duid).is_some_and(|d| !d.is_empty()) {
                if !has_finalizer(&dep, "foregroundDeletion") {
                    self.mark_foreground(inner, rt, dep);
                }
            } else if self.mark_terminating(inner, rt, &dep, None).is_none() {
                self.remove(inner, rt, dep);
            }
        }
    }

    /// After a dependent is removed: each owner waiting in foreground deletion with no
    /// dependents left goes too, and so on up.
    fn finish_foreground(&self, inner: &mut Inner, dependent: &Value, depth: usize) {
        if depth > 16 {
            return;
        }
        let ns = namespace_of(dependent).to_string();
        let refs = dependent
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for r in refs {
            let (Some(kind), Some(name), Some(uid)) = (
                r.get("kind").and_then(Value::as_str),
                r.get("name").and_then(Value::as_str),
                r.get("uid").and_then(Value::as_str),
            ) else {
                continue;
            };
            let api_version = r.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let Some(ort) = RESOURCES
                .iter()
                .find(|x| x.kind == kind)
                .or_else(|| inner.served_by_api_version_kind(api_version, kind))
            else {
                continue;
            };
            let ons = if ort.namespaced { ns.as_str() } else { "" };
            let waiting = inner
                .map(ort)
                .get(&key(ons, name))
                .is_some_and(|o| uid_of(o) == uid && has_finalizer(o, "foregroundDeletion"));
            if waiting && inner.owned.get(uid).is_none_or(|d| d.is_empty()) {
                self.remove_foreground_owner(inner, ort, uid, ons, name, depth + 1);
            }
        }
    }

    /// Removes an owner whose foreground deletion is done: its `foregroundDeletion` finalizer
    /// goes, and the object with it unless other finalizers remain.
    fn remove_foreground_owner(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        uid: &str,
        ns: &str,
        name: &str,
        depth: usize,
    ) {
        let Some(owner) = inner.map(rt).get(&key(ns, name)).cloned() else {
            return;
        };
        if uid_of(&owner) != uid {
            return;
        }
        let mut next = (*owner).clone();
        let m = metadata_mut(&mut next);
        let rest: Vec<Value> = m
            .get("finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f != "foregroundDeletion")
            .collect();
        if rest.is_empty() {
            m.remove("finalizers");
            self.commit(inner, rt, EventType::Deleted, next, None);
            self.finish_foreground(inner, &owner, depth);
        } else {
            m.insert("finalizers".into(), json!(rest));
            self.commit(inner, rt, EventType::Modified, next, Some(owner));
        }
    }

    /// `DELETE` one object, cascading to its dependents as the propagation policy says.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let ns = if rt.namespaced { ns } else { "" };
        let Some(current) = inner.map(rt).get(&key(ns, name)).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        if let Some(uid) = &opts.precondition_uid
            && uid != uid_of(&current)
        {
            return Err(ApiError::conflict_msg(
                rt,
                name,
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    uid_of(&current)
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_resource_version
            && rv != resource_version_of(&current)
        {
            return Err(ApiError::conflict_msg(
                rt,
                name,
                format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    resource_version_of(&current)
                ),
            ));
        }
        if opts.dry_run {
            return Ok(current);
        }
        // A CRD's cleanup finalizer is the API server's own: its objects go with it, now.
        let current = if is_crd(rt) && has_finalizer(&current, crd::CLEANUP_FINALIZER) {
            let mut c = (*current).clone();
            if let Some(f) = c
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)
            {
                f.retain(|x| x != crd::CLEANUP_FINALIZER);
            }
            Arc::new(c)
        } else {
            current
        };
        let policy = opts.propagation.clone().unwrap_or_else(|| {
            if rt.kind == "Job" {
                "Orphan".into()
            } else {
                "Background".into()
            }
        });
        if !matches!(policy.as_str(), "Background" | "Foreground" | "Orphan") {
            return Err(ApiError::invalid(
                rt,
                name,
                vec![(
                    "propagationPolicy".into(),
                    format!(
                        "Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                    ),
                )],
            ));
        }
        // Graceful termination: a scheduled, running pod is marked and removed later by its node.
        if let Some(marked) =
            self.mark_terminating(&mut inner, rt, &current, opts.grace_period_seconds)
        {
            return Ok(marked);
        }
        let has_finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(current);
            }
            let mut next = (*current).clone();
            let m = metadata_mut(&mut next);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            return Ok(self.commit(&mut inner, rt, EventType::Modified, next, Some(current)));
        }
        let uid = uid_of(&current).to_string();
        let mut marked = current.clone();
        if policy == "Foreground" && rt.kind != "Namespace" {
            // The owner stays, marked, until its dependents are gone: they are deleted in the
            // foreground too, and the last one to go takes the owner with it.
            let marked = self.mark_foreground(&mut inner, rt, current);
            self.cascade_foreground(&mut inner, &uid, 0);
            if inner.map(rt).contains_key(&key(ns, name))
                && inner.owned.get(&uid).is_none_or(|d| d.is_empty())
            {
                self.remove_foreground_owner(&mut inner, rt, &uid, ns, name, 0);
            }
            return Ok(marked);
        }
        if rt.kind == "Namespace" {
            let mut next = (*marked).clone();
            metadata_mut(&mut next).insert("deletionTimestamp".into(), json!(now()));
            next["status"] = json!({"phase": "Terminating"});
            marked = self.commit(&mut inner, rt, EventType::Modified, next, Some(marked));
            let types: Vec<&'static ResourceType> =
                inner.all_types().filter(|r| r.namespaced).collect();
            for crt in types {
                let doomed: Vec<Arc<Value>> = inner
                    .map(crt)
                    .range(key(name, "")..)
                    .take_while(|((n, _), _)| n == name)
                    .map(|(_, v)| v.clone())
                    .collect();
                for d in doomed {
                    self.remove(&mut inner, crt, d);
                }
            }
        } else if policy == "Orphan" {
            self.orphan(&mut inner, &uid);
        } else {
            self.cascade(&mut inner, &uid, 0);
        }
        let mut last = (*marked).clone();
        if let Some(m) = last.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("finalizers");
        }
        let gone = self.commit(&mut inner, rt, EventType::Deleted, last, None);
        if policy == "Foreground" {
            Ok(marked)
        } else {
            Ok(gone)
        }
    }

    /// A pod that its node must stop first is marked with `deletionTimestamp` rather than removed;
    /// `Some` with the pod (marked now or before) when that is the case.
    fn mark_terminating(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        current: &Arc<Value>,
        grace: Option<i64>,
    ) -> Option<Arc<Value>> {
        if rt.kind != "Pod" {
            return None;
        }
        let grace = grace.unwrap_or_else(|| {
            current
                .pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(30)
        });
        let scheduled = current.pointer("/spec/nodeName").is_some();
        let terminal = matches!(
            current.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if grace <= 0 || !scheduled || terminal {
            return None;
        }
        if current.pointer("/metadata/deletionTimestamp").is_some() {
            return Some(current.clone());
        }
        let mut next = (**current).clone();
        let when = chrono::Utc::now() + chrono::Duration::seconds(grace);
        let m = metadata_mut(&mut next);
        m.insert(
            "deletionTimestamp".into(),
            json!(when.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
        Some(self.commit(inner, rt, EventType::Modified, next, Some(current.clone())))
    }

    fn dependents(&self, inner: &Inner, uid: &str) -> Vec<(&'static ResourceType, Arc<Value>)> {
        let Some(set) = inner.owned.get(uid) else {
            return Vec::new();
        };
        set.iter()
            .filter_map(|(idx, k)| {
                inner.objects[*idx]
                    .get(k)
                    .map(|v| (inner.type_at(*idx), v.clone()))
            })
            .collect()
    }

    /// The objects of type `rt` whose ownerReferences name `owner_uid`, without a scan.
    pub fn owned_by(&self, rt: &'static ResourceType, owner_uid: &str) -> Vec<Arc<Value>> {
        let inner = self.lock();
        let Some(idx) = inner.slot(rt) else {
            return Vec::new();
        };
        inner
            .owned
            .get(owner_uid)
            .map(|set| {
                set.iter()
                    .filter(|(i, _)| *i == idx)
                    .filter_map(|(_, k)| inner.objects[idx].get(k).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The garbage collector's background cascade: dependents go, then theirs.
    fn cascade(&self, inner: &mut Inner, uid: &str, depth: usize) {
        if depth > 16 {
            return;
        }
        for (rt, dep) in self.dependents(inner, uid) {
            let duid = uid_of(&dep).to_string();
            self.cascade(inner, &duid, depth + 1);
            // A dependent still held by another owner stays, without this owner.
            let refs = dep
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let others: Vec<Value> = refs
                .into_iter()
                .filter(|r| r.get("uid") != Some(&json!(uid)))
                .collect();
            if others.is_empty() {
                // Pods the garbage collector deletes terminate gracefully on their node.
                if self.mark_terminating(inner, rt, &dep, None).is_none() {
                    self.remove(inner, rt, dep);
                }
            } else {
                let mut next = (*dep).clone();
                metadata_mut(&mut next).insert("ownerReferences".into(), json!(others));
                self.commit(inner, rt, EventType::Modified, next, Some(dep));
            }
        }
    }

    fn orphan(&self, inner: &mut Inner, uid: &str) {
        for (rt, dep) in self.dependents(inner, uid) {
            let mut next = (*dep).clone();
            let m = metadata_mut(&mut next);
            let refs: Vec<Value> = m
                .get("ownerReferences")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.get("uid") != Some(&json!(uid)))
                .collect();
            if refs.is_empty() {
                m.remove("ownerReferences");
            } else {
                m.insert("ownerReferences".into(), json!(refs));
            }
            self.commit(inner, rt, EventType::Modified, next, Some(dep));
        }
    }

    /// Remove an object now, whatever its grace period or finalizers: a node finishing a pod's
    /// termination.
    pub fn remove_now(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Arc<Value>, ApiError> {
        let mut inner = self.lock();
        let ns = if rt.namespaced { ns } else { "" };
        let Some(current) = inner.map(rt).get(&key(ns, name)).cloned() else {
            return Err(ApiError::not_found(rt, name));
        };
        let uid = uid_of(&current).to_string();
        self.cascade(&mut inner, &uid, 0);
        let gone = self.commit(&mut inner, rt, EventType::Deleted, (*current).clone(), None);
        self.finish_foreground(&mut inner, &current, 0);
        Ok(gone)
    }

    /// How many objects of a type are stored.
    pub fn count(&self, rt: &'static ResourceType) -> usize {
        self.lock().map(rt).len()
    }
}

/// The most pods one sandbox holds (all namespaces): a quota, so that a replica count the API
/// admits (up to 2^31 - 1) cannot take the process's memory.
pub const MAX_PODS: usize = 5_000;

/// The names other CRDs of `crd`'s group have been accepted with.
fn taken_names(inner: &Inner, crd: &Value) -> Taken {
    let group = crd::group_of(crd);
    let name = name_of(crd);
    let mut taken = Taken::default();
    for (rt, c) in &inner.served {
        if rt.group == group && c.crd != name {
            taken.add(&crd::Names {
                plural: rt.plural.to_string(),
                singular: rt.singular.to_string(),
                kind: rt.kind.to_string(),
                list_kind: c.list_kind.clone(),
                short_names: rt.short_names.iter().map(|s| s.to_string()).collect(),
                categories: Vec::new(),
            });
        }
    }
    taken
}

/// Serves what a CRD as stored now declares: its established, served versions, each as a
/// type (the same `&'static` one as before when its names and subresources are unchanged).
fn serve_crd(inner: &mut Inner, crd_obj: &Value) {
    let name = name_of(crd_obj).to_string();
    let want: Vec<Served> = if crd::is_established(crd_obj) {
        crd::served_versions(crd_obj)
    } else {
        Vec::new()
    };
    let old: Vec<&'static ResourceType> = inner
        .served
        .iter()
        .filter(|(_, c)| c.crd == name)
        .map(|(r, _)| *r)
        .collect();
    inner.served.retain(|(_, c)| c.crd != name);
    for s in want {
        let rt = old
            .iter()
            .chain(inner.extra.iter())
            .copied()
            .find(|r| s.is(r))
            .unwrap_or_else(|| s.leak());
        inner.ensure_slot(rt);
        inner.served.push((rt, Arc::new(s.custom)));
    }
}

/// Whether `obj`'s finalizers include `name`.
fn has_finalizer(obj: &Value, name: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x == name))
}

/// The object a write leaves: `incoming` limited to the part the write may change, the server-owned
/// metadata kept from `current`.
fn merge_update(rt: &ResourceType, current: &Value, incoming: Value, part: Part) -> Value {
    let mut next = match part {
        Part::Status => {
            let mut n = current.clone();
            match incoming.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            n
        }
        Part::Main if rt.has_status => {
            let mut n = incoming;
            match current.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            n
        }
        _ => incoming,
    };
    if let Some(cm) = meta(current) {
        let m = metadata_mut(&mut next);
        for k in [
            "uid",
            "creationTimestamp",
            "generation",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match cm.get(k) {
                Some(v) => {
                    m.insert(k.into(), v.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
    }
    if let Some(o) = next.as_object_mut() {
        o.insert("apiVersion".into(), json!(rt.api_version()));
        o.insert("kind".into(), json!(rt.kind));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_kind;

    fn store(bytes: usize) -> Arc<Store> {
        let s = Store::with_history_bytes(HISTORY, bytes);
        s.create(
            by_kind("Namespace"),
            "",
            json!({"metadata": {"name": "default"}}),
            false,
        )
        .unwrap();
        s
    }

    fn write(s: &Store, name: &str, i: usize) {
        let cm = by_kind("ConfigMap");
        let data = json!({"n": i.to_string(), "pad": "x".repeat(900)});
        let labels = json!({"parity": if i.is_multiple_of(2) { "even" } else { "odd" }});
        if s.modify(cm, "default", name, Part::All, |o| {
            o["data"] = data.clone();
            o["metadata"]["labels"] = labels.clone();
            Ok(())
        })
        .is_err()
        {
            s.create(
                cm,
                "default",
                json!({"metadata": {"name": name, "labels": labels}, "data": data}),
                false,
            )
            .unwrap();
        }
    }

    /// Changes older than the hot ones are kept encoded, within the byte limit; what is kept reads
    /// back as it was written (object, old object and line), and what was dropped is 410 Gone.
    #[test]
    fn history_is_bounded_by_bytes_and_decodes_what_it_keeps() {
        let limit = 2 << 20;
        let s = store(limit);
        let start = s.resource_version();
        for i in 0..4000 {
            write(&s, &format!("c{}", i % 49), i);
        }
        let (kept, bytes) = s.history_size();
        assert!(bytes <= limit, "{bytes} bytes kept, limit {limit}");
        assert!(bytes > limit / 2, "the limit is used: {bytes}");
        assert!(kept > HOT && kept < 4000, "{kept} changes kept");
        // Dropped: a watch from the start is too old.
        let cm = by_kind("ConfigMap");
        let err = s.changes_since(cm, None, start, usize::MAX).unwrap_err();
        assert_eq!(err.code, 410);
        assert!(
            err.message.starts_with("too old resource version"),
            "{}",
            err.message
        );
        // The oldest kept change resumes, and every change reads back as written.
        let newest = s.resource_version();
        let from = newest - kept as u64;
        let (changes, upto) = s.changes_since(cm, None, from, usize::MAX).unwrap();
        assert_eq!(upto, newest);
        assert_eq!(changes.len(), kept);
        let mut cold = 0;
        for c in &changes {
            cold += usize::from(c.cold);
            let obj = c.object();
            assert_eq!(resource_version_of(obj), c.resource_version.to_string());
            assert_eq!(name_of(obj), c.name);
            let line: Value = serde_json::from_slice(c.line()).unwrap();
            assert_eq!(line["type"], c.event.as_str());
            assert_eq!(&line["object"], &**obj);
            let as_added: Value = serde_json::from_slice(&c.line_as("ADDED")).unwrap();
            assert_eq!(as_added["type"], "ADDED");
            assert_eq!(&as_added["object"], &**obj);
            if c.event == EventType::Modified {
                let old = c.old().expect("a modification has its old object");
                assert_eq!(name_of(old), c.name);
                let n: usize = obj["data"]["n"].as_str().unwrap().parse().unwrap();
                assert_eq!(old["data"]["n"], (n - 49).to_string());
                assert_ne!(old["metadata"]["labels"], obj["metadata"]["labels"]);
            }
        }
        assert_eq!(
            cold,
            kept - HOT,
            "all but the newest {HOT} are kept encoded"
        );
    }

    /// The count bound holds too, and without drops any resourceVersion resumes.
    #[test]
    fn history_is_bounded_by_count() {
        let s = Store::with_history_bytes(100, HISTORY_BYTES);
        s.create(
            by_kind("Namespace"),
            "",
            json!({"metadata": {"name": "default"}}),
            false,
        )
        .unwrap();
        let cm = by_kind("ConfigMap");
        assert!(s.changes_since(cm, None, 1, 10).is_ok());
        for i in 0..150 {
            write(&s, "c", i);
        }
        assert_eq!(s.history_size().0, 100);
        let newest = s.resource_version();
        assert!(s.changes_since(cm, None, newest - 100, 1000).is_ok());
        assert_eq!(
            s.changes_since(cm, None, newest - 101, 1000)
                .unwrap_err()
                .code,
            410
        );
    }
}
