//! A real kubectl against the sandbox's OpenAPI documents and what rests on them, with
//! LabelMint's cluster loaded: `apply` (client-side and `--server-side`) with validation on,
//! server-side field validation refusing an unknown field, `explain`, and `diff` (server-side dry
//! run). Each test asserts what kubectl prints, not only its exit code.

use std::path::PathBuf;

use serde_json::Value;
use tollgate_sandbox::resources::RESOURCES;

use crate::common::kubectl::{Kubectl, Out, labelmint_fixture};
use crate::common::sandbox_cluster::Cluster;

const IMAGE: &str = "288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-backend:9382583";
const NEXT_IMAGE: &str = "288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-backend:abc1234";

/// The sandbox with LabelMint's cluster, a kubectl pointed at it, and a folder for manifests.
struct Rehearsal {
    _c: Cluster,
    k: Kubectl,
    dir: tempfile::TempDir,
}

impl Rehearsal {
    async fn start() -> Rehearsal {
        let c = Cluster::start("labelmint-rehearsal", "labelmint-production").await;
        c.load(&labelmint_fixture());
        let k = Kubectl::new(&c.kubeconfig);
        Rehearsal {
            _c: c,
            k,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `kubectl ARGS`, on a thread that may block.
    fn run(&self, args: &[&str]) -> Out {
        tokio::task::block_in_place(|| self.k.run(args))
    }

    /// Writes `text` as the manifest `name` and returns its path.
    fn manifest(&self, name: &str, text: &str) -> String {
        let p: PathBuf = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn image(&self) -> String {
        let out = self.run(&[
            "get",
            "deployment",
            "api-gateway",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].image}",
        ]);
        out.expect_ok("kubectl get deployment").to_string()
    }
}

/// LabelMint's api-gateway Deployment, as the fixture (`runbooks/labelmint/cluster.yaml`) has it.
fn api_gateway() -> String {
    labelmint_fixture()
        .split("\n---")
        .find(|d| d.contains("kind: Deployment") && d.contains("\n  name: api-gateway\n"))
        .expect("the fixture has the api-gateway Deployment")
        .trim_start_matches('\n')
        .to_string()
}

fn namespaces_manifest() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks/labelmint/manifests/namespaces.yaml");
    p.to_string_lossy().into_owned()
}

#[track_caller]
fn assert_line(out: &Out, line: &str) {
    assert!(
        out.ok() && out.stdout.lines().any(|l| l == line),
        "expected the line {line:?}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert!(!out.stderr.contains("error validating"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_validates_and_reports_created_unchanged_configured() {
    let r = Rehearsal::start().await;
    let v1 = r.manifest("api-gateway.yaml", &api_gateway());
    let v2 = r.manifest(
        "api-gateway-next.yaml",
        &api_gateway().replace(IMAGE, NEXT_IMAGE),
    );
    r.run(&["delete", "deployment", "api-gateway"])
        .expect_ok("kubectl delete");

    assert_line(
        &r.run(&["apply", "-f", &v1]),
        "deployment.apps/api-gateway created",
    );
    assert_line(
        &r.run(&["apply", "-f", &v1]),
        "deployment.apps/api-gateway unchanged",
    );
    assert_line(
        &r.run(&["apply", "-f", &v2]),
        "deployment.apps/api-gateway configured",
    );
    assert_eq!(r.image(), NEXT_IMAGE);
    // The strategic merge patch kubectl computed from the schema kept the container's env.
    let env = r.run(&[
        "get",
        "deployment",
        "api-gateway",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env[*].name}",
    ]);
    assert_eq!(
        env.expect_ok("kubectl get env"),
        "PORT LABELING_BACKEND_URL PAYMENT_BACKEND_URL DATABASE_URL REDIS_URL JWT_SECRET SESSION_SECRET"
    );
    assert_line(
        &r.run(&["apply", "-f", &v2]),
        "deployment.apps/api-gateway unchanged",
    );

    // The fixture's namespaces were not applied: kubectl adds its annotation, then nothing to do.
    let ns = namespaces_manifest();
    let first = r.run(&["apply", "-f", &ns]);
    assert_line(&first, "namespace/labelmint-production configured");
    assert!(
        first
            .stderr
            .contains("missing the kubectl.kubernetes.io/last-applied-configuration annotation"),
        "{}",
        first.stderr
    );
    assert_line(
        &r.run(&["apply", "-f", &ns]),
        "namespace/labelmint-production unchanged",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_server_side_validates_and_applies() {
    let r = Rehearsal::start().await;
    let v1 = r.manifest("api-gateway.yaml", &api_gateway());
    let v2 = r.manifest(
        "api-gateway-next.yaml",
        &api_gateway().replace(IMAGE, NEXT_IMAGE),
    );
    r.run(&["delete", "deployment", "api-gateway"])
        .expect_ok("kubectl delete");

    // kubectl says `serverside-applied` whether it created, changed or left the object.
    for file in [&v1, &v1] {
        assert_line(
            &r.run(&["apply", "--server-side", "-f", file]),
            "deployment.apps/api-gateway serverside-applied",
        );
    }
    let managers = r.run(&[
        "get",
        "deployment",
        "api-gateway",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}/{.metadata.managedFields[*].operation}",
    ]);
    assert!(
        managers
            .expect_ok("kubectl get managedFields")
            .starts_with("kubectl/Apply"),
        "{}",
        managers.stdout
    );
    assert_eq!(r.image(), IMAGE);
    assert_line(
        &r.run(&["apply", "--server-side", "-f", &v2]),
        "deployment.apps/api-gateway serverside-applied",
    );
    assert_eq!(r.image(), NEXT_IMAGE);
    assert_line(
        &r.run(&["apply", "--server-side", "-f", &namespaces_manifest()]),
        "namespace/monitoring serverside-applied",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_apply_refuses_an_unknown_field_and_names_it() {
    let r = Rehearsal::start().await;
    let flags = r.manifest(
        "feature-flags.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-flags\n  namespace: labelmint-production\ndata:\n  checkout: \"on\"\nimmutible: true\n",
    );
    // Create: refused by the server (Strict), nothing stored.
    let out = r.run(&["apply", "-f", &flags]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"immutible\""
        ),
        "{}",
        out.stderr
    );
    let get = r.run(&["get", "configmap", "feature-flags"]);
    assert!(
        get.stderr.contains("\"feature-flags\" not found"),
        "{get:?}"
    );

    // Patch of an existing object: the field is named by its path.
    let typo = r.manifest(
        "api-gateway-typo.yaml",
        &api_gateway().replace(
            "terminationGracePeriodSeconds: 30",
            "terminationGracePeriodSecond: 30",
        ),
    );
    let out = r.run(&["apply", "-f", &typo]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "strict decoding error: unknown field \"spec.template.spec.terminationGracePeriodSecond\""
        ),
        "{}",
        out.stderr
    );
    let out = r.run(&["apply", "--server-side", "-f", &typo]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "Error from server: failed to create typed patch object (labelmint-production/api-gateway; apps/v1, Kind=Deployment): .spec.template.spec.terminationGracePeriodSecond: field not declared in schema"
        ),
        "{}",
        out.stderr
    );

    // --validate=warn: a warning names the field, which is dropped.
    let out = r.run(&["apply", "--validate=warn", "-f", &flags]);
    assert_line(&out, "configmap/feature-flags created");
    assert!(
        out.stderr.contains("Warning: unknown field \"immutible\""),
        "{}",
        out.stderr
    );
    let stored = r.run(&["get", "configmap", "feature-flags", "-o", "json"]);
    let v: Value = serde_json::from_str(stored.expect_ok("kubectl get configmap")).unwrap();
    assert_eq!(v.get("immutible"), None);
    assert_eq!(v["data"]["checkout"], "on");
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_explain_reads_the_openapi_v3_documents() {
    let r = Rehearsal::start().await;
    let out = r.run(&["explain", "deployment.spec.strategy"]);
    let text = out.expect_ok("kubectl explain");
    for want in [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
        "FIELD: strategy <DeploymentStrategy>",
        "The deployment strategy to use to replace existing pods with new ones.",
        "rollingUpdate\t<RollingUpdateDeployment>",
        "type\t<string>",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let out = r.run(&["explain", "pods.spec.containers.imagePullPolice"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("field \"imagePullPolice\" does not exist"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_diff_shows_the_change_without_making_it() {
    let r = Rehearsal::start().await;
    let v1 = r.manifest("api-gateway.yaml", &api_gateway());
    let v2 = r.manifest(
        "api-gateway-next.yaml",
        &api_gateway().replace(IMAGE, NEXT_IMAGE),
    );
    assert_line(
        &r.run(&["apply", "--server-side", "-f", &v1]),
        "deployment.apps/api-gateway serverside-applied",
    );

    let same = r.run(&["diff", "-f", &v1]);
    assert_eq!((same.code, same.stdout.as_str()), (Some(0), ""), "{same:?}");

    let changed = r.run(&["diff", "-f", &v2]);
    assert_eq!(changed.code, Some(1), "{changed:?}");
    assert!(
        changed.stdout.contains(&format!("-        image: {IMAGE}"))
            && changed
                .stdout
                .contains(&format!("+        image: {NEXT_IMAGE}")),
        "{}",
        changed.stdout
    );
    // A dry run: nothing stored, no rollout begun.
    assert_eq!(r.image(), IMAGE);
    let server_side = r.run(&["diff", "--server-side", "-f", &v2]);
    assert_eq!(server_side.code, Some(1), "{server_side:?}");
    assert!(
        server_side
            .stdout
            .contains(&format!("+        image: {NEXT_IMAGE}")),
        "{}",
        server_side.stdout
    );
    assert_eq!(r.image(), IMAGE);

    // An object that does not exist yet: the whole of it is new, and it is not created.
    let canary = r.manifest(
        "api-gateway-canary.yaml",
        &api_gateway().replace("\n  name: api-gateway\n", "\n  name: api-gateway-canary\n"),
    );
    let new = r.run(&["diff", "-f", &canary]);
    assert_eq!(new.code, Some(1), "{new:?}");
    assert!(
        new.stdout.contains("+kind: Deployment")
            && new.stdout.contains("+  name: api-gateway-canary"),
        "{}",
        new.stdout
    );
    let get = r.run(&["get", "deployment", "api-gateway-canary"]);
    assert!(get.stderr.contains("not found"), "{get:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_documents_cover_every_served_kind() {
    let r = Rehearsal::start().await;
    let raw = |path: &str| -> Value {
        let out = r.run(&["get", "--raw", path]);
        serde_json::from_str(out.expect_ok(path)).unwrap()
    };
    let index = raw("/openapi/v3");
    for rt in RESOURCES {
        let gv = if rt.group.is_empty() {
            format!("api/{}", rt.version)
        } else {
            format!("apis/{}/{}", rt.group, rt.version)
        };
        let url = index["paths"][&gv]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("{gv} is not in /openapi/v3: {index}"));
        let doc = raw(url);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let has_schema = schemas.values().any(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| {
                    l.iter().any(|g| {
                        g["group"] == rt.group && g["version"] == rt.version && g["kind"] == rt.kind
                    })
                })
        });
        assert!(has_schema, "{} has no schema in {gv}", rt.kind);
        let item = if rt.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}/{{name}}", rt.plural)
        } else {
            format!("/{gv}/{}/{{name}}", rt.plural)
        };
        let patch = &doc["paths"][&item]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"], rt.kind,
            "{item}"
        );
    }
    let v2 = raw("/openapi/v2");
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.apps.v1.Deployment"].is_object());
}
