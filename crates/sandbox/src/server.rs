//! The HTTP face of the sandbox: Kubernetes REST paths, verbs, discovery, watches and pod logs over
//! HTTP/1.1 on loopback.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Value, json};

use super::error::ApiError;
use super::field_validation::{self, Directive, Findings};
use super::logs::Follower;
use super::object::{name_of, namespace_of};
use super::openapi;
use super::patch;
use super::protobuf;
use super::resources::{self, ResourceType};
use super::selector::{FieldSelector, LabelSelector};
use super::shared::Shared;
use super::store::{self, DeleteOptions, EventType, Part, watch_line};
use super::table::{self, TableRequest};
use super::{authz, eviction, exec, metrics};

pub type Body = BoxBody<Bytes, Infallible>;

/// Largest request body, as the API server's limit.
const MAX_BODY: usize = 3 * 1024 * 1024;
/// Changes a watch reads from the history at a time.
const WATCH_BATCH: usize = 1000;
/// Lists longer than this are encoded on a blocking thread.
const BIG_LIST: usize = 500;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

pub(crate) fn json_response(code: u16, v: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full("")))
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.status())
}

/// What a path names.
#[derive(Debug)]
enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList(String, String),
    /// `/openapi/{rest}`: the OpenAPI documents.
    OpenApi(String),
    Resource {
        rt: &'static ResourceType,
        ns: Option<String>,
        name: Option<String>,
        sub: Option<String>,
    },
}

fn route(path: &str, store: &store::Store) -> Option<Route> {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest) = match s.as_slice() {
        ["version"] => return Some(Route::Version),
        ["healthz" | "readyz" | "livez"] => return Some(Route::Health),
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["apis", g] => return Some(Route::Group(g.to_string())),
        ["openapi", rest @ ..] => return Some(Route::OpenApi(rest.join("/"))),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let find = |plural: &str| store.find_type(group, version, plural);
    let res = |rt, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Some(Route::Resource {
            rt,
            ns: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        })
    };
    match rest {
        [] => Some(Route::ResourceList(group.into(), version.into())),
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            let rt = find(plural)?;
            match tail {
                [] => res(rt, Some(ns), None, None),
                [name] => res(rt, Some(ns), Some(name), None),
                [name, sub] => res(rt, Some(ns), Some(name), Some(sub)),
                _ => None,
            }
        }
        [plural, tail @ ..] => {
            let rt = find(plural)?;
            match tail {
                [] => res(rt, None, None, None),
                [_] | [_, _] if rt.namespaced => None,
                [name] => res(rt, None, Some(name), None),
                [name, sub] => res(rt, None, Some(name), Some(sub)),
                _ => None,
            }
        }
    }
}

type Query = HashMap<String, String>;

fn query(req: &Request<Incoming>) -> Query {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn flag(q: &Query, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// Serve the sandbox on `listener` until the task is dropped.
pub async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    serve_until(shared, listener, std::future::pending()).await
}

/// Serve the sandbox on `listener` until `shutdown` completes, then stop listening and close every
/// open connection, endless watches and log follows included (their clients see the connection
/// drop, as when an API server restarts).
pub async fn serve_until(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => {
                drop(listener);
                conns.shutdown().await;
                return;
            }
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        conns.spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    match dispatch(shared, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn wants_aggregated(req: &Request<Incoming>) -> bool {
    req.headers().get_all("accept").iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.contains("as=APIGroupDiscoveryList"))
    })
}

/// Whether the request asks for a `meta.k8s.io` Table (as `kubectl get` does).
fn wants_table(req: &Request<Incoming>, q: &Query) -> Option<TableRequest> {
    let accept = req.headers().get_all("accept");
    table::requested(
        accept.iter().filter_map(|v| v.to_str().ok()),
        q.get("includeObject").map(String::as_str),
    )
}

fn table_response(t: &TableRequest, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .header("content-type", t.content_type())
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full("")))
}

fn aggregated_response(v: Value) -> Response<Body> {
    let mut r = json_response(200, &v);
    if let Ok(h) = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList".parse() {
        r.headers_mut().insert("content-type", h);
    }
    r
}

pub(crate) async fn read_body(req: Request<Incoming>) -> Result<(Bytes, String), ApiError> {
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| ApiError::new(413, "RequestEntityTooLarge", "request entity too large"))?
        .to_bytes();
    if protobuf::is_protobuf(&ct) {
        let v = protobuf::decode(&body)?;
        return Ok((
            Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
            "application/json".into(),
        ));
    }
    Ok((body, ct))
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml: {e}"
        ))
    })
}

fn parse_yaml_or_json(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the body of the request is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

async fn dispatch(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    // Served by hand, not from the store: reviews, metrics, evictions, and exec's refusal.
    if let Some(r) = authz::route(req.uri().path()) {
        return authz::serve(r, req).await;
    }
    if let Some(r) = metrics::route(req.uri().path()) {
        return metrics::serve(&shared, r, req);
    }
    if let Some(r) = eviction::route(req.uri().path()) {
        return eviction::serve(&shared, r, req).await;
    }
    if let Some(r) = exec::route(req.uri().path()) {
        return exec::serve(&shared, r, &req);
    }
    let Some(r) = route(req.uri().path(), &shared.store) else {
        return Err(ApiError::path_not_found());
    };
    let get_only = |req: &Request<Incoming>| {
        if req.method() == Method::GET {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match r {
        Route::Version => {
            get_only(&req)?;
            Ok(json_response(200, &resources::version()))
        }
        Route::Health => Ok(Response::new(full("ok"))),
        Route::CoreVersions => {
            get_only(&req)?;
            if wants_aggregated(&req) {
                let types = shared.store.served_types();
                Ok(aggregated_response(resources::aggregated_of(&types, true)))
            } else {
                Ok(json_response(200, &resources::core_versions()))
            }
        }
        Route::Groups => {
            get_only(&req)?;
            let types = shared.store.served_types();
            if wants_aggregated(&req) {
                Ok(aggregated_response(resources::aggregated_of(&types, false)))
            } else {
                Ok(json_response(200, &resources::group_list_of(&types)))
            }
        }
        Route::Group(g) => {
            get_only(&req)?;
            resources::group_of(&shared.store.served_types(), &g)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::path_not_found)
        }
        Route::ResourceList(g, v) => {
            get_only(&req)?;
            resources::resource_list_of(&shared.store.served_types(), &g, &v)
                .map(|v| json_response(200, &v))
                .ok_or_else(ApiError::path_not_found)
        }
        Route::OpenApi(rest) => {
            get_only(&req)?;
            let accept = req.headers().get("accept").and_then(|v| v.to_str().ok());
            let a = openapi::answer(&rest, req.uri().query(), accept)?;
            let mut b = Response::builder().status(a.code);
            for (k, v) in a.headers {
                b = b.header(k, v);
            }
            Ok(b.body(full(Bytes::from_static(a.body)))
                .unwrap_or_else(|_| Response::new(full(""))))
        }
        Route::Resource { rt, ns, name, sub } => {
            let q = query(&req);
            let ns_str = ns.clone().unwrap_or_default();
            match (name, sub) {
                (None, _) => collection(shared, req, rt, ns, q).await,
                (Some(name), None) => item(shared, req, rt, &ns_str, &name, q, Part::Main).await,
                (Some(name), Some(sub)) => {
                    if !rt.subresources.contains(&sub.as_str()) {
                        return Err(ApiError::path_not_found());
                    }
                    match sub.as_str() {
                        "log" => pod_log(shared, req, &ns_str, &name, q).await,
                        "scale" => scale(shared, req, rt, &ns_str, &name, q).await,
                        _ => item(shared, req, rt, &ns_str, &name, q, Part::Status).await,
                    }
                }
            }
        }
    }
}

/// The filter a list or watch applies.
struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn from_query(rt: &ResourceType, q: &Query) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        // A custom type selects by metadata.name and metadata.namespace only, whatever its kind.
        fields
            .validate_for(if rt.is_builtin() { rt.kind } else { "" })
            .map_err(ApiError::bad_request)?;
        Ok(Filter { labels, fields })
    }

    fn matches(&self, v: &Value) -> bool {
        self.labels.matches_object(v) && self.fields.matches(v)
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

/// What a watch line is made of: an object of the initial list, or a change of the history.
enum Source<'a> {
    Object(&'a Value),
    Change(&'a store::Change),
}

/// An item of a list, serialised without `kind` and `apiVersion`, as the API server writes lists
/// of built-in types (a custom type's list items keep them, as unstructured objects do).
struct Item<'a>(&'a Value, bool);

impl serde::Serialize for Item<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.1 {
            return self.0.serialize(s);
        }
        match self.0.as_object() {
            Some(m) => {
                let mut out = s.serialize_map(None)?;
                for (k, v) in m {
                    if k != "kind" && k != "apiVersion" {
                        out.serialize_entry(k, v)?;
                    }
                }
                out.end()
            }
            None => self.0.serialize(s),
        }
    }
}

/// A list's items; `typed`: each keeps its `kind` and `apiVersion` (a custom type's list).
struct Items<'a>(&'a [Arc<Value>], bool);

impl serde::Serialize for Items<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&Item(v, self.1))?;
        }
        seq.end()
    }
}

#[derive(serde::Serialize)]
struct ListOut<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: Items<'a>,
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    use base64::Engine as _;
    let t = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{ns}/{name}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.to_string())
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let start = start.trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

async fn collection(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    rt: &'static ResourceType,
    ns: Option<String>,
    q: Query,
) -> Result<Response<Body>, ApiError> {
    if ns.is_some() && !rt.namespaced {
        return Err(ApiError::path_not_found());
    }
    let method = req.method().clone();
    match method {
        Method::GET if flag(&q, "watch") => {
            let table = wants_table(&req, &q).map(|t| t.with_custom(shared.store.custom(rt)));
            watch(shared, rt, ns, q, table)
        }
        Method::GET => {
            let table = wants_table(&req, &q).map(|t| t.with_custom(shared.store.custom(rt)));
            let filter = Filter::from_query(rt, &q)?;
            let limit = q
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0);
            let after = match q.get("continue").filter(|c| !c.is_empty()) {
                Some(c) => Some(decode_continue(c)?),
                None => None,
            };
            if let (Some(rv), Some("Exact")) = (
                q.get("resourceVersion").and_then(|r| r.parse::<u64>().ok()),
                q.get("resourceVersionMatch").map(String::as_str),
            ) && rv != shared.store.resource_version()
            {
                return Err(ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    shared.store.resource_version()
                )));
            }
            let keep = |v: &Value| filter.matches(v);
            let (items, rv, remaining) = shared.store.list_page(
                rt,
                ns.as_deref(),
                after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                limit.unwrap_or(usize::MAX),
                &keep,
            );
            let big = items.len() > BIG_LIST;
            let mut metadata = json!({"resourceVersion": rv.to_string()});
            if remaining > 0
                && let Some(last) = items.last()
            {
                metadata["continue"] =
                    json!(encode_continue(rv, namespace_of(last), name_of(last)));
                metadata["remainingItemCount"] = json!(remaining);
            }
            let kind = list_kind(&shared, rt);
            let api_version = rt.api_version();
            let encode_table = table.clone();
            let encode = move || {
                if let Some(t) = &encode_table {
                    return t.list(rt, metadata, &items);
                }
                let out = ListOut {
                    kind,
                    api_version,
                    metadata,
                    items: Items(&items, !rt.is_builtin()),
                };
                serde_json::to_vec(&out).unwrap_or_default()
            };
            // A big list is encoded off the runtime's threads, so watches keep flowing meanwhile.
            let body = if big {
                tokio::task::spawn_blocking(encode)
                    .await
                    .unwrap_or_default()
            } else {
                encode()
            };
            if let Some(t) = &table {
                return Ok(table_response(t, body));
            }
            Ok(Response::builder()
                .header("content-type", "application/json")
                .body(full(body))
                .unwrap_or_else(|_| Response::new(full(""))))
        }
        Method::POST => {
            let dry = q.get("dryRun").is_some_and(|d| d == "All");
            let manager = field_manager(&req, &q);
            let fv = directive(&q)?;
            let (body, _) = read_body(req).await?;
            let mut obj = parse_yaml_or_json(&body)?;
            let ns = ns.unwrap_or_default();
            if rt.namespaced && ns.is_empty() {
                return Err(ApiError::path_not_found());
            }
            let custom = shared.store.custom(rt);
            let mut warnings = check_fields(rt, custom.as_deref(), &mut obj, &body, fv, true)?;
            record(custom.as_deref(), &mut obj, None, &manager, &store::now());
            let created = shared.store.create(rt, &ns, obj, dry)?;
            if rt.kind == "Pod"
                && rt.group.is_empty()
                && let Ok(n) = shared.store.get(resources::by_kind("Namespace"), "", &ns)
                && let Some(w) = crate::pod_security::warning(&n, &created)
            {
                // PodSecurity's `warn` level: the pod is created, the client told.
                warnings.push(w);
            }
            Ok(with_warnings(json_response(201, &created), &warnings))
        }
        Method::DELETE => {
            let filter = Filter::from_query(rt, &q)?;
            let (body, _) = read_body(req).await?;
            let opts = delete_options(&q, &body)?;
            let keep = |v: &Value| filter.matches(v);
            let (items, _) = shared.store.list(rt, ns.as_deref(), &keep);
            let mut deleted = Vec::new();
            for it in items {
                match shared
                    .store
                    .delete(rt, namespace_of(&it), name_of(&it), &opts)
                {
                    Ok(d) => deleted.push(d),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let out = ListOut {
                kind: list_kind(&shared, rt),
                api_version: rt.api_version(),
                metadata: json!({"resourceVersion": shared.store.resource_version().to_string()}),
                items: Items(&deleted, !rt.is_builtin()),
            };
            let body = serde_json::to_vec(&out).unwrap_or_default();
            Ok(Response::builder()
                .header("content-type", "application/json")
                .body(full(body))
                .unwrap_or_else(|_| Response::new(full(""))))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Unknown and duplicate fields of a write's object, judged by the `fieldValidation` directive
/// (`decoding`: a create or update, whose Strict error names the decoding); the unknown ones
/// are dropped. A custom object is checked against its CRD's schema and always pruned.
fn check_fields(
    rt: &ResourceType,
    custom: Option<&crate::crd::CustomType>,
    obj: &mut Value,
    body: &[u8],
    fv: Directive,
    decoding: bool,
) -> Result<Vec<String>, ApiError> {
    let context = if decoding {
        field_validation::decode_context(rt)
    } else {
        String::new()
    };
    match custom {
        Some(c) => {
            let findings = Findings::of_custom(c.schema.as_ref(), obj, Some(body));
            let warnings = findings.judge(fv, &context)?;
            field_validation::prune_custom(c.schema.as_ref(), obj);
            Ok(warnings)
        }
        None => {
            let findings = Findings::of(rt, obj, Some(body));
            let warnings = findings.judge(fv, &context)?;
            field_validation::drop_unknown(rt, &findings, obj);
            Ok(warnings)
        }
    }
}

/// Records a create, update or patch by `manager` in `metadata.managedFields`, typed by the
/// CRD's schema for a custom type (`custom`, looked up before the store is locked).
fn record(
    custom: Option<&crate::crd::CustomType>,
    obj: &mut Value,
    before: Option<&Value>,
    manager: &str,
    now: &str,
) {
    match custom {
        Some(c) => patch::record_update_custom(obj, before, c.apply_schema, manager, now),
        None => patch::record_update(obj, before, manager, now),
    }
}

/// The kind of a list of `rt`: `PodList`, or the custom type's `listKind`.
fn list_kind(shared: &Shared, rt: &ResourceType) -> String {
    match shared.store.custom(rt) {
        Some(c) if !c.list_kind.is_empty() => c.list_kind.clone(),
        _ => format!("{}List", rt.kind),
    }
}

fn field_manager(req: &Request<Incoming>, q: &Query) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    req.headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

fn delete_options(q: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions::default();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v = parse_json(body)?;
        o.propagation = v
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.grace_period_seconds = v.get("gracePeriodSeconds").and_then(Value::as_i64);
        o.precondition_uid = v
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.precondition_resource_version = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        o.dry_run = v
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x == "All"));
        if v.get("orphanDependents") == Some(&json!(true)) && o.propagation.is_none() {
            o.propagation = Some("Orphan".into());
        }
    }
    if let Some(p) = q.get("propagationPolicy") {
        o.propagation = Some(p.clone());
    }
    if let Some(g) = q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
        o.grace_period_seconds = Some(g);
    }
    if q.get("dryRun").is_some_and(|d| d == "All") {
        o.dry_run = true;
    }
    Ok(o)
}

/// Apply a PATCH body of content type `ct` to `obj`.
fn apply_patch(rt: &ResourceType, obj: &mut Value, body: &[u8], ct: &str) -> Result<(), ApiError> {
    let ct = ct.split(';').next().unwrap_or("").trim();
    match ct {
        "application/json-patch+json" => {
            let ops = parse_json(body)?;
            patch::json_patch(obj, &ops).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })
        }
        "application/merge-patch+json" => {
            let p = parse_json(body)?;
            patch::merge_patch(obj, &p);
            Ok(())
        }
        _ if !rt.is_builtin() => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                crate::crd::PATCH_TYPES
            ),
        )),
        "application/strategic-merge-patch+json" => {
            let p = parse_json(body)?;
            patch::strategic_merge(obj, &p, rt.kind).map_err(|e| ApiError::new(422, "Invalid", e))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// The request's `fieldValidation` directive.
fn directive(q: &Query) -> Result<Directive, ApiError> {
    Directive::from_query(q.get("fieldValidation").map(String::as_str))
}

/// `r` with a `Warning: 299 - "…"` header per warning, as the API server sends them.
fn with_warnings(mut r: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = format!("299 - \"{text}\"").parse() {
            r.headers_mut().append("warning", v);
        }
    }
    r
}

fn is_apply(ct: &str) -> bool {
    ct.split(';').next().unwrap_or("").trim() == "application/apply-patch+yaml"
}

/// One object, or its status (`part`): get, replace, patch (any type, or apply) and, for the
/// object itself, delete.
async fn item(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    q: Query,
    part: Part,
) -> Result<Response<Body>, ApiError> {
    let dry = q.get("dryRun").is_some_and(|d| d == "All");
    let manager = field_manager(&req, &q);
    let method = req.method().clone();
    match method {
        Method::GET => {
            let obj = shared.store.get(rt, ns, name)?;
            match wants_table(&req, &q)
                .filter(|_| part == Part::Main)
                .map(|t| t.with_custom(shared.store.custom(rt)))
            {
                Some(t) => Ok(table_response(&t, t.single(rt, &obj))),
                None => Ok(json_response(200, &obj)),
            }
        }
        Method::PUT => {
            let fv = directive(&q)?;
            let (body, _) = read_body(req).await?;
            let mut obj = parse_yaml_or_json(&body)?;
            let custom = shared.store.custom(rt);
            let warnings = check_fields(rt, custom.as_deref(), &mut obj, &body, fv, true)?;
            let before = shared.store.get(rt, ns, name).ok();
            record(
                custom.as_deref(),
                &mut obj,
                before.as_deref(),
                &manager,
                &store::now(),
            );
            let r = shared.store.update(rt, ns, name, obj, part, dry)?;
            Ok(with_warnings(json_response(200, &r), &warnings))
        }
        Method::PATCH => {
            let fv = directive(&q)?;
            let (body, ct) = read_body(req).await?;
            if is_apply(&ct) {
                return server_side_apply(&shared, rt, ns, name, &body, &q, dry, part);
            }
            let now = store::now();
            let mut warnings = Vec::new();
            // Looked up before the store's lock is taken: the closure runs under it.
            let custom = shared.store.custom(rt);
            let r = shared.store.modify_opts(rt, ns, name, part, dry, |obj| {
                let before = obj.clone();
                apply_patch(rt, obj, &body, &ct)?;
                warnings = check_fields(rt, custom.as_deref(), obj, &body, fv, false)?;
                record(custom.as_deref(), obj, Some(&before), &manager, &now);
                Ok(())
            })?;
            Ok(with_warnings(json_response(200, &r), &warnings))
        }
        Method::DELETE if part == Part::Main => {
            let (body, _) = read_body(req).await?;
            let opts = delete_options(&q, &body)?;
            let r = shared.store.delete(rt, ns, name, &opts)?;
            let pending = r.pointer("/metadata/deletionTimestamp").is_some()
                && shared.store.get(rt, ns, name).is_ok();
            Ok(json_response(if pending { 202 } else { 200 }, &r))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[allow(clippy::too_many_arguments)]
fn server_side_apply(
    shared: &Shared,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    body: &[u8],
    q: &Query,
    dry: bool,
    part: Part,
) -> Result<Response<Body>, ApiError> {
    let Some(manager) = q.get("fieldManager").filter(|m| !m.is_empty()) else {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager parameter",
        ));
    };
    let force = flag(q, "force");
    let fv = directive(q)?;
    let config = parse_yaml_or_json(body)?;
    if name_of(&config) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            name_of(&config)
        )));
    }
    // A field the schema does not declare fails the typed conversion, whatever the directive.
    if rt.is_builtin()
        && let Some(f) = openapi::unknown_fields(rt.kind, &config).first()
    {
        return Err(field_validation::apply_unknown_field(rt, ns, name, f));
    }
    let warnings = Findings {
        duplicate: field_validation::duplicate_fields(body),
        unknown: Vec::new(),
    }
    .judge(fv, "")?;
    let now = store::now();
    let conflict = |c: patch::ApplyConflict| {
        let n = c.conflicts.len();
        let list: Vec<String> = c
            .conflicts
            .iter()
            .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
            .collect();
        let causes: Vec<Value> = c
            .conflicts
            .iter()
            .map(|(m, f)| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": f})
            })
            .collect();
        let mut e = ApiError::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {n} conflict{}: {}",
                if n == 1 { "" } else { "s" },
                list.join("; ")
            ),
        );
        e.details = Some(json!({"name": name, "kind": rt.plural, "causes": causes}));
        e
    };
    let custom = shared.store.custom(rt);
    let apply = |live: Option<&Value>| match &custom {
        Some(c) => patch::apply_custom(live, &config, c.apply_schema, manager, force, &now),
        None => patch::apply(live, &config, rt.kind, manager, force, &now),
    };
    match shared.store.get(rt, ns, name) {
        Err(e) if e.code == 404 && part == Part::Main => {
            let created = apply(None).map_err(conflict)?;
            let created = shared.store.create(rt, ns, created, dry)?;
            Ok(with_warnings(json_response(201, &created), &warnings))
        }
        Err(e) => Err(e),
        Ok(_) => {
            let r = shared.store.modify_opts(rt, ns, name, part, dry, |obj| {
                let mut next = apply(Some(obj)).map_err(conflict)?;
                // The apply carries no resourceVersion precondition unless the config names one.
                if config.pointer("/metadata/resourceVersion").is_none()
                    && let Some(m) = next.get_mut("metadata").and_then(Value::as_object_mut)
                {
                    m.remove("resourceVersion");
                }
                *obj = next;
                Ok(())
            })?;
            Ok(with_warnings(json_response(200, &r), &warnings))
        }
    }
}

fn selector_string(obj: &Value) -> String {
    let Some(sel) = obj.pointer("/spec/selector") else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut kv: Vec<_> = m.iter().collect();
        kv.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in kv {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let vals: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

fn scale_of(obj: &Value) -> Value {
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
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": meta,
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(obj),
        },
    })
}

async fn scale(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    q: Query,
) -> Result<Response<Body>, ApiError> {
    let dry = q.get("dryRun").is_some_and(|d| d == "All");
    let method = req.method().clone();
    // A custom type's Scale reads and writes the paths its CRD declares.
    let paths = shared.store.custom(rt).and_then(|c| c.scale.clone());
    let scale_of = |obj: &Value| match &paths {
        Some(p) => crate::crd::scale_of(obj, p),
        None => scale_of(obj),
    };
    let spec_path = paths
        .as_ref()
        .map_or(".spec.replicas".to_string(), |p| p.spec_replicas.clone());
    let set = |obj: &mut Value, scale: &Value, check_rv: bool| -> Result<(), ApiError> {
        if check_rv
            && let Some(rv) = scale
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            && obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                != Some(rv)
        {
            return Err(ApiError::conflict(rt, name));
        }
        match scale.pointer("/spec/replicas") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => {
                crate::crd::set_path(obj, &spec_path, json!(n));
                Ok(())
            }
            Some(v) => Err(ApiError::invalid(
                rt,
                name,
                vec![(
                    "spec.replicas".into(),
                    format!("Invalid value: {v}: must be greater than or equal to 0"),
                )],
            )),
            None => Ok(()),
        }
    };
    match method {
        Method::GET => {
            let obj = shared.store.get(rt, ns, name)?;
            Ok(json_response(200, &scale_of(&obj)))
        }
        Method::PUT => {
            let (body, _) = read_body(req).await?;
            let s = parse_json(&body)?;
            let r = shared
                .store
                .modify_opts(rt, ns, name, Part::Main, dry, |obj| {
                    set(obj, &s, true)?;
                    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                    Ok(())
                })?;
            Ok(json_response(200, &scale_of(&r)))
        }
        Method::PATCH => {
            let (body, ct) = read_body(req).await?;
            let r = shared
                .store
                .modify_opts(rt, ns, name, Part::Main, dry, |obj| {
                    let mut s = scale_of(obj);
                    if is_apply(&ct) {
                        let p = parse_yaml_or_json(&body)?;
                        patch::merge_patch(&mut s, &p);
                    } else {
                        apply_patch(rt, &mut s, &body, &ct)?;
                    }
                    set(obj, &s, false)?;
                    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove("resourceVersion");
                    }
                    Ok(())
                })?;
            Ok(json_response(200, &scale_of(&r)))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

type Tx = tokio::sync::mpsc::Sender<Result<Frame<Bytes>, Infallible>>;

fn streaming(content_type: &str) -> (Tx, Response<Body>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let body = StreamBody::new(stream).boxed();
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("transfer-encoding", "chunked")
        .body(body)
        .unwrap_or_else(|_| Response::new(full("")));
    (tx, resp)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta})
}

fn watch(
    shared: Arc<Shared>,
    rt: &'static ResourceType,
    ns: Option<String>,
    q: Query,
    table: Option<TableRequest>,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_query(rt, &q)?;
    let bookmarks = flag(&q, "allowWatchBookmarks");
    let send_initial = flag(&q, "sendInitialEvents");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let rv_param = q.get("resourceVersion").cloned().unwrap_or_default();
    let start_rv: Option<u64> = match rv_param.as_str() {
        "" | "0" => None,
        r => Some(
            r.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version \"{r}\"")))?,
        ),
    };
    let (tx, resp) = streaming(
        table
            .as_ref()
            .map_or("application/json", |t| t.content_type()),
    );
    // A table watch sends each object as a Table, column definitions in the first only.
    let mut first = true;
    let mut line = move |kind: &str, src: Source| match (&table, src) {
        (Some(t), Source::Object(o)) => t.watch_line(rt, kind, o, &mut first),
        (Some(t), Source::Change(c)) => t.watch_line(rt, kind, c.object(), &mut first),
        (None, Source::Object(o)) => watch_line(kind, o),
        (None, Source::Change(c)) => c.line_as(kind),
    };
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut notify = shared.store.subscribe();
        let ns = ns.as_deref();
        let mut cursor = match start_rv {
            Some(rv) if !send_initial => rv,
            _ => {
                let keep = |v: &Value| filter.matches(v);
                let (items, rv) = shared.store.list(rt, ns, &keep);
                for it in &items {
                    if tx
                        .send(Ok(Frame::data(line("ADDED", Source::Object(it)))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if send_initial && bookmarks {
                    let b = bookmark(rt, rv, true);
                    if tx
                        .send(Ok(Frame::data(watch_line("BOOKMARK", &b))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                rv
            }
        };
        loop {
            notify.borrow_and_update();
            match shared.store.changes_since(rt, ns, cursor, WATCH_BATCH) {
                Err(e) => {
                    let _ = tx
                        .send(Ok(Frame::data(watch_line("ERROR", &e.status()))))
                        .await;
                    return;
                }
                Ok((changes, upto)) => {
                    for c in changes {
                        // Without a selector every change is sent as it is, undecoded.
                        let kind = if filter.is_empty() {
                            c.event.as_str()
                        } else {
                            let new_ok = filter.matches(c.object());
                            let old_ok = c.old().map(|o| filter.matches(o));
                            match (c.event, new_ok, old_ok) {
                                (EventType::Deleted, true, _) => "DELETED",
                                (EventType::Added, true, _) => "ADDED",
                                (EventType::Modified, true, Some(true) | None) => "MODIFIED",
                                (EventType::Modified, true, Some(false)) => "ADDED",
                                (EventType::Modified, false, Some(true)) => "DELETED",
                                _ => continue,
                            }
                        };
                        if tx
                            .send(Ok(Frame::data(line(kind, Source::Change(&c)))))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    let progressed = upto > cursor;
                    cursor = upto;
                    if progressed && *notify.borrow() > cursor {
                        continue;
                    }
                }
            }
            let idle = tokio::time::sleep(Duration::from_secs(10));
            tokio::select! {
                r = notify.changed() => if r.is_err() { return },
                _ = tx.closed() => return,
                _ = tokio::time::sleep_until(deadline) => {
                    if bookmarks {
                        let b = bookmark(rt, cursor, false);
                        let _ = tx.send(Ok(Frame::data(watch_line("BOOKMARK", &b)))).await;
                    }
                    return;
                }
                _ = idle => {
                    if bookmarks {
                        let b = bookmark(rt, cursor, false);
                        if tx.send(Ok(Frame::data(watch_line("BOOKMARK", &b)))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    Ok(resp)
}

fn format_line(l: &super::logs::LogLine, timestamps: bool) -> String {
    if timestamps {
        format!("{} {}\n", l.time.format("%Y-%m-%dT%H:%M:%S%.9fZ"), l.text)
    } else {
        format!("{}\n", l.text)
    }
}

async fn pod_log(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
    q: Query,
) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let rt = resources::by_kind("Pod");
    let pod = shared.store.get(rt, ns, name)?;
    let container_names = |list: &str| -> Vec<String> {
        pod.pointer(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let names = container_names("/spec/containers");
    let inits = container_names("/spec/initContainers");
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !names.contains(c) && !inits.contains(c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let previous = flag(&q, "previous");
    // The container's status as the kubelet reports it (init containers included).
    let status = ["/status/containerStatuses", "/status/initContainerStatuses"]
        .iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()));
    let log = if previous {
        // As a kubelet does: the previous log is the run `lastState.terminated` names; without
        // one there is none, even if an earlier run's log is still kept.
        let has_last = status.map(|c| c.pointer("/lastState/terminated").is_some());
        if has_last == Some(false) {
            None
        } else {
            shared.logs.last_terminated(ns, name, &container)
        }
    } else {
        shared.logs.instance(ns, name, &container, false)
    };
    let Some(log) = log else {
        if previous {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        let reason = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("name").and_then(Value::as_str) == Some(container.as_str()))
            })
            .and_then(|c| c.pointer("/state/waiting/reason"))
            .and_then(Value::as_str)
            .unwrap_or("ContainerCreating")
            .to_string();
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    };
    let timestamps = flag(&q, "timestamps");
    let follow = flag(&q, "follow") && !previous;
    let mut lines = log.lines();
    if let Some(s) = q.get("sinceSeconds").and_then(|s| s.parse::<i64>().ok()) {
        let since = chrono::Utc::now() - chrono::Duration::seconds(s);
        lines.retain(|l| l.time >= since);
    } else if let Some(t) = q.get("sinceTime")
        && let Ok(t) = chrono::DateTime::parse_from_rfc3339(t)
    {
        lines.retain(|l| l.time >= t);
    }
    if let Some(n) = q.get("tailLines").and_then(|s| s.parse::<usize>().ok())
        && lines.len() > n
    {
        lines.drain(..lines.len() - n);
    }
    let limit = q.get("limitBytes").and_then(|s| s.parse::<usize>().ok());
    let next_seq = match lines.last() {
        Some(l) => l.seq + 1,
        None => log.lines().last().map(|l| l.seq + 1).unwrap_or(0),
    };
    let mut head = String::new();
    for l in &lines {
        head.push_str(&format_line(l, timestamps));
    }
    if let Some(n) = limit
        && head.len() >= n
    {
        let mut cut = n;
        while !head.is_char_boundary(cut) {
            cut -= 1;
        }
        head.truncate(cut);
        return Ok(Response::builder()
            .header("content-type", "text/plain")
            .body(full(head))
            .unwrap_or_else(|_| Response::new(full(""))));
    }
    if !follow {
        return Ok(Response::builder()
            .header("content-type", "text/plain")
            .body(full(head))
            .unwrap_or_else(|_| Response::new(full(""))));
    }
    let (tx, resp) = streaming("text/plain");
    let mut follower = Follower::new(log, next_seq);
    tokio::spawn(async move {
        let mut budget = limit.map(|n| n - head.len());
        if !head.is_empty() && tx.send(Ok(Frame::data(Bytes::from(head)))).await.is_err() {
            return;
        }
        loop {
            let batch = tokio::select! {
                b = follower.next_batch() => b,
                _ = tx.closed() => return,
            };
            let Some(batch) = batch else { return };
            let mut chunk = String::new();
            for l in &batch {
                chunk.push_str(&format_line(l, timestamps));
            }
            if let Some(b) = budget.as_mut() {
                if chunk.len() >= *b {
                    let mut cut = *b;
                    while !chunk.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    chunk.truncate(cut);
                    let _ = tx.send(Ok(Frame::data(Bytes::from(chunk)))).await;
                    return;
                }
                *b -= chunk.len();
            }
            if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                return;
            }
        }
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let st = store::Store::new();
        assert!(matches!(route("/version", &st), Some(Route::Version)));
        assert!(matches!(route("/apis/apps", &st), Some(Route::Group(g)) if g == "apps"));
        match route("/api/v1/namespaces/demo/pods/web-1/log", &st) {
            Some(Route::Resource { rt, ns, name, sub }) => {
                assert_eq!(rt.kind, "Pod");
                assert_eq!(ns.as_deref(), Some("demo"));
                assert_eq!(name.as_deref(), Some("web-1"));
                assert_eq!(sub.as_deref(), Some("log"));
            }
            r => panic!("{r:?}"),
        }
        match route("/api/v1/namespaces/demo", &st) {
            Some(Route::Resource { rt, name, ns, .. }) => {
                assert_eq!(rt.kind, "Namespace");
                assert_eq!(name.as_deref(), Some("demo"));
                assert!(ns.is_none());
            }
            r => panic!("{r:?}"),
        }
        match route("/api/v1/namespaces/demo/status", &st) {
            Some(Route::Resource { rt, sub, .. }) => {
                assert_eq!(rt.kind, "Namespace");
                assert_eq!(sub.as_deref(), Some("status"));
            }
            r => panic!("{r:?}"),
        }
        assert!(matches!(
            route("/apis/apps/v1/deployments", &st),
            Some(Route::Resource {
                ns: None,
                name: None,
                ..
            })
        ));
        assert!(route("/api/v1/pods/x", &st).is_none());
        assert!(route("/apis/apps/v1/widgets", &st).is_none());
        assert!(route("/nothing", &st).is_none());
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, "demo", "web-1");
        assert_eq!(
            decode_continue(&t).unwrap(),
            ("demo".into(), "web-1".into())
        );
        assert!(decode_continue("not a token").is_err());
    }
}
