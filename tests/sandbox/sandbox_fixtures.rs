//! The cluster fixtures shipped with the runbooks load into the sandbox, and describe what their
//! seed documents say.

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use tollgate_sandbox::{Config, Sandbox, Store, fixture, resources};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn fixtures() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    // Each system's cluster (`cluster.yaml`) and any other it has (`staging-cluster.yaml`).
    for e in std::fs::read_dir(Path::new(ROOT).join("runbooks")).unwrap() {
        let Ok(files) = std::fs::read_dir(e.unwrap().path()) else {
            continue;
        };
        for f in files {
            let p = f.unwrap().path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("cluster.yaml"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_fixture_loads() {
    let found = fixtures();
    let names: Vec<String> = found
        .iter()
        .map(|p| {
            p.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for system in ["labelmint", "mint-replica-lite", "normaldance", "zerostate"] {
        assert!(
            names.iter().any(|n| n == system),
            "no fixture for {system}: {names:?}"
        );
    }
    for f in found {
        let store = Store::new();
        let nsrt = resources::by_kind("Namespace");
        store
            .create(
                nsrt,
                "",
                serde_json::json!({"metadata": {"name": "default"}}),
                false,
            )
            .unwrap();
        // The custom resources' definitions a rehearsal serves (`rehearsal.crds`) come first.
        for (crds, origin) in [
            (tollgate_sandbox::crds::ARGO_ROLLOUTS, "argo-rollouts.yaml"),
            (
                tollgate_sandbox::crds::ARGOCD_APPLICATION,
                "argocd-application.yaml",
            ),
            (
                tollgate_sandbox::crds::EXTERNAL_SECRETS,
                "external-secrets.yaml",
            ),
        ] {
            fixture::load_str(&store, crds, origin).expect("the bundled CRDs load");
        }
        let n = fixture::load_file(&store, &f).unwrap_or_else(|e| panic!("{e}"));
        assert!(n > 5, "{}: only {n} objects", f.display());
        assert!(
            store.count(resources::by_kind("Node")) >= 2,
            "{}",
            f.display()
        );
        let workloads = store.count(resources::by_kind("Deployment"))
            + [("argoproj.io", "rollouts"), ("argoproj.io", "applications")]
                .iter()
                .filter_map(|(g, p)| store.find_type(g, "v1alpha1", p))
                .map(|rt| store.count(rt))
                .sum::<usize>();
        assert!(workloads >= 1, "{}: no workload", f.display());
        // A fixture holds no secret: every Secret value is the placeholder.
        let (secrets, _) = store.list(resources::by_kind("Secret"), None, &|_| true);
        for s in secrets {
            let data = s
                .get("data")
                .and_then(|d| d.as_object())
                .cloned()
                .unwrap_or_default();
            for (k, v) in data {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap_or(""))
                    .unwrap_or_default();
                assert_eq!(
                    String::from_utf8_lossy(&raw),
                    "rehearsal-placeholder-not-a-secret",
                    "{}: secret key {k}",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn a_broken_fixture_is_one_line_naming_the_document() {
    let store = Store::new();
    let e = fixture::load_str(
        &store,
        "kind: Widget\napiVersion: example.com/v1\nmetadata: {name: w}\n",
        "bad.yaml",
    )
    .unwrap_err();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.starts_with("bad.yaml: document 1 (Widget w)"), "{e}");
    let e = fixture::load_str(&store, "a: [unclosed\n", "bad.yaml").unwrap_err();
    assert!(e.starts_with("bad.yaml"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    let e = fixture::load_str(&store, "- 1\n- 2\n", "bad.yaml").unwrap_err();
    assert!(e.contains("must be a mapping"), "{e}");
}

/// LabelMint's production cluster as seed 000 describes it: two nodes, the six services, the
/// namespace, and a secret-free configuration, served through kube-rs.
#[tokio::test]
async fn labelmint_cluster_is_served() {
    let sb = Sandbox::start(Config {
        fixtures: vec![Path::new(ROOT).join("runbooks/labelmint/cluster.yaml")],
        no_controllers: true,
        ..Config::fast()
    })
    .await
    .unwrap();
    let client = sb.client();
    let nodes: Api<Node> = Api::all(client.clone());
    let nodes = nodes.list(&ListParams::default()).await.unwrap();
    assert_eq!(nodes.items.len(), 2, "seed 000: a node group of 2 t3.small");
    for n in &nodes.items {
        assert_eq!(
            n.labels()
                .get("node.kubernetes.io/instance-type")
                .map(String::as_str),
            Some("t3.small")
        );
    }
    let deploys: Api<Deployment> = Api::all(client.clone());
    let list = deploys
        .list(&ListParams::default().labels("app.kubernetes.io/part-of=labelmint"))
        .await
        .unwrap();
    assert!(list.items.len() >= 6, "{}", list.items.len());
    // The TON key of seed 000 is referenced by name only; its value is nowhere in the fixture.
    let seed =
        std::fs::read_to_string(Path::new(ROOT).join("../shared/seeds/000_063bfdb7e38fdd61.txt"))
            .unwrap_or_default();
    let key = seed
        .lines()
        .find_map(|l| l.strip_prefix("export TON_PRIVATE_KEY=\""))
        .map(|k| k.trim_end_matches('"').to_string());
    let fixture =
        std::fs::read_to_string(Path::new(ROOT).join("runbooks/labelmint/cluster.yaml")).unwrap();
    if let Some(key) = key.filter(|k| k.len() > 16) {
        assert!(!fixture.contains(&key[..16]));
    }
    let secrets: Api<Secret> = Api::all(client);
    let list = secrets.list(&ListParams::default()).await.unwrap();
    assert!(list.items.iter().any(|s| s.name_any() == "app-secrets"));
    for s in list {
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("BEGIN"), "{}", s.name_any());
    }
}
