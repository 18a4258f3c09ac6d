//! External Secrets Operator, stood in for a rehearsal (`rehearsal: {crds: [external-secrets]}`):
//! a controller over the sandbox's API (a kube client, as any other client of it) that copies
//! values from the rehearsal's AWS stand-in (Secrets Manager `GetSecretValue`, as ESO's AWS
//! provider calls it) into the Secret each `ExternalSecret` (external-secrets.io/v1beta1) names,
//! and writes the status ESO v0.9 writes.
//!
//! What it models of ESO's reconcile (pkg/controllers/externalsecret at v0.9.11):
//! - refresh when `status.syncedResourceVersion` differs from `GENERATION-HASH(annotations,
//!   labels)` (a new object, a spec change, a `force-sync` annotation), when the target Secret is
//!   missing, and every `spec.refreshInterval` (default 1h; `0` never), divided by the
//!   rehearsal's `--speed` like every simulated delay;
//! - `spec.data[]` (`secretKey`, `remoteRef.key`, `.property` a JSON key or dotted path,
//!   `.version` a staging label or `uuid/ID`) and `spec.dataFrom[].extract` (every key of a JSON
//!   object);
//! - `spec.target`: `name` (default the ExternalSecret's), `creationPolicy` `Owner` (default:
//!   created or taken over, with a controller ownerReference), `Orphan`, `Merge` (an existing
//!   Secret only), `None`;
//! - the store named by `spec.secretStoreRef` (a `SecretStore` in the namespace, or a
//!   `ClusterSecretStore`) must exist with the AWS `SecretsManager` provider; its auth and
//!   region are not used (the stand-in answers as the rehearsal's account and region);
//! - status: `refreshTime`, `syncedResourceVersion`, `binding`, and the `Ready` condition
//!   (`SecretSynced` "Secret was synced", or `SecretSyncedError` with ESO's message and a Warning
//!   event `UpdateFailed` carrying the provider's error). Events and errors name keys, never
//!   values; nothing here logs.
//!
//! Not modelled: templates (refused with a clear message), `find`, generators, decoding
//! strategies, deletion policies other than `Retain`, the data-hash annotation.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event as KubeEvent, ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::{Api, ApiResource, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value, json};
use tokio::time::Instant;

/// ESO's API version the stand-in serves its controller on (the CRDs' storage version).
pub const API_VERSION: &str = "external-secrets.io/v1beta1";
/// `spec.refreshInterval` when the object has none (the CRD's default).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// ESO's messages (pkg/controllers/externalsecret/externalsecret_controller.go at v0.9.11).
pub const SYNCED: &str = "Secret was synced";
pub const ERR_GET_SECRET_DATA: &str = "could not get secret data from provider";
pub const ERR_UPDATE_SECRET: &str = "could not update Secret";
/// ESO's `NoSecretError` (the AWS provider's answer to ResourceNotFoundException).
pub const NO_SECRET: &str = "Secret does not exist";

/// The kube and Secrets Manager clients the controller works with.
pub struct Config {
    /// A client of the sandbox's API.
    pub kube: kube::Client,
    /// A client of the rehearsal's AWS stand-in.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Simulated delays (here `spec.refreshInterval`) are divided by this.
    pub speed: f64,
}

/// The running controller; stopped when dropped.
pub struct ExternalSecrets {
    task: tokio::task::JoinHandle<()>,
}

impl ExternalSecrets {
    /// Starts the controller on the current runtime. The ExternalSecret CRD must be served (a
    /// watch of an unserved type is retried with backoff until it is).
    pub fn start(c: Config) -> ExternalSecrets {
        ExternalSecrets {
            task: tokio::spawn(run(c)),
        }
    }
}

impl Drop for ExternalSecrets {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Secrets Manager client of the AWS stand-in at `url`, as the rehearsal's own credentials.
pub fn secrets_client(url: &str, region: &str) -> aws_sdk_secretsmanager::Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new(
            region.to_string(),
        ))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            super::env::ACCESS_KEY,
            super::env::SECRET_KEY,
            None,
            None,
            "tollgate-rehearsal",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "external-secrets.io".into(),
        version: "v1beta1".into(),
        api_version: API_VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// What the controller remembers of one ExternalSecret.
struct Tracked {
    object: DynamicObject,
    /// When it was last refreshed (successfully or not).
    refreshed: Option<Instant>,
    /// After a failure: the resource version that failed and when to try again.
    retry: Option<(String, Instant, Duration)>,
}

async fn run(c: Config) {
    let api: Api<DynamicObject> = Api::all_with(
        c.kube.clone(),
        &resource("ExternalSecret", "externalsecrets"),
    );
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut known: HashMap<(String, String), Tracked> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(Event::Apply(o) | Event::InitApply(o))) => {
                    let key = key_of(&o);
                    let t = known.entry(key).or_insert(Tracked { object: o.clone(), refreshed: None, retry: None });
                    t.object = o;
                    let rv = resource_version(&t.object);
                    let changed = synced_version(&t.object) != Some(rv.as_str());
                    let backing_off = matches!(&t.retry, Some((failed, at, _)) if *failed == rv && Instant::now() < *at);
                    if changed && !backing_off {
                        refresh(&c, t).await;
                    } else if t.refreshed.is_none() {
                        // Seen synced (by an earlier controller): check its Secret still exists.
                        t.refreshed = Some(Instant::now());
                        if target_missing(&c, &t.object).await {
                            refresh(&c, t).await;
                        }
                    }
                }
                Some(Ok(Event::Delete(o))) => {
                    known.remove(&key_of(&o));
                }
                Some(Ok(_)) | Some(Err(_)) => {}
                None => return,
            },
            _ = tick.tick() => {
                let now = Instant::now();
                for t in known.values_mut() {
                    let due = match (&t.retry, t.refreshed) {
                        (Some((_, at, _)), _) => now >= *at,
                        (None, Some(at)) => refresh_interval(&t.object)
                            .filter(|d| !d.is_zero())
                            .is_some_and(|d| now >= at + scaled(d, c.speed)),
                        (None, None) => false,
                    };
                    if due {
                        refresh(&c, t).await;
                    }
                }
            }
        }
    }
}

fn key_of(o: &DynamicObject) -> (String, String) {
    (
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().unwrap_or_default(),
    )
}

fn scaled(d: Duration, speed: f64) -> Duration {
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    };
    Duration::try_from_secs_f64(d.as_secs_f64() / speed).unwrap_or(d)
}

/// ESO's `getResourceVersion`: the generation and a hash of the annotations and labels, so that
/// a changed `force-sync` annotation asks for a refresh.
pub fn resource_version(o: &DynamicObject) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let sorted = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    sorted(&o.metadata.annotations).hash(&mut h);
    sorted(&o.metadata.labels).hash(&mut h);
    format!("{}-{:016x}", o.metadata.generation.unwrap_or(0), h.finish())
}

fn synced_version(o: &DynamicObject) -> Option<&str> {
    o.data
        .pointer("/status/syncedResourceVersion")
        .and_then(Value::as_str)
}

/// `spec.refreshInterval` (a Go duration: `5m`, `1h30m`, `0`); the CRD's default when absent or
/// unreadable.
fn refresh_interval(o: &DynamicObject) -> Option<Duration> {
    match o
        .data
        .pointer("/spec/refreshInterval")
        .and_then(Value::as_str)
    {
        None => Some(DEFAULT_REFRESH),
        Some(s) => Some(go_duration(s).unwrap_or(DEFAULT_REFRESH)),
    }
}

/// A Go `time.Duration` string: `0`, or numbers each with a unit (h, m, s, ms, us, µs, ns).
pub fn go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn spec_str<'a>(o: &'a DynamicObject, path: &str) -> Option<&'a str> {
    o.data
        .pointer(path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn target_name(o: &DynamicObject) -> String {
    spec_str(o, "/spec/target/name")
        .map(str::to_string)
        .or_else(|| o.metadata.name.clone())
        .unwrap_or_default()
}

async fn target_missing(c: &Config, o: &DynamicObject) -> bool {
    let ns = o.metadata.namespace.clone().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(c.kube.clone(), &ns);
    matches!(secrets.get_opt(&target_name(o)).await, Ok(None))
}

/// One reconcile of ESO's: fetch, write the Secret, write the status.
async fn refresh(c: &Config, t: &mut Tracked) {
    let o = t.object.clone();
    let rv = resource_version(&o);
    let start = chrono::Utc::now();
    let outcome = match fetch(c, &o).await {
        Err(e) => Err((ERR_GET_SECRET_DATA, e)),
        Ok(data) => match write_secret(c, &o, data).await {
            Ok(()) => Ok(()),
            Err(e) => Err((ERR_UPDATE_SECRET, e)),
        },
    };
    t.refreshed = Some(Instant::now());
    let condition = match &outcome {
        Ok(()) => ("True", "SecretSynced", SYNCED),
        Err((msg, _)) => ("False", "SecretSyncedError", *msg),
    };
    let mut status = json!({ "conditions": conditions(&o, condition) });
    match &outcome {
        Ok(()) => {
            t.retry = None;
            status["refreshTime"] = json!(refresh_time(&o, start).await);
            status["syncedResourceVersion"] = json!(rv);
            status["binding"] = json!({ "name": target_name(&o) });
        }
        Err((_, e)) => {
            // controller-runtime requeues a failed reconcile with a growing delay.
            let delay = match &t.retry {
                Some((failed, _, d)) if *failed == rv => (*d * 2).min(Duration::from_secs(10)),
                _ => Duration::from_millis(500),
            };
            t.retry = Some((rv, Instant::now() + delay, delay));
            event(c, &o, "Warning", "UpdateFailed", e).await;
        }
    }
    let api: Api<DynamicObject> = Api::namespaced_with(
        c.kube.clone(),
        o.metadata.namespace.as_deref().unwrap_or_default(),
        &resource("ExternalSecret", "externalsecrets"),
    );
    let name = o.metadata.name.clone().unwrap_or_default();
    let _ = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await;
    if outcome.is_ok() {
        event(c, &o, "Normal", "Updated", "Updated Secret").await;
    }
}

/// `refreshTime` is a `metav1.Time` (whole seconds): a refresh within the second of the last
/// one is stamped with the next second, so that whoever waits for it to change sees it change.
async fn refresh_time(o: &DynamicObject, start: chrono::DateTime<chrono::Utc>) -> String {
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let last = o
        .data
        .pointer("/status/refreshTime")
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    match last {
        Some(last) if fmt(last) >= fmt(start) && last - start < chrono::TimeDelta::seconds(2) => {
            let next = last + chrono::TimeDelta::seconds(1);
            if let Ok(wait) = (next - chrono::Utc::now()).to_std() {
                tokio::time::sleep(wait.min(Duration::from_secs(2))).await;
            }
            fmt(next)
        }
        _ => fmt(start),
    }
}

/// ESO's `SetExternalSecretCondition`: the `Ready` condition replaced, its
/// `lastTransitionTime` kept while its status stays.
fn conditions(o: &DynamicObject, (status, reason, message): (&str, &str, &str)) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let current: Vec<Value> = o
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ready = current
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"));
    let since = ready
        .filter(|c| c.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now));
    let mut out: Vec<Value> = current
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) != Some("Ready"))
        .cloned()
        .collect();
    out.push(json!({
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }));
    Value::Array(out)
}

/// The values the ExternalSecret asks for, by the Secret's key. Errors are ESO's texts, naming
/// keys and properties, never a value.
async fn fetch(c: &Config, o: &DynamicObject) -> Result<BTreeMap<String, Vec<u8>>, String> {
    if o.data.pointer("/spec/target/template").is_some() {
        return Err(
            "spec.target.template is not applied by the rehearsal's External Secrets stand-in"
                .into(),
        );
    }
    store(c, o).await?;
    let spec = o.data.get("spec").cloned().unwrap_or(Value::Null);
    let mut out = BTreeMap::new();
    for (i, from) in array(&spec, "dataFrom").iter().enumerate() {
        let Some(extract) = from.get("extract") else {
            return Err(format!(
                "spec.dataFrom[{i}]: only `extract` is stood in for in a rehearsal"
            ));
        };
        let key = str_of(extract, "key");
        let raw = get_value(c, key, str_of(extract, "version")).await?;
        let raw = match str_of(extract, "property") {
            "" => raw,
            p => property(&raw, p)
                .ok_or_else(|| format!("key {p} does not exist in secret {key}"))?,
        };
        let map: serde_json::Map<String, Value> = serde_json::from_slice(&raw)
            .map_err(|e| format!("unable to unmarshal secret {key}: {}", json_error(&e)))?;
        for (k, v) in map {
            let bytes = match v {
                Value::String(s) => s.into_bytes(),
                other => other.to_string().into_bytes(),
            };
            out.insert(k, bytes);
        }
    }
    for (i, d) in array(&spec, "data").iter().enumerate() {
        let secret_key = str_of(d, "secretKey");
        let remote = d.get("remoteRef").cloned().unwrap_or(Value::Null);
        let key = str_of(&remote, "key");
        let got = async {
            let raw = get_value(c, key, str_of(&remote, "version")).await?;
            match str_of(&remote, "property") {
                "" => Ok(raw),
                p => property(&raw, p)
                    .ok_or_else(|| format!("key {p} does not exist in secret {key}")),
            }
        }
        .await
        .map_err(|e| format!("error retrieving secret at .data[{i}], key: {key}, err: {e}"))?;
        out.insert(secret_key.to_string(), got);
    }
    Ok(out)
}

/// serde_json's error as its position only: its message may quote what it read.
fn json_error(e: &serde_json::Error) -> String {
    format!("invalid JSON at line {} column {}", e.line(), e.column())
}

fn array(v: &Value, k: &str) -> Vec<Value> {
    v.get(k)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// The AWS provider's `mapSecretToGjson`: a key holding dots is looked up whole first, then as a
/// path of nested keys. A string is its text; anything else its JSON.
fn property(raw: &[u8], property: &str) -> Option<Vec<u8>> {
    let doc: Value = serde_json::from_slice(raw).ok()?;
    let found = doc
        .get(property)
        .cloned()
        .or_else(|| property.split('.').try_fold(&doc, |v, k| v.get(k)).cloned())?;
    Some(match found {
        Value::String(s) => s.into_bytes(),
        other => other.to_string().into_bytes(),
    })
}

/// `GetSecretValue` of `key` at `version` (a staging label, `uuid/ID`, or AWSCURRENT).
async fn get_value(c: &Config, key: &str, version: &str) -> Result<Vec<u8>, String> {
    let mut req = c.secrets.get_secret_value().secret_id(key);
    req = match version {
        "" => req.version_stage("AWSCURRENT"),
        v if v.starts_with("uuid/") => req.version_id(v.trim_start_matches("uuid/")),
        v => req.version_stage(v),
    };
    match req.send().await {
        Ok(out) => {
            if let Some(s) = out.secret_string {
                Ok(s.into_bytes())
            } else if let Some(b) = out.secret_binary {
                Ok(b.into_inner())
            } else {
                Err(format!(
                    "invalid secret received. no secret string nor binary for key: {key}"
                ))
            }
        }
        Err(e) => {
            if e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFoundException") {
                Err(NO_SECRET.into())
            } else {
                Err(crate::text::one_line(&DisplayErrorContext(&e).to_string()))
            }
        }
    }
}

/// The store `spec.secretStoreRef` names, checked: it exists and is AWS Secrets Manager.
async fn store(c: &Config, o: &DynamicObject) -> Result<(), String> {
    let kind = spec_str(o, "/spec/secretStoreRef/kind").unwrap_or("SecretStore");
    let name = spec_str(o, "/spec/secretStoreRef/name").unwrap_or_default();
    let ns = o.metadata.namespace.clone().unwrap_or_default();
    let got = match kind {
        "ClusterSecretStore" => {
            Api::<DynamicObject>::all_with(
                c.kube.clone(),
                &resource("ClusterSecretStore", "clustersecretstores"),
            )
            .get(name)
            .await
        }
        _ => {
            Api::<DynamicObject>::namespaced_with(
                c.kube.clone(),
                &ns,
                &resource("SecretStore", "secretstores"),
            )
            .get(name)
            .await
        }
    };
    let store = got.map_err(|e| {
        let why = match e {
            kube::Error::Api(s) => s.message,
            other => other.to_string(),
        };
        format!("could not get {kind} {name:?}, {why}")
    })?;
    let service = store
        .data
        .pointer("/spec/provider/aws/service")
        .and_then(Value::as_str);
    if service != Some("SecretsManager") {
        return Err(format!(
            "{kind} {name:?} is not an AWS SecretsManager store: the rehearsal stands in for that provider only"
        ));
    }
    Ok(())
}

/// Writes the Secret as `spec.target.creationPolicy` says.
async fn write_secret(
    c: &Config,
    o: &DynamicObject,
    data: BTreeMap<String, Vec<u8>>,
) -> Result<(), String> {
    let ns = o.metadata.namespace.clone().unwrap_or_default();
    let es_name = o.metadata.name.clone().unwrap_or_default();
    let name = target_name(o);
    let policy = spec_str(o, "/spec/target/creationPolicy").unwrap_or("Owner");
    if policy == "None" {
        return Ok(());
    }
    let api: Api<Secret> = Api::namespaced(c.kube.clone(), &ns);
    let existing = api.get_opt(&name).await.map_err(kube_text)?;
    let owner = OwnerReference {
        api_version: API_VERSION.into(),
        kind: "ExternalSecret".into(),
        name: es_name.clone(),
        uid: o.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let owned_label = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!("{ns}/{es_name}").hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let bytes = |d: BTreeMap<String, Vec<u8>>| -> BTreeMap<String, ByteString> {
        d.into_iter().map(|(k, v)| (k, ByteString(v))).collect()
    };
    match existing {
        None if policy == "Merge" => Err(format!(
            "the desired secret {name} was not found. With creationPolicy=Merge the secret won't be created"
        )),
        None => {
            let mut meta = ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                ..Default::default()
            };
            if policy == "Owner" {
                meta.owner_references = Some(vec![owner]);
                meta.labels = Some(BTreeMap::from([(
                    "reconcile.external-secrets.io/created-by".to_string(),
                    owned_label,
                )]));
            }
            let secret = Secret {
                metadata: meta,
                type_: Some("Opaque".into()),
                data: Some(bytes(data)),
                ..Default::default()
            };
            api.create(&PostParams::default(), &secret)
                .await
                .map(|_| ())
                .map_err(kube_text)
        }
        Some(mut secret) => {
            let before = secret.clone();
            if policy == "Owner" {
                let refs = secret
                    .metadata
                    .owner_references
                    .get_or_insert_with(Vec::new);
                if let Some(other) = refs
                    .iter()
                    .find(|r| r.controller == Some(true) && r.uid != owner.uid)
                {
                    return Err(format!(
                        "could not set ExternalSecret controller reference: Object {ns}/{name} is already owned by another {} controller {}",
                        other.kind, other.name
                    ));
                }
                if !refs.iter().any(|r| r.uid == owner.uid) {
                    refs.push(owner);
                }
                secret
                    .metadata
                    .labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(
                        "reconcile.external-secrets.io/created-by".into(),
                        owned_label,
                    );
            }
            let into = secret.data.get_or_insert_with(BTreeMap::new);
            into.extend(bytes(data));
            // As ESO's createOrUpdate: no write when nothing changed.
            if secret == before {
                return Ok(());
            }
            api.replace(&name, &PostParams::default(), &secret)
                .await
                .map(|_| ())
                .map_err(kube_text)
        }
    }
}

fn kube_text(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message,
        other => crate::text::one_line(&other.to_string()),
    }
}

/// An event on the ExternalSecret, as ESO's recorder writes it (component `external-secrets`).
async fn event(c: &Config, o: &DynamicObject, type_: &str, reason: &str, message: &str) {
    let ns = o.metadata.namespace.clone().unwrap_or_default();
    let name = o.metadata.name.clone().unwrap_or_default();
    let now = chrono::Utc::now();
    let stamp = k8s_openapi::jiff::Timestamp::now();
    let ev = KubeEvent {
        metadata: ObjectMeta {
            name: Some(format!(
                "{name}.{:x}",
                now.timestamp_nanos_opt().unwrap_or(0)
            )),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(API_VERSION.into()),
            kind: Some("ExternalSecret".into()),
            name: Some(name),
            namespace: Some(ns.clone()),
            uid: o.metadata.uid.clone(),
            resource_version: o.metadata.resource_version.clone(),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(type_.into()),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some("external-secrets".into()),
            host: None,
        }),
        first_timestamp: Some(Time(stamp)),
        last_timestamp: Some(Time(stamp)),
        count: Some(1),
        ..Default::default()
    };
    let _ = Api::<KubeEvent>::namespaced(c.kube.clone(), &ns)
        .create(&PostParams::default(), &ev)
        .await;
}
