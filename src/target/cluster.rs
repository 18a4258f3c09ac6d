//! Which cluster a run talks to, pinned at the start, and checked again before every kube step.
//!
//! The context comes from `--context`, else the runbook's `targets.kube.context`, else the
//! kubeconfig's current context (standard loading: `KUBECONFIG`, then `~/.kube/config`; inside a
//! pod, the in-cluster service account). At the start tollgate records the context, its API
//! server and the cluster's identity (the `kube-system` namespace's uid). Before each kube step it
//! resolves the same inputs again: a context that now points elsewhere, a different current context
//! (when that is what the run was pinned to) or an API server that is another cluster blocks the
//! step with a message saying which.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};

/// Where the context name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--context` on the command line.
    Flag,
    /// The runbook's `targets.kube.context`.
    Runbook,
    /// The kubeconfig's `current-context`.
    Current,
    /// The pod's service account (no kubeconfig).
    InCluster,
}

/// What a run is pinned to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPin {
    pub context: String,
    pub server: String,
    /// The context's namespace (`default` when it names none).
    pub namespace: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("no kubeconfig: {0}")]
    NoKubeconfig(String),
    #[error("context `{context}` is not in the kubeconfig (it has: {available})")]
    NoContext { context: String, available: String },
    #[error("the kubeconfig names no current context; pass --context or set targets.kube.context")]
    NoCurrent,
    #[error("context `{0}` names no cluster with a server")]
    NoServer(String),
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error(
        "wrong cluster: the run is pinned to context `{pinned}` ({pinned_server}), but {found}; the step was not run"
    )]
    Mismatch {
        pinned: String,
        pinned_server: String,
        found: String,
    },
    #[error("cannot reach the API server {server}: {error}")]
    Unreachable { server: String, error: String },
}

/// Reads the kubeconfig: from `file` when given, else the standard way; `None` when there is
/// none at all.
fn read_kubeconfig(file: Option<&Path>) -> Result<Option<Kubeconfig>, ClusterError> {
    if let Some(f) = file {
        return Kubeconfig::read_from(f)
            .map(Some)
            .map_err(|e| ClusterError::Config(e.to_string()));
    }
    let paths = std::env::var_os("KUBECONFIG")
        .map(|v| std::env::split_paths(&v).any(|p| p.exists()))
        .unwrap_or(false);
    let home = std::env::var_os("HOME")
        .map(|h| std::path::Path::new(&h).join(".kube/config").exists())
        .unwrap_or(false);
    if !paths && !home {
        return Ok(None);
    }
    Kubeconfig::read()
        .map(Some)
        .map_err(|e| ClusterError::Config(e.to_string()))
}

/// Which files were looked for and are not there: those `KUBECONFIG` names, else
/// `~/.kube/config`.
fn missing_kubeconfig(env: Option<&std::ffi::OsStr>, home: Option<&std::ffi::OsStr>) -> String {
    let named: Vec<String> = env
        .map(|v| {
            std::env::split_paths(v)
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    match named.as_slice() {
        [] => {
            let file = home.map_or_else(
                || "~/.kube/config".to_string(),
                |h| Path::new(h).join(".kube/config").display().to_string(),
            );
            format!("{file} does not exist and KUBECONFIG is not set")
        }
        [one] => format!("KUBECONFIG names {one}, which does not exist"),
        many => format!("KUBECONFIG names {}; none of them exists", many.join(", ")),
    }
}

fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// Resolves the context to use and its server, without talking to it.
pub fn resolve(
    file: Option<&Path>,
    flag: Option<&str>,
    runbook: Option<&str>,
) -> Result<ClusterPin, ClusterError> {
    let Some(kc) = read_kubeconfig(file)? else {
        if in_cluster() && flag.is_none() {
            let config =
                kube::Config::incluster().map_err(|e| ClusterError::Config(e.to_string()))?;
            return Ok(ClusterPin {
                context: "in-cluster".into(),
                server: config.cluster_url.to_string(),
                namespace: config.default_namespace,
                source: Source::InCluster,
            });
        }
        return Err(ClusterError::NoKubeconfig(missing_kubeconfig(
            std::env::var_os("KUBECONFIG").as_deref(),
            std::env::var_os("HOME").as_deref(),
        )));
    };
    let (context, source) = match (flag, runbook.filter(|r| !r.is_empty())) {
        (Some(f), _) => (f.to_string(), Source::Flag),
        (None, Some(r)) => (r.to_string(), Source::Runbook),
        (None, None) => (
            kc.current_context.clone().ok_or(ClusterError::NoCurrent)?,
            Source::Current,
        ),
    };
    pin_in(&kc, &context, source)
}

fn pin_in(kc: &Kubeconfig, context: &str, source: Source) -> Result<ClusterPin, ClusterError> {
    let Some(ctx) = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
    else {
        let available: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(ClusterError::NoContext {
            context: context.to_string(),
            available: if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            },
        });
    };
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| ClusterError::NoServer(context.to_string()))?;
    Ok(ClusterPin {
        context: context.to_string(),
        server,
        namespace: ctx.namespace.clone().unwrap_or_else(|| "default".into()),
        source,
    })
}

/// A connection to the pinned cluster, checked before use. The pin is taken the first time it
/// is needed (a runbook may create its context in an early step, e.g. `aws eks
/// update-kubeconfig`) and never moves after that.
pub struct PinnedCluster {
    /// The kubeconfig file, when not found the standard way.
    file: Option<PathBuf>,
    flag: Option<String>,
    runbook: Option<String>,
    pin: Mutex<Option<ClusterPin>>,
    client: Mutex<Option<Client>>,
    /// The cluster's identity, learnt on the first connection.
    identity: Mutex<Option<String>>,
}

impl PinnedCluster {
    /// A target for `--context` (`flag`) or the runbook's context, in the standard kubeconfig.
    pub fn new(flag: Option<&str>, runbook: Option<&str>) -> PinnedCluster {
        PinnedCluster::in_file(None, flag, runbook)
    }

    /// A target whose kubeconfig is `file` (tests, and tools that keep their own kubeconfig).
    pub fn in_file(
        file: Option<&Path>,
        flag: Option<&str>,
        runbook: Option<&str>,
    ) -> PinnedCluster {
        PinnedCluster {
            file: file.map(Path::to_path_buf),
            flag: flag.map(str::to_string),
            runbook: runbook.filter(|r| !r.is_empty()).map(str::to_string),
            pin: Mutex::new(None),
            client: Mutex::new(None),
            identity: Mutex::new(None),
        }
    }

    /// Pins now (see [`PinnedCluster::pin`]), failing when the context cannot be resolved.
    pub fn pin_in_file(
        file: Option<&Path>,
        flag: Option<&str>,
        runbook: Option<&str>,
    ) -> Result<PinnedCluster, ClusterError> {
        let t = PinnedCluster::in_file(file, flag, runbook);
        t.pin()?;
        Ok(t)
    }

    /// The pin: taken on the first call, the same ever after.
    pub fn pin(&self) -> Result<ClusterPin, ClusterError> {
        let mut slot = self.pin.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        let p = resolve(
            self.file.as_deref(),
            self.flag.as_deref(),
            self.runbook.as_deref(),
        )?;
        *slot = Some(p.clone());
        Ok(p)
    }

    /// The pin if it has been taken.
    pub fn pinned(&self) -> Option<ClusterPin> {
        self.pin.lock().ok().and_then(|p| p.clone())
    }

    /// The context asked for (`--context`, else the runbook's), if any.
    pub fn wanted_context(&self) -> Option<&str> {
        self.flag.as_deref().or(self.runbook.as_deref())
    }

    /// The runbook's context when `--context` overrode it.
    pub fn overridden(&self) -> Option<&str> {
        self.flag.as_ref().and(self.runbook.as_deref())
    }

    /// For the banner: `CONTEXT (SERVER)`, or the context still to be pinned.
    pub fn describe(&self) -> String {
        match self.pinned() {
            Some(p) => format!("{} ({})", p.context, p.server),
            None => match self.wanted_context() {
                Some(c) => format!("{c} (not connected yet)"),
                None => "current context (not connected yet)".into(),
            },
        }
    }

    /// Resolves the context again: it must still be the pinned one, with the same server.
    pub fn recheck(&self) -> Result<ClusterPin, ClusterError> {
        let pin = self.pin()?;
        if pin.source == Source::InCluster {
            return Ok(pin);
        }
        let flag = (pin.source == Source::Flag).then_some(pin.context.as_str());
        let runbook = (pin.source == Source::Runbook).then_some(pin.context.as_str());
        let mismatch = |found: String| ClusterError::Mismatch {
            pinned: pin.context.clone(),
            pinned_server: pin.server.clone(),
            found,
        };
        let now = match resolve(self.file.as_deref(), flag, runbook) {
            Ok(p) => p,
            Err(e) => return Err(mismatch(format!("the kubeconfig now says: {e}"))),
        };
        if now.context != pin.context {
            return Err(mismatch(format!(
                "the current context is now `{}`",
                now.context
            )));
        }
        if now.server != pin.server {
            return Err(mismatch(format!(
                "context `{}` now points at {}",
                now.context, now.server
            )));
        }
        Ok(pin)
    }

    /// A client for the pinned context, built once.
    pub async fn client(&self) -> Result<Client, ClusterError> {
        if let Some(c) = self.client.lock().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        let pin = self.pin()?;
        let config = if pin.source == Source::InCluster {
            kube::Config::incluster().map_err(|e| ClusterError::Config(e.to_string()))?
        } else {
            let kc = read_kubeconfig(self.file.as_deref())?
                .ok_or_else(|| ClusterError::NoKubeconfig("it has gone".into()))?;
            let options = KubeConfigOptions {
                context: Some(pin.context.clone()),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| ClusterError::Config(e.to_string()))?
        };
        let client = Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))?;
        if let Ok(mut slot) = self.client.lock() {
            *slot = Some(client.clone());
        }
        Ok(client)
    }

    /// Re-checks the pin, connects, and makes sure the API server is the same cluster as the
    /// first time (its `kube-system` namespace uid). Called before every kube step.
    pub async fn checked_client(&self) -> Result<(Client, ClusterPin), ClusterError> {
        let pin = self.recheck()?;
        let client = self.client().await?;
        let ns: Api<Namespace> = Api::all(client.clone());
        let uid = match ns.get("kube-system").await {
            Ok(n) => n.metadata.uid,
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => None,
            Err(e) => {
                return Err(ClusterError::Unreachable {
                    server: pin.server.clone(),
                    error: e.to_string(),
                });
            }
        };
        let Ok(mut known) = self.identity.lock() else {
            return Ok((client, pin));
        };
        match (known.as_ref(), uid) {
            (Some(k), Some(u)) if *k != u => Err(ClusterError::Mismatch {
                pinned: pin.context.clone(),
                pinned_server: pin.server.clone(),
                found: format!(
                    "the API server now answers as another cluster (kube-system uid {u}, pinned {k})"
                ),
            }),
            (None, Some(u)) => {
                *known = Some(u);
                Ok((client, pin))
            }
            _ => Ok((client, pin)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn a_missing_kubeconfig_is_named() {
        assert_eq!(
            missing_kubeconfig(
                Some(OsStr::new("/tmp/x/kubeconfig")),
                Some(OsStr::new("/home/u"))
            ),
            "KUBECONFIG names /tmp/x/kubeconfig, which does not exist"
        );
        assert_eq!(
            missing_kubeconfig(Some(OsStr::new("/a:/b")), None),
            "KUBECONFIG names /a, /b; none of them exists"
        );
        assert_eq!(
            missing_kubeconfig(Some(OsStr::new("")), Some(OsStr::new("/home/u"))),
            "/home/u/.kube/config does not exist and KUBECONFIG is not set"
        );
        assert_eq!(
            missing_kubeconfig(None, None),
            "~/.kube/config does not exist and KUBECONFIG is not set"
        );
    }
}
