//! kubectl's verbs against the sandbox loaded with LabelMint's cluster: creating (kubectl sends
//! protobuf), `auth can-i`, exec's refusal, `top`, rollouts, scaling, waiting, following logs,
//! deleting, labelling and patching. Each test asserts what kubectl prints and what the cluster
//! holds afterwards.

use std::io::Read;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::kubectl::{Kubectl, Out};
use crate::common::sandbox_cluster::{Cluster, DEADLINE};
use tollgate_sandbox::Config;

const NS: &str = "labelmint-production";
const WEB: &str = "labelmint-web";
const WEB_IMAGE: &str = "288761728065.dkr.ecr.us-east-1.amazonaws.com/labelmint-web:9382583";

/// The sandbox with LabelMint's cluster, loaded before the controllers start as `tollgate sandbox
/// --fixture` does (so payment-backend is the deployment left Pending: the two nodes cannot hold
/// it), and a kubectl pointed at it (default namespace labelmint-production).
async fn labelmint() -> (Cluster, Kubectl) {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/labelmint/cluster.yaml");
    let config = Config {
        fixtures: vec![fixture],
        ..Config::fast()
    };
    let c = Cluster::start_with(config, "labelmint-rehearsal", NS).await;
    let k = Kubectl::new(&c.kubeconfig);
    (c, k)
}

/// Runs kubectl without holding up the sandbox's tasks.
fn run(k: &Kubectl, args: &[&str]) -> Out {
    tokio::task::block_in_place(|| k.run(args))
}

/// Runs kubectl; panics with its output unless it succeeded; its stdout.
#[track_caller]
fn ok(k: &Kubectl, args: &[&str]) -> String {
    let out = run(k, args);
    out.expect_ok(&format!("kubectl {}", args.join(" ")))
        .to_string()
}

/// `kubectl get ARGS -o jsonpath=PATH`.
#[track_caller]
fn jsonpath(k: &Kubectl, args: &[&str], path: &str) -> String {
    let p = format!("jsonpath={path}");
    let mut a = vec!["get"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-o", &p]);
    ok(k, &a)
}

/// Polls `cond` until it holds, failing with `what` after [`DEADLINE`].
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the LabelMint pods that fit to be Ready (payment-backend stays Pending: the nodes are
/// full).
fn web_ready(k: &Kubectl) {
    ok(
        k,
        &[
            "wait",
            "--for=condition=Available",
            "deployment/labelmint-web",
            "deployment/api-gateway",
            "--timeout=60s",
        ],
    );
}

/// Frees room for a surge pod: client-bot scaled to none, waiting for its pod to go.
fn make_room(k: &Kubectl) {
    let out = ok(k, &["scale", "deployment/client-bot", "--replicas=0"]);
    assert_eq!(out, "deployment.apps/client-bot scaled\n");
    ok(
        k,
        &[
            "wait",
            "--for=delete",
            "pod",
            "-l",
            "app=client-bot",
            "--timeout=60s",
        ],
    );
    assert_eq!(
        ok(k, &["get", "pods", "-l", "app=client-bot", "-o", "name"]),
        ""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_commands_send_protobuf_and_make_their_objects() {
    let (_c, k) = labelmint().await;
    let out = ok(
        &k,
        &[
            "create",
            "job",
            "smoke",
            // labelmint-production enforces Pod Security `restricted`: kubectl's bare pod
            // template would be refused there.
            "-n",
            "default",
            "--image=busybox",
            "--",
            "echo",
            "hi",
        ],
    );
    assert_eq!(out, "job.batch/smoke created\n");
    assert_eq!(
        jsonpath(
            &k,
            &["job", "smoke", "-n", "default"],
            "{.spec.template.spec.containers[0].command} {.spec.template.spec.restartPolicy}"
        ),
        r#"["echo","hi"] Never"#
    );
    ok(
        &k,
        &[
            "wait",
            "--for=condition=Complete",
            "job/smoke",
            "-n",
            "default",
            "--timeout=60s",
        ],
    );
    assert_eq!(
        jsonpath(
            &k,
            &["job", "smoke", "-n", "default"],
            "{.status.succeeded}"
        ),
        "1"
    );

    let out = ok(
        &k,
        &[
            "create",
            "deployment",
            "canary",
            "--image=nginx:1.27",
            "--replicas=3",
        ],
    );
    assert_eq!(out, "deployment.apps/canary created\n");
    assert_eq!(
        jsonpath(
            &k,
            &["deployment", "canary"],
            "{.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image}"
        ),
        "3 canary nginx:1.27"
    );

    let out = ok(
        &k,
        &[
            "create",
            "configmap",
            "flags",
            "--from-literal=mode=rehearsal",
        ],
    );
    assert_eq!(out, "configmap/flags created\n");
    assert_eq!(
        jsonpath(&k, &["configmap", "flags"], "{.data.mode}"),
        "rehearsal"
    );

    let out = ok(
        &k,
        &[
            "create",
            "secret",
            "generic",
            "token",
            "--from-literal=value=s3cret",
        ],
    );
    assert_eq!(out, "secret/token created\n");
    assert_eq!(
        jsonpath(&k, &["secret", "token"], "{.type} {.data.value}"),
        "Opaque czNjcmV0"
    );

    assert_eq!(
        ok(&k, &["create", "namespace", "rehearsal"]),
        "namespace/rehearsal created\n"
    );
    assert_eq!(
        jsonpath(&k, &["namespace", "rehearsal"], "{.status.phase}"),
        "Active"
    );

    // labelmint-production enforces Pod Security `restricted`: kubectl prints the API server's
    // refusal; the namespace just created enforces nothing.
    let refused = run(
        &k,
        &[
            "run",
            "probe",
            "--image=busybox",
            "--restart=Never",
            "--",
            "true",
        ],
    );
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.starts_with(
            "Error from server (Forbidden): pods \"probe\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"probe\" must set securityContext.allowPrivilegeEscalation=false)"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(
        ok(
            &k,
            &[
                "run",
                "probe",
                "-n",
                "rehearsal",
                "--image=busybox",
                "--restart=Never",
                "--",
                "true"
            ]
        ),
        "pod/probe created\n"
    );
    // A second create of the same name is refused as on a cluster.
    let again = run(&k, &["create", "configmap", "flags", "--from-literal=a=b"]);
    assert_eq!(again.code, Some(1));
    assert!(
        again
            .stderr
            .contains(r#"configmaps "flags" already exists"#),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_can_i_says_yes_and_lists_everything() {
    let (_c, k) = labelmint().await;
    assert_eq!(ok(&k, &["auth", "can-i", "create", "pods"]), "yes\n");
    assert_eq!(
        ok(
            &k,
            &[
                "auth",
                "can-i",
                "delete",
                "deployments",
                "-n",
                "kube-system"
            ]
        ),
        "yes\n"
    );
    assert_eq!(
        ok(&k, &["auth", "can-i", "*", "*", "--all-namespaces"]),
        "yes\n"
    );
    let list = ok(&k, &["auth", "can-i", "--list"]);
    let lines: Vec<Vec<&str>> = list
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec![
                "Resources",
                "Non-Resource",
                "URLs",
                "Resource",
                "Names",
                "Verbs"
            ],
            vec!["*.*", "[]", "[]", "[*]"],
            vec!["[*]", "[]", "[*]"],
        ],
        "{list}"
    );
    let who = ok(&k, &["auth", "whoami"]);
    assert!(who.contains("Username    tollgate-sandbox"), "{who}");
    assert!(who.contains("system:masters"), "{who}");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_attach_port_forward_and_debug_say_containers_are_simulated() {
    let (_c, k) = labelmint().await;
    web_ready(&k);
    let pod = ok(
        &k,
        &["get", "pods", "-l", "app=labelmint-web", "-o", "name"],
    );
    let pod = pod
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("pod/")
        .to_string();
    let out = run(&k, &["exec", &pod, "--", "ls", "/"]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error: unable to upgrade connection: pod {NS}/{pod}: the tollgate sandbox simulates containers and no command runs in them in a rehearsal; a runbook step says what its rehearsal does instead with `rehearse:`\n"
        )
    );
    let out = run(&k, &["port-forward", &pod, "8080:3000"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("simulates containers and no port is forwarded to them"),
        "{}",
        out.stderr
    );
    let out = run(&k, &["attach", &pod]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("simulates containers and there is no process to attach to"),
        "{}",
        out.stderr
    );
    let out = run(&k, &["debug", &pod, "--image=busybox"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains(&format!(
            "Error from server (BadRequest): pod {NS}/{pod}: the tollgate sandbox simulates containers and no debug container is started in them"
        )),
        "{}",
        out.stderr
    );
    let out = run(&k, &["exec", "no-such-pod", "--", "ls"]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        "Error from server (NotFound): pods \"no-such-pod\" not found\n"
    );
}

/// A quantity column of `kubectl top` ("123m", "456Mi") as a number.
fn amount(s: &str, unit: &str) -> i64 {
    s.strip_suffix(unit)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{s:?} is not a number of {unit}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn top_prints_usage_derived_from_requests() {
    let (_c, k) = labelmint().await;
    web_ready(&k);
    let pods = ok(&k, &["top", "pods", "-A"]);
    let mut lines = pods.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{pods}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let web: Vec<&Vec<&str>> = rows
        .iter()
        .filter(|r| r[1].starts_with("labelmint-web-"))
        .collect();
    assert_eq!(web.len(), 2, "{pods}");
    for r in &web {
        assert_eq!(r[0], NS);
        // labelmint-web requests 200m and 256Mi: it uses 55–95% of them.
        assert!((110..=190).contains(&amount(r[2], "m")), "{pods}");
        assert!((140..=244).contains(&amount(r[3], "Mi")), "{pods}");
    }
    assert_ne!(web[0][2..], web[1][2..], "two pods, two usages: {pods}");
    assert!(
        !rows.iter().any(|r| r[1].starts_with("payment-backend-")),
        "pending pods have no metrics: {pods}"
    );
    assert!(rows.iter().any(|r| r[0] == "monitoring"), "{pods}");

    let pod = web[0][1];
    let one = ok(&k, &["top", "pod", pod, "--containers"]);
    let rows: Vec<Vec<&str>> = one
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        "{one}"
    );
    assert_eq!(rows[1][..2], [pod, WEB], "{one}");
    assert_eq!(rows[1][2..], web[0][2..], "{one}");

    let pending = ok(
        &k,
        &["get", "pods", "-l", "app=payment-backend", "-o", "name"],
    );
    let pending = pending.lines().next().unwrap().trim_start_matches("pod/");
    let out = run(&k, &["top", "pod", pending]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        format!(
            "Error from server (NotFound): podmetrics.metrics.k8s.io \"{NS}/{pending}\" not found\n"
        )
    );

    let nodes = ok(&k, &["top", "nodes"]);
    let rows: Vec<Vec<&str>> = nodes
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
        "{nodes}"
    );
    assert_eq!(rows.len(), 3, "{nodes}");
    for r in &rows[1..] {
        assert!(r[0].ends_with(".ec2.internal"), "{nodes}");
        let cpu = amount(r[2], "%");
        let mem = amount(r[4], "%");
        assert!(
            (5..=100).contains(&cpu) && (20..=100).contains(&mem),
            "{nodes}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn set_image_rollout_status_history_undo_and_restart() {
    let (_c, k) = labelmint().await;
    web_ready(&k);
    make_room(&k);
    let out = ok(
        &k,
        &[
            "set",
            "image",
            "deployment/labelmint-web",
            "labelmint-web=ghcr.io/labelmint/web:v2",
        ],
    );
    assert_eq!(out, "deployment.apps/labelmint-web image updated\n");
    ok(
        &k,
        &[
            "annotate",
            "deployment/labelmint-web",
            "kubernetes.io/change-cause=web v2",
        ],
    );
    let status = ok(
        &k,
        &[
            "rollout",
            "status",
            "deployment/labelmint-web",
            "--timeout=60s",
        ],
    );
    assert!(
        status.ends_with("deployment \"labelmint-web\" successfully rolled out\n"),
        "{status}"
    );
    until("the old pods to go", || {
        jsonpath(
            &k,
            &["pods", "-l", "app=labelmint-web"],
            "{range .items[*]}{.spec.containers[0].image}{\"\\n\"}{end}",
        ) == "ghcr.io/labelmint/web:v2\nghcr.io/labelmint/web:v2\n"
    });

    let history = ok(&k, &["rollout", "history", "deployment/labelmint-web"]);
    assert_eq!(
        history,
        "deployment.apps/labelmint-web \nREVISION  CHANGE-CAUSE\n1         first production deploy, image tag 9382583\n2         web v2\n\n"
    );
    let rev2 = ok(
        &k,
        &[
            "rollout",
            "history",
            "deployment/labelmint-web",
            "--revision=2",
        ],
    );
    assert!(
        rev2.starts_with("deployment.apps/labelmint-web with revision #2\n"),
        "{rev2}"
    );
    assert!(rev2.contains("Image:\tghcr.io/labelmint/web:v2"), "{rev2}");

    assert_eq!(
        ok(&k, &["rollout", "undo", "deployment/labelmint-web"]),
        "deployment.apps/labelmint-web rolled back\n"
    );
    ok(
        &k,
        &[
            "rollout",
            "status",
            "deployment/labelmint-web",
            "--timeout=60s",
        ],
    );
    assert_eq!(
        jsonpath(
            &k,
            &["deployment", WEB],
            "{.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        format!("{WEB_IMAGE} 3")
    );
    let history = ok(&k, &["rollout", "history", "deployment/labelmint-web"]);
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");

    assert_eq!(
        ok(&k, &["rollout", "restart", "deployment/labelmint-web"]),
        "deployment.apps/labelmint-web restarted\n"
    );
    let restarted = jsonpath(
        &k,
        &["deployment", WEB],
        "{.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
    );
    assert!(
        restarted.ends_with('Z') && restarted.len() == 20,
        "{restarted}"
    );
    let status = ok(
        &k,
        &[
            "rollout",
            "status",
            "deployment/labelmint-web",
            "--timeout=60s",
        ],
    );
    assert!(status.ends_with("successfully rolled out\n"), "{status}");
    assert_eq!(
        jsonpath(
            &k,
            &["deployment", WEB],
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision} {.status.updatedReplicas}/{.status.replicas}"
        ),
        "4 2/2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scale_and_wait_for_conditions_and_deletion() {
    let (_c, k) = labelmint().await;
    assert_eq!(
        ok(
            &k,
            &[
                "wait",
                "--for=condition=Available",
                "deploy/labelmint-web",
                "--timeout=60s"
            ]
        ),
        "deployment.apps/labelmint-web condition met\n"
    );
    assert_eq!(
        ok(&k, &["scale", "deployment/labelmint-web", "--replicas=1"]),
        "deployment.apps/labelmint-web scaled\n"
    );
    assert_eq!(
        ok(
            &k,
            &[
                "wait",
                "--for=jsonpath={.status.replicas}=1",
                "deploy/labelmint-web",
                "--timeout=60s"
            ]
        ),
        "deployment.apps/labelmint-web condition met\n"
    );
    assert_eq!(
        jsonpath(
            &k,
            &[
                "pods",
                "-l",
                "app=labelmint-web",
                "--field-selector=status.phase=Running"
            ],
            "{.items[*].status.phase}"
        ),
        "Running"
    );
    // --current-replicas is a precondition, checked as kubectl does.
    let out = run(
        &k,
        &[
            "scale",
            "deployment/labelmint-web",
            "--current-replicas=3",
            "--replicas=2",
        ],
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("Expected replicas to be 3, was 1"),
        "{}",
        out.stderr
    );
    make_room(&k);
    // A condition that never comes: kubectl's timeout, exit 1.
    let out = run(
        &k,
        &[
            "wait",
            "--for=condition=Complete",
            "deploy/api-gateway",
            "--timeout=1s",
        ],
    );
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        "error: timed out waiting for the condition on deployments/api-gateway\n"
    );
}

/// Reads a running kubectl's output to its end on a thread of its own.
fn collect(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_one_pod_until_a_rollout_stops_it() {
    let (_c, k) = labelmint().await;
    web_ready(&k);
    make_room(&k);
    let mut follow = k.spawn(&["logs", "-f", "deployment/labelmint-web"]);
    let stdout = collect(&mut follow);
    // Once kubectl follows, the pod it chose is in its stderr.
    let mut stderr = follow.stderr.take().unwrap();
    let mut first = [0u8; 64];
    let n = tokio::task::block_in_place(|| stderr.read(&mut first)).unwrap();
    let note = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(
        note.starts_with("Found 2 pods, using pod/labelmint-web-"),
        "{note}"
    );
    ok(
        &k,
        &[
            "set",
            "image",
            "deployment/labelmint-web",
            "labelmint-web=ghcr.io/labelmint/web:v2",
        ],
    );
    ok(
        &k,
        &[
            "rollout",
            "status",
            "deployment/labelmint-web",
            "--timeout=60s",
        ],
    );
    // The followed pod is replaced: its log ends and kubectl with it, exit 0.
    let status = tokio::task::block_in_place(|| {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(s) = follow.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > end {
                let _ = follow.kill();
                panic!("kubectl logs -f still follows after the rollout");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    assert!(status.success(), "{status}");
    let out = stdout.join().unwrap();
    assert!(
        out.lines()
            .next()
            .is_some_and(|l| l.ends_with("INFO  starting labelmint-web version=9382583")),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("INFO  received SIGTERM, shutting down gracefully"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_cascades_to_replicasets_and_pods() {
    let (_c, k) = labelmint().await;
    web_ready(&k);
    assert_eq!(
        ok(&k, &["delete", "deployment", "worker-bot"]),
        format!("deployment.apps \"worker-bot\" deleted from {NS} namespace\n")
    );
    let gone = run(&k, &["get", "deployment", "worker-bot"]);
    assert_eq!(
        gone.stderr,
        "Error from server (NotFound): deployments.apps \"worker-bot\" not found\n"
    );
    until("worker-bot's replica set and pod to be collected", || {
        ok(
            &k,
            &["get", "rs,pods", "-l", "app=worker-bot", "-o", "name"],
        )
        .is_empty()
    });

    // --cascade=orphan leaves the replica set (and its pods) running.
    ok(
        &k,
        &[
            "delete",
            "deployment",
            "labeling-backend",
            "--cascade=orphan",
        ],
    );
    let rs = ok(
        &k,
        &["get", "rs", "-l", "app=labeling-backend", "-o", "name"],
    );
    assert!(rs.starts_with("replicaset.apps/labeling-backend-"), "{rs}");
    assert_eq!(
        jsonpath(
            &k,
            &["rs", "-l", "app=labeling-backend"],
            "{.items[0].metadata.ownerReferences}"
        ),
        ""
    );

    // Deleting a pod a replica set owns: it is replaced.
    let pod = ok(&k, &["get", "pods", "-l", "app=api-gateway", "-o", "name"]);
    let pod = pod.lines().next().unwrap().to_string();
    let out = ok(&k, &["delete", &pod, "--wait=true"]);
    assert_eq!(
        out,
        format!(
            "{} deleted from {NS} namespace\n",
            pod.replacen("pod/", "pod \"", 1) + "\""
        )
    );
    let name = pod.trim_start_matches("pod/").to_string();
    until("a replacement api-gateway pod", || {
        let names = jsonpath(
            &k,
            &["pods", "-l", "app=api-gateway"],
            "{.items[*].metadata.name}",
        );
        names.split_whitespace().count() == 2 && !names.contains(&name)
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn label_annotate_and_patch() {
    let (_c, k) = labelmint().await;
    let d = "deployment/labelmint-web";
    assert_eq!(
        ok(&k, &["label", d, "tier=web"]),
        "deployment.apps/labelmint-web labeled\n"
    );
    let out = run(&k, &["label", d, "tier=edge"]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        "error: 'tier' already has a value (web), and --overwrite is false\n"
    );
    ok(&k, &["label", d, "tier=edge", "--overwrite"]);
    assert_eq!(jsonpath(&k, &[d], "{.metadata.labels.tier}"), "edge");
    assert_eq!(
        ok(&k, &["label", d, "tier-"]),
        "deployment.apps/labelmint-web unlabeled\n"
    );
    assert_eq!(jsonpath(&k, &[d], "{.metadata.labels.tier}"), "");
    assert_eq!(
        ok(&k, &["annotate", d, "runbook=rollback-application"]),
        "deployment.apps/labelmint-web annotated\n"
    );
    ok(&k, &["annotate", d, "runbook=deploy", "--overwrite"]);
    assert_eq!(
        jsonpath(&k, &[d], "{.metadata.annotations.runbook}"),
        "deploy"
    );
    ok(&k, &["annotate", d, "runbook-"]);
    assert_eq!(jsonpath(&k, &[d], "{.metadata.annotations.runbook}"), "");
    // Labels on many objects at once, by selector.
    let out = ok(
        &k,
        &["label", "pods", "-l", "app=labelmint-web", "rehearsed=yes"],
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(
        jsonpath(
            &k,
            &["pods", "-l", "rehearsed=yes"],
            "{.items[*].metadata.labels.app}"
        ),
        "labelmint-web labelmint-web"
    );

    assert_eq!(
        ok(
            &k,
            &[
                "patch",
                d,
                "--type=merge",
                "-p",
                r#"{"spec":{"minReadySeconds":5}}"#
            ]
        ),
        "deployment.apps/labelmint-web patched\n"
    );
    ok(
        &k,
        &[
            "patch",
            d,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]"#,
        ],
    );
    // Strategic merge: the container list merges by name, keeping what the patch leaves out.
    ok(
        &k,
        &[
            "patch",
            d,
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"labelmint-web","env":[{"name":"MODE","value":"rehearsal"}]}]}}}}"#,
        ],
    );
    assert_eq!(
        jsonpath(
            &k,
            &[d],
            "{.spec.minReadySeconds} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].resources.requests.cpu} {.spec.template.spec.containers[0].env[?(@.name==\"MODE\")].value}"
        ),
        format!("5 3 {WEB_IMAGE} 200m rehearsal")
    );
    let out = run(
        &k,
        &[
            "patch",
            d,
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/nope"}]"#,
        ],
    );
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.starts_with("The request is invalid"),
        "{}",
        out.stderr
    );
    // No change: kubectl says so.
    assert_eq!(
        ok(
            &k,
            &[
                "patch",
                d,
                "--type=merge",
                "-p",
                r#"{"spec":{"minReadySeconds":5}}"#
            ]
        ),
        "deployment.apps/labelmint-web patched (no change)\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cordon_and_drain_a_node() {
    let (_c, k) = labelmint().await;
    web_ready(&k);
    let node = "ip-10-0-1-23.ec2.internal";
    assert_eq!(ok(&k, &["cordon", node]), format!("node/{node} cordoned\n"));
    assert_eq!(
        jsonpath(&k, &["node", node], "{.spec.unschedulable}"),
        "true"
    );
    let out = ok(
        &k,
        &[
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=60s",
        ],
    );
    assert!(out.ends_with(&format!("node/{node} drained\n")), "{out}");
    // Evicted through pods/eviction, as drain does where discovery lists it.
    let evicting = out
        .lines()
        .filter(|l| l.starts_with("evicting pod "))
        .count();
    let evicted = out
        .lines()
        .filter(|l| l.starts_with("pod/") && l.ends_with(" evicted"))
        .count();
    assert!(evicting > 0 && evicting == evicted, "{out}");
    until("no pod left on the drained node", || {
        ok(
            &k,
            &[
                "get",
                "pods",
                "-A",
                "--field-selector",
                &format!("spec.nodeName={node}"),
                "-o",
                "name",
            ],
        )
        .is_empty()
    });
    assert_eq!(
        ok(&k, &["uncordon", node]),
        format!("node/{node} uncordoned\n")
    );
    assert_eq!(jsonpath(&k, &["node", node], "{.spec.unschedulable}"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_in_the_foreground_returns_once_the_pods_are_gone() {
    let (_c, k) = labelmint().await;
    web_ready(&k);
    let pods = ok(&k, &["get", "pods", "-l", "app=api-gateway", "-o", "name"]);
    assert_eq!(pods.lines().count(), 2, "api-gateway runs two pods: {pods}");
    // kubectl waits for the deployment to go; in the foreground it goes only after its replica
    // set, which goes only after its pods have terminated.
    assert_eq!(
        ok(
            &k,
            &[
                "delete",
                "deployment",
                "api-gateway",
                "--cascade=foreground"
            ]
        ),
        format!("deployment.apps \"api-gateway\" deleted from {NS} namespace\n")
    );
    assert_eq!(
        ok(
            &k,
            &["get", "rs,pods", "-l", "app=api-gateway", "-o", "name"]
        ),
        "",
        "nothing of api-gateway is left, not even terminating"
    );
}

/// CronJobs are served (no schedule runs them in the sandbox): `kubectl create cronjob`, `get
/// cronjobs` with kubectl's columns, and `create job --from=cronjob/…` (what runbooks use to run
/// a CronJob's job by hand) makes a Job from its template, owned by it, that runs to Complete.
#[tokio::test(flavor = "multi_thread")]
async fn a_cronjobs_job_is_created_from_it_by_hand_and_runs() {
    let (_c, k) = labelmint().await;
    let out = ok(
        &k,
        &[
            "create",
            "cronjob",
            "db-migrate",
            "-n",
            "default",
            "--image=registry.example.com/migrate:1.5.0",
            "--schedule=0 2 * * *",
            "--",
            "npm",
            "run",
            "migrate",
        ],
    );
    assert_eq!(out, "cronjob.batch/db-migrate created\n");
    let table = ok(&k, &["get", "cronjobs", "-n", "default"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"
        ],
        "{table}"
    );
    assert!(
        table.lines().nth(1).is_some_and(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            c[..9]
                == [
                    "db-migrate",
                    "0",
                    "2",
                    "*",
                    "*",
                    "*",
                    "<none>",
                    "False",
                    "0",
                ]
        }),
        "{table}"
    );
    let out = ok(
        &k,
        &[
            "create",
            "job",
            "--from=cronjob/db-migrate",
            "db-migrate-1.5.0",
            "-n",
            "default",
        ],
    );
    assert_eq!(out, "job.batch/db-migrate-1.5.0 created\n");
    assert_eq!(
        jsonpath(
            &k,
            &["job", "db-migrate-1.5.0", "-n", "default"],
            "{.spec.template.spec.containers[0].image} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}"
        ),
        "registry.example.com/migrate:1.5.0 CronJob/db-migrate manual"
    );
    ok(
        &k,
        &[
            "wait",
            "--for=condition=Complete",
            "job/db-migrate-1.5.0",
            "-n",
            "default",
            "--timeout=60s",
        ],
    );
}

/// The sandbox serves every Ingress on its traffic port, on 127.0.0.1, and publishes that address
/// in the Ingress's status as an ingress controller does (Argo CD's Ingress health waits for it):
/// `kubectl get ingress` shows it.
#[tokio::test(flavor = "multi_thread")]
async fn an_ingress_gets_the_address_it_is_served_on() {
    let (_c, k) = labelmint().await;
    let out = ok(
        &k,
        &[
            "create",
            "ingress",
            "shop",
            "-n",
            "default",
            "--rule=shop.example.com/=shop:80",
        ],
    );
    assert_eq!(out, "ingress.networking.k8s.io/shop created\n");
    assert_eq!(
        jsonpath(
            &k,
            &["ingress", "shop", "-n", "default"],
            "{.status.loadBalancer.ingress[0].ip}"
        ),
        "127.0.0.1"
    );
    let table = ok(&k, &["get", "ingress", "shop", "-n", "default"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row[..5],
        ["shop", "<none>", "shop.example.com", "127.0.0.1", "80"],
        "{table}"
    );
}
