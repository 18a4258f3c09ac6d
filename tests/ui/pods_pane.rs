//! The pods pane against the sandbox: a watch feeding a [`PodsPane`], drawn on a `TestBackend`.
//!
//! Nothing waits by sleeping: the pane is driven from the watch's updates until a condition holds,
//! with a deadline.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Style;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tollgate::live::pods::{self, Focus, PodsUpdate, spawn_watch};
use tollgate::ui::pods_pane::PodsPane;
use tollgate::ui::theme::Theme;
use tollgate_sandbox::resources::by_kind;
use tollgate_sandbox::store::Part;
use tollgate_sandbox::{Config, Sandbox};

/// Longest wait for anything (real seconds; at speed 50 this is over 16 simulated minutes).
const DEADLINE: Duration = Duration::from_secs(20);

/// A pane fed by a watch, and what the watch sent.
struct Driven {
    pane: PodsPane,
    rx: mpsc::Receiver<PodsUpdate>,
    relists: usize,
    disconnects: usize,
    _watch: tokio::task::JoinHandle<()>,
}

impl Driven {
    fn start(client: Client, namespaces: &[&str]) -> Driven {
        let (tx, rx) = mpsc::channel(1024);
        let watch = spawn_watch(
            client,
            namespaces.iter().map(|s| s.to_string()).collect(),
            tx,
        );
        Driven {
            pane: PodsPane::new(),
            rx,
            relists: 0,
            disconnects: 0,
            _watch: watch,
        }
    }

    fn apply(&mut self, u: PodsUpdate) {
        match &u {
            PodsUpdate::Relisted { .. } => self.relists += 1,
            PodsUpdate::Disconnected { .. } => self.disconnects += 1,
            _ => {}
        }
        self.pane.apply(u);
    }

    /// Applies updates until `cond` holds, failing with `what` after the deadline.
    async fn until(&mut self, what: &str, mut cond: impl FnMut(&PodsPane) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            while let Ok(u) = self.rx.try_recv() {
                self.apply(u);
            }
            if cond(&self.pane) {
                return;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(u)) => self.apply(u),
                Ok(None) => panic!("the watch ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; screen:\n{}",
                    text(&draw(&self.pane, 120, 20, Utc::now()))
                ),
            }
        }
    }

    fn key(&mut self, c: KeyCode) -> bool {
        self.pane.on_key(KeyEvent::new(c, KeyModifiers::NONE))
    }

    fn typed(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c));
        }
    }
}

fn draw(pane: &PodsPane, w: u16, h: u16, now: DateTime<Utc>) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::default();
    t.draw(|f| pane.render(f, f.area(), &theme, true, now))
        .unwrap();
    t.backend().buffer().clone()
}

fn lines(b: &Buffer) -> Vec<String> {
    (0..b.area.height)
        .map(|y| {
            (0..b.area.width)
                .map(|x| b[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

fn text(b: &Buffer) -> String {
    lines(b).join("\n")
}

/// The style of the cell where `needle` starts on the first line holding it after `after`.
fn style_at(b: &Buffer, line_has: &str, needle: &str) -> Style {
    let ls = lines(b);
    let y = ls
        .iter()
        .position(|l| l.contains(line_has) && l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {line_has} and {needle} in\n{}", text(b)));
    let cols: Vec<&str> = (0..b.area.width)
        .map(|x| b[(x, y as u16)].symbol())
        .collect();
    let chars: Vec<char> = needle.chars().collect();
    let x = (0..cols.len())
        .find(|&x| {
            chars
                .iter()
                .enumerate()
                .all(|(i, c)| cols.get(x + i).is_some_and(|s| *s == c.to_string()))
        })
        .unwrap();
    b[(x as u16, y as u16)].style()
}

/// A style as a cell holds it (the terminal's defaults where the theme says nothing).
fn as_cell(s: Style) -> Style {
    let mut c = ratatui::buffer::Cell::default();
    c.set_style(s);
    c.style()
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }))
    .expect("deployment")
}

async fn start() -> (Sandbox, Client) {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    (sb, client)
}

fn count_rows(p: &PodsPane, prefix: &str, status: &str) -> usize {
    p.rows()
        .filter(|r| {
            r.name.starts_with(prefix)
                && r.status == status
                && (status != "Running" || r.ready.0 == r.ready.1)
        })
        .count()
}

/// Pod names with the random parts made fixed: `web-<template hash>-<5 random>`.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\b(web|api)-([0-9a-z]{6,10})-[0-9a-z]{5}\b", "$1-$2-xxxxx");
    s
}

#[tokio::test]
async fn deployment_pods_rows_colours_focus_filter_sort_and_groups() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("web", 3, "registry.local/web:1.0"),
    )
    .await
    .unwrap();
    deps.create(
        &PostParams::default(),
        &deployment("api", 1, "registry.local/api:crashloop"),
    )
    .await
    .unwrap();
    let mut d = Driven::start(client.clone(), &["default"]);
    d.until("three web pods Running 1/1 and api crash-looping", |p| {
        count_rows(p, "web-", "Running") == 3 && count_rows(p, "api-", "CrashLoopBackOff") == 1
    })
    .await;

    let now = Utc::now();
    let b = draw(&d.pane, 120, 12, now);
    let screen = lines(&b);
    assert!(screen[0].contains(" pods 4 "), "{}", text(&b));
    assert!(screen[1].contains("NAME") && screen[1].contains("READY"));
    assert!(screen[1].contains("STATUS") && screen[1].contains("IMAGE"));
    let running: Vec<&String> = screen
        .iter()
        .filter(|l| l.contains("web-") && l.contains("1/1") && l.contains("Running"))
        .collect();
    assert_eq!(running.len(), 3, "{}", text(&b));
    // The crash loop in the failed colour, the healthy ones in the ok colour, exactly (the
    // selection, on the first row, is moved to the last).
    assert!(d.key(KeyCode::Char('G')));
    let b = draw(&d.pane, 120, 12, now);
    let screen = lines(&b);
    let theme = Theme::default();
    assert_eq!(
        style_at(&b, "api-", "CrashLoopBackOff"),
        as_cell(theme.pod_failed)
    );
    let healthy = screen
        .iter()
        .filter(|l| l.contains("web-"))
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(style_at(&b, &healthy, "Running"), as_cell(theme.pod_ok));

    // The step's deployment first, marked and in the touched style.
    d.pane.set_focus(vec![Focus::Deployment {
        namespace: "default".into(),
        name: "api".into(),
    }]);
    let b = draw(&d.pane, 120, 12, now);
    let screen = lines(&b);
    assert!(
        screen[2].starts_with("│▶ api-") || screen[2].starts_with("┃▶ api-"),
        "{}",
        text(&b)
    );
    assert_eq!(style_at(&b, "api-", "api-"), as_cell(theme.pod_touched));
    assert!(screen[3..].iter().all(|l| !l.contains('▶')));

    // Sorted by restarts, reversed: the crash loop (most restarts) first even without focus.
    d.pane.set_focus(vec![]);
    assert!(d.key(KeyCode::Char('s'))); // status
    assert!(d.key(KeyCode::Char('s'))); // restarts
    assert!(d.key(KeyCode::Char('S')));
    let screen = lines(&draw(&d.pane, 120, 12, now));
    assert!(screen[0].contains("by restarts, reversed"), "{}", screen[0]);
    assert!(screen[2].contains("api-"), "{}", screen.join("\n"));
    assert!(d.key(KeyCode::Char('S')));
    let screen = lines(&draw(&d.pane, 120, 12, now));
    assert!(screen[5].contains("api-"), "{}", screen.join("\n"));

    // Grouped by owner: the Deployment, with its ready count.
    assert!(d.key(KeyCode::Char('o')));
    let screen = lines(&draw(&d.pane, 120, 12, now));
    let joined = screen.join("\n");
    assert!(joined.contains("deployment/api 0/1"), "{joined}");
    assert!(joined.contains("deployment/web 3/3"), "{joined}");
    assert!(d.key(KeyCode::Char('o')));

    // A filter typed into the pane: by image here; Enter keeps it, Esc clears it.
    assert!(d.key(KeyCode::Char('/')));
    d.typed("crash");
    assert!(d.pane.is_editing());
    assert!(d.key(KeyCode::Enter));
    let screen = lines(&draw(&d.pane, 120, 12, now));
    assert!(screen[0].contains("pods 1/4 · /crash"), "{}", screen[0]);
    assert!(screen[2].contains("api-"));
    assert!(!screen.join("\n").contains("web-"));
    assert_eq!(
        d.pane.selected().map(|r| r.name.starts_with("api-")),
        Some(true)
    );
    assert!(d.key(KeyCode::Esc));
    assert_eq!(d.pane.filter(), "");
    let title = lines(&draw(&d.pane, 120, 12, now))[0].clone();
    assert!(title.contains(" pods 4 · by restarts "), "{title}");

    // Narrow: the rightmost columns go first.
    let narrow = lines(&draw(&d.pane, 60, 12, now));
    assert!(
        narrow[1].contains("STATUS") && !narrow[1].contains("IMAGE"),
        "{}",
        narrow[1]
    );
}

#[tokio::test]
async fn steady_state_screen() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("web", 3, "registry.local/web:1.0"),
    )
    .await
    .unwrap();
    let mut d = Driven::start(client.clone(), &["default"]);
    d.until("three web pods Running 1/1", |p| {
        count_rows(p, "web-", "Running") == 3
    })
    .await;
    // Ages against a clock 90 s after the newest pod: one second of spread at most.
    let newest = d
        .pane
        .selected()
        .and_then(|r| r.created)
        .expect("a creation time");
    let now = newest + chrono::Duration::seconds(90);
    let screen = text(&draw(&d.pane, 100, 8, now))
        .replace("89s", "90s")
        .replace("91s", "90s");
    settings().bind(|| insta::assert_snapshot!("steady_state", screen));
    assert!(d.key(KeyCode::Char('o')));
    let grouped = text(&draw(&d.pane, 100, 8, now))
        .replace("89s", "90s")
        .replace("91s", "90s");
    settings().bind(|| insta::assert_snapshot!("steady_state_grouped", grouped));
}

/// A pod as the sandbox's kubelet would leave it: running and ready, or waiting with `reason`.
fn bare_pod(name: &str, waiting: Option<&str>) -> Value {
    let state = match waiting {
        None => json!({"running": {"startedAt": "2025-01-01T00:00:00Z"}}),
        Some(r) => json!({"waiting": {"reason": r}}),
    };
    json!({
        "metadata": {"name": name, "labels": {"app": "churn"}},
        "spec": {"nodeName": "sandbox-node-1",
            "containers": [{"name": "app", "image": "registry.local/churn:1"}]},
        "status": {"phase": if waiting.is_none() { "Running" } else { "Pending" },
            "containerStatuses": [{"name": "app", "image": "registry.local/churn:1", "imageID": "",
                "ready": waiting.is_none(), "restartCount": 0, "state": state}]},
    })
}

#[tokio::test]
async fn an_expired_watch_relists_and_the_pane_converges_to_the_store() {
    // A history of 16 changes: a burst of writes while the watch cannot read leaves it behind
    // the history, and the next read is 410 Gone. The test runtime has one thread, so the watch
    // reads nothing until the test awaits.
    let sb = Sandbox::start(Config {
        history: Some(16),
        no_controllers: true,
        ..Config::fast()
    })
    .await
    .expect("sandbox starts");
    let store = sb.store().clone();
    let pod_rt = by_kind("Pod");
    for i in 0..30 {
        store
            .create_with_status(pod_rt, "default", bare_pod(&format!("p-{i:03}"), None))
            .unwrap();
    }
    let mut d = Driven::start(sb.client(), &["default"]);
    d.until("30 pods listed", |p| {
        p.len() == 30 && *p.connection() == tollgate::ui::pods_pane::Connection::Connected
    })
    .await;
    assert_eq!(d.relists, 1);

    let mut next = 30;
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..5 {
        for _ in 0..60 {
            let live: Vec<String> = store
                .list(pod_rt, Some("default"), &|_| true)
                .0
                .iter()
                .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
                .collect();
            match rng.u8(0..3) {
                0 => {
                    store
                        .create_with_status(
                            pod_rt,
                            "default",
                            bare_pod(&format!("p-{next:03}"), None),
                        )
                        .unwrap();
                    next += 1;
                }
                1 if !live.is_empty() => {
                    let victim = &live[rng.usize(0..live.len())];
                    store.remove_now(pod_rt, "default", victim).unwrap();
                }
                _ if !live.is_empty() => {
                    let who = &live[rng.usize(0..live.len())];
                    let reason = ["CrashLoopBackOff", "ImagePullBackOff", "ContainerCreating"]
                        [rng.usize(0..3)];
                    store
                        .modify(pod_rt, "default", who, Part::All, |o| {
                            *o = {
                                let mut fresh = bare_pod(who, Some(reason));
                                fresh["metadata"] = o["metadata"].clone();
                                fresh
                            };
                            Ok(())
                        })
                        .unwrap();
                }
                _ => {}
            }
        }
        // The truth, through the API.
        let api: Api<Pod> = Api::default_namespaced(sb.client());
        let truth: BTreeMap<String, String> = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| (p.name_any(), pods::PodRow::from_pod(p).status))
            .collect();
        d.until(
            &format!("the pane matches the store after round {round}"),
            |p| {
                p.len() == truth.len()
                    && truth
                        .iter()
                        .all(|(n, s)| p.get("default", n).is_some_and(|r| r.status == *s))
            },
        )
        .await;
    }
    assert!(
        d.relists >= 2,
        "no relist after the history was overrun ({} relists)",
        d.relists
    );
    assert_eq!(
        d.disconnects, 0,
        "a 410 Gone is a relist, not a disconnection"
    );
    assert_eq!(
        *d.pane.connection(),
        tollgate::ui::pods_pane::Connection::Connected
    );
}

#[tokio::test]
async fn pod_detail_has_containers_conditions_and_the_pods_events() {
    let (_sb, client) = start().await;
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("api", 1, "registry.local/api:crashloop"),
    )
    .await
    .unwrap();
    let mut d = Driven::start(client.clone(), &["default"]);
    d.until("the api pod crash-looping", |p| {
        count_rows(p, "api-", "CrashLoopBackOff") == 1
    })
    .await;
    let name = d.pane.selected().unwrap().name.clone();

    let detail = pods::describe(client.clone(), "default", &name)
        .await
        .unwrap();
    assert_eq!(detail.row.name, name);
    let c = &detail.containers[0];
    assert_eq!((c.name.as_str(), c.init), ("app", false));
    assert_eq!(c.image, "registry.local/api:crashloop");
    assert_eq!(c.state, "Waiting");
    assert_eq!(c.reason.as_deref(), Some("CrashLoopBackOff"));
    assert!(c.restarts >= 1 && !c.ready);
    assert_eq!(c.last_termination.as_deref(), Some("Error (exit 1)"));
    let cond: BTreeMap<&str, &str> = detail
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(cond.get("PodScheduled"), Some(&"True"));
    assert_eq!(cond.get("Ready"), Some(&"False"));
    assert!(!detail.events.is_empty() && detail.events.len() <= pods::DETAIL_EVENTS);
    let reasons: Vec<&str> = detail.events.iter().map(|e| e.reason.as_str()).collect();
    assert!(reasons.contains(&"Scheduled"), "{reasons:?}");
    assert!(reasons.contains(&"BackOff"), "{reasons:?}");
    assert!(
        detail.events.windows(2).all(|w| w[0].last <= w[1].last),
        "newest last"
    );

    // In the pane: Enter asks for the detail once, the detail view shows it, Esc closes it.
    assert!(d.key(KeyCode::Enter));
    assert_eq!(
        d.pane.wants_detail(),
        Some(("default".to_string(), name.clone()))
    );
    assert_eq!(d.pane.wants_detail(), None);
    let loading = text(&draw(&d.pane, 120, 24, Utc::now()));
    assert!(loading.contains("loading…"), "{loading}");
    d.pane.set_detail(detail);
    let b = draw(&d.pane, 120, 24, Utc::now());
    let screen = text(&b);
    for want in [
        &format!("pod default/{name}"),
        "containers",
        "Waiting CrashLoopBackOff",
        "last state: Terminated (Error), exit code 1",
        "conditions",
        "PodScheduled",
        "events",
        "BackOff",
    ] {
        assert!(screen.contains(want), "{want} not in\n{screen}");
    }
    assert!(d.key(KeyCode::Esc));
    assert!(!d.pane.detail_open());
    assert!(text(&draw(&d.pane, 120, 24, Utc::now())).contains("STATUS"));
}

#[tokio::test]
async fn an_unreachable_cluster_says_so_and_retries() {
    // A port nothing listens on: bound, then closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    let client = Client::try_from(config).unwrap();
    let mut d = Driven::start(client, &[]);
    d.until("a disconnection", |p| {
        matches!(
            p.connection(),
            tollgate::ui::pods_pane::Connection::Reconnecting { .. }
        )
    })
    .await;
    let screen = lines(&draw(&d.pane, 80, 9, Utc::now()));
    assert!(
        screen[0].contains(" pods 0 · reconnecting (attempt 1): list failed"),
        "{}",
        screen[0]
    );
    let mid = screen
        .iter()
        .position(|l| l.contains("no cluster reachable — retrying"))
        .expect("the message");
    assert_eq!(mid, 3, "{}", screen.join("\n"));
    let line = &screen[mid];
    let left = line[..line.find("no cluster").unwrap()].chars().count();
    let right = 80 - (left + "no cluster reachable — retrying".chars().count());
    assert!(left.abs_diff(right) <= 6, "centered: {line:?}");
    assert!(
        screen[mid + 1].to_lowercase().contains("connect"),
        "{}",
        screen[mid + 1]
    );
}

fn pod_names(p: &PodsPane) -> Vec<String> {
    let mut v: Vec<String> = p
        .rows()
        .map(|r| format!("{}/{}", r.namespace, r.name))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_restarted_api_server_is_relisted_after_the_disconnection() {
    let config = Config {
        no_controllers: true,
        ..Config::fast()
    };
    let first = Sandbox::start(config.clone())
        .await
        .expect("sandbox starts");
    let port = first.addr().port();
    for n in ["a-1", "a-2", "a-3"] {
        first
            .store()
            .create_with_status(by_kind("Pod"), "default", bare_pod(n, None))
            .unwrap();
    }
    let mut d = Driven::start(first.client(), &["default"]);
    d.until("the first server's pods", |p| p.len() == 3).await;

    drop(first);
    d.until("a disconnection", |p| {
        matches!(
            p.connection(),
            tollgate::ui::pods_pane::Connection::Reconnecting { .. }
        )
    })
    .await;
    // Back on the same port with other pods (and resourceVersions that mean other things).
    let second = Sandbox::start(Config { port, ..config })
        .await
        .expect("sandbox starts again");
    for n in ["b-1", "b-2"] {
        second
            .store()
            .create_with_status(by_kind("Pod"), "default", bare_pod(n, Some("ErrImagePull")))
            .unwrap();
    }
    d.until("the second server's pods, connected", |p| {
        pod_names(p) == ["default/b-1", "default/b-2"]
            && *p.connection() == tollgate::ui::pods_pane::Connection::Connected
    })
    .await;
    assert!(d.disconnects >= 1 && d.relists >= 2);
    assert_eq!(d.pane.get("default", "b-1").unwrap().status, "ErrImagePull");
}

#[tokio::test]
async fn several_namespaces_are_merged_and_a_relist_keeps_the_others() {
    let sb = Sandbox::start(Config {
        no_controllers: true,
        ..Config::fast()
    })
    .await
    .expect("sandbox starts");
    let store = sb.store();
    store
        .create(
            by_kind("Namespace"),
            "",
            json!({"metadata": {"name": "other"}}),
            false,
        )
        .unwrap();
    for (ns, n) in [("default", "d-1"), ("other", "o-1"), ("other", "o-2")] {
        store
            .create_with_status(by_kind("Pod"), ns, bare_pod(n, None))
            .unwrap();
    }
    let mut d = Driven::start(sb.client(), &["default", "other", "default"]);
    d.until("pods of both namespaces", |p| p.len() == 3).await;
    // Each namespace's list is a relist of everything: the second one keeps the first's pods.
    assert_eq!(d.relists, 2);
    assert_eq!(
        pod_names(&d.pane),
        ["default/d-1", "other/o-1", "other/o-2"]
    );
    store.remove_now(by_kind("Pod"), "other", "o-1").unwrap();
    store
        .create_with_status(by_kind("Pod"), "kube-system", bare_pod("unwatched", None))
        .unwrap();
    store
        .create_with_status(by_kind("Pod"), "default", bare_pod("d-2", None))
        .unwrap();
    d.until("the deletion and the new pod", |p| {
        pod_names(p) == ["default/d-1", "default/d-2", "other/o-2"]
    })
    .await;
    // The namespace column is what tells them apart in the filter.
    assert!(d.key(KeyCode::Char('/')));
    d.typed("other");
    let screen = text(&draw(&d.pane, 120, 8, Utc::now()));
    assert!(screen.contains("pods 1/3 · /other▏"), "{screen}");
    assert!(
        screen.contains("o-2") && !screen.contains("d-1"),
        "{screen}"
    );
}

/// Three pods as a cluster in trouble shows them: one serving on a node with a long name, one
/// crash-looping, one the scheduler cannot place.
fn troubled_pods() -> Vec<Pod> {
    let base = |name: &str, node: Option<&str>, status: Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop", "uid": name,
                "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": node, "containers": [{"name": "app",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api-gateway:1.4.2"}]},
            "status": status,
        }))
        .expect("pod")
    };
    vec![
        base(
            "api-gateway-68d9f7c5b4-x2x9k",
            Some("ip-10-0-1-23.ec2.internal"),
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "x",
                "imageID": "", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}}]}),
        ),
        base(
            "api-gateway-85b4c6d9f7-f28tr",
            Some("ip-10-0-1-23.ec2.internal"),
            json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "x",
                "imageID": "", "ready": false, "restartCount": 6,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message":
                    "back-off 2m40s restarting failed container=app pod=api-gateway-85b4c6d9f7-f28tr_shop(api-gateway-85b4c6d9f7-f28tr)"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": "2026-01-01T00:09:00Z", "finishedAt": "2026-01-01T00:09:02Z"}}}]}),
        ),
        base(
            "payment-backend-7c9d8b6f5d-q8wzn",
            None,
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable",
                "message": "0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."}]}),
        ),
    ]
}

fn troubled_pane() -> PodsPane {
    let mut p = PodsPane::new();
    p.apply(PodsUpdate::Relisted {
        rows: troubled_pods().iter().map(pods::PodRow::from_pod).collect(),
    });
    p.apply(PodsUpdate::Connected);
    p
}

fn ten_minutes_in() -> DateTime<Utc> {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

#[test]
fn the_pod_name_gets_its_room_first_at_every_width() {
    let p = troubled_pane();
    for w in [80u16, 100, 120, 200] {
        let b = draw(&p, w, 6, ten_minutes_in());
        let screen = text(&b);
        for pod in troubled_pods() {
            let name = pod.name_any();
            assert!(
                screen.contains(&name),
                "{name} cut at {w} columns:\n{screen}"
            );
        }
        // Why a pod is not running is in the list.
        assert!(screen.contains("Pending (Unschedulable)"), "{w}:\n{screen}");
        assert!(screen.contains("CrashLoopBackOff"), "{w}:\n{screen}");
        insta::assert_snapshot!(format!("pods_width_{w}"), screen);
    }
    // With room, the node's whole name.
    let wide = text(&draw(&p, 120, 6, ten_minutes_in()));
    assert!(wide.contains("ip-10-0-1-23.ec2.internal"), "{wide}");
}

#[test]
fn pod_detail_wraps_and_tells_the_last_state_and_exit_code() {
    let mut p = troubled_pane();
    let pods = troubled_pods();
    let event: k8s_openapi::api::core::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": "e1", "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "name": "payment-backend-7c9d8b6f5d-q8wzn"},
        "type": "Warning", "reason": "FailedScheduling", "count": 3,
        "lastTimestamp": "2026-01-01T00:09:30Z",
        "message": "0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."}))
    .unwrap();
    // Inside the borders, without spaces: the text as read across its wrapped rows (a word
    // longer than a row is cut where the row ends).
    let flat = |s: &str| {
        s.lines()
            .map(|l| l.trim_matches(|c| matches!(c, '┃' | '━' | '┏' | '┓' | '┗' | '┛')))
            .flat_map(str::split_whitespace)
            .collect::<String>()
    };
    for (name, wants) in [
        (
            "payment-backend-7c9d8b6f5d-q8wzn",
            vec![
                "PodScheduled False Unschedulable: 0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
                "FailedScheduling 0/2 nodes are available: 2 Insufficient memory. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod. (x3)",
            ],
        ),
        (
            "api-gateway-85b4c6d9f7-f28tr",
            vec![
                "Waiting CrashLoopBackOff restarts 6",
                "back-off 2m40s restarting failed container=app pod=api-gateway-85b4c6d9f7-f28tr_shop(api-gateway-85b4c6d9f7-f28tr)",
                "last state: Terminated (Error), exit code 1, 58s ago",
            ],
        ),
    ] {
        p.on_key(KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE));
        for c in name.chars() {
            p.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        p.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        p.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(p.wants_detail(), Some(("shop".into(), name.into())));
        let pod = pods.iter().find(|q| q.name_any() == name).unwrap();
        p.set_detail(pods::detail_of(pod, std::slice::from_ref(&event)));
        let screen = text(&draw(&p, 72, 30, ten_minutes_in()));
        for want in wants {
            assert!(
                flat(&screen).contains(&flat(want)),
                "{want:?} not in\n{screen}"
            );
        }
        assert!(screen.lines().all(|l| l.chars().count() <= 72));
        insta::assert_snapshot!(
            format!("pod_detail_{}", name.split('-').next().unwrap()),
            screen
        );
        // Back to the list, the filter cleared.
        p.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        p.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    }
}
