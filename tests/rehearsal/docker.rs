//! Images in a rehearsal: `docker.build` → `docker.push` → `ecr.describe_images` →
//! `kube.set_image` by digest, through the Docker and AWS stand-ins and the sandbox, with no
//! daemon; and with a local daemon that answers, the build on it while the push stays in process.

use std::path::Path;

use crate::common::binary::{Bin, text};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const REGISTRY: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn runbook(b: &Bin) -> std::path::PathBuf {
    let app = b.dir().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("Dockerfile"), "FROM scratch\nCOPY index.html /\n").unwrap();
    std::fs::write(app.join("index.html"), "<h1>web 2.0</h1>\n").unwrap();
    let fixture = Path::new(ROOT).join("tests/fixtures/rehearsal/shop-cluster.yaml");
    b.runbook(
        "ship.yaml",
        &format!(
            r#"name: Ship web 2.0 by digest
targets:
  kube: {{ context: shop-prod, namespace: shop }}
  aws: {{ account: "123456789012", region: eu-west-1 }}
variables:
  ecr_password: {{ secret: true }}
rehearsal:
  fixtures: ["{fixture}"]
  aws: {{ repositories: [shop/web] }}
phases:
  - id: ship
    gate: true
    steps:
      - id: login
        run:
          ecr.login: {{ password_var: ecr_password, registry: "{REGISTRY}" }}
      - id: build
        run:
          docker.build: {{ context: app, tags: ["{REGISTRY}/shop/web:2.0"] }}
      - id: push
        run:
          docker.push:
            image: "{REGISTRY}/shop/web:2.0"
            registry_auth: {{ username: AWS, password_var: ecr_password }}
        capture:
          - {{ var: digest, regex: 'digest=(sha256:[0-9a-f]{{64}})' }}
      - id: in-ecr
        run:
          ecr.describe_images: {{ repository: shop/web, tags: ["2.0"], digest: "{{{{ digest }}}}" }}
      - id: roll
        run:
          kube.set_image: {{ deployment: web, container: web, image: "{REGISTRY}/shop/web@{{{{ digest }}}}" }}
      - id: rolled
        run:
          kube.rollout_status: {{ deployment: web }}
        expect: {{ timeout: 20s }}
      - id: running
        run: kubectl get deploy web -o jsonpath='{{.spec.template.spec.containers[0].image}}'
"#,
            fixture = fixture.display()
        ),
    )
}

fn path_with_kubectl() -> String {
    let kubectl = crate::common::kubectl::binary();
    format!(
        "{}:{}",
        kubectl.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_pushed_digest_is_what_ecr_lists_and_what_the_deployment_runs() {
    let b = Bin::new();
    let rb = runbook(&b);
    let out = b
        .command(&[
            "rehearse",
            rb.to_str().unwrap(),
            "--headless",
            "--approve-all",
            "--speed",
            "20",
            "--docker",
            "stand-in",
        ])
        .env("PATH", path_with_kubectl())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let digest = stdout
        .split("digest=sha256:")
        .nth(1)
        .map(|s| &s[..64])
        .map(|hex| format!("sha256:{hex}"))
        .unwrap_or_else(|| panic!("no digest pushed:\n{stdout}"));
    assert!(
        stdout.contains(&format!("running | {REGISTRY}/shop/web@{digest}")),
        "the deployment runs the pushed digest:\n{stdout}"
    );
    assert!(
        !stdout.contains("Docker builds on the local daemon"),
        "{stdout}"
    );
}

#[test]
fn with_a_local_daemon_the_build_runs_on_it_and_the_push_stays_in_process() {
    let Some(h) = crate::common::docker::shared() else {
        return;
    };
    let b = Bin::new();
    let rb = runbook(&b);
    let out = b
        .command(&[
            "rehearse",
            rb.to_str().unwrap(),
            "--headless",
            "--approve-all",
            "--speed",
            "20",
        ])
        .env("PATH", path_with_kubectl())
        .env("DOCKER_HOST", &h.host)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "rehearsal: Docker builds on the local daemon stand-in at {}",
            h.host
        )),
        "{stdout}"
    );
    // The image is the daemon's; nothing reached its registry.
    let inspect = std::process::Command::new("docker")
        .args(["--host", &h.host, "image", "inspect", "--format", "{{.Id}}"])
        .arg(format!("{REGISTRY}/shop/web:2.0"))
        .output();
    if let Ok(o) = inspect {
        assert!(
            o.status.success(),
            "the build is on the local daemon: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
