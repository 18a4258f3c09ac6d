//! The interface with a cluster: the real engine running kube steps against the sandbox, the pods
//! and logs panes fed by the real watch and tails, through a rolling update, a crashlooping rollout
//! and its undo. Whole screens are snapshot (pod names and ages filtered); colours are checked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tollgate::engine::{Command, Engine, EngineError, Event, Outcome, RunStatus, StepStatus};
use tollgate::exec::Router;
use tollgate::exec::kube::KubeExec;
use tollgate::live::{ClusterMsg, Link};
use tollgate::ui::app::{Action, App, Pane};
use tollgate::ui::render;
use tollgate::ui::theme::Theme;
use tollgate::ui::{ClusterPanes, Config};

use crate::common;
use crate::common::sandbox_cluster::{Cluster, shop_fixture};

fn fixture() -> String {
    shop_fixture(
        "shop",
        &[
            ("payment", 3, "registry.local/payment:1.0"),
            ("web", 1, "registry.local/web:1.0"),
        ],
    )
}

const DEADLINE: Duration = Duration::from_secs(60);

const RUNBOOK: &str = r#"
name: payment release
targets:
  kube: { context: shop-prod, namespace: shop }
phases:
  - id: release
    title: Release payment 1.1
    steps:
      - id: set-image
        title: payment to 1.1
        run:
          kube.set_image: { deployment: payment, image: "registry.local/payment:1.1" }
      - id: rollout
        title: payment rolls out
        run:
          kube.rollout_status: { deployment: payment }
        expect: { timeout: 30s }
  - id: bad-release
    title: Release payment 1.2 (crashes)
    gate: { message: Release payment 1.2? }
    steps:
      - id: set-bad-image
        title: payment to 1.2
        run:
          kube.set_image: { deployment: payment, image: "registry.local/payment:crashloop" }
      - id: rollout-bad
        title: payment 1.2 rolls out
        run:
          kube.rollout_status: { deployment: payment }
        expect: { timeout: 4s }
        on_failure:
          steps:
            - id: undo
              title: Roll payment back
              run:
                kube.rollout_undo: { deployment: payment }
            - id: rollout-undone
              title: payment is back on 1.1
              run:
                kube.rollout_status: { deployment: payment }
              expect: { timeout: 30s }
"#;

struct Tui {
    app: App,
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    cluster_rx: mpsc::Receiver<ClusterMsg>,
    link: Link,
    handle: Option<JoinHandle<Result<Outcome, EngineError>>>,
    _c: Cluster,
}

impl Tui {
    async fn start() -> Tui {
        let c = Cluster::start("shop-prod", "default").await;
        c.load(&fixture());
        let spec = common::spec(c.dir.path(), RUNBOOK, &[], false);
        let runbook = spec.runbook.clone();
        let target = c.target(None, Some("shop-prod"));
        let (ev_tx, events) = mpsc::channel(1024);
        let (commands, cmd_rx) = mpsc::channel(16);
        let mut router = Router::shell_only();
        router.kube = Some(Arc::new(KubeExec {
            target: target.clone(),
        }));
        let engine = Engine::new(spec, Arc::new(router), ev_tx, cmd_rx);
        let app = App::new(Config {
            cluster: Some(ClusterPanes {
                context: target.describe(),
                namespace: "shop".into(),
                preview: None,
            }),
            ..Config::new(
                runbook,
                "run-1",
                "tester@host",
                Theme::builtin("dark").unwrap(),
            )
        });
        let (link, cluster_rx) = Link::start(target, vec!["shop".into()]);
        let mut t = Tui {
            app,
            events,
            commands,
            cluster_rx,
            link,
            handle: None,
            _c: c,
        };
        // The pods are there before the run starts.
        t.until("three payment pods running", |a| {
            running(a, "payment-") == 3 && running(a, "web-") == 1
        })
        .await;
        t.handle = Some(tokio::spawn(engine.run()));
        t
    }

    /// Feeds engine events and cluster messages to the app (and the app's requests to the link)
    /// until `pred` holds.
    async fn until(&mut self, what: &str, pred: impl Fn(&App) -> bool) {
        let r = tokio::time::timeout(DEADLINE, async {
            loop {
                for req in self.app.take_cluster_requests() {
                    self.link.handle(req);
                }
                if pred(&self.app) {
                    return true;
                }
                tokio::select! {
                    ev = self.events.recv() => match ev {
                        Some(ev) => self.app.on_engine(ev),
                        None => {
                            // The engine is done; the panes may still catch up.
                            match self.cluster_rx.recv().await {
                                Some(m) => self.app.on_cluster(m),
                                None => return false,
                            }
                        }
                    },
                    m = self.cluster_rx.recv() => match m {
                        Some(m) => self.app.on_cluster(m),
                        None => return false,
                    },
                }
            }
        })
        .await;
        assert!(
            matches!(r, Ok(true)),
            "never reached: {what}\n{}",
            self.screen(200, 50)
        );
    }

    /// Answers the open gate (seen long enough to be read) with a key.
    async fn press(&mut self, code: KeyCode) {
        if let Some(g) = self.app.gate_mut() {
            g.opened = Instant::now() - Duration::from_secs(1);
        }
        let actions = self
            .app
            .on_input(TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        for a in actions {
            if let Action::Send(cmd) = a {
                self.commands.send(cmd).await.unwrap();
            }
        }
    }

    fn buffer(&mut self, w: u16, h: u16) -> Buffer {
        self.app.set_clock(self.app.started());
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| tollgate::ui::draw(&mut self.app, f)).unwrap();
        t.backend().buffer().clone()
    }

    fn screen(&mut self, w: u16, h: u16) -> String {
        let b = self.buffer(w, h);
        text(&b, w, h)
    }
}

/// The screen as `a` draws it (160 x 40).
fn drawn(a: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(160, 40)).unwrap();
    t.draw(|f| {
        render::render(a, f);
    })
    .unwrap();
    text(t.backend().buffer(), 160, 40)
}

fn text(b: &Buffer, w: u16, h: u16) -> String {
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(b[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn pods(a: &App) -> Vec<tollgate::live::pods::PodRow> {
    a.cluster()
        .map(|c| c.pods.rows().cloned().collect())
        .unwrap_or_default()
}

fn running(a: &App, prefix: &str) -> usize {
    pods(a)
        .iter()
        .filter(|p| p.name.starts_with(prefix) && p.status == "Running" && p.ready.0 == p.ready.1)
        .count()
}

fn with_image(a: &App, image: &str) -> usize {
    pods(a)
        .iter()
        .filter(|p| p.name.starts_with("payment-") && p.images.iter().any(|i| i.ends_with(image)))
        .count()
}

fn crashing(a: &App) -> usize {
    pods(a)
        .iter()
        .filter(|p| p.status == "CrashLoopBackOff" || p.status == "Error")
        .count()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    // Pod names end in random suffixes; ages and clocks move.
    s.add_filter(r"(payment|web)-[a-z0-9]{6,10}-[a-z0-9]{5}", "$1-[pod]");
    s.add_filter(r"\b\d+(\.\d+)?(ms|s|m|h|d)\b", "[t]");
    s.add_filter(r"\d{2}:\d{2}:\d{2}(\.\d+)?", "[clock]");
    s.add_filter(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:[port]");
    s
}

fn status(a: &App, id: &str) -> StepStatus {
    a.step_status(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_crashloop_and_undo_in_the_panes() {
    let mut t = Tui::start().await;

    // 1. A rolling update: the pods of the step's deployment come first, and their logs follow
    // the new pods as they replace the old ones.
    t.until("the rollout succeeded", |a| {
        status(a, "rollout") == StepStatus::Succeeded
    })
    .await;
    t.until("three pods on 1.1, running, the old ones gone", |a| {
        with_image(a, "payment:1.1") == 3
            && running(a, "payment-") == 3
            && pods(a)
                .iter()
                .filter(|p| p.name.starts_with("payment-"))
                .count()
                == 3
    })
    .await;
    let c = t.app.cluster().unwrap();
    assert_eq!(
        c.source.as_ref().map(|s| s.label()).as_deref(),
        Some("deployment/payment"),
        "the logs follow the step's deployment"
    );
    assert!(
        c.context.starts_with("shop-prod (http://127.0.0.1:"),
        "{}",
        c.context
    );
    t.until("the gate before the bad release", |a| {
        a.gate().is_some_and(|g| g.request.id == "bad-release")
    })
    .await;
    // The pods pane alone (the gate's dialog set aside for the picture).
    let gate = t.app.take_gate();
    t.app.set_focus(Pane::Pods);
    t.app.set_zoom(Some(Pane::Pods));
    settings().bind(|| insta::assert_snapshot!("after_rolling_update", t.screen(120, 14)));
    t.app.set_zoom(None);
    t.app.restore_gate(gate);

    // 2. A crashlooping rollout: new pods crash, the step fails with the reason.
    t.press(KeyCode::Char('a')).await;
    t.press(KeyCode::Enter).await; // the chosen button decides
    t.until("the bad rollout failed", |a| {
        a.gate().is_some_and(|g| g.request.id == "rollout-bad")
    })
    .await;
    t.until("a crashlooping pod shows", |a| crashing(a) >= 1)
        .await;
    let err = t
        .app
        .step("rollout-bad")
        .and_then(|v| v.error.clone())
        .unwrap_or_default();
    assert!(!err.is_empty());
    let screen = t.screen(200, 50);
    assert!(
        screen.contains("CrashLoopBackOff") || screen.contains("Error"),
        "{screen}"
    );
    // The crashing pod's status cell is in the failed colour, and the step's pods come first.
    let b = t.buffer(200, 50);
    let area = t.app.areas().pods;
    let theme = Theme::builtin("dark").unwrap();
    let mut found = false;
    for y in area.y..area.y + area.height {
        let row: String = (area.x..area.x + area.width)
            .map(|x| b[(x, y)].symbol().to_string())
            .collect();
        if let Some(i) = row.find("CrashLoopBackOff") {
            let x = area.x + row[..i].chars().count() as u16;
            let cell = &b[(x, y)];
            // The selected row is drawn in the selection's colours, whatever its status.
            let selected = cell.bg == theme.selection.bg.unwrap()
                && cell.modifier.contains(ratatui::style::Modifier::REVERSED);
            if !selected {
                assert_eq!(cell.fg, theme.pod_failed.fg.unwrap());
                found = true;
            }
        }
    }
    assert!(found, "a CrashLoopBackOff cell in the pods pane:\n{screen}");

    // The logs pane followed the new, crashing pods: their last words are there, with the pods'
    // prefixes (the deployment's name left out).
    let gate = t.app.take_gate();
    t.app.set_zoom(Some(Pane::Logs));
    t.until("the crashing pods' logs", |a| {
        drawn(a).contains("FATAL startup check failed")
    })
    .await;
    let logs = drawn(&t.app);
    assert!(logs.contains("logs deployment/payment"), "{logs}");
    assert!(
        !logs
            .lines()
            .any(|l| l.trim_start_matches(['│', '┃']).starts_with("payment-")),
        "prefixes leave the deployment's name out:\n{logs}"
    );
    t.app.set_zoom(None);
    t.app.restore_gate(gate);

    // 3. Roll back from the failure gate: undo, then the rollout completes on 1.1 again.
    t.press(KeyCode::Char('b')).await;
    t.press(KeyCode::Enter).await; // the chosen button decides
    t.until("the undo rolled out", |a| {
        status(a, "rollout-undone") == StepStatus::Succeeded
    })
    .await;
    t.until("three pods on 1.1 again", |a| {
        with_image(a, "payment:1.1") == 3
            && running(a, "payment-") == 3
            && crashing(a) == 0
            && pods(a)
                .iter()
                .filter(|p| p.name.starts_with("payment-"))
                .count()
                == 3
    })
    .await;
    t.app.set_focus(Pane::Pods);
    t.app.set_zoom(Some(Pane::Pods));
    settings().bind(|| insta::assert_snapshot!("after_undo", t.screen(120, 14)));
    t.app.set_zoom(None);

    // The logs pane followed the deployment's pods through all of it.
    let logs = t.app.cluster().unwrap().logs.len();
    assert!(logs > 0, "log lines arrived");

    let (closed, _) = mpsc::channel(1);
    drop(std::mem::replace(&mut t.commands, closed));
    let handle = t.handle.take().unwrap();
    let outcome = tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = t.events.recv().await {
            t.app.on_engine(ev);
        }
        handle.await.unwrap().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(outcome, Outcome::Finished(RunStatus::Failed));
    // The whole layout: phases and events left, output centre, pods over logs right.
    let full = t.screen(200, 50);
    assert!(full.contains(" pods "), "{full}");
    assert!(full.contains("logs deployment/payment"), "{full}");
    assert!(full.contains("kube shop-prod"), "{full}");
}
