//! Argo CD's application controller, as far as GitOps runbooks need it (`controller/appcontroller.go`,
//! `controller/state.go`, `controller/sync.go`, `controller/health.go` of argoproj/argo-cd, and the
//! gitops-engine health checks).
//!
//! An `argoproj.io/v1alpha1` `Application` names a source and a destination:
//! - `spec.source.repoURL` is a git repository on local disk (`file:///abs/path` or `/abs/path`, or a
//!   URL [`crate::Config::repos`] serves a local repository under; any
//!   other URL is a ComparisonError saying only local repositories are served), read with the `git`
//!   CLI ([`git`]): `targetRevision` (HEAD, a branch, a tag or a sha; default HEAD) resolved to a
//!   commit, the plain YAML/JSON manifests of `path` (recursively with `directory.recurse`).
//!   A Helm source (`helm` set, or a `Chart.yaml` at `path`, as Argo CD detects it) is rendered
//!   as `helm template` would in a subset of Helm's template language ([`helm`]): the chart's
//!   `values.yaml`, `helm.valueFiles`, `valuesObject`/`values` and `parameters` merged in Argo
//!   CD's order; `.Values.*`, `.Release.Name`/`Namespace`, `.Chart.Name`/`Version`/`AppVersion`,
//!   `quote` and `default`, with `{{-`/`-}}` trimming and comments. Anything else in a template is
//!   a ComparisonError naming the file, the line and what is rendered. Kustomize and plugin
//!   sources are a ComparisonError that says so.
//! - `spec.destination.server` must be `https://kubernetes.default.svc` (or `name: in-cluster`);
//!   namespaced manifests without a namespace go to `spec.destination.namespace`.
//!
//! **Refresh** (the comparison): each desired object is compared with its live object ([`compare`]):
//! Synced when every field the manifest sets is present with the same value live (status and
//! server-set metadata ignored), OutOfSync otherwise or when missing. Live objects labelled
//! `app.kubernetes.io/instance: APP` that git no longer has are listed as requiring pruning. Health
//! is gitops-engine's per kind, aggregated worst-wins. A refresh happens when the Application
//! changes (not its status alone), when one of its objects changes (then against the revision last
//! compared, as Argo's `CompareWithRecent`), on the annotation `argocd.argoproj.io/refresh` (removed
//! once read), and every [`RECONCILIATION_TIMEOUT_SECONDS`] simulated seconds (both resolve the
//! revision again, `CompareWithLatest`).
//!
//! **Sync**: an `operation: {sync: {revision?, prune?, resources?, syncOptions?}}` set on the
//! Application (as Argo CD's API server sets it for `argocd app sync`) applies each desired object
//! with the tracking label, as `kubectl apply` does (a three-way merge against the
//! `last-applied-configuration` annotation), in Helm's kind order; with `prune`, tracked live
//! objects git no longer has are deleted. `status.operationState` goes Running → Succeeded or
//! Failed, the `operation` is cleared and a successful sync is appended to `status.history`.
//! An operation with `retry: {limit, backoff: {duration, factor, maxDuration}}` that fails is tried
//! again (`processRequestedAppOperation`): it stays set and Running, `retryCount` counts the
//! attempts, the message says "… Retrying attempt #N at 3:04PM.", and the next attempt comes
//! [`retry_backoff`] simulated seconds after the last one finished; once the limit is used up it
//! ends Failed "… (retried N times).". Automated syncs carry `spec.syncPolicy.retry`, else Argo
//! CD's default `{limit: 5}`.
//!
//! **Automated sync** (`spec.syncPolicy.automated`): an OutOfSync application is synced to the
//! revision compared, once per revision and source (`alreadyAttemptedSync`); with `selfHeal`, an
//! application that drifted from the revision it was synced to is synced again
//! [`SELF_HEAL_TIMEOUT_SECONDS`] after the last sync finished; without it the drift stays
//! OutOfSync. Without `automated.prune`, an application that only needs pruning is not synced.
//!
//! `spec.ignoreDifferences` (`jsonPointers`) leaves fields out of the comparison. Deleting an
//! Application with the [`RESOURCES_FINALIZER`] deletes its tracked resources first (foreground,
//! or background with `/background`); without it they stay.
//!
//! Events on the Application, from `argocd-application-controller`: OperationStarted ("Initiated
//! automated sync to 'SHA'"), OperationCompleted ("Sync operation to SHA succeeded"), and
//! ResourceUpdated ("Updated sync status: OutOfSync -> Synced", "Updated health status: …").
//!
//! The logic is in [`reconcile`], a plain function over the store: the controller loop calls it
//! for each queued Application.

pub mod compare;
pub mod controller;
pub mod git;
pub mod helm;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use self::compare::Assessed;
use crate::error::ApiError;
use crate::object::{Key, PointerLookup, key_of, metadata_mut, name_of, namespace_of, str_at};
use crate::resources::ResourceType;
use crate::shared::Timing;
use crate::store::{self, DeleteOptions, Part, Store};

/// How often an application is compared with git without any change (Argo CD's
/// `timeout.reconciliation`, whose default of 120 s plus up to 60 s of jitter comes to this).
pub const RECONCILIATION_TIMEOUT_SECONDS: f64 = 180.0;
/// How long after its last sync finished a drifted application is synced again with `selfHeal`
/// (`--self-heal-timeout-seconds`).
pub const SELF_HEAL_TIMEOUT_SECONDS: f64 = 5.0;
/// The label that tracks which application an object belongs to.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The annotation that asks for a refresh (`normal` or `hard`); removed once read.
pub const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";
/// Where `kubectl apply` keeps what it applied last.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// `status.history` entries kept when `spec.revisionHistoryLimit` is not set.
pub const HISTORY_LIMIT: i64 = 10;
/// The in-cluster destination.
pub const IN_CLUSTER: &str = "https://kubernetes.default.svc";
/// The message of a sync in which every task ran.
pub const SYNC_SUCCEEDED: &str = "successfully synced (all tasks run)";

/// Helm's install order, which gitops-engine applies kinds in; other kinds come after.
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// A managed object's identity: (group, kind, namespace, name).
pub type ObjectRef = (String, String, String, String);

/// The manifests cache's key: (repository, commit, path, recurse, what a chart is rendered with).
type SourceKey = (String, String, String, bool, String);

/// What the Argo CD controller remembers between reconciles.
#[derive(Default)]
pub struct ArgoCdMemory {
    /// [`SourceKey`] → the manifests read there (a commit never changes).
    cache: HashMap<SourceKey, Result<Vec<Value>, String>>,
    /// Application → when its last sync finished (finer than `finishedAt`).
    finished: HashMap<Key, Instant>,
    /// Managed object → its application: a change to the object refreshes the application.
    pub managed: HashMap<ObjectRef, Key>,
    /// Application → the objects it manages.
    by_app: HashMap<Key, Vec<ObjectRef>>,
    /// The types of the objects managed: the informers read their changes.
    pub kinds: Vec<&'static ResourceType>,
    /// Events about applications to record: (application, type, reason, message).
    pub events: Vec<(Key, &'static str, &'static str, String)>,
    /// Repository URL → the local repository served for it ([`crate::Config::repos`]).
    pub repos: Arc<std::collections::BTreeMap<String, std::path::PathBuf>>,
}

impl ArgoCdMemory {
    /// The local repository an Application's `repoURL` is read from: the one served under that
    /// URL, else the URL's own path on local disk.
    pub fn repo(&self, url: &str) -> Result<std::path::PathBuf, String> {
        match self.repos.get(url) {
            Some(path) => Ok(path.clone()),
            None => git::repo_path(url),
        }
    }

    /// The application was deleted.
    pub fn forget(&mut self, app: &Key) {
        self.finished.remove(app);
        for r in self.by_app.remove(app).unwrap_or_default() {
            if self.managed.get(&r) == Some(app) {
                self.managed.remove(&r);
            }
        }
    }

    fn track(&mut self, app: &Key, refs: Vec<(ObjectRef, &'static ResourceType)>) {
        for r in self.by_app.remove(app).unwrap_or_default() {
            if self.managed.get(&r) == Some(app) {
                self.managed.remove(&r);
            }
        }
        let mut list = Vec::new();
        for (r, rt) in refs {
            if !self.kinds.iter().any(|k| std::ptr::eq(*k, rt)) {
                self.kinds.push(rt);
            }
            self.managed.insert(r.clone(), app.clone());
            list.push(r);
        }
        self.by_app.insert(app.clone(), list);
    }

    /// The manifests of the application's source at commit `sha`: a Helm chart rendered when the
    /// source has `helm` or its path holds a `Chart.yaml` (as Argo CD detects it), else the plain
    /// directory.
    fn manifests(
        &mut self,
        repo: &std::path::Path,
        sha: &str,
        app: &Value,
    ) -> Result<Vec<Value>, String> {
        let path = str_at(app, "/spec/source/path");
        let recurse = app
            .at("/spec/source/directory/recurse")
            .and_then(Value::as_bool)
            == Some(true);
        let helm = app.at("/spec/source/helm").cloned().unwrap_or(Value::Null);
        let app_name = name_of(app);
        let dest_ns = str_at(app, "/spec/destination/namespace");
        let k = (
            repo.display().to_string(),
            sha.to_string(),
            path.to_string(),
            recurse,
            json!([helm, app_name, dest_ns]).to_string(),
        );
        if let Some(r) = self.cache.get(&k) {
            return r.clone();
        }
        let chart = match helm.is_null() {
            false => Ok(true),
            true => helm_chart_file(path).map_or(Ok(false), |f| {
                git::read_file(repo, sha, &f).map(|t| t.is_some())
            }),
        };
        let r = chart.and_then(|chart| {
            if chart {
                let release = helm::Release {
                    name: app_name,
                    namespace: dest_ns,
                };
                helm::manifests(repo, sha, path, &helm, &release)
            } else {
                git::manifests(repo, sha, path, recurse)
            }
        });
        if self.cache.len() >= 64 {
            self.cache.clear();
        }
        self.cache.insert(k, r.clone());
        r
    }
}

/// Where a source's `Chart.yaml` would be: `None` for a path that leaves the repository.
fn helm_chart_file(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    parts.push("Chart.yaml");
    Some(parts.join("/"))
}

/// The Application type, once the store serves it (its CRD is installed).
pub fn application_type(store: &Store) -> Option<&'static ResourceType> {
    store.find_api_version_kind("argoproj.io/v1alpha1", "Application")
}

/// What the loop keeps for the Argo CD controller besides its [`ArgoCdMemory`].
#[derive(Default)]
pub struct ArgoCdLoop {
    pub memory: ArgoCdMemory,
    /// Applications whose next reconcile resolves the revision again (they changed, or were
    /// listed), and when each one's periodic refresh is due.
    pub(crate) latest: HashSet<Key>,
    pub(crate) due: HashMap<Key, Instant>,
    /// The informer cursor of the Application type.
    pub(crate) app_cursor: u64,
    /// Informer cursors of the types the applications manage, by (group, kind).
    pub(crate) cursors: HashMap<(&'static str, &'static str), u64>,
}

impl ArgoCdLoop {
    /// The application should resolve its revision on its next reconcile.
    pub fn mark_latest(&mut self, app: Key) {
        self.latest.insert(app);
    }

    pub fn forget(&mut self, app: &Key) {
        self.memory.forget(app);
        self.latest.remove(app);
        self.due.remove(app);
    }
}

/// Whether a change of an Application touched only what the controller writes (its status):
/// such a change does not requeue it. Its `operation`, spec, labels and annotations do.
pub fn status_only(old: Option<&Value>, new: &Value) -> bool {
    let Some(old) = old else { return false };
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("status");
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(old) == strip(new)
}

/// How far a refresh goes (Argo's comparison levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Against the revision last compared (a managed object changed).
    Recent,
    /// Resolve the revision again (the Application changed, a refresh was asked, the timeout).
    Latest,
}

/// The served type of an apiVersion and kind.
fn type_of(store: &Store, api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    store.find_api_version_kind(api_version, kind)
}

/// A desired object, ready to apply: namespace set and the tracking label added.
struct Target {
    rt: &'static ResourceType,
    ns: String,
    name: String,
    obj: Value,
}

/// One comparison of git with the cluster.
struct Compared {
    revision: String,
    targets: Vec<Target>,
    /// `status.resources`.
    resources: Vec<Value>,
    /// Tracked live objects git does not have.
    extras: Vec<(&'static ResourceType, String, String)>,
    sync: &'static str,
    health: &'static str,
    images: Vec<String>,
    /// ComparisonError / InvalidSpecError messages: (type, message).
    errors: Vec<(&'static str, String)>,
}

fn group_version(rt: &ResourceType) -> (&'static str, &'static str) {
    (rt.group, rt.version)
}

/// `deployment.apps/web`, as kubectl names an object in its output.
fn kubectl_name(rt: &ResourceType, name: &str) -> String {
    let kind = rt.kind.to_ascii_lowercase();
    if rt.group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{}/{name}", rt.group)
    }
}

fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// What is wrong with the spec, before git is read: (condition type, message).
fn spec_errors(app: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if app.at("/spec/sources").is_some_and(|s| !s.is_null()) {
        out.push((
            "InvalidSpecError",
            "spec.sources (multiple sources) is not served by the sandbox: use spec.source"
                .to_string(),
        ));
    }
    if app.at("/spec/source").is_none_or(Value::is_null) {
        out.push(("InvalidSpecError", "spec.source is required".to_string()));
    }
    let server = str_at(app, "/spec/destination/server");
    let dname = str_at(app, "/spec/destination/name");
    if !server.is_empty() && server != IN_CLUSTER {
        out.push((
            "InvalidSpecError",
            format!(
                "cluster '{server}' has not been configured: the sandbox serves only the in-cluster destination ({IN_CLUSTER})"
            ),
        ));
    } else if !dname.is_empty() && dname != "in-cluster" {
        out.push((
            "InvalidSpecError",
            format!(
                "there are no clusters with this name: {dname} (the sandbox serves only \"in-cluster\")"
            ),
        ));
    } else if server.is_empty() && dname.is_empty() {
        out.push((
            "InvalidSpecError",
            "Destination server missing from app spec".to_string(),
        ));
    }
    for (field, what) in [
        ("chart", "Helm repository (chart)"),
        ("kustomize", "Kustomize"),
        ("plugin", "config management plugin"),
    ] {
        if app
            .at(&format!("/spec/source/{field}"))
            .is_some_and(|v| !v.is_null())
        {
            out.push((
                "ComparisonError",
                format!(
                    "spec.source.{field}: {what} sources are not served by the sandbox: only plain directories of YAML/JSON manifests and Helm charts"
                ),
            ));
        }
    }
    out
}

/// The revision to compare: resolved again at [`Level::Latest`], else the one last compared.
fn revision_for(mem: &ArgoCdMemory, app: &Value, level: Level) -> Result<String, String> {
    let last = str_at(app, "/status/sync/revision");
    let same_source = app.at("/status/sync/comparedTo/source") == app.at("/spec/source");
    if level == Level::Recent && !last.is_empty() && same_source {
        return Ok(last.to_string());
    }
    let repo = mem.repo(str_at(app, "/spec/source/repoURL"))?;
    git::resolve(&repo, str_at(app, "/spec/source/targetRevision"))
}

/// The desired objects at `revision`.
fn targets_at(
    store: &Store,
    mem: &mut ArgoCdMemory,
    app: &Value,
    revision: &str,
) -> Result<(Vec<Target>, Vec<String>), String> {
    let repo = mem.repo(str_at(app, "/spec/source/repoURL"))?;
    let manifests = mem.manifests(&repo, revision, app)?;
    let dest_ns = str_at(app, "/spec/destination/namespace");
    let app_name = name_of(app);
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for mut m in manifests {
        let api = str_at(&m, "/apiVersion").to_string();
        let kind = str_at(&m, "/kind").to_string();
        let Some(rt) = type_of(store, &api, &kind) else {
            unknown.push(format!(
                "the server could not find the requested resource: {api} {kind} \"{}\"",
                name_of(&m)
            ));
            continue;
        };
        let ns = if rt.namespaced {
            match namespace_of(&m) {
                "" if dest_ns.is_empty() => "default".to_string(),
                "" => dest_ns.to_string(),
                n => n.to_string(),
            }
        } else {
            String::new()
        };
        let meta = metadata_mut(&mut m);
        if rt.namespaced {
            meta.insert("namespace".into(), json!(ns));
        }
        let labels = crate::object::child_object(meta, "labels");
        labels.insert(INSTANCE_LABEL.into(), json!(app_name));
        out.push(Target {
            rt,
            ns,
            name: name_of(&m).to_string(),
            obj: m,
        });
    }
    Ok((out, unknown))
}

/// The live objects tracked as the application's (its label, no owner) of the types given.
fn tracked(
    store: &Store,
    app_name: &str,
    kinds: &[&'static ResourceType],
) -> Vec<(&'static ResourceType, Arc<Value>)> {
    let mut out = Vec::new();
    for rt in kinds {
        let (items, _) = store.list(rt, None, &|o| {
            str_at(
                o,
                &format!("/metadata/labels/{}", INSTANCE_LABEL.replace('/', "~1")),
            ) == app_name
                && o.at("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
        });
        out.extend(items.into_iter().map(|i| (*rt, i)));
    }
    out
}

fn images_of(obj: &Value, out: &mut BTreeSet<String>) {
    for spec in ["/spec/template/spec", "/spec"] {
        for list in ["containers", "initContainers"] {
            for c in obj
                .at(&format!("{spec}/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let i = str_at(c, "/image");
                if !i.is_empty() {
                    out.insert(i.to_string());
                }
            }
        }
    }
}

/// Compare the application's source at `revision` (or the error that stopped it) with the cluster.
fn compare_with(
    store: &Store,
    mem: &mut ArgoCdMemory,
    app: &Value,
    revision: Result<String, String>,
) -> Compared {
    let key = key_of(app);
    let mut errors = spec_errors(app);
    let loaded = match (&revision, errors.is_empty()) {
        (Ok(rev), true) => match targets_at(store, mem, app, rev) {
            Ok((t, unknown)) => {
                for u in unknown {
                    errors.push(("ComparisonError", u));
                }
                Some(t)
            }
            Err(e) => {
                errors.push((
                    "ComparisonError",
                    format!("Failed to load target state: {e}"),
                ));
                None
            }
        },
        (Err(e), true) => {
            errors.push((
                "ComparisonError",
                format!("Failed to load target state: {e}"),
            ));
            None
        }
        _ => None,
    };
    let failed = loaded.is_none();
    let targets = loaded.unwrap_or_default();
    // The kinds tracked: those git has, and those the application had.
    let mut kinds: Vec<&'static ResourceType> = Vec::new();
    let mut add_kind = |rt: &'static ResourceType| {
        if !kinds.iter().any(|k| std::ptr::eq(*k, rt)) {
            kinds.push(rt);
        }
    };
    for t in &targets {
        add_kind(t.rt);
    }
    for r in app
        .at("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let g = str_at(r, "/group");
        let api = if g.is_empty() {
            str_at(r, "/version").to_string()
        } else {
            format!("{g}/{}", str_at(r, "/version"))
        };
        if let Some(rt) = type_of(store, &api, str_at(r, "/kind")) {
            add_kind(rt);
        }
    }
    let live_tracked = tracked(store, name_of(app), &kinds);
    let mut resources = Vec::new();
    let mut assessed: Vec<(bool, Option<&'static str>)> = Vec::new();
    let mut images = BTreeSet::new();
    let mut refs = Vec::new();
    let mut out_of_sync = false;
    let mut seen = BTreeSet::new();
    let mut entry = |rt: &'static ResourceType,
                     ns: &str,
                     name: &str,
                     status: &str,
                     live: Option<&Value>,
                     extra: bool| {
        let (group, version) = group_version(rt);
        let mut r = json!({
            "group": group, "version": version, "kind": rt.kind,
            "namespace": ns, "name": name, "status": status,
        });
        let health = match live {
            None => Some(("Missing", String::new())),
            Some(l) => compare::resource_health(l),
        };
        if let Some((h, msg)) = &health {
            r["health"] = if msg.is_empty() {
                json!({"status": h})
            } else {
                json!({"status": h, "message": msg})
            };
        }
        if extra {
            r["requiresPruning"] = json!(true);
        }
        if group.is_empty() {
            r.as_object_mut().map(|o| o.remove("group"));
        }
        if ns.is_empty() {
            r.as_object_mut().map(|o| o.remove("namespace"));
        }
        resources.push(r);
        (live.is_some(), health.map(|h| h.0))
    };
    for t in &targets {
        let live = store.get(t.rt, &t.ns, &t.name).ok();
        let wanted = without_ignored(app, t);
        let synced = live.as_ref().is_some_and(|l| compare::contains(&wanted, l));
        out_of_sync |= !synced;
        if let Some(l) = &live {
            images_of(l, &mut images);
        }
        seen.insert((t.rt.kind, t.ns.clone(), t.name.clone()));
        refs.push((
            (
                t.rt.group.to_string(),
                t.rt.kind.to_string(),
                t.ns.clone(),
                t.name.clone(),
            ),
            t.rt,
        ));
        let status = if synced { "Synced" } else { "OutOfSync" };
        assessed.push(entry(t.rt, &t.ns, &t.name, status, live.as_deref(), false));
    }
    let mut extras = Vec::new();
    for (rt, live) in &live_tracked {
        let (ns, name) = key_of(live);
        if seen.contains(&(rt.kind, ns.clone(), name.clone())) {
            continue;
        }
        refs.push((
            (
                rt.group.to_string(),
                rt.kind.to_string(),
                ns.clone(),
                name.clone(),
            ),
            *rt,
        ));
        images_of(live, &mut images);
        if failed {
            assessed.push(entry(rt, &ns, &name, "Unknown", Some(live), false));
        } else {
            out_of_sync = true;
            assessed.push(entry(rt, &ns, &name, "OutOfSync", Some(live), true));
            extras.push((*rt, ns, name));
        }
    }
    mem.track(&key, refs);
    let health = compare::aggregate(
        &assessed
            .iter()
            .map(|(live, health)| Assessed {
                live: *live,
                health: *health,
            })
            .collect::<Vec<_>>(),
    );
    let sync = if failed {
        "Unknown"
    } else if out_of_sync {
        "OutOfSync"
    } else {
        "Synced"
    };
    Compared {
        revision: revision.unwrap_or_default(),
        targets,
        resources,
        extras,
        sync,
        health,
        images: images.into_iter().collect(),
        errors,
    }
}

/// The desired object without the fields `spec.ignoreDifferences` lists for it (its `jsonPointers`;
/// `jqPathExpressions` and `managedFieldsManagers` are not served).
fn without_ignored(app: &Value, t: &Target) -> Value {
    let mut out = None;
    for rule in app
        .at("/spec/ignoreDifferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let matches = str_at(rule, "/group") == t.rt.group
            && str_at(rule, "/kind") == t.rt.kind
            && [("/name", &t.name), ("/namespace", &t.ns)]
                .iter()
                .all(|(f, v)| str_at(rule, f).is_empty() || str_at(rule, f) == v.as_str());
        if !matches {
            continue;
        }
        let obj = out.get_or_insert_with(|| t.obj.clone());
        for p in rule
            .get("jsonPointers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            remove_pointer(obj, p);
        }
    }
    out.unwrap_or_else(|| t.obj.clone())
}

/// Remove the value at a JSON pointer, if there is one.
fn remove_pointer(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

/// The finalizer that makes deleting an Application delete its resources (`/foreground` and
/// `/background` name the propagation).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// An Application being deleted: with the resources finalizer, its tracked resources are deleted
/// (cascade) and the finalizer removed; without it they stay. Returns the seconds to requeue.
fn finalize(
    store: &Store,
    mem: &mut ArgoCdMemory,
    current: &Value,
    write: &mut dyn FnMut(&Value) -> Result<Arc<Value>, String>,
) -> f64 {
    let key = key_of(current);
    let finalizers: Vec<Value> = current
        .at("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ours = |f: &Value| {
        f.as_str().is_some_and(|s| {
            s == RESOURCES_FINALIZER || s.starts_with("resources-finalizer.argocd.argoproj.io/")
        })
    };
    let Some(mine) = finalizers.iter().find(|f| ours(f)).and_then(Value::as_str) else {
        mem.forget(&key);
        return RECONCILIATION_TIMEOUT_SECONDS;
    };
    let propagation = match mine.rsplit_once('/') {
        Some((_, "background")) => "Background",
        _ => "Foreground",
    };
    let mut kinds: Vec<&'static ResourceType> = Vec::new();
    for r in current
        .at("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let g = str_at(r, "/group");
        let api = if g.is_empty() {
            str_at(r, "/version").to_string()
        } else {
            format!("{g}/{}", str_at(r, "/version"))
        };
        if let Some(rt) = type_of(store, &api, str_at(r, "/kind"))
            && !kinds.iter().any(|k| std::ptr::eq(*k, rt))
        {
            kinds.push(rt);
        }
    }
    let opts = DeleteOptions {
        propagation: Some(propagation.to_string()),
        ..DeleteOptions::default()
    };
    let mut left = 0;
    for (rt, live) in tracked(store, name_of(current), &kinds) {
        if live.at("/metadata/deletionTimestamp").is_some() {
            left += 1;
            continue;
        }
        let (ns, name) = key_of(&live);
        match store.delete(rt, &ns, &name, &opts) {
            Ok(o) if o.at("/metadata/deletionTimestamp").is_some() => left += 1,
            _ => {}
        }
    }
    if left > 0 {
        // Foreground deletion waits for the resources to be gone.
        return 1.0;
    }
    let mut app = current.clone();
    let rest: Vec<Value> = finalizers.into_iter().filter(|f| !ours(f)).collect();
    metadata_mut(&mut app).insert("finalizers".into(), json!(rest));
    mem.forget(&key);
    if write(&app).is_err() {
        return 0.0;
    }
    RECONCILIATION_TIMEOUT_SECONDS
}

/// The three-way patch `kubectl apply` sends: the new configuration, and a null for every field
/// the configuration applied last had and the new one drops.
fn apply_patch(last: Option<&Value>, new: &Value) -> Value {
    fn deletions(last: &Map<String, Value>, patch: &mut Map<String, Value>) {
        for (k, v) in last {
            match patch.get_mut(k) {
                None => {
                    patch.insert(k.clone(), Value::Null);
                }
                Some(Value::Object(p)) => {
                    if let Value::Object(l) = v {
                        deletions(l, p);
                    }
                }
                Some(_) => {}
            }
        }
    }
    let mut patch = new.clone();
    if let (Some(Value::Object(l)), Value::Object(p)) = (last, &mut patch) {
        deletions(l, p);
    }
    patch
}

/// Apply one desired object: (status, message) for `syncResult.resources`.
fn apply(store: &Store, t: &Target) -> Result<String, String> {
    let mut obj = t.obj.clone();
    let mut applied = obj.clone();
    if let Some(m) = applied.as_object_mut() {
        m.remove("status");
    }
    let applied_text = serde_json::to_string(&applied).unwrap_or_default();
    let anns = crate::object::child_object(metadata_mut(&mut obj), "annotations");
    anns.insert(LAST_APPLIED.into(), json!(applied_text));
    let shown = kubectl_name(t.rt, &t.name);
    match store.get(t.rt, &t.ns, &t.name) {
        Err(e) if e.code == 404 => {
            store
                .create(t.rt, &t.ns, obj, false)
                .map_err(|e| e.message.clone())?;
            Ok(format!("{shown} created"))
        }
        Err(e) => Err(e.message.clone()),
        Ok(live) => {
            let last: Option<Value> = live
                .at(&format!(
                    "/metadata/annotations/{}",
                    LAST_APPLIED.replace('/', "~1")
                ))
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str(s).ok());
            let mut patch = apply_patch(last.as_ref(), &obj);
            if let Some(m) = patch.as_object_mut() {
                m.remove("status");
            }
            let builtin =
                crate::resources::find_kind(t.rt.kind).is_some_and(|r| std::ptr::eq(r, t.rt));
            let kind = t.rt.kind;
            let after = store
                .modify(t.rt, &t.ns, &t.name, Part::Main, |o| {
                    if builtin {
                        crate::patch::strategic_merge(o, &patch, kind)
                            .map_err(ApiError::bad_request)
                    } else {
                        crate::patch::merge_patch(o, &patch);
                        Ok(())
                    }
                })
                .map_err(|e| e.message.clone())?;
            let verb = if crate::object::resource_version_of(&after)
                == crate::object::resource_version_of(&live)
            {
                "unchanged"
            } else {
                "configured"
            };
            Ok(format!("{shown} {verb}"))
        }
    }
}

/// Run a sync operation against a comparison: apply, prune, and the operation's result.
/// Returns (phase, message, syncResult.resources).
fn run_sync(
    store: &Store,
    app: &Value,
    op: &Value,
    c: &Compared,
) -> (&'static str, String, Vec<Value>) {
    let prune = op.at("/sync/prune").and_then(Value::as_bool) == Some(true);
    let only: Option<Vec<(String, String)>> = op
        .at("/sync/resources")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        str_at(r, "/kind").to_string(),
                        str_at(r, "/name").to_string(),
                    )
                })
                .collect()
        });
    let selected = |kind: &str, name: &str| {
        only.as_ref()
            .is_none_or(|o| o.iter().any(|(k, n)| k == kind && n == name))
    };
    let create_ns = op
        .at("/sync/syncOptions")
        .or_else(|| app.at("/spec/syncPolicy/syncOptions"))
        .and_then(Value::as_array)
        .is_some_and(|o| o.iter().any(|s| s.as_str() == Some("CreateNamespace=true")));
    let dest_ns = str_at(app, "/spec/destination/namespace");
    if create_ns && !dest_ns.is_empty() {
        let nsrt = crate::resources::by_kind("Namespace");
        if store.get(nsrt, "", dest_ns).is_err() {
            let _ = store.create(nsrt, "", json!({"metadata": {"name": dest_ns}}), false);
        }
    }
    let mut order: Vec<&Target> = c
        .targets
        .iter()
        .filter(|t| selected(t.rt.kind, &t.name))
        .collect();
    order.sort_by_key(|t| kind_rank(t.rt.kind));
    let mut results = Vec::new();
    let mut failures = Vec::new();
    let result = |rt: &ResourceType, ns: &str, name: &str, status: &str, message: &str| {
        let mut r = json!({
            "group": rt.group, "version": rt.version, "kind": rt.kind,
            "namespace": ns, "name": name, "status": status, "message": message,
            "hookPhase": "Running", "syncPhase": "Sync",
        });
        if status == "SyncFailed" {
            r["hookPhase"] = json!("Failed");
        }
        r
    };
    for t in order {
        match apply(store, t) {
            Ok(msg) => results.push(result(t.rt, &t.ns, &t.name, "Synced", &msg)),
            Err(e) => {
                failures.push(e.clone());
                results.push(result(t.rt, &t.ns, &t.name, "SyncFailed", &e));
            }
        }
    }
    for (rt, ns, name) in &c.extras {
        if !selected(rt.kind, name) {
            continue;
        }
        if prune {
            match store.delete(rt, ns, name, &DeleteOptions::default()) {
                Ok(_) => results.push(result(rt, ns, name, "Pruned", "pruned")),
                Err(e) if e.code == 404 => results.push(result(rt, ns, name, "Pruned", "pruned")),
                Err(e) => {
                    failures.push(e.message.clone());
                    results.push(result(rt, ns, name, "SyncFailed", &e.message));
                }
            }
        } else {
            results.push(result(
                rt,
                ns,
                name,
                "PruneSkipped",
                "ignored (requires pruning)",
            ));
        }
    }
    if failures.is_empty() {
        ("Succeeded", SYNC_SUCCEEDED.to_string(), results)
    } else {
        (
            "Failed",
            format!(
                "one or more objects failed to apply, reason: {}",
                failures.join(", ")
            ),
            results,
        )
    }
}

/// The automated sync to start now, if any (`autoSync`): the operation, or the simulated seconds
/// to wait for the self-heal timeout, or a SyncError message.
enum Auto {
    None,
    Sync(Value),
    Wait(f64),
    Error(String),
}

fn auto_sync(app: &Value, c: &Compared, since_finished: Option<f64>) -> Auto {
    let Some(auto) = app
        .at("/spec/syncPolicy/automated")
        .filter(|a| a.is_object())
    else {
        return Auto::None;
    };
    if auto.get("enabled").and_then(Value::as_bool) == Some(false) {
        return Auto::None;
    }
    if app.at("/operation").is_some_and(|o| !o.is_null())
        || app.at("/metadata/deletionTimestamp").is_some()
        || c.sync != "OutOfSync"
    {
        return Auto::None;
    }
    let prune = auto.get("prune").and_then(Value::as_bool) == Some(true);
    let self_heal = auto.get("selfHeal").and_then(Value::as_bool) == Some(true);
    let statuses: Vec<(&str, bool)> = c
        .resources
        .iter()
        .map(|r| {
            (
                str_at(r, "/status"),
                r.get("requiresPruning") == Some(&json!(true)),
            )
        })
        .collect();
    if !prune && statuses.iter().all(|(s, p)| *s == "Synced" || *p) {
        // Only pruning is needed, and automated prune is off.
        return Auto::None;
    }
    // The application's retry strategy, else Argo CD's default for automated syncs.
    let retry = app
        .at("/spec/syncPolicy/retry")
        .filter(|r| r.is_object())
        .cloned()
        .unwrap_or_else(|| json!({"limit": 5}));
    let mut op = json!({
        "sync": {"revision": c.revision, "prune": prune},
        "initiatedBy": {"automated": true},
        "retry": retry,
    });
    if let Some(o) = app.at("/spec/syncPolicy/syncOptions") {
        op["sync"]["syncOptions"] = o.clone();
    }
    let state = app.at("/status/operationState");
    let attempted = state.is_some_and(|s| {
        s.at("/syncResult").is_some_and(|r| {
            str_at(r, "/revision") == c.revision && r.get("source") == app.at("/spec/source")
        })
    });
    if attempted {
        let phase = state.map(|s| str_at(s, "/phase")).unwrap_or("");
        if phase != "Succeeded" {
            let msg = state.map(|s| str_at(s, "/message")).unwrap_or("");
            return Auto::Error(format!(
                "Failed last sync attempt to [{}]: {msg}",
                c.revision
            ));
        }
        if !self_heal {
            return Auto::None;
        }
        if let Some(since) = since_finished {
            let remaining = SELF_HEAL_TIMEOUT_SECONDS - since;
            if remaining > 0.0 {
                return Auto::Wait(remaining);
            }
        }
        let attempts = state
            .and_then(|s| s.at("/operation/sync/autoHealAttemptsCount"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        op["sync"]["autoHealAttemptsCount"] = json!(attempts + 1);
        let out: Vec<Value> = c
            .resources
            .iter()
            .filter(|r| str_at(r, "/status") != "Synced")
            .map(|r| json!({"group": str_at(r, "/group"), "kind": str_at(r, "/kind"), "name": str_at(r, "/name")}))
            .collect();
        op["sync"]["resources"] = json!(out);
    }
    if prune
        && c.resources
            .iter()
            .all(|r| r.get("requiresPruning") == Some(&json!(true)))
    {
        return Auto::Error(format!(
            "Skipping sync attempt to [{}]: auto-sync will wipe out all resources",
            c.revision
        ));
    }
    Auto::Sync(op)
}

/// Argo CD's default back-off of a retried sync: 5 s, doubled each attempt, at most 3 minutes.
pub const RETRY_DURATION_SECONDS: f64 = 5.0;
pub const RETRY_FACTOR: f64 = 2.0;
pub const RETRY_MAX_DURATION_SECONDS: f64 = 180.0;

/// A back-off duration as Argo CD reads one: a number of seconds, or a Go duration (`30s`, `2m`,
/// `1h30m`, `500ms`).
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n as f64);
    }
    let bad = || format!("time: invalid duration \"{s}\"");
    let mut total = 0.0;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..end].parse().map_err(|_| bad())?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return Err(bad()),
        };
        total += n * unit;
        rest = &rest[unit_end..];
    }
    Ok(total)
}

/// Seconds from a failed attempt to the next one (`RetryStrategy.NextRetryAt`): the back-off's
/// duration times its factor to the power of `count`, at most its max duration.
pub fn retry_backoff(retry: &Value, count: i64) -> Result<f64, String> {
    let mut duration = RETRY_DURATION_SECONDS;
    let mut max = RETRY_MAX_DURATION_SECONDS;
    let mut factor = RETRY_FACTOR;
    if let Some(b) = retry.get("backoff").filter(|b| b.is_object()) {
        let d = str_at(b, "/duration");
        if !d.is_empty() {
            duration = parse_duration(d)?;
        }
        let m = str_at(b, "/maxDuration");
        if !m.is_empty() {
            max = parse_duration(m)?;
        }
        if let Some(f) = b.get("factor").and_then(Value::as_f64) {
            factor = f;
        }
    }
    let mut wait = duration * factor.powf(count.clamp(0, 64) as f64);
    if max > 0.0 {
        wait = wait.min(max);
    }
    if !wait.is_finite() || wait < 0.0 {
        wait = max.max(0.0);
    }
    Ok(wait)
}

fn put_condition(
    conds: &mut Vec<Value>,
    old: Option<&Value>,
    kind: &str,
    message: &str,
    now: &str,
) {
    let since = old
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|c| str_at(c, "/type") == kind && str_at(c, "/message") == message)
        })
        .map(|c| str_at(c, "/lastTransitionTime").to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| now.to_string());
    conds.push(json!({"type": kind, "message": message, "lastTransitionTime": since}));
}

/// Reconcile one Application: refresh (compare git with the cluster), run a requested or automated
/// sync, and write the status. `write` stores a new version of the Application (status, operation
/// and annotations included) and returns it as stored; it is called once before a sync (the
/// operation Running) and once at the end, and not at all when nothing changed. Returns the
/// simulated seconds after which the application wants reconciling again.
pub fn reconcile(
    store: &Store,
    mem: &mut ArgoCdMemory,
    timing: &Timing,
    current: &Value,
    level: Level,
    write: &mut dyn FnMut(&Value) -> Result<Arc<Value>, String>,
) -> f64 {
    let key = key_of(current);
    if current.at("/metadata/deletionTimestamp").is_some() {
        return finalize(store, mem, current, write);
    }
    let mut app = current.clone();
    // Whatever was written there, the controller's fields go into a map.
    object_of(&mut app, "status");
    let mut level = level;
    let refresh_ptr = format!(
        "/metadata/annotations/{}",
        REFRESH_ANNOTATION.replace('/', "~1")
    );
    if app.at(&refresh_ptr).is_some() {
        level = Level::Latest;
        if let Some(a) = app
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            a.remove(REFRESH_ANNOTATION);
        }
    }
    if app.at("/status/sync/revision").is_none() {
        level = Level::Latest;
    }
    let now = store::now();
    let since_finished = |mem: &ArgoCdMemory, app: &Value| -> Option<f64> {
        let at = mem.finished.get(&key).copied().or_else(|| {
            super::conditions::instant_of_time(str_at(app, "/status/operationState/finishedAt"))
        })?;
        let real = Instant::now().saturating_duration_since(at).as_secs_f64();
        Some(real * timing.speed.max(f64::MIN_POSITIVE))
    };
    let mut c = compare_with(store, mem, &app, revision_for(mem, &app, level));
    let mut requeue = RECONCILIATION_TIMEOUT_SECONDS;
    let mut sync_error = None;
    let mut op = app.get("operation").filter(|o| o.is_object()).cloned();
    // A failed operation waiting for its next attempt (Running, with the time the last attempt
    // finished): nothing to run until the back-off is over.
    let mut retrying = None;
    if op.is_some()
        && let Some(st) = app
            .at("/status/operationState")
            .filter(|s| str_at(s, "/phase") == "Running" && !str_at(s, "/finishedAt").is_empty())
    {
        let st = st.clone();
        let count = st.get("retryCount").and_then(Value::as_i64).unwrap_or(0);
        let retry = st.at("/operation/retry").cloned().unwrap_or(Value::Null);
        match retry_backoff(&retry, count) {
            Ok(wait) => {
                let since = since_finished(mem, &app).unwrap_or(f64::INFINITY);
                if since < wait {
                    requeue = requeue.min(wait - since);
                    op = None;
                } else {
                    retrying = Some(st);
                }
            }
            Err(e) => {
                // As Argo CD: a back-off it cannot read ends the operation in Error.
                let mut st = st;
                st["phase"] = json!("Error");
                st["message"] = json!(e);
                app["status"]["operationState"] = st;
                if let Some(m) = app.as_object_mut() {
                    m.remove("operation");
                }
                op = None;
            }
        }
    }
    if op.is_none() && app.get("operation").is_none() && c.errors.is_empty() {
        match auto_sync(&app, &c, since_finished(mem, &app)) {
            Auto::None => {}
            Auto::Sync(o) => {
                mem.events.push((
                    key.clone(),
                    "Normal",
                    "OperationStarted",
                    format!("Initiated automated sync to '{}'", c.revision),
                ));
                op = Some(o);
            }
            Auto::Wait(secs) => requeue = requeue.min(secs),
            Auto::Error(e) => sync_error = Some(e),
        }
    }
    if let Some(op) = op {
        let mut started = store::now();
        let mut state =
            json!({"operation": op, "phase": "Running", "message": "", "startedAt": started});
        let mut op = op;
        let mut retry_count = 0;
        if let Some(mut st) = retrying {
            // The next attempt of the same operation: its start and count kept, its last result
            // dropped.
            retry_count = st.get("retryCount").and_then(Value::as_i64).unwrap_or(0);
            if let Some(o) = st.get("operation").filter(|o| o.is_object()) {
                op = o.clone();
            }
            if let Some(m) = st.as_object_mut() {
                m.remove("finishedAt");
                m.remove("syncResult");
            }
            st["message"] = json!(format!("Retrying operation. Attempt #{retry_count}"));
            started = str_at(&st, "/startedAt").to_string();
            state = st;
        }
        // The comparison that led here is written with the operation Running, as Argo CD
        // persists a refresh's result before it processes the operation.
        fill_status(&mut app, current, &c, None, level, &now);
        app["operation"] = op.clone();
        app["status"]["operationState"] = state.clone();
        match write(&app) {
            Ok(stored) => {
                // Keep what the write made (resourceVersion) and go on from there.
                app = (*stored).clone();
            }
            Err(_) => return 0.0,
        }
        // A sync to another revision than the one compared reads that revision.
        let want = str_at(&op, "/sync/revision");
        if !want.is_empty() && want != c.revision && c.errors.is_empty() {
            let resolved = mem
                .repo(str_at(&app, "/spec/source/repoURL"))
                .and_then(|r| git::resolve(&r, want));
            c = compare_with(store, mem, &app, resolved);
        }
        let (phase, message, results) = if c.errors.is_empty() {
            run_sync(store, &app, &op, &c)
        } else {
            let msgs: Vec<String> = c.errors.iter().map(|(t, m)| format!("{t}: {m}")).collect();
            ("Error", msgs.join("; "), Vec::new())
        };
        let finished = store::now();
        let (mut phase, mut message) = (phase, message);
        // A failed attempt is tried again while the operation's retry limit allows (a negative
        // limit: without end), after its back-off (`processRequestedAppOperation`).
        let mut retry_in = None;
        if matches!(phase, "Failed" | "Error") {
            let limit = op.at("/retry/limit").and_then(Value::as_i64).unwrap_or(0);
            if limit < 0 || retry_count < limit {
                let retry = op.get("retry").cloned().unwrap_or(Value::Null);
                match retry_backoff(&retry, retry_count) {
                    Ok(wait) => retry_in = Some(wait),
                    Err(e) => {
                        phase = "Error";
                        message = format!("{message} (failed to retry: {e})");
                    }
                }
            } else if retry_count > 0 {
                message = format!("{message} (retried {retry_count} times).");
            }
        }
        state["phase"] = json!(phase);
        state["message"] = json!(message);
        state["finishedAt"] = json!(finished);
        if phase != "Error" {
            state["syncResult"] = json!({
                "resources": results,
                "revision": c.revision,
                "source": app.at("/spec/source").cloned().unwrap_or(Value::Null),
            });
        }
        mem.finished.insert(key.clone(), Instant::now());
        if let Some(wait) = retry_in {
            let n = retry_count + 1;
            let at = chrono::Utc::now()
                + chrono::Duration::from_std(timing.delay(wait)).unwrap_or_default();
            state["phase"] = json!("Running");
            state["retryCount"] = json!(n);
            state["message"] = json!(format!(
                "{message}. Retrying attempt #{n} at {}.",
                at.format("%-I:%M%p")
            ));
            // The operation stays: the next attempt is this one's.
            app["status"]["operationState"] = state;
            requeue = requeue.min(wait);
        } else {
            let partial = op
                .at("/sync/resources")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty());
            let mut words = vec![
                if partial {
                    "Partial sync operation"
                } else {
                    "Sync operation"
                }
                .to_string(),
            ];
            if phase != "Error" {
                words.push(format!("to {}", c.revision));
            }
            if phase == "Succeeded" {
                words.push("succeeded".into());
            } else {
                words.push(format!("failed: {message}"));
            }
            mem.events.push((
                key.clone(),
                if phase == "Succeeded" {
                    "Normal"
                } else {
                    "Warning"
                },
                "OperationCompleted",
                words.join(" "),
            ));
            if phase == "Succeeded" {
                let mut history: Vec<Value> = app
                    .at("/status/history")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let id = history
                    .iter()
                    .filter_map(|h| h.get("id").and_then(Value::as_i64))
                    .max()
                    .map_or(0, |m| m + 1);
                let mut entry = json!({
                    "revision": c.revision,
                    "deployedAt": finished,
                    "deployStartedAt": started,
                    "id": id,
                    "source": app.at("/spec/source").cloned().unwrap_or(Value::Null),
                });
                if let Some(i) = op.get("initiatedBy") {
                    entry["initiatedBy"] = i.clone();
                }
                history.push(entry);
                let limit = app
                    .at("/spec/revisionHistoryLimit")
                    .and_then(Value::as_i64)
                    .unwrap_or(HISTORY_LIMIT)
                    .max(1) as usize;
                if history.len() > limit {
                    history.drain(..history.len() - limit);
                }
                app["status"]["history"] = json!(history);
            }
            app["status"]["operationState"] = state;
            if let Some(m) = app.as_object_mut() {
                m.remove("operation");
            }
        }
        // The refresh after the attempt: the cluster as the sync left it.
        let rev = if c.revision.is_empty() {
            revision_for(mem, &app, Level::Latest)
        } else {
            Ok(c.revision.clone())
        };
        c = compare_with(store, mem, &app, rev);
        if app
            .at("/spec/syncPolicy/automated/selfHeal")
            .and_then(Value::as_bool)
            == Some(true)
        {
            requeue = requeue.min(SELF_HEAL_TIMEOUT_SECONDS);
        }
    }
    fill_status(&mut app, current, &c, sync_error.as_deref(), level, &now);
    for (what, ptr) in [
        ("sync", "/status/sync/status"),
        ("health", "/status/health/status"),
    ] {
        let (before, after) = (str_at(current, ptr), str_at(&app, ptr));
        if before != after {
            mem.events.push((
                key.clone(),
                "Normal",
                "ResourceUpdated",
                format!("Updated {what} status: {before} -> {after}"),
            ));
        }
    }
    if app != *current && write(&app).is_err() {
        return 0.0;
    }
    requeue
}

/// Write a comparison's result into the Application's status (`status.sync`, `resources`, `health`,
/// `sourceType`, `summary`, `conditions`, `reconciledAt`).
fn fill_status(
    app: &mut Value,
    current: &Value,
    c: &Compared,
    sync_error: Option<&str>,
    level: Level,
    now: &str,
) {
    let old_conditions = current.at("/status/conditions").cloned();
    let mut conditions = Vec::new();
    for (t, m) in &c.errors {
        put_condition(&mut conditions, old_conditions.as_ref(), t, m, now);
    }
    if let Some(e) = sync_error {
        put_condition(
            &mut conditions,
            old_conditions.as_ref(),
            "SyncError",
            e,
            now,
        );
    }
    let status = object_of(app, "status");
    let source = current.at("/spec/source").cloned().unwrap_or(Value::Null);
    let destination = current
        .at("/spec/destination")
        .cloned()
        .unwrap_or(Value::Null);
    let mut sync =
        json!({"status": c.sync, "comparedTo": {"source": source, "destination": destination}});
    if !c.revision.is_empty() {
        sync["revision"] = json!(c.revision);
    }
    status.insert("sync".into(), sync);
    status.insert("resources".into(), json!(c.resources));
    let mut health = json!({"status": c.health});
    let old_health = current.at("/status/health");
    if old_health.and_then(|h| h.get("status")) == Some(&json!(c.health)) {
        if let Some(t) = old_health.and_then(|h| h.get("lastTransitionTime")) {
            health["lastTransitionTime"] = t.clone();
        }
    } else {
        health["lastTransitionTime"] = json!(now);
    }
    status.insert("health".into(), health);
    status.insert("sourceType".into(), json!("Directory"));
    status.insert("summary".into(), json!({"images": c.images}));
    if conditions.is_empty() {
        status.remove("conditions");
    } else {
        status.insert("conditions".into(), json!(conditions));
    }
    if level == Level::Latest || !status.contains_key("reconciledAt") {
        status.insert("reconciledAt".into(), json!(now));
    }
    status.insert("controllerNamespace".into(), json!(namespace_of(current)));
}

fn object_of<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    crate::object::object_mut(v, key)
}

#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod helm_tests;
#[cfg(test)]
mod tests;
