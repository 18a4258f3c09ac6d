//! What the API server does to an object on its way in: defaulting (as the types' `SetDefaults_*`),
//! status reset on create (as the registry strategies' `PrepareForCreate`) and validation (422 with the field).

use serde_json::{Map, Value, json};

use super::object::{child_object, labels_of, metadata_mut, name_of, object_mut, uid_of};
use super::resources::ResourceType;
use super::selector::LabelSelector;

fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.into(), value);
    }
}

/// Defaults for a pod spec, as `SetDefaults_PodSpec` and friends.
pub fn default_pod_spec(spec: &mut Value) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    default(s, "restartPolicy", json!("Always"));
    default(s, "dnsPolicy", json!("ClusterFirst"));
    default(s, "terminationGracePeriodSeconds", json!(30));
    default(s, "schedulerName", json!("default-scheduler"));
    default(s, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = s.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                let tag = image.rsplit('/').next().unwrap_or("");
                let pull = if image.contains('@') {
                    "IfNotPresent"
                } else if !tag.contains(':') || tag.ends_with(":latest") {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                default(c, "imagePullPolicy", json!(pull));
                default(c, "terminationMessagePath", json!("/dev/termination-log"));
                default(c, "terminationMessagePolicy", json!("File"));
                default(c, "resources", json!({}));
                if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        default(p, "protocol", json!("TCP"));
                    }
                }
                for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                    if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
                        default(p, "timeoutSeconds", json!(1));
                        default(p, "periodSeconds", json!(10));
                        default(p, "successThreshold", json!(1));
                        default(p, "failureThreshold", json!(3));
                    }
                }
            }
        }
    }
}

fn default_template(spec: &mut Map<String, Value>) {
    if let Some(t) = spec.get_mut("template") {
        if let Some(ps) = t.get_mut("spec") {
            default_pod_spec(ps);
        }
        object_mut(t, "metadata");
    }
}

/// Defaults applied on create and update.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    match rt.kind {
        "Pod" => {
            if let Some(s) = obj.get_mut("spec") {
                default_pod_spec(s);
            }
        }
        "Deployment" => {
            let spec = object_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = spec
                .entry("strategy")
                .or_insert_with(|| json!({"type": "RollingUpdate"}));
            if let Some(st) = strategy.as_object_mut() {
                default(st, "type", json!("RollingUpdate"));
                if st.get("type") == Some(&json!("RollingUpdate")) {
                    let ru = st.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(ru) = ru.as_object_mut() {
                        default(ru, "maxSurge", json!("25%"));
                        default(ru, "maxUnavailable", json!("25%"));
                    }
                }
            }
            default_template(spec);
        }
        "ReplicaSet" => {
            let spec = object_mut(obj, "spec");
            default(spec, "replicas", json!(1));
            default_template(spec);
        }
        "Job" => {
            let spec = object_mut(obj, "spec");
            default(spec, "completions", json!(1));
            default(spec, "parallelism", json!(1));
            default(spec, "backoffLimit", json!(6));
            default(spec, "completionMode", json!("NonIndexed"));
            default(spec, "suspend", json!(false));
            default_template(spec);
        }
        "CronJob" => {
            // SetDefaults_CronJob; the job template's pod template as a pod template's.
            let spec = object_mut(obj, "spec");
            default(spec, "concurrencyPolicy", json!("Allow"));
            default(spec, "suspend", json!(false));
            default(spec, "successfulJobsHistoryLimit", json!(3));
            default(spec, "failedJobsHistoryLimit", json!(1));
            let template = crate::object::child_object(spec, "jobTemplate");
            default_template(crate::object::child_object(template, "spec"));
        }
        "Service" => {
            let spec = object_mut(obj, "spec");
            default(spec, "type", json!("ClusterIP"));
            default(spec, "sessionAffinity", json!("None"));
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    default(p, "protocol", json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        default(p, "targetPort", port);
                    }
                }
            }
        }
        "Secret" => {
            if let Some(m) = obj.as_object_mut() {
                default(m, "type", json!("Opaque"));
                // stringData is write-only: folded into data, base64-encoded.
                if let Some(sd) = m.remove("stringData").and_then(|v| match v {
                    Value::Object(o) => Some(o),
                    _ => None,
                }) {
                    use base64::Engine as _;
                    let data = m.entry("data").or_insert_with(|| json!({}));
                    if let Some(d) = data.as_object_mut() {
                        for (k, v) in sd {
                            let s = v.as_str().unwrap_or("").as_bytes().to_vec();
                            d.insert(
                                k,
                                json!(base64::engine::general_purpose::STANDARD.encode(s)),
                            );
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// `PrepareForCreate`: defaults, and the status a new object starts with.
pub fn prepare_for_create(rt: &ResourceType, obj: &mut Value) {
    apply_defaults(rt, obj);
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    match rt.kind {
        "Pod" => {
            let qos = qos_class(m.get("spec").unwrap_or(&Value::Null));
            m.insert(
                "status".into(),
                json!({"phase": "Pending", "qosClass": qos}),
            );
        }
        "Deployment" | "ReplicaSet" => {
            m.insert("status".into(), json!({}));
        }
        "Job" => {
            m.insert("status".into(), json!({}));
            prepare_job(obj);
        }
        "CronJob" => {
            m.insert("status".into(), json!({}));
        }
        "Service" => {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
        "Ingress" => {
            // The sandbox is the cluster's ingress controller: it serves every Ingress on its
            // traffic port, on 127.0.0.1, and publishes that address as a controller does (what
            // Argo CD's health check waits for).
            m.insert(
                "status".into(),
                json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}),
            );
        }
        "Namespace" => {
            m.insert("status".into(), json!({"phase": "Active"}));
            let spec = object_mut(obj, "spec");
            default(spec, "finalizers", json!(["kubernetes"]));
            let meta = metadata_mut(obj);
            let name = meta.get("name").cloned().unwrap_or(json!(""));
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), name);
            }
        }
        _ => {}
    }
}

/// The Job strategy's `PrepareForCreate`: unless `spec.manualSelector`, the selector is generated from
/// the uid (`generateSelector`) and the template gets the job-name and controller-uid labels, legacy and
/// `batch.kubernetes.io/` ones. `SetDefaults_Job` gives a Job without labels its template's label map,
/// the same map in Go, so such a Job ends up with the generated labels too.
fn prepare_job(obj: &mut Value) {
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    let name = name_of(obj).to_string();
    let uid = uid_of(obj).to_string();
    let template_labels = obj
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .is_some();
    let job_labels_empty = labels_of(obj).is_none_or(|l| l.is_empty());
    if manual {
        return;
    }
    let spec = object_mut(obj, "spec");
    let template = spec.entry("template").or_insert_with(|| json!({}));
    let labels = child_object(object_mut(template, "metadata"), "labels");
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        if !labels.contains_key(k) {
            labels.insert(k.into(), json!(v));
        }
    }
    let labels = Value::Object(labels.clone());
    let ml = child_object(child_object(spec, "selector"), "matchLabels");
    if !ml.contains_key("batch.kubernetes.io/controller-uid") {
        ml.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
    }
    if job_labels_empty && template_labels {
        metadata_mut(obj).insert("labels".into(), labels);
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec
        .get("containers")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(res));
            let r = req.and_then(|r| r.get(res)).or(l);
            if l.is_none() || r != l {
                guaranteed = false;
            }
        }
    }
    if guaranteed {
        "Guaranteed"
    } else if any {
        "Burstable"
    } else {
        "BestEffort"
    }
}

/// Give a ClusterIP service an address from 10.96.0.0/12, unless it has one or is headless.
pub fn allocate_cluster_ip(obj: &mut Value, next: &mut u32) {
    let spec = object_mut(obj, "spec");
    if spec.get("type") == Some(&json!("ExternalName")) {
        return;
    }
    let ip = match spec.get("clusterIP").and_then(Value::as_str) {
        Some(ip) if !ip.is_empty() => ip.to_string(),
        _ => {
            *next += 1;
            let n = *next;
            format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
        }
    };
    spec.insert("clusterIP".into(), json!(ip));
    if ip != "None" {
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    default(spec, "ipFamilies", json!(["IPv4"]));
    default(spec, "ipFamilyPolicy", json!("SingleStack"));
    default(spec, "internalTrafficPolicy", json!("Cluster"));
}

fn validate_containers(path: &str, spec: &Value, errors: &mut Vec<(String, String)>) {
    match spec.get("containers").and_then(Value::as_array) {
        None => errors.push((format!("{path}.containers"), "Required value".into())),
        Some(cs) if cs.is_empty() => {
            errors.push((format!("{path}.containers"), "Required value".into()))
        }
        Some(cs) => {
            let mut seen = Vec::new();
            for (i, c) in cs.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    errors.push((
                        format!("{path}.containers[{i}].name"),
                        "Required value".into(),
                    ));
                } else if seen.contains(&name) {
                    errors.push((
                        format!("{path}.containers[{i}].name"),
                        format!("Duplicate value: \"{name}\""),
                    ));
                }
                seen.push(name);
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.trim().is_empty())
                {
                    errors.push((
                        format!("{path}.containers[{i}].image"),
                        "Required value".into(),
                    ));
                }
            }
        }
    }
}

fn validate_replicas(spec: &Value, errors: &mut Vec<(String, String)>) {
    if let Some(r) = spec.get("replicas")
        && r.as_i64().is_none_or(|n| n < 0)
    {
        errors.push((
            "spec.replicas".into(),
            format!("Invalid value: {r}: must be greater than or equal to 0"),
        ));
    }
}

fn validate_selector(spec: &Value, errors: &mut Vec<(String, String)>) {
    let Some(sel) = spec.get("selector").filter(|s| !s.is_null()) else {
        errors.push(("spec.selector".into(), "Required value".into()));
        return;
    };
    match LabelSelector::from_object(sel) {
        Err(e) => errors.push(("spec.selector".into(), format!("Invalid value: {e}"))),
        Ok(s) if s.is_empty() => errors.push((
            "spec.selector".into(),
            "Invalid value: {}: empty selector is invalid for deployment".into(),
        )),
        Ok(s) => {
            let labels = spec
                .pointer("/template/metadata/labels")
                .and_then(Value::as_object);
            if !s.matches(labels) {
                errors.push((
                    "spec.template.metadata.labels".into(),
                    format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        labels
                            .map(|l| Value::Object(l.clone()))
                            .unwrap_or(json!({}))
                    ),
                ));
            }
        }
    }
}

/// Validation errors as (field, message), empty when valid.
pub fn validate(rt: &ResourceType, obj: &Value) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    match rt.kind {
        "Pod" => validate_containers("spec", &spec, &mut errors),
        "Deployment" | "ReplicaSet" => {
            validate_replicas(&spec, &mut errors);
            validate_selector(&spec, &mut errors);
            validate_containers(
                "spec.template.spec",
                spec.pointer("/template/spec").unwrap_or(&Value::Null),
                &mut errors,
            );
            if rt.kind == "Deployment"
                && let Some(ru) = spec.pointer("/strategy/rollingUpdate")
            {
                let zero = |v: Option<&Value>| match v {
                    Some(Value::Number(n)) => n.as_i64() == Some(0),
                    Some(Value::String(s)) => s == "0%" || s == "0",
                    _ => false,
                };
                if zero(ru.get("maxSurge")) && zero(ru.get("maxUnavailable")) {
                    errors.push((
                        "spec.strategy.rollingUpdate.maxUnavailable".into(),
                        "Invalid value: 0: may not be 0 when `maxSurge` is 0".into(),
                    ));
                }
            }
        }
        "Job" => validate_containers(
            "spec.template.spec",
            spec.pointer("/template/spec").unwrap_or(&Value::Null),
            &mut errors,
        ),
        "CronJob" => {
            if spec
                .get("schedule")
                .and_then(Value::as_str)
                .is_none_or(|s| s.trim().is_empty())
            {
                errors.push(("spec.schedule".into(), "Required value".into()));
            }
            validate_containers(
                "spec.jobTemplate.spec.template.spec",
                spec.pointer("/jobTemplate/spec/template/spec")
                    .unwrap_or(&Value::Null),
                &mut errors,
            )
        }
        "Service" => {
            if let Some(ports) = spec.get("ports").and_then(Value::as_array) {
                for (i, p) in ports.iter().enumerate() {
                    match p.get("port").and_then(Value::as_i64) {
                        Some(n) if (1..=65535).contains(&n) => {}
                        Some(n) => errors.push((
                            format!("spec.ports[{i}].port"),
                            format!("Invalid value: {n}: must be between 1 and 65535, inclusive"),
                        )),
                        None => {
                            errors.push((format!("spec.ports[{i}].port"), "Required value".into()))
                        }
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(labels) = obj.pointer("/metadata/labels") {
        match labels {
            Value::Object(m) => {
                for (k, v) in m {
                    if !v.is_string() {
                        errors.push((
                            format!("metadata.labels.{k}"),
                            format!("Invalid value: {v}: must be a string"),
                        ));
                    }
                }
            }
            Value::Null => {}
            _ => errors.push((
                "metadata.labels".into(),
                "Invalid value: must be a map".into(),
            )),
        }
    }
    errors
}
