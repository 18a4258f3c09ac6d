//! The link between a run's view and its cluster: connects (retrying with back-off until the
//! context can be pinned), watches pods, tails logs and fetches a pod's detail when asked
//! ([`Request`]), and only ever sends messages back ([`ClusterMsg`]). No drawing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::logs::{LogsUpdate, Source, TailHandle, TailOptions, spawn_tail};
use super::pods::{PodDetail, PodsUpdate, describe, spawn_watch};
use crate::target::PinnedCluster;

/// Lines the logs pane keeps.
pub const LOG_LINES: usize = 20_000;

/// What the cluster side tells the app.
#[derive(Debug)]
pub enum ClusterMsg {
    Pods(PodsUpdate),
    /// What the tail asked for as `Request::Tail { tail, .. }` reports: a view drops the
    /// updates of tails it has replaced (they may still be on their way).
    Logs {
        tail: u64,
        update: LogsUpdate,
    },
    Detail(PodDetail),
    /// The live context for the banner (`CONTEXT (SERVER)`), once pinned.
    Context(String),
    /// A request could not be carried out (no cluster yet, describe failed).
    Problem(String),
}

/// What the app asks of the cluster side.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Replaces the running tail. `tail` tags its updates ([`ClusterMsg::Logs`]).
    Tail {
        tail: u64,
        source: Source,
        since: Option<DateTime<Utc>>,
        previous: bool,
    },
    Describe {
        namespace: String,
        name: String,
    },
}

/// The cluster side of the panes: connects (retrying with back-off until the context can be
/// pinned), watches pods, tails logs, fetches details; sends everything back as [`ClusterMsg`].
pub struct Link {
    client: Arc<Mutex<Option<Client>>>,
    tx: mpsc::Sender<ClusterMsg>,
    tasks: Vec<JoinHandle<()>>,
    tail: Option<(TailHandle, JoinHandle<()>)>,
}

impl Link {
    /// Starts connecting to `target` and watching the pods of `namespaces`.
    pub fn start(
        target: Arc<PinnedCluster>,
        namespaces: Vec<String>,
    ) -> (Link, mpsc::Receiver<ClusterMsg>) {
        let (tx, rx) = mpsc::channel(1024);
        let client = Arc::new(Mutex::new(None));
        let connector = tokio::spawn(connect(target, namespaces, client.clone(), tx.clone()));
        (
            Link {
                client,
                tx,
                tasks: vec![connector],
                tail: None,
            },
            rx,
        )
    }

    fn client(&self) -> Option<Client> {
        self.client.lock().ok().and_then(|c| c.clone())
    }

    pub fn handle(&mut self, req: Request) {
        let Some(client) = self.client() else {
            // Asked again once connected (see `ClusterMsg::Context`).
            return;
        };
        match req {
            Request::Tail {
                tail,
                source,
                since,
                previous,
            } => {
                if let Some((old, fwd)) = self.tail.take() {
                    old.stop();
                    fwd.abort();
                }
                let (ltx, mut lrx) = mpsc::channel(64);
                let opts = TailOptions {
                    since,
                    container: None,
                    previous,
                };
                let handle = spawn_tail(client, source, opts, ltx);
                let tx = self.tx.clone();
                let fwd = tokio::spawn(async move {
                    while let Some(update) = lrx.recv().await {
                        if tx.send(ClusterMsg::Logs { tail, update }).await.is_err() {
                            break;
                        }
                    }
                });
                self.tail = Some((handle, fwd));
            }
            Request::Describe { namespace, name } => {
                let tx = self.tx.clone();
                self.tasks.push(tokio::spawn(async move {
                    let msg = match describe(client, &namespace, &name).await {
                        Ok(d) => ClusterMsg::Detail(d),
                        Err(e) => ClusterMsg::Problem(format!("pod {name}: {e}")),
                    };
                    let _ = tx.send(msg).await;
                }));
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some((_, fwd)) = &self.tail {
            fwd.abort();
        }
    }
}

async fn connect(
    target: Arc<PinnedCluster>,
    namespaces: Vec<String>,
    slot: Arc<Mutex<Option<Client>>>,
    tx: mpsc::Sender<ClusterMsg>,
) {
    let mut delay = Duration::from_millis(500);
    let client = loop {
        match target.client().await {
            Ok(c) => break c,
            Err(e) => {
                let error = format!("no cluster reachable: {e}");
                if tx
                    .send(ClusterMsg::Pods(PodsUpdate::Disconnected { error }))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    if let Ok(mut s) = slot.lock() {
        *s = Some(client.clone());
    }
    let _ = tx.send(ClusterMsg::Context(target.describe())).await;
    let (ptx, mut prx) = mpsc::channel(1024);
    let _watch = WatchGuard(spawn_watch(client, namespaces, ptx));
    while let Some(u) = prx.recv().await {
        if tx.send(ClusterMsg::Pods(u)).await.is_err() {
            break;
        }
    }
}

struct WatchGuard(JoinHandle<()>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
