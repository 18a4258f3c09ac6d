//! The interface's view of an Argo rollout: a running `argo.*` step's weight and step beside it
//! (the banner and the output pane's title), and the pods pane grouping a Rollout's pods by
//! role (stable / canary, active / preview). Snapshots under `snapshots/`.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use tollgate::engine::{Event, StepStatus};
use tollgate::live::pods::{PodRow, PodsUpdate, RolloutRoles};
use tollgate::ui::Config;
use tollgate::ui::app::App;
use tollgate::ui::pods_pane::PodsPane;
use tollgate::ui::theme::Theme;

use crate::common;

fn text(b: &Buffer) -> String {
    (0..b.area.height)
        .map(|y| {
            (0..b.area.width)
                .map(|x| b[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d\d:\d\d:\d\d(\.\d{3})?", "[time]");
    s.add_filter(r"\b\d+\.\d+s\b", "[dur]");
    s
}

const CANARY: &str = r#"
name: shop canary
targets:
  kube: { namespace: shop }
phases:
  - id: ship
    steps:
      - id: promote
        run:
          argo.promote: { rollout: shop }
      - id: half
        run:
          argo.status: { rollout: shop, until: weight 50 }
"#;

fn app(dir: &std::path::Path) -> App {
    let spec = common::spec(dir, CANARY, &[], false);
    App::new(Config::new(
        spec.runbook.clone(),
        "run-1",
        "tester@host",
        Theme::builtin("dark").unwrap(),
    ))
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| tollgate::ui::draw(app, f)).unwrap();
    text(t.backend().buffer())
}

#[test]
fn a_running_argo_steps_weight_and_step_show_beside_it_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    app.on_engine(Event::StepStarted {
        step: "half".into(),
        title: String::new(),
        attempt: 1,
        attempts: 1,
        command: "argo.status rollout/shop until=weight 50 -n shop".into(),
    });
    app.on_engine(Event::Output {
        step: "half".into(),
        stream: tollgate::protocol::Stream::Stderr,
        text: "step 3/8 · weight 25 % · canary 1/1 ready · stable 3/3 ready · Paused (CanaryPauseStep)\n"
            .into(),
    });
    let before = screen(&mut app, 120, 24);
    assert!(!before.contains("canary 25 %"), "{before}");
    app.on_engine(Event::StepProgress {
        step: "half".into(),
        text: "canary 25 % · step 3/8 · Paused".into(),
    });
    let s = screen(&mut app, 120, 24);
    let banner = s.lines().nth(1).unwrap_or_default();
    assert!(
        banner.contains("· running · half: canary 25 % · step 3/8 · Paused"),
        "{banner}"
    );
    assert!(
        s.contains("output: half · canary 25 % · step 3/8 · Paused · 1 line"),
        "{s}"
    );
    settings().bind(|| insta::assert_snapshot!("argo_step_progress_120x24", s));
    // The newest replaces the one before.
    app.on_engine(Event::StepProgress {
        step: "half".into(),
        text: "canary 50 % · step 5/8 · Progressing".into(),
    });
    let s = screen(&mut app, 120, 24);
    assert!(
        s.contains("half: canary 50 % · step 5/8") && !s.contains("canary 25 %"),
        "{s}"
    );
    // Finished: no longer shown as live.
    app.on_engine(Event::StepFinished {
        step: "half".into(),
        status: StepStatus::Succeeded,
        exit_code: Some(0),
        duration: std::time::Duration::from_secs(3),
        error: None,
    });
    let s = screen(&mut app, 120, 24);
    assert!(!s.contains("canary 50 %"), "{s}");
}

/// A pod of version `hash` of rollout `ro`, as Argo Rollouts' ReplicaSets make them.
fn rollout_pod(ro: &str, hash: &str, suffix: &str, ready: bool) -> PodRow {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": format!("{ro}-{hash}-{suffix}"), "namespace": "shop", "uid": format!("u-{suffix}"),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": ro, "rollouts-pod-template-hash": hash},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{ro}-{hash}"),
                                 "uid": "rs", "controller": true}]
        },
        "spec": {"containers": [{"name": ro, "image": format!("ghcr.io/acme/{ro}:{hash}")}], "nodeName": "node-1"},
        "status": {
            "phase": if ready { "Running" } else { "Pending" },
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"name": ro, "ready": ready, "restartCount": 0, "image": "x", "imageID": "",
                "state": if ready { json!({"running": {}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) }}]
        }
    }))
    .unwrap();
    PodRow::from_pod(&pod)
}

fn draw_pane(pane: &PodsPane, w: u16, h: u16, now: DateTime<Utc>) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::default();
    t.draw(|f| pane.render(f, f.area(), &theme, true, now))
        .unwrap();
    text(t.backend().buffer())
}

#[test]
fn a_rollouts_pods_are_grouped_by_role() {
    let now: DateTime<Utc> = "2026-01-01T00:05:00Z".parse().unwrap();
    let mut pane = PodsPane::new();
    pane.apply(PodsUpdate::Relisted {
        rows: vec![
            rollout_pod("shop", "6b7c8d9f5", "aaaaa", true),
            rollout_pod("shop", "6b7c8d9f5", "bbbbb", true),
            rollout_pod("shop", "6b7c8d9f5", "ccccc", true),
            rollout_pod("shop", "5f4d7c8b9", "ddddd", true),
            rollout_pod("shop", "5f4d7c8b9", "eeeee", false),
            rollout_pod("cart", "7c9d8e6f4", "fffff", true),
            rollout_pod("cart", "8d6c5b4a3", "ggggg", true),
        ],
    });
    pane.apply(PodsUpdate::Connected);
    assert!(pane.on_key(KeyEvent::new(KeyCode::Char('o'), KeyModifiers::NONE)));
    // Before the rollouts are known: one group per rollout.
    let s = draw_pane(&pane, 100, 14, now);
    assert!(s.contains("rollout/shop 4/5"), "{s}");
    pane.apply(PodsUpdate::Rollout(RolloutRoles {
        namespace: "shop".into(),
        name: "shop".into(),
        stable: "6b7c8d9f5".into(),
        current: "5f4d7c8b9".into(),
        ..RolloutRoles::default()
    }));
    pane.apply(PodsUpdate::Rollout(RolloutRoles {
        namespace: "shop".into(),
        name: "cart".into(),
        blue_green: true,
        stable: "7c9d8e6f4".into(),
        current: "8d6c5b4a3".into(),
        active: "7c9d8e6f4".into(),
        preview: "8d6c5b4a3".into(),
    }));
    let s = draw_pane(&pane, 100, 14, now);
    let order: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("rollout/"))
        .map(|l| l.trim_matches(|c| c == '┃' || c == ' '))
        .collect();
    assert_eq!(
        order
            .iter()
            .map(|l| l.split("  ").next().unwrap_or(l))
            .collect::<Vec<_>>(),
        [
            "rollout/cart · preview 1/1",
            "rollout/cart · active 1/1",
            "rollout/shop · canary 1/2",
            "rollout/shop · stable 3/3",
        ],
        "{s}"
    );
    insta::assert_snapshot!("rollout_pods_by_role", s);
    // Promoted: the canary is the stable version now, one group again.
    pane.apply(PodsUpdate::Rollout(RolloutRoles {
        namespace: "shop".into(),
        name: "shop".into(),
        stable: "5f4d7c8b9".into(),
        current: "5f4d7c8b9".into(),
        ..RolloutRoles::default()
    }));
    let s = draw_pane(&pane, 100, 14, now);
    assert!(s.contains("rollout/shop · stable 1/2"), "{s}");
    assert!(!s.contains("canary"), "{s}");
}

/// The pane fed by the live watch of a sandbox running the Rollouts controller: a canary paused
/// at its first step shows its pods under `canary` and `stable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_watch_groups_a_paused_canarys_pods_by_role() {
    use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
    use std::time::Duration;

    let sb = tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config::fast())
        .await
        .expect("sandbox starts");
    sb.apply_yaml(tollgate_sandbox::crds::ARGO_ROLLOUTS, "argo-rollouts.yaml")
        .expect("the CRD applies");
    let client = sb.client();
    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"),
        "rollouts",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let ro: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}
    }))
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // The type is served a moment after its CRD.
    while api.create(&PostParams::default(), &ro).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Rollouts never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let _watch = tollgate::live::pods::spawn_watch(client.clone(), vec!["default".into()], tx);
    let mut pane = PodsPane::new();
    assert!(pane.on_key(KeyEvent::new(KeyCode::Char('o'), KeyModifiers::NONE)));
    let mut changed = false;
    let now = Utc::now();
    loop {
        let s = draw_pane(&pane, 100, 14, now);
        if !changed && s.contains("rollout/web · stable 4/4") {
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
            api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
            changed = true;
        }
        if changed
            && s.contains("rollout/web · canary 1/1")
            && s.contains("rollout/web · stable 3/3")
        {
            // The canary's group comes first.
            let canary = s.find("rollout/web · canary").unwrap();
            assert!(canary < s.find("rollout/web · stable").unwrap(), "{s}");
            break;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(u)) => pane.apply(u),
            Ok(None) => panic!("the watch ended"),
            Err(_) => panic!("timed out; the pane:\n{s}"),
        }
    }
}
