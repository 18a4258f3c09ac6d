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
//! - [`controllers`]: deployment, replica set, scheduler, kubelet and job controllers, with events;
//! - [`shared`]: what the controllers and the server share (store, logs, [`Timing`]);
//! - [`server`]: the REST paths, watch and log streaming; [`protobuf`]: request bodies in
//!   Kubernetes' protobuf encoding, read as JSON;
//! - served by hand beside the store: [`authz`] (the self-subject reviews of `auth can-i` and
//!   `whoami`), [`metrics`] (the metrics API of `kubectl top`), [`eviction`] (pod evictions, for
//!   `drain`) and [`exec`] (exec, attach, port-forward and debug, refused with a message);
//! - [`server`]: the REST paths, watch and log streaming;
//! - [`printers`], [`table`]: the columns `kubectl get` prints, served as `meta.k8s.io` Tables;
//! - [`fixture`]: a YAML stream of manifests loaded at start.

pub mod authz;
pub mod controllers;
pub mod defaults;
pub mod error;
pub mod eviction;
pub mod exec;
pub mod field_validation;
pub mod fixture;
pub mod go_format;
pub mod logs;
pub mod metrics;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod printers;
pub mod protobuf;
pub mod resources;
pub mod selector;
pub mod server;
pub mod shared;
pub mod store;
pub mod table;
pub mod validation;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

pub use error::ApiError;
pub use logs::LogHub;
pub use shared::{Shared, Timing};
pub use store::Store;

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
}

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
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// `None` while the API server is stopped ([`Sandbox::stop_api`]).
    server: Option<Server>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Sandbox {
    /// Start a sandbox on the current tokio runtime.
    pub async fn start(config: Config) -> Result<Sandbox, StartError> {
        let shared = Arc::new(Shared {
            store: Store::with_history(config.history.unwrap_or(store::HISTORY)),
            logs: LogHub::new(),
            timing: config.timing.clone(),
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
        fixture::ensure_node(&shared.store);
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
        let server = Some(Server::spawn(shared.clone(), listener));
        let mut tasks = Vec::new();
        if !config.no_controllers {
            tasks.extend(controllers::spawn(shared.clone()));
        }
        Ok(Sandbox {
            shared,
            addr,
            server,
            tasks,
        })
    }

    /// Stops the API server as a crash would: it stops listening and every open connection is
    /// closed, watches and log follows included. The store, the logs and the controllers keep
    /// running (etcd and the nodes survive an API server restart). Does nothing if it is stopped.
    pub async fn stop_api(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.stop.send(());
            let _ = s.task.await;
        }
    }

    /// Starts the API server again on the same address, after [`Sandbox::stop_api`]. The port
    /// may still be held for a moment by the old listener's sockets: binding is retried briefly.
    pub async fn start_api(&mut self) -> Result<(), StartError> {
        if self.server.is_some() {
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
        self.server = Some(Server::spawn(self.shared.clone(), listener));
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
        if let Some(s) = &self.server {
            s.task.abort();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}
