//! `tollgate sandbox` as an operator starts it: it prints its address, writes a kubeconfig that
//! kube-rs can use, serves a fixture, and stops cleanly on SIGTERM (removing the kubeconfig).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn serves_a_fixture_and_writes_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc");
    let mut child = Child(
        Command::new(BIN)
            .args(["--state-dir"])
            .arg(dir.path())
            .args([
                "sandbox",
                "--port",
                "0",
                "--speed",
                "20",
                "--namespace",
                "labelmint-production",
            ])
            .args([
                "--fixture",
                &format!("{ROOT}/runbooks/labelmint/cluster.yaml"),
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut url = None;
    while url.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the sandbox prints its address");
        if let Some(u) = line.strip_prefix("sandbox: Kubernetes API on ") {
            url = Some(u.to_string());
        }
    }
    let url = url.unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let kc = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.cluster_url.to_string().trim_end_matches('/'), url);
    assert_eq!(config.default_namespace, "labelmint-production");
    let client = kube::Client::try_from(config).unwrap();
    let nodes: Api<Node> = Api::all(client);
    let names: Vec<String> = nodes
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.name_any())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // SIGTERM: a clean exit, the kubeconfig removed.
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the sandbox stops on SIGTERM");
        std::thread::park_timeout(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(!kubeconfig.exists());
}

#[test]
fn bad_fixture_and_bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["sandbox", "--fixture"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.yaml: document 1 (Widget w)"), "{err}");
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["sandbox", "--speed", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--speed"));
}

/// Runs `tollgate sandbox --kubeconfig PATH` to its end (it ends at once when it refuses).
fn sandbox_refusing(dir: &std::path::Path, kubeconfig: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(dir)
        .args(["sandbox", "--port", "0", "--kubeconfig"])
        .arg(kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_file_the_sandbox_did_not_write_is_neither_overwritten_nor_removed() {
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("config");
    std::fs::write(
        &precious,
        "apiVersion: v1\nkind: Config\n# the operator's own\n",
    )
    .unwrap();
    let out = sandbox_refusing(dir.path(), &precious);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("exists and was not written by `tollgate sandbox`"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "apiVersion: v1\nkind: Config\n# the operator's own\n"
    );
}

#[test]
fn a_symbolic_link_is_refused_and_its_target_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real-config");
    std::fs::write(&target, "mine\n").unwrap();
    let link = dir.path().join("kc");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = sandbox_refusing(dir.path(), &link);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine\n");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn the_kubeconfig_is_private_whatever_the_umask_and_goes_on_ctrl_c() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("fresh").join("kc");
    let mut child = Child(
        Command::new("sh")
            .arg("-c")
            .arg("umask 000; exec \"$0\" \"$@\"")
            .arg(BIN)
            .arg("--state-dir")
            .arg(dir.path())
            .args(["sandbox", "--port", "0", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let up = lines.any(|l| l.is_ok_and(|l| l.starts_with("stop with Ctrl-C")));
    assert!(up, "the sandbox started");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let parent = std::fs::metadata(kubeconfig.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(parent, 0o700, "{parent:o}");
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        text.starts_with("# written by `tollgate sandbox`"),
        "{text}"
    );
    // Ctrl-C: the file it wrote goes with it.
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the sandbox stops on Ctrl-C");
        std::thread::park_timeout(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(!kubeconfig.exists());
}
