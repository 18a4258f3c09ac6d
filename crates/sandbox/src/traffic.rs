//! Service traffic: every Service, and every Ingress host through its rules, answers HTTP on the
//! sandbox's own address, served by the Service's ready pods as their images say.
//!
//! # Design: one traffic port, routed by Host
//!
//! The sandbox listens on one more port of 127.0.0.1 ([`crate::Sandbox::traffic_addr`]) and routes
//! each request by its `Host` header (a port in it is ignored):
//! - `SERVICE.NAMESPACE`, `SERVICE.NAMESPACE.svc` and `SERVICE.NAMESPACE.svc.cluster.local` reach
//!   that Service;
//! - an Ingress host (`spec.rules[].host`, exact or a `*.` wildcard of one label) reaches the
//!   backend Service of its longest matching path (`Exact`, `Prefix` by path elements,
//!   `ImplementationSpecific` as a plain prefix), else the Ingress's `spec.defaultBackend`.
//!   Ingress hosts are looked at first.
//!
//! Anything else is 404 with a body that says what the sandbox routes; a Service or backend that
//! does not exist is 404 naming it; a Service with no ready endpoint is 503 saying how many pods
//! its selector matches.
//!
//! # Endpoints
//!
//! A Service's endpoints are the pods of its namespace that its `spec.selector` matches, whose
//! `Ready` condition is True, that are not being deleted, and whose image can serve (not a
//! `crashloop`, `oom`, `fail` or pull-error image, which are never ready for long). They are
//! kept per Service and read again from the store only when a pod or a Service of its namespace
//! changed since (the store's history says so, from the version last seen): a request costs a
//! look at the changes since the last one, not a scan of the pods. Requests go round robin over
//! the endpoints, sorted by name, so each gets its share in proportion to their number (a
//! canary of 1 pod beside 3 stable ones gets a quarter).
//!
//! # Answers
//!
//! Every answer from a pod carries `x-sandbox-pod` (its name) and `x-sandbox-image` (the image
//! of its first container, which serves). By the image's rule (see the kubelet's image rules):
//! - normal: 200, `ok: pod NAME image IMAGE`;
//! - `errors-N`: 500 for N of every 100 requests a pod serves, spread evenly: its request `k`
//!   (counted from 0, per pod) fails when ⌊(k+1)·N/100⌋ > ⌊k·N/100⌋ (with N = 10: its 10th,
//!   20th, 30th, …), so any run of requests gets ⌊N·count/100⌋ of them; the others 200;
//! - `unhealthy`: 200 during its healthy period, 503 after it (the same instant its probes start
//!   failing, on the kubelet's clock: [`Apps`]), for as long as it is still an endpoint;
//! - `slow`: 200 after [`SLOW_LATENCY`] simulated seconds (through [`Timing`](crate::Timing)).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use crate::controllers::kubelet::{ImageRule, image_rule};
use crate::object::{Key, PointerLookup, str_at, uid_of};
use crate::resources::by_kind;
use crate::shared::Shared;

/// How long a `slow` image's application takes to answer, in simulated seconds.
pub const SLOW_LATENCY: f64 = 2.0;
/// Connections the traffic port serves at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 1024;
/// How long a client has to send a request's headers (a slow or stalled client is closed).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Pods whose served counts are kept before those no longer endpoints are dropped.
const SERVED_BOUND: usize = 4096;
/// The header naming the pod that answered.
pub const POD_HEADER: &str = "x-sandbox-pod";
/// The header naming the image of the pod that answered.
pub const IMAGE_HEADER: &str = "x-sandbox-image";

/// When each `unhealthy` pod's application stops answering: the kubelet records it as the
/// container starts (its probes fail from the same instant), the traffic answers 503 from then.
#[derive(Default)]
pub struct Apps(Mutex<HashMap<Key, Instant>>);

impl Apps {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Instant>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pod `ns/name`'s application stops answering at `at`.
    pub fn fails_at(&self, ns: &str, name: &str, at: Instant) {
        self.lock().insert((ns.to_string(), name.to_string()), at);
    }

    /// The pod is gone (or stopped): nothing is recorded for it any more.
    pub fn forget(&self, ns: &str, name: &str) {
        self.lock().remove(&(ns.to_string(), name.to_string()));
    }

    /// Whether pod `ns/name`'s application has stopped answering at `now`.
    pub fn failing(&self, ns: &str, name: &str, now: Instant) -> bool {
        self.lock()
            .get(&(ns.to_string(), name.to_string()))
            .is_some_and(|at| now >= *at)
    }
}

/// One ready pod of a Service.
#[derive(Clone, Debug)]
struct Endpoint {
    name: String,
    uid: String,
    image: String,
    rule: ImageRule,
}

/// A Service's endpoints as last read, and the store version they were read at.
struct Endpoints {
    seen: u64,
    /// Whether the Service exists.
    exists: bool,
    ready: Arc<Vec<Endpoint>>,
    /// Pods the selector matches, ready or not (for the 503's words).
    matching: usize,
    next: u64,
}

/// One rule of an Ingress: its host and its paths, each with its backend Service.
#[derive(Clone, Debug)]
struct IngressRoute {
    host: String,
    namespace: String,
    ingress: String,
    /// (path, path type, service); empty for a rule without `http`.
    paths: Vec<(String, String, String)>,
    default_backend: Option<String>,
}

#[derive(Default)]
struct State {
    services: HashMap<Key, Endpoints>,
    ingress_seen: Option<u64>,
    ingresses: Vec<IngressRoute>,
    /// Pod uid → requests it has served.
    served: HashMap<String, u64>,
}

/// What a request is routed to.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Service { namespace: String, name: String },
    Missing(String),
}

/// The router and answers of the traffic port. Shared by its connections.
pub struct Traffic {
    shared: Arc<Shared>,
    state: Mutex<State>,
}

/// A plain-text answer.
fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The host of a `Host` header: lowercase, without a port or a trailing dot.
pub fn host_of(header: &str) -> String {
    let h = header.trim();
    let h = if let Some(rest) = h.strip_prefix('[') {
        // An IPv6 literal: the address between the brackets.
        rest.split(']').next().unwrap_or(rest)
    } else {
        h.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(h, |(host, _)| host)
    };
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// `(service, namespace)` of a Service host name, in any of its forms.
fn service_host(host: &str) -> Option<(&str, &str)> {
    let host = host
        .strip_suffix(".svc.cluster.local")
        .or_else(|| host.strip_suffix(".svc"))
        .unwrap_or(host);
    let (svc, ns) = host.split_once('.')?;
    (!svc.is_empty() && !ns.is_empty() && !ns.contains('.')).then_some((svc, ns))
}

/// Whether an Ingress rule's host (exact, or `*.` and one label) matches `host`.
fn host_matches(rule: &str, host: &str) -> bool {
    match rule.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix),
        None => rule == host,
    }
}

/// How long the part of `path` an Ingress path matches is, if it matches.
fn path_match(rule: &str, kind: &str, path: &str) -> Option<usize> {
    let rule = if rule.is_empty() { "/" } else { rule };
    match kind {
        "Exact" => (path == rule).then_some(rule.len()),
        "Prefix" => {
            let r = rule.trim_end_matches('/');
            let ok = r.is_empty()
                || path == r
                || path
                    .strip_prefix(r)
                    .is_some_and(|rest| rest.starts_with('/'));
            ok.then_some(r.len().max(1))
        }
        _ => path.starts_with(rule).then_some(rule.len()),
    }
}

impl Traffic {
    pub fn new(shared: Arc<Shared>) -> Traffic {
        Traffic {
            shared,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `host` (a `Host` header's value) reaches a Service of the sandbox now: an Ingress
    /// host, or a Service host of an existing Service.
    pub fn routes(&self, host: &str) -> bool {
        match self.route(&host_of(host), "/") {
            Route::Service { namespace, name } => self
                .shared
                .store
                .get(by_kind("Service"), &namespace, &name)
                .is_ok(),
            Route::Missing(_) => false,
        }
    }

    /// Reads the Ingresses again if any changed since they were last read.
    fn refresh_ingresses(&self, st: &mut State) {
        let store = &self.shared.store;
        let rt = by_kind("Ingress");
        if let Some(seen) = st.ingress_seen {
            match store.changes_since(rt, None, seen, 1) {
                Ok((changes, upto)) if changes.is_empty() => {
                    st.ingress_seen = Some(upto);
                    return;
                }
                _ => {}
            }
        }
        let (items, rv) = store.list(rt, None, &|_| true);
        let mut routes = Vec::new();
        for ing in &items {
            let namespace = str_at(ing, "/metadata/namespace").to_string();
            let ingress = str_at(ing, "/metadata/name").to_string();
            let default_backend = ing
                .at("/spec/defaultBackend/service/name")
                .and_then(Value::as_str)
                .map(str::to_string);
            let rules = ing.at("/spec/rules").and_then(Value::as_array);
            for rule in rules.into_iter().flatten() {
                let host = str_at(rule, "/host").to_ascii_lowercase();
                let paths = rule
                    .at("/http/paths")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            str_at(p, "/path").to_string(),
                            str_at(p, "/pathType").to_string(),
                            str_at(p, "/backend/service/name").to_string(),
                        )
                    })
                    .collect();
                routes.push(IngressRoute {
                    host,
                    namespace: namespace.clone(),
                    ingress: ingress.clone(),
                    paths,
                    default_backend: default_backend.clone(),
                });
            }
        }
        st.ingresses = routes;
        st.ingress_seen = Some(rv);
    }

    /// Where a request for `host` and `path` goes.
    fn route(&self, host: &str, path: &str) -> Route {
        let mut st = self.lock();
        self.refresh_ingresses(&mut st);
        // Exact hosts before wildcards; an empty rule host matches no named host.
        let mut candidates: Vec<&IngressRoute> = st
            .ingresses
            .iter()
            .filter(|r| !r.host.is_empty() && r.host == host)
            .collect();
        if candidates.is_empty() {
            candidates = st
                .ingresses
                .iter()
                .filter(|r| r.host.starts_with("*.") && host_matches(&r.host, host))
                .collect();
        }
        if !candidates.is_empty() {
            let best = candidates
                .iter()
                .flat_map(|r| {
                    r.paths.iter().filter_map(move |(p, kind, svc)| {
                        path_match(p, kind, path).map(|len| (len, r, svc))
                    })
                })
                .max_by_key(|(len, _, _)| *len);
            if let Some((_, r, svc)) = best {
                return Route::Service {
                    namespace: r.namespace.clone(),
                    name: svc.clone(),
                };
            }
            if let Some(r) = candidates.iter().find(|r| r.default_backend.is_some()) {
                return Route::Service {
                    namespace: r.namespace.clone(),
                    name: r.default_backend.clone().unwrap_or_default(),
                };
            }
            let r = candidates[0];
            return Route::Missing(format!(
                "ingress {}/{} has no path matching {path} for host {host}, and no default backend",
                r.namespace, r.ingress
            ));
        }
        drop(st);
        match service_host(host) {
            Some((svc, ns)) => Route::Service {
                namespace: ns.to_string(),
                name: svc.to_string(),
            },
            None => Route::Missing(format!(
                "no Service or Ingress host `{host}` in the sandbox (a Service answers as SERVICE.NAMESPACE, SERVICE.NAMESPACE.svc or SERVICE.NAMESPACE.svc.cluster.local; an Ingress at its rules' hosts)"
            )),
        }
    }

    /// Whether anything that decides service `ns/name`'s endpoints changed since `seen`.
    fn changed_since(&self, ns: &str, seen: u64) -> Option<u64> {
        let store = &self.shared.store;
        let mut upto = u64::MAX;
        for kind in ["Pod", "Service"] {
            match store.changes_since(by_kind(kind), Some(ns), seen, 1) {
                // The lower of the two: a change between the two looks is seen next time.
                Ok((changes, u)) if changes.is_empty() => upto = upto.min(u),
                _ => return None,
            }
        }
        Some(upto.max(seen))
    }

    /// Service `ns/name`'s endpoints, read again only after a change.
    fn endpoints<'s>(&self, st: &'s mut State, ns: &str, name: &str) -> &'s mut Endpoints {
        let key: Key = (ns.to_string(), name.to_string());
        let fresh = st
            .services
            .get(&key)
            .and_then(|e| self.changed_since(ns, e.seen));
        match fresh {
            Some(upto) => {
                let e = st.services.get_mut(&key).expect("checked above");
                e.seen = upto;
                e
            }
            None => {
                let mut e = self.read_endpoints(ns, name);
                e.next = st.services.get(&key).map_or(0, |old| old.next);
                match st.services.entry(key) {
                    std::collections::hash_map::Entry::Occupied(mut o) => {
                        o.insert(e);
                        o.into_mut()
                    }
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(e),
                }
            }
        }
    }

    fn read_endpoints(&self, ns: &str, name: &str) -> Endpoints {
        let store = &self.shared.store;
        // The version first: a change after it is seen at the next request.
        let seen = store.resource_version();
        let Ok(svc) = store.get(by_kind("Service"), ns, name) else {
            return Endpoints {
                seen,
                exists: false,
                ready: Arc::new(Vec::new()),
                matching: 0,
                next: 0,
            };
        };
        let selector: Vec<(String, String)> = svc
            .at("/spec/selector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let (pods, _) = if selector.is_empty() {
            // A Service without a selector has no endpoints the sandbox makes.
            (Vec::new(), 0)
        } else {
            store.list(by_kind("Pod"), Some(ns), &|p| {
                let labels = p.at("/metadata/labels").and_then(Value::as_object);
                selector.iter().all(|(k, v)| {
                    labels
                        .and_then(|l| l.get(k))
                        .and_then(Value::as_str)
                        .is_some_and(|x| x == v)
                })
            })
        };
        let matching = pods.len();
        let mut ready: Vec<Endpoint> = pods
            .iter()
            .filter(|p| is_endpoint(p))
            .map(|p| {
                let image = str_at(p, "/spec/containers/0/image").to_string();
                Endpoint {
                    name: str_at(p, "/metadata/name").to_string(),
                    uid: uid_of(p).to_string(),
                    rule: image_rule(&image),
                    image,
                }
            })
            .collect();
        ready.sort_by(|a, b| a.name.cmp(&b.name));
        Endpoints {
            seen,
            exists: true,
            ready: Arc::new(ready),
            matching,
            next: 0,
        }
    }

    /// The answer to one request.
    pub async fn answer(&self, host_header: &str, path: &str) -> Response<Full<Bytes>> {
        let host = host_of(host_header);
        let (ns, name) = match self.route(&host, path) {
            Route::Service { namespace, name } => (namespace, name),
            Route::Missing(why) => return text(StatusCode::NOT_FOUND, format!("{why}\n")),
        };
        let picked = {
            let mut st = self.lock();
            let e = self.endpoints(&mut st, &ns, &name);
            if !e.exists {
                // Not kept: a request for any made-up host must not grow the cache.
                st.services.remove(&(ns.clone(), name.clone()));
                return text(
                    StatusCode::NOT_FOUND,
                    format!("service {ns}/{name} not found (host {host})\n"),
                );
            }
            if e.ready.is_empty() {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "no ready endpoints for service {ns}/{name}: {} pods match its selector, none ready\n",
                        e.matching
                    ),
                );
            }
            let i = (e.next % e.ready.len() as u64) as usize;
            e.next = e.next.wrapping_add(1);
            let ep = e.ready[i].clone();
            if st.served.len() > SERVED_BOUND {
                // Pods come and go: keep the counts of the endpoints still served only.
                let live: std::collections::HashSet<String> = st
                    .services
                    .values()
                    .flat_map(|e| e.ready.iter().map(|p| p.uid.clone()))
                    .collect();
                st.served.retain(|uid, _| live.contains(uid));
            }
            let served = st.served.entry(ep.uid.clone()).or_insert(0);
            let count = *served;
            *served += 1;
            (ep, count)
        };
        let (ep, count) = picked;
        let (status, body) = match ep.rule {
            ImageRule::Errors(n) if fails(count, n) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error: pod {} image {} (errors-{n})\n", ep.name, ep.image),
            ),
            ImageRule::Unhealthy if self.shared.apps.failing(&ns, &ep.name, Instant::now()) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unhealthy: pod {} image {}\n", ep.name, ep.image),
            ),
            rule => {
                if rule == ImageRule::Slow {
                    tokio::time::sleep(self.shared.timing.delay(SLOW_LATENCY)).await;
                }
                (
                    StatusCode::OK,
                    format!("ok: pod {} image {}\n", ep.name, ep.image),
                )
            }
        };
        let mut r = text(status, body);
        for (h, v) in [(POD_HEADER, &ep.name), (IMAGE_HEADER, &ep.image)] {
            if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
                r.headers_mut().insert(h, v);
            }
        }
        r
    }
}

/// Whether request `k` (from 0) of an `errors-N` pod fails: N of every 100, spread evenly.
pub fn fails(k: u64, n: u8) -> bool {
    let n = u64::from(n.min(100));
    (k + 1) * n / 100 > k * n / 100
}

/// Whether a pod serves its Services' traffic: Ready, not being deleted, and of an image that
/// can serve.
fn is_endpoint(pod: &Value) -> bool {
    if pod.at("/metadata/deletionTimestamp").is_some() {
        return false;
    }
    let ready = pod
        .at("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True");
    let image = str_at(pod, "/spec/containers/0/image");
    ready
        && !matches!(
            image_rule(image),
            ImageRule::CrashLoop | ImageRule::Oom | ImageRule::Fail | ImageRule::PullError
        )
}

/// Serves the traffic port until `shutdown`.
pub async fn serve_until(
    traffic: Arc<Traffic>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p,
            () = &mut shutdown => {
                drop(listener);
                conns.shutdown().await;
                return;
            }
        };
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => {
                drop(listener);
                conns.shutdown().await;
                return;
            }
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, say: wait a moment rather than spin.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let traffic = traffic.clone();
        conns.spawn(async move {
            let _permit = permit;
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let traffic = traffic.clone();
                async move {
                    // An absolute-form target's host wins over the Host header (RFC 9112 3.2.2).
                    let host = req
                        .uri()
                        .host()
                        .or_else(|| {
                            req.headers()
                                .get(hyper::header::HOST)
                                .and_then(|h| h.to_str().ok())
                        })
                        .unwrap_or("")
                        .to_string();
                    let path = req.uri().path().to_string();
                    Ok::<_, Infallible>(traffic.answer(&host, &path).await)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(io, svc)
                .await;
        });
        while conns.try_join_next().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_as_routed() {
        assert_eq!(host_of("Web.Shop.svc:8080"), "web.shop.svc");
        assert_eq!(host_of("app.example.com."), "app.example.com");
        assert_eq!(host_of("[::1]:80"), "::1");
        assert_eq!(service_host("web.shop"), Some(("web", "shop")));
        assert_eq!(service_host("web.shop.svc"), Some(("web", "shop")));
        assert_eq!(
            service_host("web.shop.svc.cluster.local"),
            Some(("web", "shop"))
        );
        assert_eq!(service_host("app.example.com"), None);
        assert_eq!(service_host("web"), None);
        assert!(host_matches("*.example.com", "app.example.com"));
        assert!(!host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
    }

    /// Requests for made-up Service hosts answer 404 and leave nothing behind: the cache holds
    /// Services that exist only.
    #[tokio::test]
    async fn made_up_hosts_do_not_grow_the_cache() {
        let store = crate::Store::new();
        let shared = Arc::new(Shared {
            store,
            logs: crate::LogHub::new(),
            timing: crate::Timing {
                speed: 1000.0,
                log_rate: 0.0,
            },
            repos: Default::default(),
            faults: Default::default(),
            apps: Default::default(),
        });
        let t = Traffic::new(shared);
        for i in 0..2000 {
            let r = t.answer(&format!("svc{i}.ns{i}"), "/").await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND);
        }
        assert_eq!(t.lock().services.len(), 0);
    }

    #[test]
    fn errors_n_fails_n_of_every_hundred_spread_evenly() {
        let failed = |count: u64, n: u8| (0..count).filter(|k| fails(*k, n)).count();
        assert_eq!(failed(100, 10), 10);
        assert_eq!(failed(50, 10), 5);
        assert_eq!(failed(9, 10), 0);
        assert_eq!(failed(10, 10), 1);
        assert_eq!(failed(1000, 3), 30);
        assert_eq!(failed(100, 0), 0);
        assert_eq!(failed(100, 100), 100);
    }

    #[test]
    fn ingress_paths_match_as_kubernetes_says() {
        assert_eq!(path_match("/", "Prefix", "/anything"), Some(1));
        assert_eq!(path_match("/api", "Prefix", "/api/v1"), Some(4));
        assert_eq!(path_match("/api/", "Prefix", "/api"), Some(4));
        assert_eq!(path_match("/api", "Prefix", "/apis"), None);
        assert_eq!(path_match("/health", "Exact", "/health"), Some(7));
        assert_eq!(path_match("/health", "Exact", "/health/"), None);
        assert_eq!(
            path_match("/ap", "ImplementationSpecific", "/apis"),
            Some(3)
        );
    }
}
