//! The rehearsal's External Secrets Operator (`tollgate::rehearsal::external_secrets`), against a
//! real sandbox serving ESO's upstream CRDs and the AWS stand-in: what it writes into the target
//! Secret and the ExternalSecret's status, as ESO v0.9 does. Values are compared, never printed.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tollgate::rehearsal::external_secrets::{self as eso, ExternalSecrets};
use tollgate_sandbox::Sandbox;
use tollgate_standin::aws::AwsStandIn;

const NS: &str = "default";
const DEADLINE: Duration = Duration::from_secs(20);

struct World {
    _sandbox: Sandbox,
    _aws: AwsStandIn,
    _eso: ExternalSecrets,
    kube: kube::Client,
    sm: aws_sdk_secretsmanager::Client,
}

/// A sandbox serving ESO's CRDs with a SecretStore `aws` (AWS Secrets Manager), the AWS stand-in
/// holding `secrets`, and the controller over both.
async fn world(secrets: &[(&str, &str)]) -> World {
    let sandbox = Sandbox::start(tollgate_sandbox::Config::fast())
        .await
        .expect("the sandbox starts");
    sandbox
        .apply_yaml(
            tollgate_sandbox::crds::EXTERNAL_SECRETS,
            "external-secrets.yaml",
        )
        .expect("ESO's CRDs load");
    let aws = AwsStandIn::start(tollgate_standin::aws::Config {
        identity: tollgate_standin::Identity {
            account: "000000000000".into(),
            region: "us-east-1".into(),
        },
        port: 0,
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        repositories: Vec::new(),
        ecr: Default::default(),
    })
    .await
    .expect("the AWS stand-in starts");
    let sm = eso::secrets_client(&aws.url(), "us-east-1");
    let kube = sandbox.client();
    let controller = ExternalSecrets::start(eso::Config {
        kube: kube.clone(),
        secrets: sm.clone(),
        speed: 50.0,
    });
    let store: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "SecretStore",
        "metadata": { "name": "aws", "namespace": NS },
        "spec": { "provider": { "aws": { "service": "SecretsManager", "region": "us-east-1" } } }
    }))
    .unwrap();
    api(&kube, "SecretStore", "secretstores")
        .create(&PostParams::default(), &store)
        .await
        .expect("the SecretStore is created");
    World {
        _sandbox: sandbox,
        _aws: aws,
        _eso: controller,
        kube,
        sm,
    }
}

fn api(kube: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        kube.clone(),
        NS,
        &ApiResource {
            group: "external-secrets.io".into(),
            version: "v1beta1".into(),
            api_version: "external-secrets.io/v1beta1".into(),
            kind: kind.into(),
            plural: plural.into(),
        },
    )
}

impl World {
    fn external_secrets(&self) -> Api<DynamicObject> {
        api(&self.kube, "ExternalSecret", "externalsecrets")
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.kube.clone(), NS)
    }

    async fn create(&self, name: &str, spec: Value) -> DynamicObject {
        let es: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1beta1",
            "kind": "ExternalSecret",
            "metadata": { "name": name, "namespace": NS },
            "spec": spec,
        }))
        .unwrap();
        self.external_secrets()
            .create(&PostParams::default(), &es)
            .await
            .expect("the ExternalSecret is created")
    }

    /// The ExternalSecret once its `Ready` condition has `status`, and `also` holds.
    async fn ready(
        &self,
        name: &str,
        status: &str,
        also: impl Fn(&DynamicObject) -> bool,
    ) -> DynamicObject {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let es = self.external_secrets().get(name).await.unwrap();
            if ready_of(&es).0.as_deref() == Some(status) && also(&es) {
                return es;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not Ready={status} within {DEADLINE:?}: status {}",
                es.data.get("status").cloned().unwrap_or(Value::Null)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The target Secret's value of `key` once it equals `want` (compared, never printed).
    async fn holds(&self, secret: &str, key: &str, want: &str) -> Secret {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(s) = self.secrets().get_opt(secret).await.unwrap() {
                let got = s.data.as_ref().and_then(|d| d.get(key)).map(|b| &b.0[..]);
                if got == Some(want.as_bytes()) {
                    return s;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Secret {secret} key {key} does not hold the expected value within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn rotate(&self, id: &str, value: &str) {
        self.sm
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .expect("the stand-in takes a new version");
    }
}

/// The `Ready` condition's (status, reason, message).
fn ready_of(es: &DynamicObject) -> (Option<String>, Option<String>, Option<String>) {
    let c = es
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .cloned()
        .unwrap_or(Value::Null);
    let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    (s("status"), s("reason"), s("message"))
}

fn status_str(es: &DynamicObject, k: &str) -> Option<String> {
    es.data
        .pointer(&format!("/status/{k}"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn data(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(k, remote)| json!({ "secretKey": k, "remoteRef": { "key": remote } }))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_secret_is_synced_when_created_into_a_secret_it_owns() {
    let w = world(&[("app/db", "made-up-db-1"), ("app/jwt", "made-up-jwt-1")]).await;
    let created = w
        .create(
            "app",
            json!({
                "refreshInterval": "1h",
                "secretStoreRef": { "kind": "SecretStore", "name": "aws" },
                "target": { "name": "app-secrets" },
                "data": data(&[("DATABASE_URL", "app/db"), ("JWT_SECRET", "app/jwt")]),
            }),
        )
        .await;
    let es = w.ready("app", "True", |_| true).await;
    assert_eq!(
        ready_of(&es),
        (
            Some("True".into()),
            Some("SecretSynced".into()),
            Some(eso::SYNCED.into())
        )
    );
    assert!(status_str(&es, "refreshTime").is_some(), "no refreshTime");
    assert_eq!(
        status_str(&es, "syncedResourceVersion"),
        Some(eso::resource_version(&es))
    );
    w.holds("app-secrets", "DATABASE_URL", "made-up-db-1").await;
    let secret = w.holds("app-secrets", "JWT_SECRET", "made-up-jwt-1").await;
    // creationPolicy Owner (the default): the ExternalSecret is its controller.
    let owners = secret.metadata.owner_references.unwrap_or_default();
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].kind, "ExternalSecret");
    assert_eq!(owners[0].name, "app");
    assert_eq!(Some(&owners[0].uid), created.metadata.uid.as_ref());
    assert_eq!(owners[0].controller, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_force_sync_annotation_refreshes_at_once_with_the_rotated_value() {
    let w = world(&[("app/jwt", "made-up-jwt-1")]).await;
    w.create(
        "app",
        json!({
            "refreshInterval": "1h",
            "secretStoreRef": { "name": "aws" },
            "data": data(&[("JWT_SECRET", "app/jwt")]),
        }),
    )
    .await;
    let first = w.ready("app", "True", |_| true).await;
    let before = status_str(&first, "refreshTime");
    // No target name: the Secret is named like the ExternalSecret.
    w.holds("app", "JWT_SECRET", "made-up-jwt-1").await;

    w.rotate("app/jwt", "made-up-jwt-2").await;
    // Within the hour's interval nothing refreshes by itself: still the first value.
    let s = w.secrets().get("app").await.unwrap();
    assert!(
        s.data.unwrap()["JWT_SECRET"].0 == b"made-up-jwt-1",
        "refreshed before it was asked to"
    );
    w.external_secrets()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "annotations": { "force-sync": "1" } } })),
        )
        .await
        .unwrap();
    let after = w
        .ready("app", "True", |es| status_str(es, "refreshTime") != before)
        .await;
    assert_eq!(
        status_str(&after, "syncedResourceVersion"),
        Some(eso::resource_version(&after)),
        "the synced version is the annotated object's"
    );
    w.holds("app", "JWT_SECRET", "made-up-jwt-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_remote_key_is_ready_false_with_esos_message_and_the_providers_error() {
    let w = world(&[("app/db", "made-up-db-1")]).await;
    w.create(
        "app",
        json!({
            "secretStoreRef": { "name": "aws" },
            "target": { "name": "app-secrets" },
            "data": data(&[("DATABASE_URL", "app/db"), ("TON_API_KEY", "app/not-there")]),
        }),
    )
    .await;
    let es = w.ready("app", "False", |_| true).await;
    assert_eq!(
        ready_of(&es),
        (
            Some("False".into()),
            Some("SecretSyncedError".into()),
            Some(eso::ERR_GET_SECRET_DATA.into())
        )
    );
    // Nothing written: ESO writes all of the Secret or none of it.
    assert!(w.secrets().get_opt("app-secrets").await.unwrap().is_none());
    // The provider's error is in the Warning event, naming the key (not a value).
    let want =
        "error retrieving secret at .data[1], key: app/not-there, err: Secret does not exist";
    let events: Api<Event> = Api::namespaced(w.kube.clone(), NS);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let list = events.list(&ListParams::default()).await.unwrap();
        let found = list.items.iter().any(|e| {
            e.involved_object.name.as_deref() == Some("app")
                && e.reason.as_deref() == Some("UpdateFailed")
                && e.type_.as_deref() == Some("Warning")
                && e.message.as_deref() == Some(want)
        });
        if found {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no UpdateFailed event {want:?}: {:?}",
            list.items
                .iter()
                .map(|e| (e.reason.clone(), e.message.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once the key exists, a retry syncs it.
    w.sm.create_secret()
        .name("app/not-there")
        .secret_string("made-up-key")
        .send()
        .await
        .unwrap();
    w.ready("app", "True", |_| true).await;
    w.holds("app-secrets", "TON_API_KEY", "made-up-key").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_property_and_a_data_from_extract_take_keys_of_the_secrets_json() {
    let w = world(&[
        (
            "app/db",
            r#"{"user":"labelmint","password":"made-up-pw","pool":{"max":10},"a.b":"dotted"}"#,
        ),
        ("app/flags", r#"{"FEATURE_X":"on","LIMIT":5}"#),
    ])
    .await;
    w.create(
        "app",
        json!({
            "secretStoreRef": { "name": "aws" },
            "dataFrom": [ { "extract": { "key": "app/flags" } } ],
            "data": [
                { "secretKey": "DB_PASSWORD", "remoteRef": { "key": "app/db", "property": "password" } },
                { "secretKey": "POOL_MAX", "remoteRef": { "key": "app/db", "property": "pool.max" } },
                { "secretKey": "DOTTED", "remoteRef": { "key": "app/db", "property": "a.b" } },
            ],
        }),
    )
    .await;
    w.ready("app", "True", |_| true).await;
    w.holds("app", "DB_PASSWORD", "made-up-pw").await;
    w.holds("app", "POOL_MAX", "10").await;
    w.holds("app", "DOTTED", "dotted").await;
    w.holds("app", "FEATURE_X", "on").await;
    w.holds("app", "LIMIT", "5").await;

    // A property the JSON does not have: the AWS provider's message.
    w.create(
        "missing-property",
        json!({
            "secretStoreRef": { "name": "aws" },
            "data": [ { "secretKey": "X", "remoteRef": { "key": "app/db", "property": "host" } } ],
        }),
    )
    .await;
    let es = w.ready("missing-property", "False", |_| true).await;
    assert_eq!(ready_of(&es).2.as_deref(), Some(eso::ERR_GET_SECRET_DATA));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_takes_over_an_existing_secret_and_merge_only_adds_keys() {
    let w = world(&[("app/jwt", "made-up-jwt-1")]).await;
    for name in ["placeholder", "shared"] {
        let s: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": name, "namespace": NS },
            "stringData": { "KEPT": "made-up-kept", "JWT_SECRET": "made-up-placeholder" },
        }))
        .unwrap();
        w.secrets()
            .create(&PostParams::default(), &s)
            .await
            .unwrap();
    }
    // Owner over an existing Secret: it becomes the owner, the key is overwritten.
    w.create(
        "owner",
        json!({
            "secretStoreRef": { "name": "aws" },
            "target": { "name": "placeholder", "creationPolicy": "Owner" },
            "data": data(&[("JWT_SECRET", "app/jwt")]),
        }),
    )
    .await;
    w.ready("owner", "True", |_| true).await;
    let s = w.holds("placeholder", "JWT_SECRET", "made-up-jwt-1").await;
    let owners = s.metadata.owner_references.unwrap_or_default();
    assert!(
        owners
            .iter()
            .any(|o| o.name == "owner" && o.controller == Some(true)),
        "{owners:?}"
    );
    // A second Owner of the same Secret is refused: it already has a controller.
    w.create(
        "second-owner",
        json!({
            "secretStoreRef": { "name": "aws" },
            "target": { "name": "placeholder" },
            "data": data(&[("JWT_SECRET", "app/jwt")]),
        }),
    )
    .await;
    let es = w.ready("second-owner", "False", |_| true).await;
    assert_eq!(ready_of(&es).2.as_deref(), Some(eso::ERR_UPDATE_SECRET));

    // Merge: the key added, the others kept, no owner.
    w.create(
        "merge",
        json!({
            "secretStoreRef": { "name": "aws" },
            "target": { "name": "shared", "creationPolicy": "Merge" },
            "data": data(&[("JWT_SECRET", "app/jwt")]),
        }),
    )
    .await;
    w.ready("merge", "True", |_| true).await;
    let s = w.holds("shared", "JWT_SECRET", "made-up-jwt-1").await;
    assert!(s.data.as_ref().unwrap()["KEPT"].0 == b"made-up-kept");
    assert!(s.metadata.owner_references.unwrap_or_default().is_empty());
    // Merge into a Secret that does not exist: not created.
    w.create(
        "merge-nothing",
        json!({
            "secretStoreRef": { "name": "aws" },
            "target": { "name": "absent", "creationPolicy": "Merge" },
            "data": data(&[("JWT_SECRET", "app/jwt")]),
        }),
    )
    .await;
    w.ready("merge-nothing", "False", |_| true).await;
    assert!(w.secrets().get_opt("absent").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_interval_refreshes_without_being_asked_at_the_rehearsals_speed() {
    let w = world(&[("app/jwt", "made-up-jwt-1")]).await;
    // 10s at speed 50: every 0.2s.
    w.create(
        "app",
        json!({
            "refreshInterval": "10s",
            "secretStoreRef": { "name": "aws" },
            "data": data(&[("JWT_SECRET", "app/jwt")]),
        }),
    )
    .await;
    w.holds("app", "JWT_SECRET", "made-up-jwt-1").await;
    w.rotate("app/jwt", "made-up-jwt-2").await;
    w.holds("app", "JWT_SECRET", "made-up-jwt-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_does_not_exist_is_ready_false() {
    let w = world(&[("app/jwt", "made-up-jwt-1")]).await;
    w.create(
        "app",
        json!({
            "secretStoreRef": { "kind": "ClusterSecretStore", "name": "nowhere" },
            "data": data(&[("JWT_SECRET", "app/jwt")]),
        }),
    )
    .await;
    let es = w.ready("app", "False", |_| true).await;
    assert_eq!(ready_of(&es).1.as_deref(), Some("SecretSyncedError"));
    assert!(w.secrets().get_opt("app").await.unwrap().is_none());
}

#[test]
fn go_durations_read_as_eso_reads_refresh_intervals() {
    assert_eq!(eso::go_duration("5m"), Some(Duration::from_secs(300)));
    assert_eq!(eso::go_duration("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(eso::go_duration("0"), Some(Duration::ZERO));
    assert_eq!(eso::go_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(eso::go_duration("5 minutes"), None);
    assert_eq!(eso::go_duration(""), None);
    assert_eq!(eso::go_duration("m"), None);
}

/// A minimal runbook whose fixture holds an ExternalSecret.
const FIXTURE: &str = r#"apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: { name: app, namespace: default }
spec:
  secretStoreRef: { name: aws }
  data: [ { secretKey: K, remoteRef: { key: app/k } } ]
"#;

fn runbook(crds: &str) -> String {
    format!(
        "name: eso\nrehearsal:\n  fixtures: [cluster.yaml]\n{crds}phases:\n  - id: p\n    steps:\n      - id: look\n        run: {{ kube.get: {{ resource: externalsecrets }} }}\n"
    )
}

#[test]
fn a_fixture_with_an_external_secret_and_no_crd_is_one_line_naming_the_key_that_serves_it() {
    let b = crate::common::binary::Bin::new();
    std::fs::write(b.dir().join("cluster.yaml"), FIXTURE).unwrap();
    let rb = b.runbook("eso.yaml", &runbook(""));
    let stderr = b.rehearsal_refused(&rb);
    assert!(
        stderr.contains("(a rehearsal serves it with `rehearsal: {crds: [external-secrets]}`)"),
        "{stderr}"
    );
}

#[test]
fn check_takes_external_secrets_and_names_it_for_a_misspelt_crd() {
    let b = crate::common::binary::Bin::new();
    std::fs::write(b.dir().join("cluster.yaml"), FIXTURE).unwrap();
    let good = b.runbook("good.yaml", &runbook("  crds: [external-secrets]\n"));
    let out = b
        .command(&["check", good.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = crate::common::binary::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.is_empty() && stderr.is_empty(), "{stdout}\n{stderr}");

    let bad = b.runbook("bad.yaml", &runbook("  crds: [external-secret]\n"));
    let out = b
        .command(&["check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = crate::common::binary::text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains(
            "rehearsal CRD `external-secret` is not one tollgate carries; expected one of: argo-rollouts, argocd, external-secrets"
        ),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn a_rehearsal_with_the_crds_serves_the_fixtures_external_secret() {
    let b = crate::common::binary::Bin::new();
    std::fs::write(b.dir().join("cluster.yaml"), FIXTURE).unwrap();
    let rb = b.runbook("eso.yaml", &runbook("  crds: [external-secrets]\n"));
    let out = b
        .command(&["rehearse", "--headless", rb.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = crate::common::binary::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("app"), "{stdout}");
}
