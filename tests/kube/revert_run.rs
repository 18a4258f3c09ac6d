//! rollback-application.yaml's `method: revert-run`, for real: a deploy run through the binary
//! against `tollgate sandbox` (a process of its own, serving LabelMint's cluster under the EKS
//! context the runbooks pin), then the rollback runbook naming that run, which puts back what its
//! `apply-manifests` and `set-image` steps changed from the deploy run's journal.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::binary::text;
use crate::common::kubectl::{self, Kubectl};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CONTEXT: &str = "arn:aws:eks:us-east-1:288761728065:cluster/labelmint-production";
const NS: &str = "labelmint-production";
const DEPLOY: &str = "tests/fixtures/runbooks/valid/labelmint-web-deploy.yaml";
const ROLLBACK: &str = "runbooks/labelmint/rollback-application.yaml";

/// `tollgate sandbox` on 127.0.0.1, stopped by its PID when dropped.
struct SandboxProcess {
    child: Child,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary folder: the sandbox's kubeconfig and state, the runs' state folder, a HOME.
struct World {
    dir: tempfile::TempDir,
    _sandbox: SandboxProcess,
}

impl World {
    fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("--state-dir")
            .arg(dir.path().join("sandbox-state"))
            .args(["sandbox", "--port", "0", "--speed", "20"])
            .args(["--namespace", NS, "--context", CONTEXT])
            .arg("--fixture")
            .arg(format!("{ROOT}/runbooks/labelmint/cluster.yaml"))
            // The rehearsals' steady state: the nodes the autoscaler adds for the Pending pods.
            .arg("--fixture")
            .arg(format!(
                "{ROOT}/runbooks/labelmint/rehearsals/autoscaled-nodes.yaml"
            ))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let sandbox = SandboxProcess { child };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("the sandbox prints its kubeconfig");
            if let Some(url) = line.strip_prefix("sandbox: Kubernetes API on ") {
                assert!(url.starts_with("http://127.0.0.1:"), "{url}");
            }
            if line.starts_with("kubeconfig: ") {
                break;
            }
        }
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        World {
            dir,
            _sandbox: sandbox,
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn kubectl(&self) -> Kubectl {
        Kubectl::new(&self.kubeconfig())
    }

    /// `tollgate --state-dir STATE ARGS…` as an operator runs it: the sandbox's kubeconfig,
    /// kubectl on the PATH, and nothing reachable off 127.0.0.1 (no proxy; AWS's endpoint a
    /// closed local port, so the rollback runbook's `targets.aws` pin asks nothing of AWS).
    fn tollgate(&self, args: &[&str]) -> Output {
        let kubectl_dir = kubectl::binary().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            kubectl_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let home = self.dir.path().join("home");
        Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .current_dir(ROOT)
            .arg("--state-dir")
            .arg(self.state())
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", &home)
            .env("PATH", path)
            .env("USER", "ops-tester")
            .env("TMPDIR", self.dir.path())
            .env("NO_PROXY", "127.0.0.1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-real-key")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
            .env_remove("AWS_PROFILE")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("TOLLGATE_STATE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    }

    fn runs(&self) -> Vec<String> {
        let mut runs: Vec<String> = std::fs::read_dir(self.state().join("runs"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        runs.sort();
        runs
    }

    fn journal(&self, run: &str) -> Vec<Value> {
        let path = tollgate::engine::journal::journal_path(&self.state(), run);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// labelmint-web as the API server has it.
    fn web(&self) -> Value {
        let out =
            self.kubectl()
                .run(&["get", "deployment", "labelmint-web", "-n", NS, "-o", "json"]);
        serde_json::from_str(out.expect_ok("kubectl get labelmint-web")).unwrap()
    }
}

/// What a deploy and its revert are about: labelmint-web's labels, its annotations but the
/// revision the deployment controller counts, and its whole spec (image, env, everything).
fn shape(d: &Value) -> Value {
    let mut annotations = d["metadata"]["annotations"].clone();
    if let Some(a) = annotations.as_object_mut() {
        a.remove("deployment.kubernetes.io/revision");
    }
    serde_json::json!({
        "labels": d["metadata"]["labels"],
        "annotations": annotations,
        "spec": d["spec"],
    })
}

fn image(d: &Value) -> &str {
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
}

fn env_names(d: &Value) -> Vec<String> {
    d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

/// The `changed` records of `step` in a journal.
fn changes_of<'a>(journal: &'a [Value], step: &str) -> Vec<&'a Value> {
    journal
        .iter()
        .filter(|l| l["event"] == "changed" && l["step"] == step)
        .map(|l| &l["change"])
        .collect()
}

fn finished<'a>(journal: &'a [Value], step: &str) -> Option<&'a Value> {
    journal
        .iter()
        .rev()
        .find(|l| l["event"] == "step_finished" && l["step"] == step)
}

fn show(o: &Output) -> String {
    let (out, err) = text(o);
    format!("exit {:?}\nstdout:\n{out}\nstderr:\n{err}", o.status.code())
}

fn rollback_args<'a>(deploy_run: &'a str, deployment: &'a str) -> Vec<String> {
    [
        "run",
        ROLLBACK,
        "--headless",
        "--var",
        "method=revert-run",
        "--var",
        &format!("deploy_run={deploy_run}"),
        "--var",
        "deploy_set_image_step=set-image",
        "--var",
        &format!("deployment={deployment}"),
        "--approve-all",
        "--approve",
        "roll-back=production",
        // labelmint.dev is not reachable from here (and a test sends nothing off 127.0.0.1):
        // the operator skips the two public health checks; the rollouts and pods are still
        // checked against the cluster.
        "--skip",
        "web-health",
        "--skip",
        "api-health",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn rollback_application_reverts_a_real_deploy_run_from_its_journal() {
    let w = World::start();
    let before = w.web();
    assert_eq!(
        image(&before),
        "288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-web:9382583"
    );

    // Step 1: the deploy, a real run pinned to the EKS context.
    let deploy = w.tollgate(&[
        "run",
        DEPLOY,
        "--headless",
        "--approve",
        "deploy=production",
    ]);
    assert!(deploy.status.success(), "{}", show(&deploy));
    let runs = w.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let deploy_run = runs[0].clone();
    let listed = w.tollgate(&["runs"]);
    assert!(text(&listed).0.contains(&deploy_run), "{}", show(&listed));
    let deployed = w.web();
    assert_eq!(
        image(&deployed),
        "288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-web:4f1c2d9"
    );
    assert!(env_names(&deployed).contains(&"FEATURE_BULK_EXPORT".to_string()));
    assert_eq!(
        deployed["metadata"]["labels"]["app.kubernetes.io/version"],
        "2026.12"
    );
    let deploy_journal = w.journal(&deploy_run);
    assert_eq!(changes_of(&deploy_journal, "apply-manifests").len(), 1);
    assert_eq!(changes_of(&deploy_journal, "set-image").len(), 1);

    // The runbook's guard: revert-run puts back everything the run changed, so it is asked
    // for deployment=all; naming one deployment stops before anything changes.
    let named = w.tollgate(
        &rollback_args(&deploy_run, "labelmint-web")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(!named.status.success(), "{}", show(&named));
    assert!(
        text(&named).0.contains(&format!(
            "revert-run puts back everything run {deploy_run} changed: choose deployment=all"
        )),
        "{}",
        show(&named)
    );
    assert_eq!(shape(&w.web()), shape(&deployed));

    // Step 2: the rollback, naming the deploy run.
    let rollback = w.tollgate(
        &rollback_args(&deploy_run, "all")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let after = w.web();
    let runs = w.runs();
    assert_eq!(runs.len(), 3, "{runs:?}");
    let rollback_run = runs
        .iter()
        .find(|r| {
            **r != deploy_run
                && w.journal(r)
                    .iter()
                    .any(|l| l["event"] == "step_finished" && l["step"] == "wait-rollouts")
        })
        .unwrap_or_else(|| panic!("no rollback run got to verify\n{}", show(&rollback)))
        .clone();
    assert!(rollback.status.success(), "{}", show(&rollback));
    assert_eq!(shape(&after), shape(&before), "{}", show(&rollback));

    let journal = w.journal(&rollback_run);
    for step in ["revert-deploy-manifests", "revert-deploy-images"] {
        assert_eq!(
            finished(&journal, step).map(|l| &l["status"]),
            Some(&Value::from("succeeded")),
            "{step}: {}",
            show(&rollback)
        );
    }
    // What the revert changed is journaled, so it can be reverted in turn: the image put back
    // from 4f1c2d9 to 9382583, and labelmint-web replaced by what it was before the apply.
    let images = changes_of(&journal, "revert-deploy-images");
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0]["change"], "image");
    assert_eq!(images[0]["deployment"], "labelmint-web");
    assert!(
        images[0]["from"].as_str().unwrap().ends_with(":4f1c2d9"),
        "{images:?}"
    );
    assert!(
        images[0]["to"].as_str().unwrap().ends_with(":9382583"),
        "{images:?}"
    );
    let manifests = changes_of(&journal, "revert-deploy-manifests");
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert_eq!(manifests[0]["name"], "labelmint-web");
    // The public health checks were skipped by the operator, and said so.
    for step in ["web-health", "api-health"] {
        assert_eq!(
            finished(&journal, step).map(|l| &l["status"]),
            Some(&Value::from("skipped")),
            "{step}"
        );
    }
}
