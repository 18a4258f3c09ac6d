//! Everything a rehearsal's runbook talks to, started in process and removed at the end: the
//! Kubernetes sandbox (serving the context the runbook is pinned to), the AWS stand-in
//! (answering as its account and region), the Docker stand-in, and the environment of its shell
//! steps. Each in a folder of the rehearsal's own. `http.*` steps reach the sandbox's Service
//! traffic port, whatever host they name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::env::{self, StandIns};
use super::inject::Injection;
use super::prepare;
use crate::engine::journal::{create_private_dir, write_private};
use crate::engine::{AtStep, Rehearsing};
use crate::exec::Router;
use crate::exec::aws::AwsExec;
use crate::exec::docker::DockerExec;
use crate::exec::environment::SharedEnvironment;
use crate::exec::http::HttpExec;
use crate::exec::kube::KubeExec;
use crate::runbook::Runbook;
use crate::target::PinnedCluster;
use crate::target::account::{Overrides, PinnedAccount};

/// The account a runbook without `targets.aws` is rehearsed as.
pub const NO_ACCOUNT: (&str, &str) = ("000000000000", "us-east-1");
/// The context of a runbook pinned to none.
pub const NO_CONTEXT: &str = "tollgate-rehearsal";

/// How to start a rehearsal's world.
pub struct Config {
    /// The rehearsal's own folder (kubeconfig, AWS and Docker files, the Docker socket); made
    /// here, removed when the world is dropped.
    pub dir: PathBuf,
    pub fixtures: Vec<PathBuf>,
    /// Simulated delays divided by this.
    pub speed: f64,
    /// Use a local Docker daemon for builds when one answers.
    pub local_docker: bool,
    /// The git repositories to serve (`rehearsal.repos`).
    pub repos: Vec<super::repos::Repo>,
}

/// The stand-ins of one rehearsal.
pub struct World {
    dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub context: String,
    pub namespace: String,
    pub account: String,
    pub region: String,
    sandbox: Arc<tollgate_sandbox::Sandbox>,
    pub sandbox_url: String,
    aws: tollgate_standin::aws::AwsStandIn,
    docker: tollgate_standin::docker::DockerStandIn,
    /// External Secrets Operator's stand-in, with `rehearsal: {crds: [external-secrets]}`.
    external_secrets: Option<super::external_secrets::ExternalSecrets>,
    /// The local daemon the Docker stand-in builds with, if one answered.
    pub docker_upstream: Option<String>,
    pub environment: SharedEnvironment,
}

impl World {
    /// Starts the sandbox loaded with the fixtures, the AWS stand-in seeded from the runbook's
    /// `rehearsal.aws`, and the Docker stand-in; writes the kubeconfig and the environment.
    pub async fn start(rb: &Runbook, c: Config) -> Result<World, String> {
        create_private_dir(&c.dir).map_err(|e| format!("cannot make {}: {e}", c.dir.display()))?;
        let mut world = WorldGuard(Some(c.dir.clone()));
        let (context, namespace) = cluster_of(rb);
        let (account, region) = account_of(rb);
        let mut fixtures = crd_fixtures(rb, &c.dir)?;
        fixtures.extend(c.fixtures.iter().cloned());
        let repos = super::repos::make(&c.dir, &c.repos)?;
        let sandbox = tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config {
            port: 0,
            timing: tollgate_sandbox::Timing {
                speed: c.speed,
                log_rate: 1.0,
            },
            fixtures,
            no_controllers: false,
            history: None,
            history_bytes: None,
            // A fixture that has no node means a cluster with none (a first deploy's, before
            // its node group); with no fixture at all, the sandbox's own node runs the pods.
            no_default_node: !c.fixtures.is_empty(),
            repos: repos.clone(),
        })
        .await
        .map_err(|e| with_crd_hint(e.to_string()))?;
        let sandbox_url = sandbox.url();
        let kubeconfig = c.dir.join("kubeconfig");
        write_private(&kubeconfig, &sandbox.kubeconfig_for(&namespace, &context))
            .map_err(|e| format!("cannot write {}: {e}", kubeconfig.display()))?;

        let identity = tollgate_standin::Identity {
            account: account.clone(),
            region: region.clone(),
        };
        let ecr = tollgate_standin::ecr::Store::default();
        let (secrets, repositories) = seeded(rb);
        let aws = tollgate_standin::aws::AwsStandIn::start(tollgate_standin::aws::Config {
            identity: identity.clone(),
            port: 0,
            secrets,
            repositories,
            ecr: ecr.clone(),
        })
        .await
        .map_err(|e| format!("cannot start the AWS stand-in: {e}"))?;
        let docker_upstream = if c.local_docker {
            local_daemon().await
        } else {
            None
        };
        let docker =
            tollgate_standin::docker::DockerStandIn::start(tollgate_standin::docker::Config {
                socket: c.dir.join("docker.sock"),
                identity,
                ecr,
                upstream: docker_upstream.clone(),
            })
            .await
            .map_err(|e| format!("cannot start the Docker stand-in: {e}"))?;
        let environment = env::environment(&StandIns {
            kubeconfig: &kubeconfig,
            aws_url: &aws.url(),
            account: &account,
            region: &region,
            docker_host: &docker.host(),
            dir: &c.dir,
            repos: &repos,
        })
        .map_err(|e| format!("cannot write the rehearsal's environment: {e}"))?;
        // Its CRDs loaded before the fixtures (crd_fixtures), its controller over the sandbox's
        // API and the AWS stand-in.
        let external_secrets = serves(rb, "external-secrets").then(|| {
            super::external_secrets::ExternalSecrets::start(super::external_secrets::Config {
                kube: sandbox.client(),
                secrets: super::external_secrets::secrets_client(&aws.url(), &region),
                speed: c.speed,
            })
        });
        world.0 = None;
        Ok(World {
            dir: c.dir,
            kubeconfig,
            context,
            namespace,
            account,
            region,
            sandbox: Arc::new(sandbox),
            sandbox_url,
            aws,
            docker,
            external_secrets,
            docker_upstream,
            environment: Arc::new(environment),
        })
    }

    /// The AWS stand-in's address.
    pub fn aws_url(&self) -> String {
        self.aws.url()
    }

    /// The Docker stand-in's address.
    pub fn docker_host(&self) -> String {
        self.docker.host()
    }

    /// The run's targets and executor, all pointed at the stand-ins.
    pub fn wiring(&self, rb: &Runbook) -> (Router, Arc<PinnedCluster>, Arc<PinnedAccount>) {
        let runbook_ctx = rb.targets.kube.as_ref().map(|k| k.context.as_str());
        let cluster = Arc::new(PinnedCluster::in_file(
            Some(&self.kubeconfig),
            None,
            Some(runbook_ctx.filter(|c| !c.is_empty()).unwrap_or(NO_CONTEXT)),
        ));
        let overrides = Overrides {
            endpoint_url: Some(self.aws.url()),
            credentials: Some((env::ACCESS_KEY.into(), env::SECRET_KEY.into())),
            region: Some(self.region.clone()),
        };
        let account = Arc::new(PinnedAccount::with_overrides(
            rb.targets.aws.as_ref(),
            overrides,
        ));
        let mut router = Router::shell_only();
        router.kube = Some(Arc::new(KubeExec {
            target: cluster.clone(),
        }));
        router.aws = Some(Arc::new(AwsExec {
            target: account.clone(),
        }));
        router.docker = Some(Arc::new(DockerExec::at(self.docker.host())));
        // Every host an `http.check` names is the sandbox's traffic port (nothing real is
        // reached): its Ingress hosts and `SERVICE.NAMESPACE[.svc…]` hosts answer from their
        // pods, any other host gets the sandbox's 404. Plain HTTP, whatever the URL's scheme.
        let traffic = self.sandbox.traffic_addr();
        router.http = Arc::new(HttpExec::with_resolver(Arc::new(move |_host: &str| {
            Some(traffic)
        })));
        router.environment = Some(self.environment.clone());
        (router, cluster, account)
    }

    /// The engine's part: failures to inject, faults armed at steps, and what was done before
    /// the run (a secret removed).
    pub fn rehearsing(&self, injections: &[Injection]) -> Rehearsing {
        let mut r = Rehearsing::default();
        for i in injections {
            match i {
                Injection::StepFails { step, message } => {
                    r.fail.insert(step.clone(), message.clone());
                }
                Injection::SecretMissing { id } => {
                    let had = self.aws.remove_secret(id);
                    let what = if had {
                        i.describe()
                    } else {
                        format!("{} (it was not there to begin with)", i.describe())
                    };
                    r.at_start.push(what);
                }
                // Injected in the sandbox as their step starts (below).
                _ => {}
            }
        }
        let armed: Vec<Injection> = injections
            .iter()
            .filter(|i| i.in_sandbox())
            .cloned()
            .collect();
        if !armed.is_empty() {
            let (sandbox, namespace) = (self.sandbox.clone(), self.namespace.clone());
            let armed = Arc::new(armed);
            let at: AtStep = Arc::new(move |step: &str| {
                let (sandbox, namespace, armed) =
                    (sandbox.clone(), namespace.clone(), armed.clone());
                let step = step.to_string();
                Box::pin(async move {
                    let mut done = Vec::new();
                    for i in armed.iter().filter(|i| i.step() == Some(step.as_str())) {
                        done.push(match in_sandbox(&sandbox, &namespace, i) {
                            Ok(()) => i.describe(),
                            Err(e) => format!("{} could not be injected: {e}", i.describe()),
                        });
                    }
                    done
                })
            });
            r.at_step = Some(at);
        }
        r
    }

    /// The rehearsal's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // The controller stops before the sandbox it talks to.
        self.external_secrets.take();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes a half-made rehearsal folder when starting fails.
struct WorldGuard(Option<PathBuf>);

impl Drop for WorldGuard {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Injects one of the sandbox's faults (`i.in_sandbox()`); a deployment without a namespace is
/// in `namespace`, the runbook's.
fn in_sandbox(
    sandbox: &Arc<tollgate_sandbox::Sandbox>,
    namespace: &str,
    i: &Injection,
) -> Result<(), String> {
    match i {
        Injection::Crashloop { deployment, .. } => {
            let (ns, name) = deployment
                .split_once('/')
                .unwrap_or((namespace, deployment.as_str()));
            // One the step itself creates is hit too: armed by name.
            sandbox.crash_pods_of(ns, name);
            Ok(())
        }
        Injection::NodeLoss { node, .. } => sandbox.lose_node(node).map_err(|e| e.to_string()),
        // The step starts while the server is down, as it would.
        Injection::ApiRestart { .. } if sandbox.api_serving() => {
            let sb = sandbox.clone();
            tokio::spawn(async move {
                let _ = sb.restart_api().await;
            });
            Ok(())
        }
        Injection::ApiRestart { .. } => Err("the API server is already restarting".into()),
        Injection::StepFails { .. } | Injection::SecretMissing { .. } => Ok(()),
    }
}

/// The context the sandbox serves and the namespace of its kubeconfig: the runbook's pins.
fn cluster_of(rb: &Runbook) -> (String, String) {
    let kube = rb.targets.kube.as_ref();
    let context = kube
        .map(|k| k.context.as_str())
        .and_then(non_empty)
        .unwrap_or(NO_CONTEXT);
    let namespace = kube
        .and_then(|k| k.namespace.as_deref())
        .unwrap_or("default");
    (context.to_string(), namespace.to_string())
}

/// The account and region the AWS stand-in answers as: the runbook's pins.
fn account_of(rb: &Runbook) -> (String, String) {
    let aws = rb.targets.aws.as_ref();
    let account = aws
        .and_then(|a| non_empty(&a.account))
        .unwrap_or(NO_ACCOUNT.0);
    let region = aws
        .and_then(|a| non_empty(&a.region))
        .unwrap_or(NO_ACCOUNT.1);
    (account.to_string(), region.to_string())
}

/// The secrets (name, made-up value) and repositories that exist before the run, from the
/// runbook's `rehearsal.aws`.
fn seeded(rb: &Runbook) -> (Vec<(String, String)>, Vec<String>) {
    let Some(r) = rb.rehearsal.as_ref() else {
        return (Vec::new(), Vec::new());
    };
    let made_up = r.aws.secrets.iter().map(|s| {
        let value = format!("{}-{}", prepare::made_up("value"), s.replace('/', "-"));
        (s.value.clone(), value)
    });
    let given = r
        .aws
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()));
    let repositories = r.aws.repositories.iter().map(|s| s.value.clone()).collect();
    (made_up.chain(given).collect(), repositories)
}

/// Whether the runbook's `rehearsal.crds` names `name`.
fn serves(rb: &Runbook, name: &str) -> bool {
    rb.rehearsal
        .iter()
        .flat_map(|r| &r.crds)
        .any(|c| c.as_str() == name)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.trim().is_empty()).then_some(s)
}

/// The local Docker daemon, if one answers within a moment: `DOCKER_HOST`'s, else the default
/// socket.
async fn local_daemon() -> Option<String> {
    let host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| h.starts_with("unix://"))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let path = host.trim_start_matches("unix://").to_string();
    if !Path::new(&path).exists() {
        return None;
    }
    let ping = crate::exec::docker::daemon::connect_to(&host);
    match tokio::time::timeout(std::time::Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Some(host),
        _ => None,
    }
}

/// The upstream CustomResourceDefinitions the runbook's `rehearsal.crds` names, written into the
/// rehearsal's folder to load before its fixtures.
fn crd_fixtures(rb: &Runbook, dir: &std::path::Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for name in rb.rehearsal.iter().flat_map(|r| &r.crds) {
        let text = match name.as_str() {
            "argo-rollouts" => tollgate_sandbox::crds::ARGO_ROLLOUTS,
            "argocd" => tollgate_sandbox::crds::ARGOCD_APPLICATION,
            "external-secrets" => tollgate_sandbox::crds::EXTERNAL_SECRETS,
            other => {
                return Err(format!(
                    "rehearsal CRD `{other}` is not one tollgate carries"
                ));
            }
        };
        let path = dir.join(format!("crd-{}.yaml", name.as_str()));
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

/// A fixture's custom object whose CRD is one tollgate carries: the error says how the runbook
/// serves it.
fn with_crd_hint(e: String) -> String {
    for (crd, name) in [
        ("rollouts.argoproj.io", "argo-rollouts"),
        ("applications.argoproj.io", "argocd"),
    ] {
        if e.contains(&format!("CustomResourceDefinition for {crd}")) {
            return format!("{e} (a rehearsal serves it with `rehearsal: {{crds: [{name}]}}`)");
        }
    }
    // The sandbox knows no plural for these kinds: it names the kind and its group.
    for kind in ["ExternalSecret", "SecretStore", "ClusterSecretStore"] {
        if e.contains(&format!(
            "CustomResourceDefinition that serves kind {kind} in external-secrets.io"
        )) {
            return format!(
                "{e} (a rehearsal serves it with `rehearsal: {{crds: [external-secrets]}}`)"
            );
        }
    }
    e
}
