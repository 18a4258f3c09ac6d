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
