//! Log tails against the sandbox: every pod of a deployment with its own colour, pods joining and
//! leaving during a rollout, a crash-looping container followed across restarts, previous logs,
//! and an API server restart in the middle of a follow that loses and repeats nothing.
//!
//! Nothing waits by sleeping: every wait is on a condition, with a deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;
use tollgate::live::logs::{LogLine, LogsUpdate, Source, TailOptions, spawn_tail};
use tollgate_sandbox::{Config, Sandbox, Timing};

const DEADLINE: Duration = Duration::from_secs(30);

/// Everything a tail reported so far.
#[derive(Default, Debug)]
struct Seen {
    lines: Vec<LogLine>,
    joined: Vec<(String, String)>,
    left: Vec<(String, String)>,
    reconnecting: usize,
    errors: Vec<String>,
}

impl Seen {
    fn push(&mut self, u: LogsUpdate) {
        match u {
            LogsUpdate::Lines(l) => self.lines.extend(l),
            LogsUpdate::Joined { pod, container } => self.joined.push((pod, container)),
            LogsUpdate::Left { pod, container } => self.left.push((pod, container)),
            LogsUpdate::Reconnecting { .. } => self.reconnecting += 1,
            LogsUpdate::Error(e) => self.errors.push(e),
        }
    }

    fn pods_with_lines(&self) -> BTreeSet<String> {
        self.lines.iter().map(|l| l.pod.clone()).collect()
    }

    fn summary(&self) -> String {
        format!(
            "{} lines from {:?}; joined {:?}; left {:?}; {} reconnects; errors {:?}",
            self.lines.len(),
            self.pods_with_lines(),
            self.joined,
            self.left,
            self.reconnecting,
            self.errors
        )
    }
}

/// Applies updates from `rx` to `seen` until `done` holds; fails with `what` after the deadline.
async fn until(
    rx: &mut mpsc::Receiver<LogsUpdate>,
    seen: &mut Seen,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done(seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(u)) => seen.push(u),
            Ok(None) => panic!("the tail stopped before {what}: {}", seen.summary()),
            Err(_) => panic!("timed out waiting for {what}: {}", seen.summary()),
        }
    }
}

/// Polls `f` until it gives `Some`, with the deadline.
async fn wait_for<T, Fut: Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> Fut) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

fn pod(name: &str, image: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }))
    .expect("pod")
}

fn running(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some())
}

fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .map_or(0, |c| c.restart_count)
}

fn tail(
    client: &Client,
    source: Source,
    opts: TailOptions,
) -> (TailGuard, mpsc::Receiver<LogsUpdate>) {
    let (tx, rx) = mpsc::channel(64);
    (TailGuard(spawn_tail(client.clone(), source, opts, tx)), rx)
}

struct TailGuard(#[allow(dead_code)] tollgate::live::logs::TailHandle);

/// Writes `seq FROM` .. `seq TO` (not included) into the counter pod's log.
fn write(sb: &Sandbox, from: u32, to: u32) {
    for n in from..to {
        sb.logs()
            .append("default", "counter", "app", &format!("seq {n}"));
    }
}

fn deployment_source(name: &str) -> Source {
    Source::Deployment {
        namespace: "default".into(),
        name: name.into(),
    }
}

#[tokio::test]
async fn deployment_tail_colours_pods_and_follows_a_rollout() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deps.create(
        &PostParams::default(),
        &deployment("web", 3, "registry.local/web:1.0"),
    )
    .await
    .unwrap();
    let (_tail, mut rx) = tail(&client, deployment_source("web"), TailOptions::default());
    let mut seen = Seen::default();
    until(&mut rx, &mut seen, "lines from 3 pods", |s| {
        s.pods_with_lines().len() == 3
    })
    .await;
    let sources: BTreeMap<String, usize> = seen
        .lines
        .iter()
        .map(|l| (l.pod.clone(), l.source))
        .collect();
    let distinct: BTreeSet<usize> = sources.values().copied().collect();
    assert_eq!(distinct.len(), 3, "one colour per pod: {sources:?}");
    for l in &seen.lines {
        assert_eq!(sources[&l.pod], l.source, "a pod keeps its colour");
        assert!(l.ts.is_some(), "{l:?}");
        let prefix = l.ts.unwrap().format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
        assert!(!l.text.contains(&prefix), "the timestamp is cut off: {l:?}");
        assert_eq!(l.container, "app");
    }
    assert!(
        seen.lines
            .iter()
            .any(|l| l.text.contains("starting web version=1.0")),
        "{}",
        seen.summary()
    );
    let old: BTreeSet<String> = sources.keys().cloned().collect();

    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "registry.local/web:2.0"}]}}}})),
    )
    .await
    .unwrap();
    until(
        &mut rx,
        &mut seen,
        "the new pods joined and the old ones left",
        |s| {
            let new_with_lines = s
                .lines
                .iter()
                .filter(|l| !old.contains(&l.pod) && l.text.contains("version=2.0"))
                .map(|l| l.pod.as_str())
                .collect::<BTreeSet<_>>()
                .len();
            let left: BTreeSet<&str> = s.left.iter().map(|(p, _)| p.as_str()).collect();
            new_with_lines == 3 && old.iter().all(|p| left.contains(p.as_str()))
        },
    )
    .await;
    let joined: BTreeSet<&str> = seen.joined.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(joined.len(), 6, "{}", seen.summary());
    // The old pods' last words (their shutdown) arrived before they left.
    for p in &old {
        assert!(
            seen.lines
                .iter()
                .any(|l| &l.pod == p && l.text.contains("SIGTERM")),
            "{p}: {}",
            seen.summary()
        );
    }
    let sources: BTreeSet<usize> = seen.lines.iter().map(|l| l.source).collect();
    assert_eq!(sources.len(), 6, "every pod has its own source index");
    let live: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert!(live.iter().all(|p| !old.contains(p)), "{live:?}");
    // No line was delivered twice.
    let mut count: HashMap<(&str, Option<chrono::DateTime<chrono::Utc>>, &str), usize> =
        HashMap::new();
    for l in &seen.lines {
        *count
            .entry((l.pod.as_str(), l.ts, l.text.as_str()))
            .or_default() += 1;
    }
    assert!(count.values().all(|&n| n == 1), "a line came twice");
}

#[tokio::test]
async fn crash_looping_container_is_followed_across_restarts_and_previous_reads_the_last_one() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod("crasher", "registry.local/crasher:crashloop"),
    )
    .await
    .unwrap();
    let source = Source::Pod {
        namespace: "default".into(),
        name: "crasher".into(),
    };
    let (_tail, mut rx) = tail(&client, source.clone(), TailOptions::default());
    let mut seen = Seen::default();
    until(&mut rx, &mut seen, "three runs of the container", |s| {
        s.lines
            .iter()
            .filter(|l| l.text.contains("starting crasher"))
            .count()
            >= 3
    })
    .await;
    let fatal = seen
        .lines
        .iter()
        .filter(|l| l.text.contains("FATAL startup check failed"))
        .count();
    assert!(fatal >= 2, "{}", seen.summary());
    assert!(seen.lines.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(seen.joined.len(), 1, "{}", seen.summary());
    assert!(seen.left.is_empty());

    // `previous` reads the instance before the current one, once.
    let p = pods.get("crasher").await.unwrap();
    assert!(restarts(&p) >= 2);
    let (_prev, mut rx) = tail(
        &client,
        source,
        TailOptions {
            previous: true,
            ..TailOptions::default()
        },
    );
    let mut prev = Seen::default();
    until(&mut rx, &mut prev, "the previous instance's log", |s| {
        s.lines.iter().any(|l| l.text.contains("FATAL"))
    })
    .await;
    assert!(
        prev.lines[0].text.contains("starting crasher"),
        "{}",
        prev.summary()
    );
    assert_eq!(
        prev.lines
            .iter()
            .filter(|l| l.text.contains("starting"))
            .count(),
        1,
        "one instance: {}",
        prev.summary()
    );
}

#[tokio::test]
async fn api_server_restart_mid_follow_loses_and_repeats_nothing() {
    let sb = Sandbox::start(Config {
        timing: Timing {
            speed: 50.0,
            log_rate: 0.0,
        },
        ..Config::default()
    })
    .await
    .expect("sandbox starts");
    let client = sb.client();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &pod("counter", "registry.local/counter:1.0"),
    )
    .await
    .unwrap();
    wait_for("the counter to run", || {
        let pods = pods.clone();
        async move { pods.get("counter").await.ok().filter(running) }
    })
    .await;
    let source = Source::Pod {
        namespace: "default".into(),
        name: "counter".into(),
    };
    let (_tail, mut rx) = tail(&client, source, TailOptions::default());
    let mut seen = Seen::default();
    let numbered = |s: &Seen| -> Vec<u32> {
        s.lines
            .iter()
            .filter_map(|l| l.text.strip_prefix("seq "))
            .map(|n| n.parse().unwrap())
            .collect()
    };
    until(&mut rx, &mut seen, "the startup lines", |s| {
        !s.lines.is_empty()
    })
    .await;
    write(&sb, 0, 500);
    until(&mut rx, &mut seen, "some numbered lines", |s| {
        numbered(s).len() >= 100
    })
    .await;
    sb.stop_api().await;
    write(&sb, 500, 1000);
    until(&mut rx, &mut seen, "the follow to notice the outage", |s| {
        s.reconnecting > 0
    })
    .await;
    write(&sb, 1000, 1500);
    sb.start_api().await.expect("the API server starts again");
    write(&sb, 1500, 2000);
    until(&mut rx, &mut seen, "every numbered line", |s| {
        numbered(s).last() == Some(&1999)
    })
    .await;
    let got = numbered(&seen);
    let mut counts = vec![0u32; 2000];
    for n in &got {
        counts[*n as usize] += 1;
    }
    let lost: Vec<usize> = (0..2000).filter(|&n| counts[n] == 0).collect();
    let twice: Vec<usize> = (0..2000).filter(|&n| counts[n] > 1).collect();
    assert!(lost.is_empty(), "lost {} lines: {lost:?}", lost.len());
    assert!(
        twice.is_empty(),
        "repeated {} lines: {twice:?}",
        twice.len()
    );
    assert_eq!(got, (0..2000).collect::<Vec<u32>>(), "in order");
    // The follow said it came back.
    assert!(seen.joined.len() >= 2, "{}", seen.summary());
}

#[tokio::test]
async fn job_tail_reads_finished_pods_and_since_leaves_out_older_lines() {
    let sb = Sandbox::start(Config::fast())
        .await
        .expect("sandbox starts");
    let client = sb.client();
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::default_namespaced(client.clone());
    let job = serde_json::from_value(json!({
        "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "registry.local/migrate:1.0"}],
        }}},
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let source = Source::Job {
        namespace: "default".into(),
        name: "migrate".into(),
    };
    assert_eq!(source.label(), "job/migrate");
    let (_tail, mut rx) = tail(&client, source.clone(), TailOptions::default());
    let mut seen = Seen::default();
    until(&mut rx, &mut seen, "the job's last line", |s| {
        s.lines
            .iter()
            .any(|l| l.text.contains("done: all work items"))
    })
    .await;
    assert!(
        seen.lines[0].text.contains("starting"),
        "{}",
        seen.summary()
    );
    assert!(seen.lines.iter().all(|l| l.container == "main"));
    assert!(seen.errors.is_empty(), "{}", seen.summary());

    // From the first line written after the first one's instant: nothing older comes.
    let first = seen.lines[0].ts.unwrap();
    let from = seen
        .lines
        .iter()
        .position(|l| l.ts.unwrap() > first)
        .expect("lines at two instants");
    let (_later, mut rx) = tail(
        &client,
        source,
        TailOptions {
            since: seen.lines[from].ts,
            ..TailOptions::default()
        },
    );
    let mut later = Seen::default();
    until(&mut rx, &mut later, "the job's last line again", |s| {
        s.lines
            .iter()
            .any(|l| l.text.contains("done: all work items"))
    })
    .await;
    let texts = |s: &Seen| s.lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&later), texts(&seen)[from..].to_vec());
}
