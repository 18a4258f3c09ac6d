//! The columns and cells of the API server's table printers (Kubernetes'
//! `pkg/printers/internalversion`), per kind: what `kubectl get` shows against a real cluster.
//!
//! The server always prints every column, priority 1 included (kubectl shows those with `-o wide`);
//! a kind without a printer of its own gets NAME and AGE.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::object::{PointerLookup, int_at, name_of, str_at};

/// One column of a table, as `metav1.TableColumnDefinition`.
#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: "string", "integer", "boolean", "number", "date".
    pub kind: &'static str,
    /// "name" for the column holding the object's name, else "".
    pub format: &'static str,
    pub description: &'static str,
    /// 0: always shown; 1: shown by kubectl with `-o wide`.
    pub priority: u8,
}

const fn col(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 0,
    }
}

const fn wide(name: &'static str, kind: &'static str, description: &'static str) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 1,
    }
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: "Name must be unique within a namespace. It is required when creating resources and cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    priority: 0,
};
const AGE: Column = col(
    "Age",
    "string",
    "CreationTimestamp is a timestamp representing the server time when this object was created, in UTC; shown as the time since then.",
);
const CONTAINERS: Column = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
const IMAGES: Column = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);

static POD: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide(
        "IP",
        "string",
        "The IP address allocated to the pod; routable at least within the cluster.",
    ),
    wide(
        "Node",
        "string",
        "The node the pod is scheduled onto, if any.",
    ),
    wide(
        "Nominated Node",
        "string",
        "The node a preempting pod is expected to be scheduled onto.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "The readiness gates of the pod that are true, out of all of them.",
    ),
];

static DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col(
        "Up-to-date",
        "integer",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    col(
        "Available",
        "integer",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    wide(
        "Selector",
        "string",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
    ),
];

static REPLICA_SET: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired pods.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods.",
    ),
    col(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready condition.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    wide(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
    ),
];

static JOB: &[Column] = &[
    NAME,
    col("Status", "string", "Status of the job."),
    col(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded, out of those wanted.",
    ),
    col("Duration", "string", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide(
        "Selector",
        "string",
        "A label query over pods that should match the pod count.",
    ),
];

static CRON_JOB: &[Column] = &[
    NAME,
    col("Schedule", "string", "The schedule for running the job."),
    col(
        "Timezone",
        "string",
        "The timezone the schedule is read in (the controller's local time when unset).",
    ),
    col("Suspend", "boolean", "Whether new jobs are suspended."),
    col("Active", "integer", "The number of active jobs."),
    col("Last Schedule", "string", "When a job was last scheduled."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide(
        "Selector",
        "string",
        "A label query over pods that should match the pod count.",
    ),
];

static SERVICE: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "How the Service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    col(
        "Cluster-IP",
        "string",
        "The IP address of the service, usually assigned randomly.",
    ),
    col(
        "External-IP",
        "string",
        "IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    col(
        "Port(s)",
        "string",
        "The list of ports that are exposed by this service.",
    ),
    AGE,
    wide(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
    ),
];

static INGRESS: &[Column] = &[
    NAME,
    col(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    col(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    col(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    col("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

static NODE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide(
        "Internal-IP",
        "string",
        "The node's first address of type InternalIP.",
    ),
    wide(
        "External-IP",
        "string",
        "The node's first address of type ExternalIP.",
    ),
    wide(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release.",
    ),
    wide(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r'.",
    ),
    wide(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API.",
    ),
];

static EVENT: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    col("Type", "string", "Type of this event (Normal, Warning)."),
    col(
        "Reason",
        "string",
        "A short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    col("Object", "string", "The object that this event is about."),
    wide(
        "Subobject",
        "string",
        "The part of the object the event is about, e.g. a container: spec.containers{name}.",
    ),
    wide("Source", "string", "The component reporting this event."),
    col(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    wide(
        "First Seen",
        "string",
        "The time at which the event was first recorded.",
    ),
    wide(
        "Count",
        "string",
        "The number of times this event has occurred.",
    ),
    Column {
        priority: 1,
        ..NAME
    },
];

static NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

static SECRET: &[Column] = &[
    NAME,
    col("Type", "string", "The type of the secret"),
    col("Data", "string", "The number of keys in the secret's data"),
    AGE,
];

static CONFIG_MAP: &[Column] = &[
    NAME,
    col(
        "Data",
        "string",
        "The number of keys in the config map's data and binaryData",
    ),
    AGE,
];

static DEFAULT: &[Column] = &[NAME, AGE];

/// The API server's default table convertor (`rest.NewDefaultTableConvertor`), which types
/// without a printer of their own in the real server use, CRDs among them: the creation time as
/// an RFC 3339 date, which kubectl prints as it is.
static CREATED_AT: &[Column] = &[
    NAME,
    col(
        "Created At",
        "date",
        "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.",
    ),
];

/// The columns of `kind`'s table.
pub fn columns(kind: &str) -> &'static [Column] {
    match kind {
        "Pod" => POD,
        "Deployment" => DEPLOYMENT,
        "ReplicaSet" => REPLICA_SET,
        "Job" => JOB,
        "CronJob" => CRON_JOB,
        "Service" => SERVICE,
        "Ingress" => INGRESS,
        "Node" => NODE,
        "Event" => EVENT,
        "Namespace" => NAMESPACE,
        "Secret" => SECRET,
        "ConfigMap" => CONFIG_MAP,
        "CustomResourceDefinition" => CREATED_AT,
        _ => DEFAULT,
    }
}

/// `columns` as the JSON of `columnDefinitions`.
pub fn column_definitions(kind: &str) -> Value {
    Value::Array(
        columns(kind)
            .iter()
            .map(|c| {
                json!({
                    "name": c.name, "type": c.kind, "format": c.format,
                    "description": c.description, "priority": c.priority,
                })
            })
            .collect(),
    )
}

/// The cells of `obj`'s row, one per column of [`columns`], at time `now`.
pub fn cells(kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    match kind {
        "Pod" => pod(obj, now),
        "Deployment" => deployment(obj, now),
        "ReplicaSet" => replica_set(obj, now),
        "Job" => job(obj, now),
        "CronJob" => cron_job(obj, now),
        "Service" => service(obj, now),
        "Ingress" => ingress(obj, now),
        "Node" => node(obj, now),
        "Event" => event(obj, now),
        "Namespace" => vec![
            json!(name_of(obj)),
            json!(str_at(obj, "/status/phase")),
            json!(age(obj, now)),
        ],
        "Secret" => vec![
            json!(name_of(obj)),
            json!(str_at(obj, "/type")),
            json!(map_len(obj.at("/data"))),
            json!(age(obj, now)),
        ],
        "ConfigMap" => vec![
            json!(name_of(obj)),
            json!(map_len(obj.at("/data")) + map_len(obj.at("/binaryData"))),
            json!(age(obj, now)),
        ],
        "CustomResourceDefinition" => vec![
            json!(name_of(obj)),
            json!(str_at(obj, "/metadata/creationTimestamp")),
        ],
        _ => vec![json!(name_of(obj)), json!(age(obj, now))],
    }
}

/// The row's `conditions`: a pod that has succeeded or failed is Completed.
pub fn row_conditions(kind: &str, obj: &Value) -> Option<Value> {
    if kind != "Pod" {
        return None;
    }
    let (reason, message) = match str_at(obj, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// Go's `duration.HumanDuration`: the short, rounded-down form of a duration kubectl prints
/// (`0s`, `59s`, `5m2s`, `3h4m`, `2d3h`, `3y45d`).
pub fn human_duration(d: TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// A Kubernetes time (RFC 3339, seconds or microseconds), if it is one.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `translateTimestampSince`: the time since `t`, `<unknown>` when there is none.
fn since(t: Option<&Value>, now: DateTime<Utc>) -> String {
    match t.and_then(Value::as_str).and_then(parse_time) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

fn age(obj: &Value, now: DateTime<Utc>) -> String {
    since(obj.at("/metadata/creationTimestamp"), now)
}

fn map_len(v: Option<&Value>) -> i64 {
    v.and_then(Value::as_object).map_or(0, |m| m.len() as i64)
}

fn array<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.at(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

/// `layoutContainerCells`: the containers' names and images, comma-separated.
fn containers_and_images(obj: &Value, pointer: &str) -> (String, String) {
    let cs = array(obj, pointer);
    let names: Vec<&str> = cs.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| str_at(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// `labels.FormatLabels`: `k=v` sorted by key, comma-separated; `<none>` when empty.
fn format_labels(m: Option<&Value>) -> String {
    let Some(m) = m.and_then(Value::as_object) else {
        return "<none>".into();
    };
    let mut kv: Vec<(&String, &Value)> = m.iter().collect();
    kv.sort_by(|a, b| a.0.cmp(b.0));
    let s: Vec<String> = kv
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    or_none(&s.join(","))
}

/// A `metav1.LabelSelector` as a selector string (`labels.Selector.String()`): requirements
/// sorted by key, values sorted.
fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return String::new();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for e in array(sel, "/matchExpressions") {
        let key = str_at(e, "/key");
        let mut vals: Vec<&str> = array(e, "/values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        vals.sort_unstable();
        let text = match str_at(e, "/operator") {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when empty.
fn format_label_selector(sel: Option<&Value>) -> String {
    or_none(&selector_string(sel))
}

fn condition_true(conds: &[Value], type_: &str) -> bool {
    conds
        .iter()
        .find(|c| str_at(c, "/type") == type_)
        .is_some_and(|c| str_at(c, "/status") == "True")
}

/// The pod's READY, STATUS (the reason a person reads: CrashLoopBackOff, ContainerCreating,
/// Completed, Init:0/1, Terminating…), RESTARTS (with how long ago the last one was) and AGE,
/// then IP, NODE, NOMINATED NODE and READINESS GATES.
fn pod(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let containers = array(obj, "/spec/containers");
    let init_specs = array(obj, "/spec/initContainers");
    let conditions = array(obj, "/status/conditions");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| str_at(c, "/name") == name && str_at(c, "/restartPolicy") == "Always")
    };
    let total = containers.len()
        + init_specs
            .iter()
            .filter(|c| str_at(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;
    let finished = |c: &Value| {
        c.at("/lastState/terminated/finishedAt")
            .and_then(Value::as_str)
            .and_then(parse_time)
    };
    let later = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };

    let phase = str_at(obj, "/status/phase");
    let mut reason = match str_at(obj, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if conditions
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (i, c) in array(obj, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let name = str_at(c, "/name");
        let count = int_at(c, "/restartCount", 0);
        restarts += count;
        last_restart = later(last_restart, finished(c));
        let sidecar = restartable(name);
        if sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = later(last_sidecar_restart, finished(c));
        }
        let terminated = c.at("/state/terminated");
        let waiting_reason = str_at(c, "/state/waiting/reason");
        if terminated.is_some() && int_at(c, "/state/terminated/exitCode", 0) == 0 {
            continue;
        }
        if sidecar && c.get("started") == Some(&Value::Bool(true)) {
            if c.get("ready") == Some(&Value::Bool(true)) {
                ready += 1;
            }
            continue;
        }
        if terminated.is_some() {
            let r = str_at(c, "/state/terminated/reason");
            reason = if !r.is_empty() {
                format!("Init:{r}")
            } else if int_at(c, "/state/terminated/signal", 0) != 0 {
                format!("Init:Signal:{}", int_at(c, "/state/terminated/signal", 0))
            } else {
                format!(
                    "Init:ExitCode:{}",
                    int_at(c, "/state/terminated/exitCode", 0)
                )
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in array(obj, "/status/containerStatuses").iter().rev() {
            restarts += int_at(c, "/restartCount", 0);
            last_restart = later(last_restart, finished(c));
            let waiting = str_at(c, "/state/waiting/reason");
            let terminated = c.at("/state/terminated");
            let term_reason = str_at(c, "/state/terminated/reason");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if terminated.is_some() && !term_reason.is_empty() {
                reason = term_reason.to_string();
            } else if terminated.is_some() {
                let signal = int_at(c, "/state/terminated/signal", 0);
                reason = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{}", int_at(c, "/state/terminated/exitCode", 0))
                };
            } else if c.get("ready") == Some(&Value::Bool(true)) && c.at("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = obj
        .at("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    if deleting && str_at(obj, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_text = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };

    let ip = array(obj, "/status/podIPs")
        .first()
        .map(|p| str_at(p, "/ip"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| str_at(obj, "/status/podIP"));
    let gates = array(obj, "/spec/readinessGates");
    let gates_text = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = str_at(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| str_at(c, "/type") == t)
                    .is_some_and(|c| str_at(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        json!(name_of(obj)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_text),
        json!(age(obj, now)),
        json!(or_none(ip)),
        json!(or_none(str_at(obj, "/spec/nodeName"))),
        json!(or_none(str_at(obj, "/status/nominatedNodeName"))),
        json!(gates_text),
    ]
}

fn deployment(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let desired = int_at(obj, "/spec/replicas", 1);
    let (names, images) = containers_and_images(obj, "/spec/template/spec/containers");
    vec![
        json!(name_of(obj)),
        json!(format!(
            "{}/{desired}",
            int_at(obj, "/status/readyReplicas", 0)
        )),
        json!(int_at(obj, "/status/updatedReplicas", 0)),
        json!(int_at(obj, "/status/availableReplicas", 0)),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(selector_string(obj.at("/spec/selector"))),
    ]
}

fn replica_set(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers_and_images(obj, "/spec/template/spec/containers");
    vec![
        json!(name_of(obj)),
        json!(int_at(obj, "/spec/replicas", 1)),
        json!(int_at(obj, "/status/replicas", 0)),
        json!(int_at(obj, "/status/readyReplicas", 0)),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(obj.at("/spec/selector"))),
    ]
}

fn job(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(obj, "/status/succeeded", 0);
    let completions = match obj.at("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int_at(obj, "/spec/parallelism", 0) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let time = |p: &str| obj.at(p).and_then(Value::as_str).and_then(parse_time);
    let duration = match (time("/status/startTime"), time("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let conds = array(obj, "/status/conditions");
    let status = if condition_true(conds, "Complete") {
        "Complete"
    } else if condition_true(conds, "Failed") {
        "Failed"
    } else if obj
        .at("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        "Terminating"
    } else if condition_true(conds, "Suspended") {
        "Suspended"
    } else if condition_true(conds, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(obj, "/spec/template/spec/containers");
    vec![
        json!(name_of(obj)),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(obj.at("/spec/selector"))),
    ]
}

/// kubectl's `printCronJob`.
fn cron_job(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last = obj
        .at("/status/lastScheduleTime")
        .and_then(Value::as_str)
        .and_then(parse_time)
        .map_or_else(|| "<none>".to_string(), |t| human_duration(now - t));
    let zone = match str_at(obj, "/spec/timeZone") {
        "" => "<none>",
        z => z,
    };
    let suspend = obj.at("/spec/suspend").and_then(Value::as_bool) == Some(true);
    let (names, images) =
        containers_and_images(obj, "/spec/jobTemplate/spec/template/spec/containers");
    vec![
        json!(name_of(obj)),
        json!(str_at(obj, "/spec/schedule")),
        json!(zone),
        json!(if suspend { "True" } else { "False" }),
        json!(array(obj, "/status/active").len()),
        json!(last),
        json!(age(obj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(
            obj.at("/spec/jobTemplate/spec/selector")
        )),
    ]
}

/// The load balancer's IPs (or host names), sorted, without repeats.
fn load_balancer(obj: &Value) -> String {
    let mut out: Vec<&str> = array(obj, "/status/loadBalancer/ingress")
        .iter()
        .map(|i| match str_at(i, "/ip") {
            "" => str_at(i, "/hostname"),
            ip => ip,
        })
        .filter(|s| !s.is_empty())
        .collect();
    out.sort_unstable();
    out.dedup();
    out.join(",")
}

fn service(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let type_ = match str_at(obj, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = array(obj, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(obj, "/spec/clusterIP"));
    let external: Vec<&str> = array(obj, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external_ip = match type_ {
        "ClusterIP" | "NodePort" => or_none(&external.join(",")),
        "LoadBalancer" => {
            let lb = load_balancer(obj);
            let mut all: Vec<&str> = lb.split(',').filter(|s| !s.is_empty()).collect();
            all.extend(&external);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(obj, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = array(obj, "/spec/ports")
        .iter()
        .map(|p| {
            let port = int_at(p, "/port", 0);
            let proto = match str_at(p, "/protocol") {
                "" => "TCP",
                x => x,
            };
            match int_at(p, "/nodePort", 0) {
                n if n > 0 => format!("{port}:{n}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    vec![
        json!(name_of(obj)),
        json!(type_),
        json!(or_none(cluster_ip)),
        json!(external_ip),
        json!(or_none(&ports.join(","))),
        json!(age(obj, now)),
        json!(format_labels(obj.at("/spec/selector"))),
    ]
}

fn ingress(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let rules = array(obj, "/spec/rules");
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for r in rules {
        if hosts.len() == 3 {
            more = true;
        }
        let h = str_at(r, "/host");
        if !more && !h.is_empty() {
            hosts.push(h);
        }
    }
    let hosts_text = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - 3)
    } else {
        hosts.join(",")
    };
    let ports = if array(obj, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        json!(name_of(obj)),
        json!(or_none(str_at(obj, "/spec/ingressClassName"))),
        json!(hosts_text),
        json!(load_balancer(obj)),
        json!(ports),
        json!(age(obj, now)),
    ]
}

fn node(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<&str> = Vec::new();
    if let Some(c) = array(obj, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready")
    {
        status.push(if str_at(c, "/status") == "True" {
            "Ready"
        } else {
            "NotReady"
        });
    }
    if status.is_empty() {
        status.push("Unknown");
    }
    if obj.at("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push("SchedulingDisabled");
    }
    let empty = Map::new();
    let labels = obj
        .at("/metadata/labels")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut roles: Vec<&str> = Vec::new();
    for (k, v) in labels {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role);
            }
        } else if k == "kubernetes.io/role"
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            roles.push(v);
        }
    }
    roles.sort_unstable();
    roles.dedup();
    let address = |t: &str| {
        array(obj, "/status/addresses")
            .iter()
            .find(|a| str_at(a, "/type") == t)
            .map_or_else(
                || "<none>".to_string(),
                |a| str_at(a, "/address").to_string(),
            )
    };
    let info = |f: &str| match str_at(obj, &format!("/status/nodeInfo/{f}")) {
        "" => "<unknown>".to_string(),
        s => s.to_string(),
    };
    vec![
        json!(name_of(obj)),
        json!(status.join(",")),
        json!(or_none(&roles.join(","))),
        json!(age(obj, now)),
        json!(str_at(obj, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
    ]
}

fn event(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let present = |p: &str| {
        obj.at(p)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let first = if present("/firstTimestamp") {
        since(obj.at("/firstTimestamp"), now)
    } else {
        since(obj.at("/eventTime"), now)
    };
    let mut last = if present("/lastTimestamp") {
        since(obj.at("/lastTimestamp"), now)
    } else {
        first.clone()
    };
    let mut count = int_at(obj, "/count", 0);
    if let Some(series) = obj.get("series").filter(|s| s.is_object()) {
        last = since(series.get("lastObservedTime"), now);
        count = int_at(series, "/count", 0);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_at(obj, "/involvedObject/kind").to_lowercase();
    let target = match str_at(obj, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let first_non_empty = |a: &'static str, b: &'static str| match str_at(obj, a) {
        "" => str_at(obj, b),
        s => s,
    };
    let component = first_non_empty("/source/component", "/reportingComponent");
    let host = first_non_empty("/source/host", "/reportingInstance");
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(str_at(obj, "/type")),
        json!(str_at(obj, "/reason")),
        json!(target),
        json!(str_at(obj, "/involvedObject/fieldPath")),
        json!(source),
        json!(str_at(obj, "/message").trim()),
        json!(first),
        json!(count),
        json!(name_of(obj)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    const NOW: &str = "2026-03-01T12:00:00Z";

    fn secs(s: i64) -> String {
        human_duration(TimeDelta::seconds(s))
    }

    #[test]
    fn durations_read_as_kubernetes_prints_them() {
        assert_eq!(secs(0), "0s");
        assert_eq!(secs(-1), "0s");
        assert_eq!(secs(-5), "<invalid>");
        assert_eq!(secs(59), "59s");
        assert_eq!(secs(119), "119s");
        assert_eq!(secs(120), "2m");
        assert_eq!(secs(5 * 60 + 2), "5m2s");
        assert_eq!(secs(10 * 60 + 2), "10m");
        assert_eq!(secs(179 * 60), "179m");
        assert_eq!(secs(3 * 3600 + 4 * 60 + 5), "3h4m");
        assert_eq!(secs(5 * 3600), "5h");
        assert_eq!(secs(20 * 3600 + 59 * 60), "20h");
        assert_eq!(secs(51 * 3600), "2d3h");
        assert_eq!(secs(72 * 3600), "3d");
        assert_eq!(secs(30 * 86400 + 3600), "30d");
        assert_eq!(secs(3 * 365 * 86400 + 45 * 86400), "3y45d");
        assert_eq!(secs(9 * 365 * 86400), "9y");
        assert_eq!(
            human_duration(TimeDelta::milliseconds(59_999)),
            "59s",
            "rounded down"
        );
    }

    fn pod_with(status: Value) -> Value {
        json!({
            "metadata": {"name": "web-1", "creationTimestamp": "2026-03-01T11:55:00Z"},
            "spec": {"containers": [{"name": "web", "image": "web:1"}], "nodeName": "node-a"},
            "status": status,
        })
    }

    fn cell(cells: &[Value], i: usize) -> String {
        match &cells[i] {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }

    #[test]
    fn a_crash_looping_pod_shows_its_back_off_and_when_it_last_restarted() {
        let p = pod_with(json!({
            "phase": "Running",
            "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}],
            "containerStatuses": [{
                "name": "web", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "finishedAt": "2026-03-01T11:58:30Z"}},
            }],
        }));
        let c = cells("Pod", &p, at(NOW));
        assert_eq!(c.len(), columns("Pod").len());
        assert_eq!(cell(&c, 0), "web-1");
        assert_eq!(cell(&c, 1), "0/1");
        assert_eq!(cell(&c, 2), "CrashLoopBackOff");
        assert_eq!(cell(&c, 3), "4 (90s ago)");
        assert_eq!(cell(&c, 4), "5m");
        assert_eq!(cell(&c, 5), "10.0.0.7");
        assert_eq!(cell(&c, 6), "node-a");
        assert_eq!(cell(&c, 7), "<none>");
        assert_eq!(cell(&c, 8), "<none>");
    }

    #[test]
    fn pod_statuses() {
        let now = at(NOW);
        let status = |s: Value| cell(&cells("Pod", &pod_with(s), now), 2);
        assert_eq!(
            status(
                json!({"phase": "Pending", "containerStatuses": [{"name": "web",
                "state": {"waiting": {"reason": "ContainerCreating"}}}]})
            ),
            "ContainerCreating"
        );
        assert_eq!(status(json!({"phase": "Pending"})), "Pending");
        assert_eq!(
            status(
                json!({"phase": "Running", "containerStatuses": [{"name": "web",
                "ready": true, "state": {"running": {}}}]})
            ),
            "Running"
        );
        assert_eq!(
            status(
                json!({"phase": "Succeeded", "containerStatuses": [{"name": "web",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
            ),
            "Completed"
        );
        assert_eq!(
            status(
                json!({"phase": "Failed", "containerStatuses": [{"name": "web",
                "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]})
            ),
            "Error"
        );
        assert_eq!(
            status(
                json!({"phase": "Running", "containerStatuses": [{"name": "web",
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]})
            ),
            "OOMKilled"
        );
        assert_eq!(
            status(
                json!({"phase": "Failed", "containerStatuses": [{"name": "web",
                "state": {"terminated": {"exitCode": 3}}}]})
            ),
            "ExitCode:3"
        );
        assert_eq!(
            status(
                json!({"phase": "Pending", "containerStatuses": [{"name": "web",
                "state": {"waiting": {"reason": "ImagePullBackOff"}}}]})
            ),
            "ImagePullBackOff"
        );
        assert_eq!(
            status(json!({"phase": "Failed", "reason": "Evicted"})),
            "Evicted"
        );
        let mut p = pod_with(
            json!({"phase": "Running", "containerStatuses": [{"name": "web",
            "ready": true, "state": {"running": {}}}]}),
        );
        p["metadata"]["deletionTimestamp"] = json!("2026-03-01T11:59:00Z");
        assert_eq!(cell(&cells("Pod", &p, now), 2), "Terminating");
        assert_eq!(cell(&cells("Pod", &p, now), 1), "1/1");
        assert_eq!(cell(&cells("Pod", &p, now), 3), "0");
    }

    #[test]
    fn an_initialising_pod_shows_its_init_containers() {
        let mut p = pod_with(json!({"phase": "Pending",
            "initContainerStatuses": [
                {"name": "migrate", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "warm", "state": {"running": {}}},
            ],
            "containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "PodInitializing"}}}],
        }));
        p["spec"]["initContainers"] = json!([{"name": "migrate"}, {"name": "warm"}]);
        assert_eq!(cell(&cells("Pod", &p, at(NOW)), 2), "Init:1/2");
        p["status"]["initContainerStatuses"][1]["state"] =
            json!({"waiting": {"reason": "CrashLoopBackOff"}});
        assert_eq!(cell(&cells("Pod", &p, at(NOW)), 2), "Init:CrashLoopBackOff");
    }

    #[test]
    fn workloads_nodes_services_and_events() {
        let now = at(NOW);
        let d = json!({"metadata": {"name": "web", "creationTimestamp": "2026-02-27T09:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"tier": "f", "app": "web"}},
                "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        assert_eq!(
            cells("Deployment", &d, now),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2d3h"),
                json!("a,b"),
                json!("a:1,b:2"),
                json!("app=web,tier=f")
            ]
        );
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": "2026-03-01T11:59:01Z",
                "labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.1.23"}],
                "nodeInfo": {"kubeletVersion": "v1.35.0"}}});
        let c = cells("Node", &node, now);
        assert_eq!(c[1], json!("Ready,SchedulingDisabled"));
        assert_eq!(c[2], json!("edge,worker"));
        assert_eq!(c[3], json!("59s"));
        assert_eq!(c[4], json!("v1.35.0"));
        assert_eq!(c[5], json!("10.0.1.23"));
        assert_eq!(c[6], json!("<none>"));
        assert_eq!(c[7], json!("<unknown>"));
        let svc = json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort",
            "clusterIPs": ["10.100.0.5"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"app": "web"}}});
        let c = cells("Service", &svc, now);
        assert_eq!(
            c[1..5],
            [
                json!("NodePort"),
                json!("10.100.0.5"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP")
            ]
        );
        assert_eq!(c[5], json!("<unknown>"), "no creationTimestamp");
        assert_eq!(c[6], json!("app=web"));
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}});
        assert_eq!(cells("Service", &lb, now)[3], json!("<pending>"));
        let ev = json!({"metadata": {"name": "web-1.abc"}, "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
            "message": "Back-off restarting failed container\n", "count": 7,
            "firstTimestamp": "2026-03-01T11:00:00Z", "lastTimestamp": "2026-03-01T11:59:00Z",
            "source": {"component": "kubelet", "host": "n1"}});
        assert_eq!(
            cells("Event", &ev, now),
            vec![
                json!("60s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-1"),
                json!("spec.containers{web}"),
                json!("kubelet, n1"),
                json!("Back-off restarting failed container"),
                json!("60m"),
                json!(7),
                json!("web-1.abc")
            ]
        );
        let scheduled = json!({"metadata": {"name": "x"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "web-1"}, "message": "ok",
            "eventTime": "2026-03-01T11:59:30.123456Z", "reportingComponent": "default-scheduler"});
        let c = cells("Event", &scheduled, now);
        assert_eq!(
            (c[0].clone(), c[5].clone(), c[8].clone()),
            (json!("29s"), json!("default-scheduler"), json!(1))
        );
    }

    #[test]
    fn jobs_namespaces_secrets_config_maps_and_others() {
        let now = at(NOW);
        let job = json!({"metadata": {"name": "migrate", "creationTimestamp": "2026-03-01T11:50:00Z"},
            "spec": {"completions": 1, "selector": {"matchLabels": {"job-name": "migrate"}},
                "template": {"spec": {"containers": [{"name": "m", "image": "m:1"}]}}},
            "status": {"succeeded": 1, "startTime": "2026-03-01T11:50:00Z", "completionTime": "2026-03-01T11:50:07Z",
                "conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(
            cells("Job", &job, now)[..5],
            [
                json!("migrate"),
                json!("Complete"),
                json!("1/1"),
                json!("7s"),
                json!("10m")
            ]
        );
        let running = json!({"metadata": {"name": "j"}, "spec": {"parallelism": 3},
            "status": {"startTime": "2026-03-01T11:59:00Z"}});
        assert_eq!(
            cells("Job", &running, now)[1..4],
            [json!("Running"), json!("0/1 of 3"), json!("60s")]
        );
        let ns = json!({"metadata": {"name": "prod", "creationTimestamp": "2026-03-01T12:00:00Z"}, "status": {"phase": "Active"}});
        assert_eq!(
            cells("Namespace", &ns, now),
            vec![json!("prod"), json!("Active"), json!("0s")]
        );
        let secret =
            json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "", "b": ""}});
        assert_eq!(
            cells("Secret", &secret, now)[1..3],
            [json!("Opaque"), json!(2)]
        );
        let cm = json!({"metadata": {"name": "c"}, "data": {"a": ""}, "binaryData": {"b": ""}});
        assert_eq!(cells("ConfigMap", &cm, now)[1], json!(2));
        let ing = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"host": "a.dev"}, {"host": "b.dev"}], "tls": [{}]},
            "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}});
        assert_eq!(
            cells("Ingress", &ing, now)[1..5],
            [
                json!("<none>"),
                json!("a.dev,b.dev"),
                json!("lb.example"),
                json!("80, 443")
            ]
        );
        assert_eq!(cells("Widget", &ns, now), vec![json!("prod"), json!("0s")]);
        for kind in [
            "Pod",
            "Deployment",
            "ReplicaSet",
            "Job",
            "Service",
            "Ingress",
            "Node",
            "Event",
            "Namespace",
            "Secret",
            "ConfigMap",
            "Widget",
        ] {
            assert_eq!(
                cells(kind, &json!(null), now).len(),
                columns(kind).len(),
                "{kind}"
            );
            assert_eq!(
                cells(kind, &json!({"metadata": 5, "status": []}), now).len(),
                columns(kind).len(),
                "{kind}"
            );
        }
    }

    #[test]
    fn completed_pods_carry_a_row_condition() {
        let p = pod_with(json!({"phase": "Succeeded"}));
        assert_eq!(row_conditions("Pod", &p).unwrap()[0]["reason"], "Succeeded");
        assert!(row_conditions("Pod", &pod_with(json!({"phase": "Running"}))).is_none());
    }
}
