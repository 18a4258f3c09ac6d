//! The real binary's interface with a cluster, inside tmux: `tollgate run` against a sandbox the
//! test starts, through the kubeconfig in `KUBECONFIG`. The pods and logs panes fill before the
//! first step, the gate is answered with a key, the rollout is followed to its end.

use std::path::Path;

use crate::common::sandbox_cluster::shop_fixture;
use crate::common::tmux::{Tmux, sh_quote, tmux_installed};

fn fixture() -> String {
    shop_fixture("shop", &[("payment", 2, "registry.local/payment:1.0")])
}

const RUNBOOK: &str = r#"
name: payment release
targets:
  kube: { context: shop-prod, namespace: shop }
phases:
  - id: release
    title: Release payment 1.1
    gate: { message: Release payment 1.1? }
    steps:
      - id: set-image
        run:
          kube.set_image: { deployment: payment, image: "registry.local/payment:1.1" }
      - id: rollout
        run:
          kube.rollout_status: { deployment: payment }
        expect: { timeout: 30s }
"#;

#[test]
fn a_rollout_in_the_interface_with_pods_and_logs() {
    if !tmux_installed() {
        return;
    }
    // The sandbox lives on its own runtime, beside the blocking tmux calls.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixture_file = dir.path().join("cluster.yaml");
    std::fs::write(&fixture_file, fixture()).unwrap();
    let sb = rt
        .block_on(tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config {
            fixtures: vec![fixture_file],
            ..tollgate_sandbox::Config::fast()
        }))
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sb.kubeconfig_for("default", "shop-prod")).unwrap();
    let runbook = dir.path().join("release.yaml");
    std::fs::write(&runbook, RUNBOOK).unwrap();

    let t = run_in_tmux("cluster", dir.path(), &kubeconfig, &runbook);

    // Before the first step: the pods of the deployment the first kube step acts on, marked, and
    // their logs; the banner names the live context.
    let screen = t.wait("main", "the pods and logs panes", |s| {
        // (The logs pane's title may be under the gate's dialog; its lines are not.)
        s.contains("pods 2") && s.contains("▶ payment-") && s.contains(" payment │ ")
    });
    assert!(
        screen.contains(&format!("kube shop-prod ({})", sb.url())),
        "{screen}"
    );
    assert!(screen.contains("GATE before phase release"), "{screen}");

    t.probe("main", "a", "approve chosen", |s| {
        s.contains("Enter to approve")
    });
    t.press("main", &["Enter"], "the gate passes", |s| {
        !s.contains("GATE before phase release")
    });
    t.wait_text("main", "deployment \"payment\" successfully rolled out");
    t.wait_text("main", "succeeded");
    // The run is over: `q` leaves, and the outcome is printed on the restored terminal.
    t.keys("main", &["q"]);
    t.wait("main", "the outcome on the shell", |s| {
        // The command may have been typed before the pane's shell printed its prompt: the
        // prompt then stands at the start of the line the outcome is printed on.
        s.lines().any(|l| {
            let l = l.trim_start_matches("# ");
            l.starts_with("run ") && l.ends_with(": succeeded")
        })
    });
    drop(sb);
}

/// Where the title of the pane `name` starts: (row, column of its corner).
/// `tollgate run RUNBOOK` against `kubeconfig`, its state under `dir`, in a new tmux session.
fn run_in_tmux(name: &str, dir: &Path, kubeconfig: &Path, runbook: &Path) -> Tmux {
    let mut t = Tmux::new(name);
    t.shell("main", dir);
    let line = format!(
        "KUBECONFIG={} {} --state-dir {} run {}",
        sh_quote(kubeconfig.to_str().unwrap()),
        sh_quote(env!("CARGO_BIN_EXE_tollgate")),
        sh_quote(dir.join("state").to_str().unwrap()),
        sh_quote(runbook.to_str().unwrap()),
    );
    t.command("main", &line);
    t
}

fn find_box(grid: &[Vec<char>], name: &str) -> Option<(usize, usize)> {
    grid.iter().enumerate().find_map(|(y, row)| {
        let s: String = row.iter().collect();
        let byte = s
            .find(&format!("┌ {name} "))
            .or_else(|| s.find(&format!("┏ {name} ")))?;
        Some((y, s[..byte].chars().count()))
    })
}

fn logs_box(grid: &[Vec<char>]) -> Option<(usize, usize)> {
    find_box(grid, "logs")
}

/// The rows inside the logs pane, as text.
fn pane_rows(screen: &str) -> Vec<String> {
    box_rows(screen, "logs")
}

/// The rows inside the pane `name`, as text.
fn box_rows(screen: &str, name: &str) -> Vec<String> {
    let grid: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some((top, at)) = find_box(&grid, name) else {
        return Vec::new();
    };
    let row = &grid[top];
    let corner = |c: &char| matches!(c, '┌' | '┏' | '╭' | '┐' | '┓' | '╮');
    let left = at;
    let Some(right) = (at + 1..row.len()).find(|&x| corner(&row[x])) else {
        return Vec::new();
    };
    grid[top + 1..]
        .iter()
        .take_while(|r| r.get(left).is_some_and(|c| matches!(c, '│' | '┃')))
        .map(|r| r[left + 1..right.min(r.len())].iter().collect())
        .collect()
}

/// A log line in the logs pane with timestamps on: `HH:MM:SS.mmm POD CONTAINER │ TEXT`.
#[derive(Debug, PartialEq, Eq)]
struct Shown {
    time: String,
    pod: String,
    text: String,
}

/// The log lines (not the join notes) the logs pane shows.
fn log_lines(screen: &str) -> Vec<Shown> {
    pane_rows(screen)
        .iter()
        .filter_map(|r| {
            let (head, text) = r.split_once(" │ ")?;
            let mut words = head.split_whitespace();
            let time = words.next()?.to_string();
            let pod = words.next()?.to_string();
            if !time.contains(':') || text.starts_with("──") {
                return None;
            }
            Some(Shown {
                time,
                pod,
                text: text.trim_end().to_string(),
            })
        })
        .collect()
}

/// The logs pane's title line.
fn logs_title(screen: &str) -> String {
    screen
        .lines()
        .find_map(|l| {
            l.find("┌ logs ")
                .or_else(|| l.find("┏ logs "))
                .map(|i| l[i..].to_string())
        })
        .unwrap_or_default()
}

/// Pods of a deployment that crash-loops after an update: two of the old ReplicaSet that serve,
/// one of the new that fails at start, restarts and waits in CrashLoopBackOff, plus another
/// deployment's pod.
struct CrashLooping {
    pods: kube::Api<k8s_openapi::api::core::v1::Pod>,
    crashing: String,
    healthy: Vec<String>,
}

async fn crash_loop(sb: &tollgate_sandbox::Sandbox) -> CrashLooping {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, Patch, PatchParams};
    let client = sb.client();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let deployments: Api<Deployment> = Api::namespaced(client, "shop");
    let list = ListParams::default().labels("app=api-gateway");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ready = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().all(|c| c.ready))
    };
    // The old pods serve before the update.
    loop {
        let l = pods.list(&list).await.unwrap().items;
        if l.len() == 2 && l.iter().all(ready) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "api-gateway never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A pod counts as available after 10 s ready: the crashing one never does, and the rollout
    // stops with one new pod beside the two old ones.
    let patch = serde_json::json!({"spec": {"minReadySeconds": 10, "template": {"spec": {
        "containers": [{"name": "api-gateway", "image": "registry.local/api-gateway:1.1-crashloop"}]}}}});
    deployments
        .patch(
            "api-gateway",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .unwrap();
    loop {
        let l = pods.list(&list).await.unwrap().items;
        let restarts = |p: &Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.first())
                .map_or(0, |c| c.restart_count)
        };
        let crashing: Vec<&Pod> = l.iter().filter(|p| restarts(p) >= 2).collect();
        if l.len() == 3 && crashing.len() == 1 {
            let crashing = crashing[0].metadata.name.clone().unwrap();
            let healthy = l
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .filter(|n| *n != crashing)
                .collect::<Vec<String>>();
            // As an API server answers: a pod that has not restarted has no previous log.
            let previous = kube::api::LogParams {
                previous: true,
                ..Default::default()
            };
            match pods.logs(&healthy[0], &previous).await {
                Err(kube::Error::Api(s)) => {
                    assert_eq!(s.code, 400);
                    assert!(
                        s.message.starts_with("previous terminated container"),
                        "{}",
                        s.message
                    );
                }
                other => panic!("previous log of a pod that has not restarted: {other:?}"),
            }
            let text = pods.logs(&crashing, &previous).await.unwrap();
            assert!(text.contains("FATAL startup check failed"), "{text}");
            return CrashLooping {
                pods,
                crashing,
                healthy,
            };
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pod crash-looped: {:?}",
            l.iter()
                .map(|p| (&p.metadata.name, restarts(p)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const WATCH_RUNBOOK: &str = r#"
name: api-gateway watch
targets:
  kube: { context: shop-prod, namespace: shop }
phases:
  - id: watch
    title: Watch api-gateway
    steps:
      - id: hold
        title: hold while the logs are read
        run: sleep 120
      - id: rollout
        run:
          kube.rollout_status: { deployment: api-gateway }
"#;

/// Waits until the logs pane shows lines only of `pod` and a line newer than every line shown
/// when called: the pane follows.
fn keeps_arriving(t: &Tmux, pod: &str) -> String {
    let first = t.wait("main", &format!("lines of {pod}"), |s| {
        !log_lines(s).is_empty()
    });
    let newest = log_lines(&first)
        .into_iter()
        .map(|l| l.time)
        .max()
        .unwrap_or_default();
    t.wait("main", &format!("new lines of {pod} after {newest}"), |s| {
        let lines = log_lines(s);
        for l in &lines {
            assert_eq!(l.pod, pod, "a line of another pod under pod/{pod}:\n{s}");
        }
        logs_title(s).contains("following") && lines.iter().any(|l| l.time > newest)
    })
}

/// `F` with the logs pane focused: only the lines with `FATAL`.
fn only_fatal(t: &Tmux) {
    t.keys("main", &["F"]);
    t.type_text("main", "FATAL");
    t.press("main", &["Enter"], "the filter", |s| {
        logs_title(s).contains("· filter \"FATAL\"")
    });
}

#[test]
fn each_pods_logs_and_its_previous_instance_in_a_crash_loop() {
    if !tmux_installed() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fixture_file = dir.path().join("cluster.yaml");
    std::fs::write(
        &fixture_file,
        shop_fixture(
            "shop",
            &[
                ("api-gateway", 2, "registry.local/api-gateway:1.0"),
                ("web", 1, "registry.local/web:1.0"),
            ],
        ),
    )
    .unwrap();
    let sb = rt
        .block_on(tollgate_sandbox::Sandbox::start(tollgate_sandbox::Config {
            fixtures: vec![fixture_file],
            ..tollgate_sandbox::Config::fast()
        }))
        .unwrap();
    let c = rt.block_on(crash_loop(&sb));
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, sb.kubeconfig_for("shop", "shop-prod")).unwrap();
    let runbook = dir.path().join("watch.yaml");
    std::fs::write(&runbook, WATCH_RUNBOOK).unwrap();

    let t = run_in_tmux("crashloop", dir.path(), &kubeconfig, &runbook);

    // The deployment's logs: its three pods, the crash-looping one among them (its lines are
    // few among the others': `F` shows only its failures).
    let short = c.crashing.trim_start_matches("api-gateway-").to_string();
    t.wait("main", "the deployment's logs", |s| {
        s.contains("hold while the logs are read")
            && logs_title(s).contains("logs deployment/api-gateway · 3 pods")
    });
    // The output pane has the focus at the start; two panes on, the logs. Its lines are read
    // zoomed (the whole width), with timestamps.
    t.keys("main", &["Tab", "Tab"]);
    zoom_logs(&t, "logs deployment/api-gateway · 3 pods · following");
    t.press("main", &["t"], "timestamps", |s| {
        logs_title(s).contains("times")
    });
    only_fatal(&t);
    t.wait("main", "a failure of the crashing pod", |s| {
        let lines = log_lines(s);
        lines.iter().all(|l| l.text.contains("FATAL")) && lines.iter().any(|l| l.pod == short)
    });
    t.press("main", &["Escape"], "no filter", |s| {
        !logs_title(s).contains("filter")
    });

    // `l` on the crash-looping pod: its lines only, and more as it restarts. Filtered, each
    // instance's failure once, in order.
    pick(&t, &c.crashing);
    keeps_arriving(&t, &c.crashing);
    only_fatal(&t);
    let screen = t.wait("main", "the crashing pod's failures", |s| {
        log_lines(s).len() >= 2
    });
    let lines = log_lines(&screen);
    assert!(
        lines
            .iter()
            .all(|l| l.pod == c.crashing && l.text.contains("FATAL")),
        "{screen}"
    );
    assert!(lines.windows(2).all(|w| w[0].time < w[1].time), "{screen}");
    t.press("main", &["Escape"], "no filter", |s| {
        !logs_title(s).contains("filter")
    });

    // `p`: the instance a kubelet serves as previous (what `kubectl logs --previous` prints),
    // read once; `p` again: the current one, followed.
    let previous_last = || {
        let text = rt
            .block_on(c.pods.logs(
                &c.crashing,
                &kube::api::LogParams {
                    previous: true,
                    timestamps: true,
                    ..Default::default()
                },
            ))
            .unwrap();
        let last = text.lines().last().unwrap().to_string();
        let (ts, _) = tollgate::live::logs::parse_line(&last);
        ts.unwrap().format("%H:%M:%S%.3f").to_string()
    };
    let before = previous_last();
    t.keys("main", &["p"]);
    let screen = t.wait("main", "the previous instance", |s| {
        logs_title(s).contains("previous instances")
            && log_lines(s).iter().any(|l| l.text.contains("FATAL"))
    });
    let after = previous_last();
    let lines = log_lines(&screen);
    assert!(lines.iter().all(|l| l.pod == c.crashing), "{screen}");
    let last = &lines.last().unwrap().time;
    assert!(
        *last == before || *last == after,
        "the previous instance ends at {before} (or {after} after a restart), the pane at {last}:\n{screen}"
    );
    t.press("main", &["p"], "the current instance again", |s| {
        logs_title(s).contains(&format!("logs pod/{} · 1 pod · following", c.crashing))
    });
    keeps_arriving(&t, &c.crashing);

    // Each healthy pod: its lines only, following; `p` on a pod that has not restarted says so
    // and goes on following.
    for pod in &c.healthy {
        pick(&t, pod);
        keeps_arriving(&t, pod);
        t.press("main", &["p"], "no previous instance", |s| {
            pane_rows(s)
                .iter()
                .any(|r| r.contains(&format!("pod/{pod} has no previous instance")))
        });
        keeps_arriving(&t, pod);
    }

    // `L` from a healthy pod: the deployment again, the crash-looping pod in it.
    unzoom(&t);
    t.keys("main", &["BTab"]);
    t.keys("main", &["L"]);
    t.keys("main", &["Tab"]);
    zoom_logs(&t, "logs deployment/api-gateway · 3 pods · following");
    only_fatal(&t);
    t.wait("main", "a failure of the crashing pod", |s| {
        log_lines(s).iter().any(|l| l.pod == short)
    });
    drop(t);
    drop(sb);
}

/// With the logs pane focused: `z`, until it fills the screen with `title`.
fn zoom_logs(t: &Tmux, title: &str) {
    t.press("main", &["z"], "the logs zoomed", |s| {
        let grid: Vec<Vec<char>> = s.lines().map(|l| l.chars().collect()).collect();
        logs_box(&grid).is_some_and(|(_, x)| x == 0) && logs_title(s).contains(title)
    });
}

fn unzoom(t: &Tmux) {
    t.press("main", &["z"], "the panes side by side", |s| {
        s.contains(" pods ")
    });
}

/// From the zoomed logs pane: the pods pane, the pod filtered and `l`; the logs pane zoomed
/// again on its logs.
fn pick(t: &Tmux, pod: &str) {
    unzoom(t);
    t.keys("main", &["BTab", "/"]);
    t.type_text("main", pod);
    t.press("main", &["Enter"], "the filter", |s| s.contains(" pods 1/"));
    t.keys("main", &["l"]);
    // The filter goes (a key of its own: an Escape with another key is Alt and that key); the
    // pod stays selected.
    t.press("main", &["Escape"], "no filter", |s| s.contains(" pods 4 "));
    t.keys("main", &["Tab"]);
    zoom_logs(t, &format!("logs pod/{pod} · 1 pod · following"));
}

#[test]
fn a_kubeconfig_that_does_not_exist_is_named() {
    if !tmux_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("watch.yaml");
    std::fs::write(&runbook, WATCH_RUNBOOK).unwrap();
    let missing = dir.path().join("gone").join("kubeconfig");
    let t = run_in_tmux("nokubeconfig", dir.path(), &missing, &runbook);
    let want = format!(
        "KUBECONFIG names {}, which does not exist",
        missing.display()
    );
    t.wait("main", "the missing kubeconfig named", |s| {
        // The message wraps inside the pods pane: read it across its rows.
        let flat: String = box_rows(s, "pods")
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect();
        let want: String = want.split_whitespace().collect();
        flat.contains(&want)
    });
}
