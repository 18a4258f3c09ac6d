//! `kubectl get` and `kubectl describe` against the sandbox loaded with LabelMint's cluster: the
//! columns and rows a real cluster's tables give (the sandbox serves `meta.k8s.io/v1` Tables),
//! `-o wide`, `-A`, labels, a crash-looping pod, a watch, and describe's Events.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_sandbox::Config;
use tollgate_sandbox::resources::by_kind;

use crate::common::kubectl::Kubectl;
use crate::common::sandbox_cluster::{Cluster, DEADLINE};

const NS: &str = "labelmint-production";
/// What Pod Security `restricted` (enforced in labelmint-production) asks of a pod and its
/// container, as flow-style YAML.
const RESTRICTED_POD: &str = "securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}";
const RESTRICTED_CONTAINER: &str =
    "securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}";

/// The sandbox with LabelMint's cluster, its deployments rolled out as far as they go (the two
/// payment-backend pods stay Pending: the nodes have no memory left), and a kubectl.
async fn labelmint() -> (Cluster, Kubectl) {
    // Loaded at start, as `tollgate sandbox --fixture` does: the cluster has LabelMint's two nodes
    // and no other.
    let config = Config {
        fixtures: vec![
            Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/labelmint/cluster.yaml"),
        ],
        ..Config::fast()
    };
    let c = Cluster::start_with(config, "labelmint-rehearsal", NS).await;
    let store = c.sb.store().clone();
    let rt = by_kind("Deployment");
    until("LabelMint's deployments to roll out", || {
        let (items, _) = store.list(rt, Some(NS), &|_| true);
        let done = items.len() == 6
            && items.iter().all(|d| {
                let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
                let name = d["metadata"]["name"].as_str().unwrap_or("");
                let ready = d["status"]["readyReplicas"].as_i64().unwrap_or(0);
                d["status"]["updatedReplicas"].as_i64() == Some(want)
                    && (ready == want || name == "payment-backend")
            });
        done.then_some(())
    });
    let k = Kubectl::new(&c.kubeconfig);
    (c, k)
}

/// Polls `f` until it gives a value, failing with `what` after the deadline.
#[track_caller]
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A table as kubectl prints it: the header's column names and each row's cells, cut at the
/// columns' starts (kubectl pads columns with at least three spaces).
struct Printed {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    text: String,
}

impl Printed {
    fn parse(text: &str) -> Printed {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let head = lines.next().unwrap_or("");
        let mut starts = Vec::new();
        let mut header = Vec::new();
        let bytes = head.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b' ' {
                let start = i;
                // A column name may hold single spaces ("LAST SEEN", "NOMINATED NODE").
                while i < bytes.len() && !(bytes[i] == b' ' && bytes.get(i + 1) == Some(&b' ')) {
                    i += 1;
                }
                starts.push(start);
                header.push(head[start..i].trim().to_string());
            }
            i += 1;
        }
        let rows = lines
            .map(|l| {
                (0..starts.len())
                    .map(|c| {
                        let from = starts[c].min(l.len());
                        let to = starts.get(c + 1).map_or(l.len(), |&e| e.min(l.len()));
                        l.get(from..to).unwrap_or("").trim().to_string()
                    })
                    .collect()
            })
            .collect();
        Printed {
            header,
            rows,
            text: text.to_string(),
        }
    }

    /// The row whose `column` starts with `prefix`.
    #[track_caller]
    fn row(&self, column: &str, prefix: &str) -> Vec<String> {
        let i = self.column(column);
        self.rows
            .iter()
            .find(|r| r[i].starts_with(prefix))
            .unwrap_or_else(|| panic!("no row with {column} {prefix}… in\n{}", self.text))
            .clone()
    }

    #[track_caller]
    fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in\n{}", self.text))
    }

    fn cell(&self, row: &[String], name: &str) -> String {
        row[self.column(name)].clone()
    }
}

fn get(k: &Kubectl, args: &[&str]) -> Printed {
    let out = k.run(args);
    Printed::parse(out.expect_ok(&format!("kubectl {}", args.join(" "))))
}

/// An age as kubectl prints it, e.g. `7s`, `2m5s`.
fn is_age(s: &str) -> bool {
    let digits_then = |s: &str, units: &[char]| {
        let t = s.trim_end_matches(|c: char| units.contains(&c) || c.is_ascii_digit());
        t.is_empty() && s.chars().next().is_some_and(|c| c.is_ascii_digit())
    };
    digits_then(s, &['s', 'm', 'h'])
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_pods_prints_ready_status_restarts_and_age() {
    let (_c, k) = labelmint().await;
    let t = get(&k, &["get", "pods"]);
    assert_eq!(
        t.header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{}",
        t.text
    );
    assert_eq!(t.rows.len(), 10, "{}", t.text);
    let gw = t.row("NAME", "api-gateway-");
    assert_eq!(gw[1..4], ["1/1", "Running", "0"], "{}", t.text);
    assert!(is_age(&gw[4]), "{}", t.text);
    let pay = t.row("NAME", "payment-backend-");
    assert_eq!(pay[1..4], ["0/1", "Pending", "0"], "{}", t.text);

    // One pod by name is a table of one row.
    let one = get(&k, &["get", "pod", &gw[0]]);
    assert_eq!(one.header, t.header);
    assert_eq!(one.rows.len(), 1);
    assert_eq!(one.rows[0][..3], gw[..3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_workloads_prints_their_columns() {
    let (c, k) = labelmint().await;
    let t = get(&k, &["get", "deployments"]);
    assert_eq!(
        t.header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{}",
        t.text
    );
    assert_eq!(t.row("NAME", "api-gateway")[1..4], ["2/2", "2", "2"]);
    assert_eq!(t.row("NAME", "payment-backend")[1..4], ["0/2", "2", "0"]);

    let t = get(&k, &["get", "rs"]);
    assert_eq!(
        t.header,
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        "{}",
        t.text
    );
    assert_eq!(t.row("NAME", "labelmint-web-")[1..4], ["2", "2", "2"]);
    assert_eq!(t.row("NAME", "payment-backend-")[1..4], ["2", "2", "0"]);

    c.load(&format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: db-migrate, namespace: {NS}}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      {RESTRICTED_POD}\n      containers: [{{name: migrate, image: \"labelmint-backend:9382583\", {RESTRICTED_CONTAINER}}}]\n"
    ));
    let t = until("the job to complete", || {
        let t = get(&k, &["get", "jobs"]);
        (t.rows.first().map(|r| r[1].as_str()) == Some("Complete")).then_some(t)
    });
    assert_eq!(
        t.header,
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        "{}",
        t.text
    );
    let job = t.row("NAME", "db-migrate");
    assert_eq!(job[1..3], ["Complete", "1/1"]);
    assert!(is_age(&job[3]) && is_age(&job[4]), "{}", t.text);
    let pods = get(&k, &["get", "pods", "-l", "job-name=db-migrate"]);
    assert_eq!(
        pods.row("NAME", "db-migrate-")[1..4],
        ["0/1", "Completed", "0"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_nodes_namespaces_services_config_secrets_ingresses_and_events() {
    let (_c, k) = labelmint().await;
    let t = get(&k, &["get", "nodes"]);
    assert_eq!(t.header, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    let n = t.row("NAME", "ip-10-0-1-23.ec2.internal");
    assert_eq!(n[1..3], ["Ready", "<none>"]);
    assert_eq!(n[4], "v1.28.15-eks-aeac579");

    let t = get(&k, &["get", "ns"]);
    assert_eq!(t.header, ["NAME", "STATUS", "AGE"]);
    assert_eq!(t.row("NAME", NS)[1], "Active");
    assert_eq!(t.rows.len(), 9, "{}", t.text);

    let t = get(&k, &["get", "svc"]);
    assert_eq!(
        t.header,
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let svc = t.row("NAME", "api-gateway");
    assert_eq!(svc[1], "ClusterIP");
    assert!(svc[2].starts_with("10."), "{}", t.text);
    assert_eq!(svc[3..5], ["<none>", "3104/TCP"]);

    let t = get(&k, &["get", "configmaps"]);
    assert_eq!(t.header, ["NAME", "DATA", "AGE"]);
    assert_eq!(t.row("NAME", "app-config")[1], "24");
    let t = get(&k, &["get", "secrets"]);
    assert_eq!(t.header, ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(t.row("NAME", "app-secrets")[1..3], ["Opaque", "10"]);
    let t = get(&k, &["get", "ingresses"]);
    assert_eq!(
        t.header,
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    );
    assert_eq!(
        t.row("NAME", "api-gateway")[1..3],
        ["nginx", "api.labelmint.dev"]
    );

    let t = get(&k, &["get", "events"]);
    assert_eq!(
        t.header,
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{}",
        t.text
    );
    let e = t.row("REASON", "ScalingReplicaSet");
    assert_eq!(e[1], "Normal");
    assert_eq!(t.cell(&e, "OBJECT"), "deployment/api-gateway");
    assert!(
        t.cell(&e, "MESSAGE")
            .starts_with("Scaled up replica set api-gateway-"),
        "{}",
        t.text
    );
    let sched = t.row("REASON", "FailedScheduling");
    assert_eq!(sched[1], "Warning");
    assert!(
        sched[4].contains("Insufficient memory"),
        "the scheduler's finding: {}",
        t.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_wide_adds_the_priority_columns() {
    let (_c, k) = labelmint().await;
    let t = get(&k, &["get", "pods", "-o", "wide"]);
    assert_eq!(
        t.header,
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ],
        "{}",
        t.text
    );
    let gw = t.row("NAME", "api-gateway-");
    assert!(gw[5].starts_with("10.244."), "{}", t.text);
    assert!(gw[6].starts_with("ip-10-0-"), "{}", t.text);
    assert_eq!(gw[7..9], ["<none>", "<none>"]);
    let pay = t.row("NAME", "payment-backend-");
    assert_eq!(pay[5..7], ["<none>", "<none>"], "not scheduled: {}", t.text);

    let t = get(&k, &["get", "deploy", "-o", "wide"]);
    assert_eq!(
        t.header[5..],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        "{}",
        t.text
    );
    let d = t.row("NAME", "api-gateway");
    assert_eq!(d[5], "api-gateway");
    assert_eq!(
        d[6],
        "288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-backend:9382583"
    );
    assert_eq!(d[7], "app=api-gateway");

    let t = get(&k, &["get", "nodes", "-o", "wide"]);
    assert_eq!(
        t.header[5..],
        [
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    let n = t.row("NAME", "ip-10-0-1-23.ec2.internal");
    assert_eq!(n[5..8], ["10.0.1.23", "<none>", "Amazon Linux 2"]);
    assert_eq!(n[9], "containerd://1.7.22");
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_all_namespaces_with_selectors_and_labels() {
    let (_c, k) = labelmint().await;
    let t = get(&k, &["get", "pods", "-A"]);
    assert_eq!(
        t.header,
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{}",
        t.text
    );
    let g = t.row("NAME", "grafana-");
    assert_eq!(g[0], "monitoring");
    assert_eq!(g[2..5], ["1/1", "Running", "0"]);
    assert_eq!(t.row("NAME", "api-gateway-")[0], NS);
    assert_eq!(t.rows.len(), 17, "{}", t.text);

    let t = get(
        &k,
        &[
            "get",
            "pods",
            "-A",
            "-l",
            "app=api-gateway",
            "--show-labels",
        ],
    );
    assert_eq!(t.header.last().map(String::as_str), Some("LABELS"));
    assert_eq!(t.rows.len(), 2, "{}", t.text);
    for r in &t.rows {
        assert!(
            r[6].contains("app=api-gateway") && r[6].contains("pod-template-hash="),
            "{}",
            t.text
        );
    }

    let t = get(&k, &["get", "deploy", "-L", "app.kubernetes.io/component"]);
    assert_eq!(t.header.last().map(String::as_str), Some("COMPONENT"));
    assert_eq!(t.row("NAME", "api-gateway")[5], "gateway");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_pod_shows_crash_loop_back_off_and_when_it_restarted() {
    let (c, k) = labelmint().await;
    c.load(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: crashy, namespace: {NS}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: crashy}}}}\n  template:\n    metadata: {{labels: {{app: crashy}}}}\n    spec:\n      {RESTRICTED_POD}\n      containers: [{{name: crashy, image: \"labelmint-backend:crashloop\", {RESTRICTED_CONTAINER}}}]\n"
    ));
    let (t, row) = until("the pod to crash-loop", || {
        let t = get(&k, &["get", "pods", "-l", "app=crashy"]);
        let row = t.rows.first()?.clone();
        (row[2] == "CrashLoopBackOff" && row[3] != "0").then_some((t, row))
    });
    assert_eq!(row[1], "0/1", "{}", t.text);
    // "N (Xs ago)": how many restarts, and how long ago the last one ended.
    let (count, ago) = row[3]
        .split_once(" (")
        .unwrap_or_else(|| panic!("{}", t.text));
    assert!(count.parse::<u32>().is_ok_and(|n| n >= 1), "{}", t.text);
    assert!(ago.strip_suffix(" ago)").is_some_and(is_age), "{}", t.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_describe_shows_the_events_of_pods_deployments_and_nodes() {
    let (_c, k) = labelmint().await;
    let pod = get(&k, &["get", "pods", "-l", "app=api-gateway"]).rows[0][0].clone();
    let out = k.run(&["describe", "pod", &pod]);
    let text = out.expect_ok("kubectl describe pod");
    let events = text
        .split("\nEvents:")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    let t = Printed::parse(events);
    assert_eq!(
        t.header,
        ["Type", "Reason", "Age", "From", "Message"],
        "{text}"
    );
    let s = t.row("Reason", "Scheduled");
    assert_eq!(s[3], "default-scheduler");
    assert!(
        s[4].starts_with(&format!("Successfully assigned {NS}/{pod} to ip-10-0-")),
        "{text}"
    );
    assert_eq!(t.row("Reason", "Started")[3], "kubelet");

    let out = k.run(&["describe", "deployment", "api-gateway"]);
    let text = out.expect_ok("kubectl describe deployment");
    let events = text.split("\nEvents:").nth(1).unwrap_or("");
    let t = Printed::parse(events);
    let s = t.row("Reason", "ScalingReplicaSet");
    assert_eq!(s[3], "deployment-controller");
    assert!(
        s[4].starts_with("Scaled up replica set api-gateway-"),
        "{text}"
    );

    // A node's events: the kubelet's (the node's name as its uid) and the node controller's.
    let out = k.run(&["describe", "node", "ip-10-0-1-23.ec2.internal"]);
    let text = out.expect_ok("kubectl describe node");
    let events = text.split("\nEvents:").nth(1).unwrap_or("");
    let t = Printed::parse(events);
    assert_eq!(t.row("Reason", "Starting")[3], "kubelet", "{text}");
    assert_eq!(
        t.row("Reason", "NodeReady")[4],
        "Node ip-10-0-1-23.ec2.internal status is now: NodeReady"
    );
    assert_eq!(t.row("Reason", "RegisteredNode")[3], "node-controller");

    // The field selectors describe uses, as a table.
    let t = get(
        &k,
        &[
            "get",
            "events",
            "-A",
            "--field-selector",
            "involvedObject.kind=Node,involvedObject.name=ip-10-0-2-87.ec2.internal",
        ],
    );
    assert_eq!(t.rows.len(), 7, "{}", t.text);
    assert!(
        t.rows
            .iter()
            .all(|r| t.cell(r, "OBJECT") == "node/ip-10-0-2-87.ec2.internal"),
        "{}",
        t.text
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_watch_prints_a_row_for_each_change() {
    let (c, k) = labelmint().await;
    let mut child = k.spawn(&["get", "deployment", "client-bot", "-w"]);
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut next_until = |what: &str, done: &dyn Fn(&str) -> bool| {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) => {
                    seen.push(l.clone());
                    if done(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("no line for {what}; printed:\n{}", seen.join("\n")),
            }
        }
    };
    let header = next_until("the header", &|l| l.starts_with("NAME"));
    let t = Printed::parse(&header);
    assert_eq!(
        t.header,
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    let first = next_until("the first row", &|l| l.starts_with("client-bot"));
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>()[1..4],
        ["1/1", "1", "1"]
    );

    // Scale it: the watch prints the deployment again, as it changes.
    let rt = by_kind("Deployment");
    c.sb.store()
        .modify(
            rt,
            NS,
            "client-bot",
            tollgate_sandbox::store::Part::Main,
            |d| {
                d["spec"]["replicas"] = json!(0);
                Ok(())
            },
        )
        .expect("scaled");
    let scaled = next_until("a row with no replica wanted", &|l| {
        l.starts_with("client-bot") && l.contains("/0")
    });
    let cells: Vec<&str> = scaled.split_whitespace().collect();
    assert_eq!(cells.len(), 5, "{scaled}");
    let done = next_until("the replica gone", &|l| {
        l.split_whitespace().nth(1) == Some("0/0")
    });
    assert_eq!(
        done.split_whitespace().collect::<Vec<_>>()[1..4],
        ["0/0", "0", "0"]
    );
    assert_eq!(
        seen.iter().filter(|l| l.starts_with("NAME")).count(),
        1,
        "one header only:\n{}",
        seen.join("\n")
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
}
