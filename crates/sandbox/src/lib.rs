//! The sandbox: an in-memory Kubernetes API served over HTTP on 127.0.0.1, with controllers that make
//! it behave like a cluster (Deployments roll out, pods start, crash and log, Jobs complete).
//!
//! Runbooks are rehearsed against it and tollgate's own tests talk to it through kube-rs exactly as they
//! would to a real cluster. Its modules, from the bottom up:
//! - [`object`], [`go_format`]: reading and writing objects held as JSON, and Go's formatting of the
//!   messages copied from Kubernetes;
//! - [`resources`]: the served types and discovery documents;
//! - [`store`]: objects as JSON with the API server's write rules, and the change history watches read;
//! - [`selector`], [`patch`], [`defaults`], [`validation`]: label/field selectors, the four patch
//!   types, defaulting and validation;
//! - [`openapi`], [`field_validation`]: the OpenAPI documents of the served types, generated from
//!   k8s-openapi's schemas, and `fieldValidation` (unknown and duplicate fields) against them;
//! - [`logs`]: container logs, previous instances and followers;
//! - [`controllers`]: deployment, replica set, scheduler, kubelet and job controllers, with events,
//!   the Argo Rollouts controller once the Rollout CRD is applied ([`crds::ARGO_ROLLOUTS`]) and
//!   Argo CD's application controller (`controllers::argocd`) once the Application CRD
//!   ([`crds::ARGOCD_APPLICATION`]) is applied;
//! - [`shared`]: what the controllers and the server share (store, logs, [`Timing`]);
//! - [`server`]: the REST paths, watch and log streaming; [`protobuf`]: request bodies in
//!   Kubernetes' protobuf encoding, read as JSON;
//! - served by hand beside the store: [`authz`] (the self-subject reviews of `auth can-i` and
//!   `whoami`), [`metrics`] (the metrics API of `kubectl top`), [`eviction`] (pod evictions, for
//!   `drain`) and [`exec`] (exec, attach, port-forward and debug, refused with a message);
//! - [`server`]: the REST paths, watch and log streaming;
//! - [`printers`], [`table`]: the columns `kubectl get` prints, served as `meta.k8s.io` Tables;
//! - [`fixture`]: a YAML stream of manifests loaded at start;
//! - [`faults`]: faults a rehearsal injects through the [`Sandbox`] handle;
//! - [`traffic`]: HTTP traffic to Services and Ingress hosts, answered by their ready pods as
//!   their images say, on one more port of 127.0.0.1 routed by `Host`
//!   ([`Sandbox::traffic_addr`]).
//!
//! # Faults
//!
//! A rehearsal drives failures into the running sandbox through its [`Sandbox`] handle:
//! - [`Sandbox::crash_new_pods`]: the pods a Deployment creates from now on (its rollout's new
//!   pods) crash-loop as the kubelet's `crashloop` image rule makes them (start, log an error,
//!   exit 1, restart with a growing back-off: `CrashLoopBackOff`); its pods that exist are left alone.
//! - [`Sandbox::lose_node`]: the node goes NotReady as when its kubelet stops posting status
//!   (conditions `Unknown`, reason `NodeStatusUnknown`, the `node.kubernetes.io/unreachable`
//!   NoSchedule and NoExecute taints, its pods not ready, events) and stays so; the scheduler
//!   places nothing there, and after their toleration of the taint (300 simulated seconds by
//!   default) its pods are evicted and their controllers replace them elsewhere, if they fit.
//!   See [`faults`].
//! - [`Sandbox::restart_api`]: the API server restarts as a real one does: every connection and
//!   watch is dropped, new connections are refused for [`RESTART_OUTAGE_SECONDS`] simulated
//!   seconds, then it serves again on the same address with the same objects (etcd survives;
//!   the controllers keep running). Clients reconnect (kube-rs watchers relist or resume).
//!
//! # Memory
//!
//! What a sandbox holds grows with its live objects and with the history of changes that watches
//! resume from. The history keeps at most [`store::HISTORY`] changes; the newest [`store::HOT`]
//! as objects (shared with the store), older ones only as the watch line each was sent as, and
//! of those no more than [`Config::history_bytes`] (default [`store::HISTORY_BYTES`], 64 MiB):
//! the oldest go first, and a watch from a resourceVersion older than what is kept gets 410 Gone
//! ("too old resource version"), as from a real API server.

pub mod authz;
pub mod controllers;
pub mod crd;
pub mod defaults;
pub mod error;
pub mod eviction;
pub mod exec;
pub mod faults;
pub mod field_validation;
pub mod fixture;
pub mod go_format;
pub mod logs;
pub mod metrics;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod pod_security;
pub mod printers;
pub mod protobuf;
pub mod resources;
pub mod selector;
pub mod server;
pub mod shared;
pub mod store;
pub mod table;
pub mod traffic;
pub mod validation;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;

pub use error::ApiError;
pub use faults::FaultError;
pub use logs::LogHub;
pub use shared::{Shared, Timing};
pub use store::Store;

/// Upstream CustomResourceDefinition manifests, bundled as data (YAML streams that load as
/// fixtures or through `kubectl apply`): see `crds/README.md` for where each comes from.
pub mod crds {
    /// Argo Rollouts' Rollout CRD (`rollouts.argoproj.io`).
    pub const ARGO_ROLLOUTS: &str = include_str!("../crds/argo-rollouts.yaml");
    /// Argo Rollouts' AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun CRDs.
    pub const ARGO_ROLLOUTS_ANALYSIS: &str = include_str!("../crds/argo-rollouts-analysis.yaml");
    /// Argo CD's Application CRD (`applications.argoproj.io`).
    pub const ARGOCD_APPLICATION: &str = include_str!("../crds/argocd-application.yaml");
    /// External Secrets Operator's ExternalSecret, SecretStore and ClusterSecretStore CRDs
    /// (`external-secrets.io`, v1alpha1 and v1beta1). No controller here acts on them.
    pub const EXTERNAL_SECRETS: &str = include_str!("../crds/external-secrets.yaml");
}

/// How to start a sandbox.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub timing: Timing,
    /// Fixture files (YAML streams of manifests) loaded before the controllers start.
    pub fixtures: Vec<PathBuf>,
    /// Start without controllers: a bare API server (for tests of the API alone).
    pub no_controllers: bool,
    /// Changes kept for watches (default [`store::HISTORY`]); a watch from older gets 410 Gone.
    pub history: Option<usize>,
    /// Bytes of encoded changes kept for watches (default [`store::HISTORY_BYTES`]): older
    /// changes are dropped first. See the crate docs' "Memory".
    pub history_bytes: Option<usize>,
    /// No node unless a fixture has one: by default a cluster without any gets
    /// `sandbox-node-1` so pods can run; a first deploy's cluster has none until its node group
    /// is made.
    pub no_default_node: bool,
    /// Git repositories served under another URL: an Argo CD Application whose `repoURL` is one
    /// of these URLs reads the local repository given (a rehearsal's copy of a remote one).
    pub repos: Vec<(String, PathBuf)>,
}

/// How long the API server refuses connections when it restarts ([`Sandbox::restart_api`]), in
/// simulated seconds.
pub const RESTART_OUTAGE_SECONDS: f64 = 1.5;

impl Config {
    /// A sandbox for tests: fast time, no fixture.
    pub fn fast() -> Config {
        Config {
            timing: Timing {
                speed: 50.0,
                log_rate: 1.0,
            },
            ..Config::default()
        }
    }
}

/// Why a sandbox did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot listen for Service traffic on 127.0.0.1: {0}")]
    Traffic(std::io::Error),
    #[error("{0}")]
    Fixture(String),
}

/// The API server's task and the signal that stops it.
struct Server {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    fn spawn(shared: Arc<Shared>, listener: tokio::net::TcpListener) -> Server {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve_until(shared, listener, async move {
            let _ = stopped.await;
        }));
        Server { task, stop }
    }
}

/// A running sandbox. Dropping it stops the server and the controllers.
///
/// Every method takes `&self`: the handle can be shared (e.g. in an `Arc`) between a rehearsal's
/// tasks, one of them injecting faults while others use the cluster.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// `None` while the API server is stopped ([`Sandbox::stop_api`]).
    server: Mutex<Option<Server>>,
    /// The controllers, and the tasks of faults (evictions from lost nodes).
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    traffic: Arc<traffic::Traffic>,
    traffic_addr: SocketAddr,
    /// The traffic port's server (not stopped by [`Sandbox::stop_api`]).
    traffic_task: tokio::task::JoinHandle<()>,
}

/// Namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Sandbox {
    /// Start a sandbox on the current tokio runtime.
    pub async fn start(config: Config) -> Result<Sandbox, StartError> {
        let shared = Arc::new(Shared {
            store: Store::with_history_bytes(
                config.history.unwrap_or(store::HISTORY),
                config.history_bytes.unwrap_or(store::HISTORY_BYTES),
            ),
            logs: LogHub::new(),
            timing: config.timing.clone(),
            faults: faults::Faults::default(),
            apps: traffic::Apps::default(),
            repos: Arc::new(config.repos.iter().cloned().collect()),
        });
        let nsrt = resources::by_kind("Namespace");
        for ns in SYSTEM_NAMESPACES {
            let _ = shared
                .store
                .create(nsrt, "", json!({"metadata": {"name": ns}}), false);
        }
        for f in &config.fixtures {
            fixture::load_file(&shared.store, f).map_err(StartError::Fixture)?;
        }
        if !config.no_default_node {
            fixture::ensure_node(&shared.store);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| StartError::Bind {
                port: config.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            port: config.port,
            source,
        })?;
        let traffic_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(StartError::Traffic)?;
        let traffic_addr = traffic_listener.local_addr().map_err(StartError::Traffic)?;
        let traffic = Arc::new(traffic::Traffic::new(shared.clone()));
        let traffic_task = tokio::spawn(traffic::serve_until(
            traffic.clone(),
            traffic_listener,
            std::future::pending(),
        ));
        let server = Some(Server::spawn(shared.clone(), listener));
        let mut tasks = Vec::new();
        if !config.no_controllers {
            tasks.extend(controllers::spawn(shared.clone()));
        }
        Ok(Sandbox {
            shared,
            addr,
            server: Mutex::new(server),
            tasks: Mutex::new(tasks),
            traffic,
            traffic_addr,
            traffic_task,
        })
    }

    /// Where Services and Ingress hosts answer HTTP: one port of 127.0.0.1, routed by the
    /// request's `Host` (see [`traffic`]).
    pub fn traffic_addr(&self) -> SocketAddr {
        self.traffic_addr
    }

    /// `http://127.0.0.1:PORT` of [`Sandbox::traffic_addr`].
    pub fn traffic_url(&self) -> String {
        format!("http://{}", self.traffic_addr)
    }

    /// The address to connect to for `host` (a URL's host: an Ingress host, or
    /// `SERVICE.NAMESPACE[.svc[.cluster.local]]`) when the sandbox routes it now: the traffic
    /// port, sending `host` as the request's `Host`. `None` for a host it does not route.
    pub fn traffic_for(&self, host: &str) -> Option<SocketAddr> {
        self.traffic.routes(host).then_some(self.traffic_addr)
    }

    /// The router and answers of the traffic port.
    pub fn traffic(&self) -> &Arc<traffic::Traffic> {
        &self.traffic
    }

    fn server_slot(&self) -> MutexGuard<'_, Option<Server>> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the API server as a crash would: it stops listening and every open connection is
    /// closed, watches and log follows included. The store, the logs and the controllers keep
    /// running (etcd and the nodes survive an API server restart). Does nothing if it is stopped.
    pub async fn stop_api(&self) {
        let server = self.server_slot().take();
        if let Some(s) = server {
            let _ = s.stop.send(());
            let _ = s.task.await;
        }
    }

    /// Starts the API server again on the same address, after [`Sandbox::stop_api`]. The port
    /// may still be held for a moment by the old listener's sockets: binding is retried briefly.
    pub async fn start_api(&self) -> Result<(), StartError> {
        if self.server_slot().is_some() {
            return Ok(());
        }
        let port = self.addr.port();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            let bound = tokio::net::TcpSocket::new_v4().and_then(|sock| {
                sock.set_reuseaddr(true)?;
                sock.bind(self.addr)?;
                sock.listen(1024)
            });
            match bound {
                Ok(l) => break l,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(source) => return Err(StartError::Bind { port, source }),
            }
        };
        let mut slot = self.server_slot();
        if slot.is_none() {
            *slot = Some(Server::spawn(self.shared.clone(), listener));
        }
        Ok(())
    }

    /// Restarts the API server as a real one restarts: every open connection and watch is
    /// dropped, new connections are refused for [`RESTART_OUTAGE_SECONDS`] simulated seconds,
    /// then it serves again on the same address with the same objects. Returns once it serves.
    pub async fn restart_api(&self) -> Result<(), StartError> {
        self.stop_api().await;
        tokio::time::sleep(self.shared.timing.delay(RESTART_OUTAGE_SECONDS)).await;
        self.start_api().await
    }

    /// Whether the API server is serving (not stopped, nor restarting).
    pub fn api_serving(&self) -> bool {
        self.server_slot().is_some()
    }

    /// From now on, the pods Deployment `deployment` of `namespace` creates (its rollout's new
    /// pods) crash-loop as the `crashloop` image rule makes them: each starts, logs an error,
    /// exits 1 and restarts with a growing back-off (`CrashLoopBackOff`). Its pods that exist
    /// now are left alone. An unknown Deployment is an error that names it.
    pub fn crash_new_pods(&self, namespace: &str, deployment: &str) -> Result<(), FaultError> {
        self.shared
            .faults
            .crash_new_pods(&self.shared.store, namespace, deployment)
    }

    /// [`Sandbox::crash_new_pods`] for a Deployment that may not exist yet (the step about to
    /// run creates it): the pods it makes from now on crash-loop, whenever it appears.
    pub fn crash_pods_of(&self, namespace: &str, deployment: &str) {
        self.shared
            .faults
            .arm_crash(&self.shared.store, namespace, deployment)
    }

    /// Node `name` is lost: it goes NotReady as when its kubelet stops posting status, and stays
    /// so; after their toleration of the `node.kubernetes.io/unreachable` taint its pods are
    /// evicted and replaced by their controllers elsewhere, if they fit (see [`faults`]). An
    /// unknown node is an error that names it. Losing a lost node again does nothing.
    pub fn lose_node(&self, name: &str) -> Result<(), FaultError> {
        let already = self.shared.faults.node_lost(name);
        faults::lose_node(&self.shared, name)?;
        if !already {
            let task = tokio::spawn(faults::evict_after_tolerations(
                self.shared.clone(),
                name.to_string(),
            ));
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        }
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    pub fn logs(&self) -> &Arc<LogHub> {
        &self.shared.logs
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A kubeconfig for this sandbox, with `namespace` as the context's default.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        self.kubeconfig_for(namespace, "tollgate-sandbox")
    }

    /// A kubeconfig for this sandbox whose context (and cluster) is called `context`, e.g. the
    /// context a runbook is pinned to, to rehearse it unchanged.
    pub fn kubeconfig_for(&self, namespace: &str, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {url}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    namespace: {namespace}\n    user: tollgate-sandbox\ncurrent-context: {context}\nusers:\n- name: tollgate-sandbox\n  user:\n    token: sandbox\n",
            url = self.url()
        )
    }

    /// Applies a YAML stream of manifests in process, as a fixture is loaded: namespaces first,
    /// then CustomResourceDefinitions, then the rest (see [`fixture::load_str`]). Returns how
    /// many objects were created; the error is one line naming `origin` and the document.
    pub fn apply_yaml(&self, text: &str, origin: &str) -> Result<usize, String> {
        fixture::load_str(&self.shared.store, text, origin)
    }

    /// A kube-rs configuration for this sandbox.
    pub fn client_config(&self, namespace: &str) -> kube::Config {
        let uri = self
            .url()
            .parse()
            .unwrap_or_else(|_| hyper::Uri::from_static("http://127.0.0.1"));
        let mut c = kube::Config::new(uri);
        c.default_namespace = namespace.to_string();
        c
    }

    /// A kube-rs client for this sandbox, `default` namespace.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.client_config("default"))
            .expect("a plain-HTTP kube client always builds")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(s) = self.server_slot().as_ref() {
            s.task.abort();
        }
        self.traffic_task.abort();
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            t.abort();
        }
    }
}
