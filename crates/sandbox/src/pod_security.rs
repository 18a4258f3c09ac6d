//! Pod Security admission, as the built-in `PodSecurity` admission plugin
//! (`k8s.io/pod-security-admission`) decides a pod's create.
//!
//! The namespace's labels choose the levels: `pod-security.kubernetes.io/enforce` (a pod that
//! violates it is refused, 403 Forbidden) and `pod-security.kubernetes.io/warn` (a pod that
//! violates it is created with a `Warning` header), each `privileged` (no check, and the level of
//! a namespace without the label), `baseline` or `restricted`. A level the plugin cannot parse is
//! enforced as `restricted` (it fails closed); `-version` labels name the version in the message
//! (`restricted:v1.30`) and are otherwise ignored: the checks are those of `latest`.
//!
//! The checks, in the order the plugin's registry runs them (baseline's, then at `baseline` the
//! ones the restricted level replaces, or at `restricted` the restricted ones), with their reasons
//! and details copied from `policy/check_*.go`:
//! - baseline: `hostNamespaces`, `hostPorts`, `privileged`; at baseline only:
//!   `capabilities_baseline` (adds beyond the default set), `hostPathVolumes`;
//! - restricted: `allowPrivilegeEscalation`, `capabilities_restricted` (drop ALL, add only
//!   NET_BIND_SERVICE), `restrictedVolumes`, `runAsNonRoot`, `runAsUser`,
//!   `seccompProfile_restricted` (RuntimeDefault or Localhost).
//!
//! Not modelled: AppArmor, SELinux, procMount, sysctls, host probes, Windows host process,
//! seccomp's baseline check, the user-namespace relaxation, and pod updates (only creates are
//! checked); `audit` labels (there is no audit log).

use serde_json::{Map, Value};

use crate::error::ApiError;

pub const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
pub const WARN: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";

/// A Pod Security Standards level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    /// `ParseLevel`: an unknown value is an error, treated as `restricted`.
    fn parse(s: &str) -> Level {
        match s {
            "privileged" => Level::Privileged,
            "baseline" => Level::Baseline,
            _ => Level::Restricted,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

/// A level and the version it is named with (`latest` or `v1.N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LevelVersion {
    pub level: Level,
    pub version: String,
}

impl std::fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.level.as_str(), self.version)
    }
}

/// `ParseVersion`: `latest` or `v1.N`; anything else is `latest`.
fn version(s: Option<&str>) -> String {
    match s {
        Some(v)
            if v.strip_prefix("v1.")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            v.to_string()
        }
        _ => "latest".into(),
    }
}

fn label<'a>(ns: &'a Value, key: &str) -> Option<&'a str> {
    ns.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

fn level_of(ns: &Value, level_key: &str, version_key: &str) -> LevelVersion {
    LevelVersion {
        level: label(ns, level_key).map_or(Level::Privileged, Level::parse),
        version: version(label(ns, version_key)),
    }
}

/// The namespace's enforce level (privileged when unlabelled).
pub fn enforce(ns: &Value) -> LevelVersion {
    level_of(ns, ENFORCE, ENFORCE_VERSION)
}

/// The namespace's warn level (privileged when unlabelled; an unknown value warns as restricted,
/// as the plugin does).
pub fn warn(ns: &Value) -> LevelVersion {
    level_of(ns, WARN, WARN_VERSION)
}

/// One failed check: its reason and its detail (may be empty).
pub type Violation = (String, String);

/// `AggregateCheckResult.ForbiddenDetail`: `reason (detail), reason (detail)`.
pub fn detail(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|(r, d)| {
            if d.is_empty() {
                r.clone()
            } else {
                format!("{r} ({d})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The 403 the API server answers a pod create with when the namespace's enforce level refuses
/// it (`pods "NAME" is forbidden: violates PodSecurity "restricted:latest": …`), or None.
pub fn refuse(ns: &Value, name: &str, pod: &Value) -> Option<ApiError> {
    let lv = enforce(ns);
    let v = evaluate(lv.level, pod);
    if v.is_empty() {
        return None;
    }
    let mut e = ApiError::forbidden(format!(
        "pods \"{name}\" is forbidden: violates PodSecurity \"{lv}\": {}",
        detail(&v)
    ));
    e.details = Some(serde_json::json!({"name": name, "kind": "pods"}));
    Some(e)
}

/// The warning a pod create that is allowed gets when it violates the namespace's warn level
/// (`would violate PodSecurity "restricted:latest": …`), or None.
pub fn warning(ns: &Value, pod: &Value) -> Option<String> {
    let lv = warn(ns);
    let v = evaluate(lv.level, pod);
    if v.is_empty() {
        return None;
    }
    Some(format!(
        "would violate PodSecurity \"{lv}\": {}",
        detail(&v)
    ))
}

/// The checks of `level` a pod fails, in the registry's order.
pub fn evaluate(level: Level, pod: &Value) -> Vec<Violation> {
    let empty = Value::Object(Map::new());
    let spec = pod.get("spec").unwrap_or(&empty);
    let checks: &[fn(&Value) -> Option<Violation>] = match level {
        Level::Privileged => &[],
        Level::Baseline => &[
            host_namespaces,
            host_ports,
            privileged,
            capabilities_baseline,
            host_path_volumes,
        ],
        Level::Restricted => &[
            host_namespaces,
            host_ports,
            privileged,
            allow_privilege_escalation,
            capabilities_restricted,
            restricted_volumes,
            run_as_non_root,
            run_as_user,
            seccomp_profile_restricted,
        ],
    };
    checks.iter().filter_map(|c| c(spec)).collect()
}

/// `visitContainers`: init containers, containers, then ephemeral containers.
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |k| {
            spec.get(k)
                .and_then(Value::as_array)
                .map(|a| a.as_slice())
                .unwrap_or(&[])
        })
}

fn cname(c: &Value) -> String {
    c.get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn sc<'a>(c: &'a Value, field: &str) -> Option<&'a Value> {
    c.get("securityContext")
        .and_then(|s| s.get(field))
        .filter(|v| !v.is_null())
}

fn join_quote(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    format!("\"{}\"", items.join("\", \""))
}

fn pluralize<'a>(singular: &'a str, plural: &'a str, n: usize) -> &'a str {
    if n == 1 { singular } else { plural }
}

fn containers_phrase(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// A sorted set of strings, as `sets.NewString().List()` gives.
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

fn truthy(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

fn host_namespaces(spec: &Value) -> Option<Violation> {
    let on: Vec<String> = ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .filter(|k| truthy(spec.get(*k)))
        .map(|k| format!("{k}=true"))
        .collect();
    (!on.is_empty()).then(|| ("host namespaces".into(), on.join(", ")))
}

fn host_ports(spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut ports = Vec::new();
    for c in containers(spec) {
        let mut valid = true;
        for p in c
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(hp) = p.get("hostPort").and_then(Value::as_i64)
                && hp != 0
            {
                valid = false;
                ports.push(hp.to_string());
            }
        }
        if !valid {
            bad.push(cname(c));
        }
    }
    if bad.is_empty() {
        return None;
    }
    let ports = sorted(ports);
    Some((
        "hostPort".into(),
        format!(
            "{} {} {} {}",
            containers_phrase(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    ))
}

fn privileged(spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = containers(spec)
        .filter(|c| truthy(sc(c, "privileged")))
        .map(cname)
        .collect();
    (!bad.is_empty()).then(|| {
        (
            "privileged".into(),
            format!(
                "{} must not set securityContext.privileged=true",
                containers_phrase(&bad)
            ),
        )
    })
}

fn strings_at<'a>(v: Option<&'a Value>, key: &str) -> Vec<&'a str> {
    v.and_then(|c| c.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The capabilities a baseline pod may add (`capabilities_allowed_1_0`).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn capabilities_baseline(spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut caps = Vec::new();
    for c in containers(spec) {
        let added = strings_at(sc(c, "capabilities"), "add");
        let extra: Vec<String> = added
            .into_iter()
            .filter(|a| !BASELINE_CAPABILITIES.contains(a))
            .map(str::to_string)
            .collect();
        if !extra.is_empty() {
            bad.push(cname(c));
            caps.extend(extra);
        }
    }
    (!bad.is_empty()).then(|| {
        (
            "non-default capabilities".into(),
            format!(
                "{} must not include {} in securityContext.capabilities.add",
                containers_phrase(&bad),
                join_quote(&sorted(caps))
            ),
        )
    })
}

fn volumes(spec: &Value) -> impl Iterator<Item = &Value> {
    spec.get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn has(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}

fn host_path_volumes(spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = volumes(spec)
        .filter(|v| has(v, "hostPath"))
        .map(cname)
        .collect();
    (!bad.is_empty()).then(|| {
        (
            "hostPath volumes".into(),
            format!(
                "{} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad)
            ),
        )
    })
}

fn allow_privilege_escalation(spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = containers(spec)
        .filter(|c| sc(c, "allowPrivilegeEscalation").and_then(Value::as_bool) != Some(false))
        .map(cname)
        .collect();
    (!bad.is_empty()).then(|| {
        (
            "allowPrivilegeEscalation != false".into(),
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                containers_phrase(&bad)
            ),
        )
    })
}

fn capabilities_restricted(spec: &Value) -> Option<Violation> {
    let mut missing_drop = Vec::new();
    let mut adding = Vec::new();
    let mut forbidden = Vec::new();
    for c in containers(spec) {
        let Some(caps) = sc(c, "capabilities") else {
            missing_drop.push(cname(c));
            continue;
        };
        if !strings_at(Some(caps), "drop").contains(&"ALL") {
            missing_drop.push(cname(c));
        }
        let extra: Vec<String> = strings_at(Some(caps), "add")
            .into_iter()
            .filter(|a| *a != "NET_BIND_SERVICE")
            .map(str::to_string)
            .collect();
        if !extra.is_empty() {
            adding.push(cname(c));
            forbidden.extend(extra);
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&sorted(forbidden))
        ));
    }
    (!details.is_empty()).then(|| ("unrestricted capabilities".into(), details.join("; ")))
}

/// Inline volume sources the restricted level allows.
const ALLOWED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The volume sources `restrictedVolumes` names, in its order.
const RESTRICTED_VOLUMES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

fn restricted_volumes(spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = Vec::new();
    for v in volumes(spec) {
        if ALLOWED_VOLUMES.iter().any(|k| has(v, k)) {
            continue;
        }
        bad.push(cname(v));
        types.push(
            RESTRICTED_VOLUMES
                .iter()
                .find(|k| has(v, k))
                .map_or("unknown", |k| *k)
                .to_string(),
        );
    }
    if bad.is_empty() {
        return None;
    }
    let types = sorted(types);
    Some((
        "restricted volume types".into(),
        format!(
            "{} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            format_args!(
                "{} {}",
                pluralize(
                    "restricted volume type",
                    "restricted volume types",
                    types.len()
                ),
                join_quote(&types)
            )
        ),
    ))
}

fn pod_sc<'a>(spec: &'a Value, field: &str) -> Option<&'a Value> {
    spec.get("securityContext")
        .and_then(|s| s.get(field))
        .filter(|v| !v.is_null())
}

fn run_as_non_root(spec: &Value) -> Option<Violation> {
    let mut bad_setters = Vec::new();
    let mut pod_true = false;
    if let Some(v) = pod_sc(spec, "runAsNonRoot").and_then(Value::as_bool) {
        if v {
            pod_true = true;
        } else {
            bad_setters.push("pod".to_string());
        }
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match sc(c, "runAsNonRoot").and_then(Value::as_bool) {
            Some(false) => explicit.push(cname(c)),
            Some(true) => {}
            None if !pod_true => implicit.push(cname(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        bad_setters.push(containers_phrase(&explicit));
    }
    let reason = "runAsNonRoot != true".to_string();
    if !bad_setters.is_empty() {
        return Some((
            reason,
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                bad_setters.join(" and ")
            ),
        ));
    }
    (!implicit.is_empty()).then(|| {
        (
            reason,
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        )
    })
}

fn run_as_user(spec: &Value) -> Option<Violation> {
    let mut bad_setters = Vec::new();
    if pod_sc(spec, "runAsUser").and_then(Value::as_i64) == Some(0) {
        bad_setters.push("pod".to_string());
    }
    let bad: Vec<String> = containers(spec)
        .filter(|c| sc(c, "runAsUser").and_then(Value::as_i64) == Some(0))
        .map(cname)
        .collect();
    if !bad.is_empty() {
        bad_setters.push(containers_phrase(&bad));
    }
    (!bad_setters.is_empty()).then(|| {
        (
            "runAsUser=0".into(),
            format!("{} must not set runAsUser=0", bad_setters.join(" and ")),
        )
    })
}

fn seccomp_type(v: Option<&Value>) -> Option<&str> {
    v.map(|p| p.get("type").and_then(Value::as_str).unwrap_or(""))
}

fn valid_seccomp(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

fn seccomp_profile_restricted(spec: &Value) -> Option<Violation> {
    let mut bad_setters = Vec::new();
    let mut bad_values = Vec::new();
    let mut pod_set = false;
    if let Some(t) = seccomp_type(pod_sc(spec, "seccompProfile")) {
        if valid_seccomp(t) {
            pod_set = true;
        } else {
            bad_setters.push("pod".to_string());
            bad_values.push(t.to_string());
        }
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match seccomp_type(sc(c, "seccompProfile")) {
            Some(t) if !valid_seccomp(t) => {
                explicit.push(cname(c));
                bad_values.push(t.to_string());
            }
            Some(_) => {}
            None if !pod_set => implicit.push(cname(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        bad_setters.push(containers_phrase(&explicit));
    }
    let reason = "seccompProfile".to_string();
    if !bad_setters.is_empty() {
        return Some((
            reason,
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                bad_setters.join(" and "),
                join_quote(&sorted(bad_values))
            ),
        ));
    }
    (!implicit.is_empty()).then(|| {
        (
            reason,
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&implicit)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns(labels: Value) -> Value {
        json!({"metadata": {"name": "prod", "labels": labels}})
    }

    #[test]
    fn a_bare_pod_in_a_restricted_namespace_gets_the_plugins_message() {
        let pod = json!({"spec": {"containers": [{"name": "x", "image": "nginx"}]}});
        let e = refuse(&ns(json!({ENFORCE: "restricted"})), "p", &pod).unwrap();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: violates PodSecurity \"restricted:latest\": \
             allowPrivilegeEscalation != false (container \"x\" must set securityContext.allowPrivilegeEscalation=false), \
             unrestricted capabilities (container \"x\" must set securityContext.capabilities.drop=[\"ALL\"]), \
             runAsNonRoot != true (pod or container \"x\" must set securityContext.runAsNonRoot=true), \
             seccompProfile (pod or container \"x\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
        assert!(refuse(&ns(json!({ENFORCE: "baseline"})), "p", &pod).is_none());
        assert!(refuse(&ns(json!({})), "p", &pod).is_none());
    }

    #[test]
    fn baseline_names_host_namespaces_ports_privilege_capabilities_and_host_paths() {
        let pod = json!({"spec": {
            "hostNetwork": true, "hostPID": true,
            "containers": [
                {"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}],
                 "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN", "CHOWN", "NET_RAW"]}}},
                {"name": "b", "ports": [{"hostPort": 9090}]}],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}, {"name": "tmp", "emptyDir": {}}]}});
        let v = evaluate(Level::Baseline, &pod);
        assert_eq!(
            detail(&v),
            "host namespaces (hostNetwork=true, hostPID=true), \
             hostPort (containers \"a\", \"b\" use hostPorts 8080, 9090), \
             privileged (container \"a\" must not set securityContext.privileged=true), \
             non-default capabilities (container \"a\" must not include \"NET_RAW\", \"SYS_ADMIN\" in securityContext.capabilities.add), \
             hostPath volumes (volume \"root\")"
        );
        // At restricted, the restricted checks replace the two overlapping ones.
        let r = detail(&evaluate(Level::Restricted, &pod));
        assert!(
            r.contains(
                "restricted volume types (volume \"root\" uses restricted volume type \"hostPath\")"
            ),
            "{r}"
        );
        assert!(r.contains("container \"a\" must not include \"CHOWN\", \"NET_RAW\", \"SYS_ADMIN\" in securityContext.capabilities.add"), "{r}");
        assert!(
            !r.contains("hostPath volumes") && !r.contains("non-default"),
            "{r}"
        );
    }

    #[test]
    fn a_restricted_pod_passes_and_bad_values_are_named() {
        let good = json!({"spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "x", "securityContext": {"allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
            "volumes": [{"name": "s", "secret": {"secretName": "s"}}]}});
        assert_eq!(evaluate(Level::Restricted, &good), vec![]);
        let bad = json!({"spec": {
            "securityContext": {"runAsNonRoot": false, "runAsUser": 0, "seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "x", "securityContext": {"allowPrivilegeEscalation": false, "runAsNonRoot": false,
                "capabilities": {"drop": ["ALL"]}}}]}});
        assert_eq!(
            detail(&evaluate(Level::Restricted, &bad)),
            "runAsNonRoot != true (pod and container \"x\" must not set securityContext.runAsNonRoot=false), \
             runAsUser=0 (pod must not set runAsUser=0), \
             seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"
        );
    }

    #[test]
    fn labels_name_the_level_and_version_and_fail_closed() {
        let n = ns(json!({ENFORCE: "restricted", ENFORCE_VERSION: "v1.30"}));
        assert_eq!(enforce(&n).to_string(), "restricted:v1.30");
        let n = ns(json!({ENFORCE: "strict", ENFORCE_VERSION: "1.30"}));
        assert_eq!(enforce(&n).to_string(), "restricted:latest");
        assert_eq!(enforce(&ns(json!({}))).level, Level::Privileged);
        let pod = json!({"spec": {"containers": [{"name": "x"}]}});
        let w = warning(&ns(json!({WARN: "baseline"})), &pod);
        assert_eq!(w, None);
        let w = warning(&ns(json!({WARN: "restricted"})), &pod).unwrap();
        assert!(
            w.starts_with(
                "would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false"
            ),
            "{w}"
        );
    }
}
