//! Gates that reach people: the webhook a run tells (a local HTTP server of the test's own on
//! 127.0.0.1 receiving the POSTs), fed through the real binary (a gate nobody approves pauses the
//! run: gate opened, then run ended) and through the notifier in process (a reminder, a step's
//! failure, the run's end); and the user's config file refused while others can read its webhook.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use tollgate::notify::{Notifier, RunInfo, Settings};
use tollgate::protocol::{Choice, Event, GateKind, GateRequest, RunStatus, StepStatus};

use crate::common::binary::{Bin, text, wait_until};

const SECRET: &str = "s3cret-token-9913";
const HOOK_KEY: &str = "T0000/B0000/hookkeyXYZ";

/// A webhook receiver on 127.0.0.1: every POST's JSON body, in order. Stopped when dropped (its
/// runtime with it).
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    _rt: tokio::runtime::Runtime,
}

impl Hook {
    fn start() -> Hook {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        rt.spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            continue;
                        }
                        assert!(head.starts_with("post /hook/"), "{head}");
                        assert!(head.contains("content-type: application/json"), "{head}");
                        let body: Value = serde_json::from_slice(&buf[end + 4..end + 4 + len])
                            .expect("a JSON body");
                        kept.lock().unwrap().push(body);
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                            .await;
                        return;
                    }
                });
            }
        });
        Hook {
            url: format!("http://{addr}/hook/{HOOK_KEY}"),
            bodies,
            _rt: rt,
        }
    }

    /// The bodies once there are `n` of them (or fails at the deadline).
    fn wait_for(&self, n: usize) -> Vec<Value> {
        wait_until(
            &format!("{n} webhook POSTs"),
            Duration::from_secs(20),
            || self.bodies.lock().unwrap().len() >= n,
        );
        self.bodies.lock().unwrap().clone()
    }
}

const RUNBOOK: &str = r#"
name: notified
variables:
  hook: { secret: true }
  token: { secret: true }
notify:
  webhook: "{{ hook }}"
  desktop: false
phases:
  - id: deploy
    gate:
      message: "ship with {{ token }}?"
    steps:
      - id: s
        run: "true"
"#;

#[test]
fn a_gate_nobody_approves_tells_the_webhook_it_opened_and_the_run_paused() {
    let hook = Hook::start();
    let bin = Bin::new();
    let rb = bin.runbook("notified.yaml", RUNBOOK);
    let hook_file = bin.dir().join("hook");
    std::fs::write(&hook_file, &hook.url).unwrap();
    std::fs::set_permissions(&hook_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let token_file = bin.dir().join("token");
    std::fs::write(&token_file, SECRET).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = bin
        .command(&[
            "run",
            "--headless",
            "--var-file",
            &format!("hook={}", hook_file.display()),
            "--var-file",
            &format!("token={}", token_file.display()),
            rb.to_str().unwrap(),
        ])
        .env("TOLLGATE_CONFIG", bin.dir().join("no-config.toml"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    let bodies = hook.wait_for(2);
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    let run_id = bodies[0]["tollgate"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!run_id.is_empty());
    let driver = bodies[0]["tollgate"]["driver"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(driver.starts_with("ops-tester@"), "{driver}");
    let masked = "ship with ••••••?";
    assert_eq!(
        bodies[0],
        json!({
            "text": format!("◆ notified · run {run_id}: gate `deploy` waits for a person ({driver}): {masked}"),
            "tollgate": {
                "event": "gate_opened", "run_id": run_id, "runbook": "notified", "gate": "deploy",
                "driver": driver, "message": masked, "rehearsal": false,
            }
        })
    );
    assert_eq!(bodies[1]["tollgate"]["event"], "run_ended");
    let status = bodies[1]["tollgate"]["message"].as_str().unwrap();
    assert!(status.starts_with("paused: "), "{status}");
    for b in &bodies {
        assert!(!b.to_string().contains(SECRET), "the secret was sent: {b}");
    }
    // The webhook's URL is a secret variable: shown nowhere.
    for place in [&stdout, &stderr] {
        assert!(
            !place.contains(HOOK_KEY),
            "the webhook URL was shown:\n{place}"
        );
    }
}

fn gate(id: &str, message: &str) -> GateRequest {
    GateRequest {
        id: id.into(),
        kind: GateKind::Phase,
        title: id.into(),
        message: Some(message.into()),
        destructive: false,
        confirm: None,
        commands: vec![],
        checklist: vec![],
        choices: vec![Choice::Approve, Choice::Reject],
        production: false,
        error: None,
        follow: None,
        approvals: 1,
    }
}

#[test]
fn the_notifier_tells_a_gate_its_reminder_a_failed_step_and_the_end() {
    let hook = Hook::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let notifier = Notifier {
        settings: Settings {
            webhook: Some(hook.url.clone()),
            remind_after: Some(Duration::from_secs(1)),
            desktop: false,
        },
        run: RunInfo {
            run_id: "r1".into(),
            runbook: "rb".into(),
            driver: "ann@box".into(),
            rehearsal: false,
        },
    };
    let (tx, rx) = mpsc::channel(16);
    let (mut view, told) = rt.block_on(async { notifier.tap(rx) });
    let mut run = |e: Event| {
        rt.block_on(async {
            tx.send(e.clone()).await.unwrap();
            // Every event reaches the view unchanged.
            assert_eq!(view.recv().await, Some(e));
        })
    };
    run(Event::GateReached(gate("deploy", "ship it?")));
    let bodies = hook.wait_for(2);
    run(Event::GateDecided {
        gate: "deploy".into(),
        choice: Choice::Approve,
        who: "ann@box".into(),
        via: "terminal".into(),
        checklist: vec![],
    });
    run(Event::StepFinished {
        step: "migrate".into(),
        status: StepStatus::Failed,
        exit_code: Some(1),
        duration: Duration::from_secs(2),
        error: Some("exit code 1, expected 0".into()),
    });
    run(Event::RunFinished {
        status: RunStatus::Failed,
    });
    drop(tx);
    rt.block_on(async { assert_eq!(view.recv().await, None) });
    rt.block_on(told).unwrap();
    let all = hook.wait_for(4);
    let gate_body = |event: &str, text: &str| {
        json!({"text": text, "tollgate": {
            "event": event, "run_id": "r1", "runbook": "rb", "gate": "deploy",
            "driver": "ann@box", "message": "ship it?", "rehearsal": false}})
    };
    assert_eq!(
        bodies[0],
        gate_body(
            "gate_opened",
            "◆ rb · run r1: gate `deploy` waits for a person (ann@box): ship it?"
        )
    );
    assert_eq!(
        bodies[1],
        gate_body(
            "reminder",
            "◆ rb · run r1: gate `deploy` still waiting after 1s (ann@box): ship it?"
        )
    );
    assert_eq!(
        all[2..],
        [
            json!({"text": "✗ rb · run r1: step `migrate` failed (ann@box): exit code 1, expected 0",
                "tollgate": {"event": "step_failed", "run_id": "r1", "runbook": "rb", "step": "migrate",
                    "driver": "ann@box", "message": "exit code 1, expected 0", "rehearsal": false}}),
            json!({"text": "■ rb · run r1: failed (ann@box)",
                "tollgate": {"event": "run_ended", "run_id": "r1", "runbook": "rb",
                    "driver": "ann@box", "message": "failed", "rehearsal": false}}),
        ]
    );
    // No reminder after the gate was decided.
    assert_eq!(hook.bodies.lock().unwrap().len(), 4);
}

#[test]
fn a_config_file_others_can_read_with_a_webhook_is_refused() {
    let bin = Bin::new();
    let rb = bin.runbook(
        "plain.yaml",
        "name: plain\nphases:\n  - id: p\n    steps:\n      - id: s\n        run: \"true\"\n",
    );
    let config = bin.dir().join("config.toml");
    std::fs::write(
        &config,
        format!("[notify]\nwebhook = \"http://127.0.0.1:9/hook/{HOOK_KEY}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bin
        .command(&["run", "--headless", rb.to_str().unwrap()])
        .env("TOLLGATE_CONFIG", &config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line:\n{stderr}");
    assert!(
        stderr.contains("readable by group or others (mode 644)"),
        "{stderr}"
    );
    assert!(!stderr.contains(HOOK_KEY) && !stdout.contains(HOOK_KEY));
    assert!(!stdout.contains("run plain"), "the run started:\n{stdout}");
}

#[test]
fn a_rehearsal_sends_no_webhook_and_says_so_once() {
    let hook = Hook::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let notifier = Notifier {
        settings: Settings {
            webhook: Some(hook.url.clone()),
            remind_after: None,
            desktop: false,
        },
        run: RunInfo {
            run_id: "r1".into(),
            runbook: "rb".into(),
            driver: "ann@box".into(),
            rehearsal: true,
        },
    };
    let (tx, rx) = mpsc::channel(16);
    let (mut view, told) = rt.block_on(async { notifier.tap(rx) });
    let seen = rt.block_on(async move {
        tx.send(Event::RunStarted {
            run_id: "r1".into(),
            runbook: "rb".into(),
            resumed: false,
            deadline: None,
        })
        .await
        .unwrap();
        tx.send(Event::StepFinished {
            step: "s".into(),
            status: StepStatus::Failed,
            exit_code: Some(1),
            duration: Duration::from_secs(1),
            error: Some("boom".into()),
        })
        .await
        .unwrap();
        tx.send(Event::RunFinished {
            status: RunStatus::Failed,
        })
        .await
        .unwrap();
        drop(tx);
        let mut seen = Vec::new();
        while let Some(e) = view.recv().await {
            seen.push(e);
        }
        told.await.unwrap();
        seen
    });
    let notes: Vec<&Event> = seen
        .iter()
        .filter(|e| matches!(e, Event::Note(_)))
        .collect();
    assert_eq!(
        notes,
        [&Event::Note(
            "notify: webhook not sent in a rehearsal".into()
        )]
    );
    assert!(matches!(seen[0], Event::RunStarted { .. }), "{seen:?}");
    assert_eq!(seen.len(), 4, "{seen:?}");
    // Everything told has been handled (the handle ended): nothing reached the webhook.
    assert!(hook.bodies.lock().unwrap().is_empty());
}

#[test]
fn an_approved_gate_tells_nobody_and_the_end_is_told() {
    let hook = Hook::start();
    let bin = Bin::new();
    let rb = bin.runbook("notified.yaml", RUNBOOK);
    let mut args = vec!["run".to_string(), "--headless".into()];
    for (name, value) in [("hook", hook.url.as_str()), ("token", SECRET)] {
        let p = bin.dir().join(name);
        std::fs::write(&p, value).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        args.push("--var-file".into());
        args.push(format!("{name}={}", p.display()));
    }
    args.extend(["--approve".into(), "deploy".into()]);
    args.push(rb.to_str().unwrap().into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = bin
        .command(&args)
        .env("TOLLGATE_CONFIG", bin.dir().join("no-config.toml"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The process waited for its POSTs before exiting: these are all there will be.
    let bodies = hook.bodies.lock().unwrap().clone();
    let events: Vec<&str> = bodies
        .iter()
        .map(|b| b["tollgate"]["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["run_ended"], "{bodies:#?}");
    assert_eq!(bodies[0]["tollgate"]["message"], "succeeded");
}
