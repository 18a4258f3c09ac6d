//! `kube.wait`: a condition on resources, watched until it holds or the step times out.
//!
//! The objects are watched (a list, then a watch from its resource version, re-listed when the
//! watch breaks); the condition is checked on every change, and a line of progress is shown
//! whenever the count of objects that meet it changes (`2/3 nodes Ready`). Conditions:
//! - a condition type whose status must be `True` (`Ready`, `Available`, `Complete`, ...), or
//!   another status with `Type=Status` (`Ready=False`); `condition=` in front is allowed, as kubectl
//!   writes it;
//! - for pods, a phase: `Pending`, `Running`, `Succeeded`, `Failed`;
//! - `jsonpath={.status.phase}=Running` (a JSONPath and the text it must give; without `=VALUE`, any
//!   non-empty result).
//!
//! Waiting for a job's `Complete`, a job that fails stops the wait at once.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use kube::api::DynamicObject;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use super::get::{Kind, resolve, split_resource};
use super::{ActionResult, Failure, KubeStep, describe_error};
use crate::runbook::jsonpath::JsonPath;
use crate::runbook::kube::Wait;

const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// What an object must show.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// A condition of this type with this status (`True` unless told).
    Type { ty: String, status: String },
    /// A pod phase.
    Phase(String),
    /// A JSONPath and the value it must give (any non-empty text when `None`).
    JsonPath {
        template: String,
        path: JsonPath,
        value: Option<String>,
    },
}

impl Cond {
    /// Reads a `condition` for objects of `kind` (e.g. `Pod`).
    pub fn parse(text: &str, kind: &str) -> Result<Cond, String> {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix("jsonpath=") {
            let rest = rest.trim();
            let (template, value) = split_jsonpath(rest).ok_or_else(|| {
                format!(
                    "`{text}`: `jsonpath={{...}}=VALUE` expected, e.g. `jsonpath={{.status.phase}}=Running`"
                )
            })?;
            let path = JsonPath::parse(&template)?;
            return Ok(Cond::JsonPath {
                template,
                path,
                value,
            });
        }
        let t = t.strip_prefix("condition=").unwrap_or(t);
        if t.is_empty() {
            return Err("`condition` is empty".into());
        }
        if kind == "Pod"
            && let Some(p) = PHASES.iter().find(|p| p.eq_ignore_ascii_case(t))
        {
            return Ok(Cond::Phase(p.to_string()));
        }
        let (ty, status) = match t.split_once('=') {
            Some((ty, st)) => (ty.trim(), st.trim()),
            None => (t, "True"),
        };
        if ty.is_empty() || status.is_empty() || ty.contains(char::is_whitespace) {
            return Err(format!(
                "`{text}` is not a condition: a condition type (`Ready`), a pod phase (`Running`) or `jsonpath={{...}}=VALUE` expected"
            ));
        }
        Ok(Cond::Type {
            ty: ty.to_string(),
            status: status.to_string(),
        })
    }

    /// Whether `obj` meets it.
    pub fn meets(&self, obj: &Value) -> bool {
        match self {
            Cond::Type { ty, status } => {
                condition(obj, ty).is_some_and(|c| str_of(c, "status").eq_ignore_ascii_case(status))
            }
            Cond::Phase(p) => obj.pointer("/status/phase").and_then(Value::as_str) == Some(p),
            Cond::JsonPath { path, value, .. } => {
                let got = path.render(obj);
                match value {
                    Some(v) => got.trim() == v,
                    None => !got.trim().is_empty(),
                }
            }
        }
    }

    /// As shown in progress lines: `Ready`, `Running`, `{.status.phase}=Running`.
    pub fn describe(&self) -> String {
        match self {
            Cond::Type { ty, status } if status.eq_ignore_ascii_case("true") => ty.clone(),
            Cond::Type { ty, status } => format!("{ty}={status}"),
            Cond::Phase(p) => p.clone(),
            Cond::JsonPath {
                template, value, ..
            } => match value {
                Some(v) => format!("{template}={v}"),
                None => template.clone(),
            },
        }
    }
}

/// `{...}=VALUE`, `'{...}'=VALUE` or `{...}`.
fn split_jsonpath(s: &str) -> Option<(String, Option<String>)> {
    let (template, rest) = if let Some(q @ ('\'' | '"')) = s.chars().next() {
        let end = s[1..].find(q)? + 1;
        (&s[1..end], &s[end + 1..])
    } else {
        // The template ends at the last `}` before `=VALUE`.
        let close = match s.rfind("}=") {
            Some(i) => i,
            None if s.ends_with('}') => s.len() - 1,
            None => return None,
        };
        (&s[..=close], &s[close + 1..])
    };
    if !template.starts_with('{') {
        return None;
    }
    let value = match rest.strip_prefix('=') {
        Some(v) => Some(v.trim().trim_matches(|c| c == '\'' || c == '"').to_string()),
        None if rest.trim().is_empty() => None,
        None => return None,
    };
    Some((template.to_string(), value))
}

fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| str_of(c, "type").eq_ignore_ascii_case(ty))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn key_of(o: &DynamicObject) -> String {
    format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("")
    )
}

/// Names shown when saying which objects do not meet the condition.
const NAMES_SHOWN: usize = 5;

pub async fn wait(cx: &mut KubeStep<'_>, a: &Wait) -> ActionResult {
    let count: Option<u32> = match &a.count {
        Some(c) => Some(c.within("count").map_err(Failure::Error)?),
        None => None,
    };
    let (res, name) = split_resource(&a.resource)?;
    let kind = resolve(&cx.client, res).await?;
    let cond = Cond::parse(&a.condition, &kind.ar.kind)?;
    let api = kind.api(&cx.client, &cx.ns);
    let mut cfg = watcher::Config::default();
    if let Some(s) = &a.selector {
        cfg = cfg.labels(s);
    }
    if let Some(n) = name {
        cfg = cfg.fields(&format!("metadata.name={n}"));
    }
    let stream = watcher::watcher(api, cfg).default_backoff();
    futures::pin_mut!(stream);
    let mut objs: BTreeMap<String, Value> = BTreeMap::new();
    let mut buffer: BTreeMap<String, Value> = BTreeMap::new();
    let mut synced = false;
    let mut shown: Option<(usize, usize)> = None;
    let what = Waiting {
        kind: &kind,
        cond: &cond,
        count,
        selector: a.selector.as_deref(),
        name,
        ns: &cx.ns,
    };
    loop {
        let next = match cx.deadline {
            Some(d) => match tokio::time::timeout_at(d, stream.try_next()).await {
                Ok(n) => n,
                Err(_) => {
                    return Err(Failure::Timeout(what.missing(synced.then_some(&objs))));
                }
            },
            None => stream.try_next().await,
        };
        let ev = match next {
            Ok(Some(ev)) => ev,
            Ok(None) => return Err(Failure::Error("the watch ended".into())),
            Err(e) => {
                if let Some(msg) = fatal(&e) {
                    return Err(Failure::Error(format!(
                        "cannot watch {}: {msg}",
                        kind.ar.plural
                    )));
                }
                continue;
            }
        };
        let to_value = |o: &DynamicObject| serde_json::to_value(o).unwrap_or(Value::Null);
        match ev {
            Event::Init => buffer.clear(),
            Event::InitApply(o) => {
                buffer.insert(key_of(&o), to_value(&o));
            }
            Event::InitDone => {
                objs = std::mem::take(&mut buffer);
                synced = true;
            }
            Event::Apply(o) => {
                objs.insert(key_of(&o), to_value(&o));
            }
            Event::Delete(o) => {
                objs.remove(&key_of(&o));
            }
        }
        if !synced {
            continue;
        }
        if kind.ar.kind == "Job"
            && matches!(&cond, Cond::Type { ty, status } if ty.eq_ignore_ascii_case("Complete") && status.eq_ignore_ascii_case("True"))
            && let Some(failed) = objs
                .values()
                .find(|o| Cond::parse("Failed", "Job").is_ok_and(|c| c.meets(o)))
        {
            let c = condition(failed, "Failed").cloned().unwrap_or(Value::Null);
            return Err(Failure::Error(format!(
                "job/{} failed: {}: {}",
                failed
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                str_of(&c, "reason"),
                str_of(&c, "message")
            )));
        }
        let meeting = objs.values().filter(|o| cond.meets(o)).count();
        let total = objs.len();
        if shown != Some((meeting, total)) {
            shown = Some((meeting, total));
            cx.say(what.progress(meeting, total)).await;
        }
        let done = match count {
            Some(n) => meeting >= n as usize,
            None => total >= 1 && meeting == total,
        };
        if done {
            return Ok(());
        }
    }
}

/// A watch error that retrying will not mend (forbidden, not found, a bad selector).
fn fatal(e: &watcher::Error) -> Option<String> {
    let kube_err = match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k) => k,
        watcher::Error::WatchError(s) => {
            return (s.code >= 400 && s.code < 500 && s.code != 410 && s.code != 429)
                .then(|| format!("{} ({})", s.message, s.code));
        }
        watcher::Error::NoResourceVersion => return Some(e.to_string()),
    };
    match kube_err {
        kube::Error::Api(s) if s.code >= 400 && s.code < 500 && s.code != 410 && s.code != 429 => {
            Some(describe_error(kube_err))
        }
        _ => None,
    }
}

struct Waiting<'a> {
    kind: &'a Kind,
    cond: &'a Cond,
    count: Option<u32>,
    selector: Option<&'a str>,
    name: Option<&'a str>,
    ns: &'a str,
}

impl Waiting<'_> {
    fn plural(&self) -> &str {
        &self.kind.ar.plural
    }

    /// `2/3 nodes Ready`, or with a count `1/3 nodes Ready (waiting for 5)`.
    fn progress(&self, meeting: usize, total: usize) -> String {
        let mut s = format!(
            "{meeting}/{total} {} {}",
            self.plural(),
            self.cond.describe()
        );
        if let Some(n) = self.count
            && n as usize != total
        {
            s.push_str(&format!(" (waiting for {n})"));
        }
        s
    }

    /// Why the wait is not over: what is missing, naming the objects that do not meet it.
    fn missing(&self, objs: Option<&BTreeMap<String, Value>>) -> String {
        let want = self.cond.describe();
        let Some(objs) = objs else {
            return format!(
                "timed out waiting for {} {want}: the {} could not be listed",
                self.plural(),
                self.plural()
            );
        };
        let meeting = objs.values().filter(|o| self.cond.meets(o)).count();
        if objs.is_empty() {
            let mut s = match self.name {
                Some(n) => format!(
                    "timed out waiting for {}/{n} {want}: it does not exist",
                    self.kind.ar.kind.to_lowercase()
                ),
                None => format!(
                    "timed out waiting for {} {want}: there are none",
                    self.plural()
                ),
            };
            if let Some(sel) = self.selector {
                s.push_str(&format!(" matching `{sel}`"));
            }
            if self.kind.namespaced {
                s.push_str(&format!(" in namespace {}", self.ns));
            }
            return s;
        }
        let need = match self.count {
            Some(n) => n as usize,
            None => objs.len(),
        };
        let not: Vec<String> = objs
            .values()
            .filter(|o| !self.cond.meets(o))
            .map(|o| {
                format!(
                    "{}/{}",
                    self.kind.ar.kind.to_lowercase(),
                    o.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            })
            .collect();
        let mut s = format!(
            "timed out waiting for {} {want}: {meeting} of {need} wanted ({} seen)",
            self.plural(),
            objs.len()
        );
        if !not.is_empty() {
            let more = not.len().saturating_sub(NAMES_SHOWN);
            s.push_str(&format!(
                "; not {want}: {}",
                not.iter()
                    .take(NAMES_SHOWN)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
        } else if meeting < need {
            s.push_str(&format!("; only {meeting} exist"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_parse() {
        assert_eq!(
            Cond::parse("Ready", "Node").unwrap(),
            Cond::Type {
                ty: "Ready".into(),
                status: "True".into()
            }
        );
        assert_eq!(
            Cond::parse("condition=Ready=False", "Pod")
                .unwrap()
                .describe(),
            "Ready=False"
        );
        assert_eq!(
            Cond::parse("running", "Pod").unwrap(),
            Cond::Phase("Running".into())
        );
        // Not a phase for other kinds: a condition type.
        assert!(matches!(
            Cond::parse("Failed", "Job").unwrap(),
            Cond::Type { .. }
        ));
        let j = Cond::parse("jsonpath={.status.phase}=Running", "Pod").unwrap();
        assert_eq!(j.describe(), "{.status.phase}=Running");
        let q = Cond::parse("jsonpath='{.status.phase}'=Running", "Pod").unwrap();
        assert_eq!(q.describe(), "{.status.phase}=Running");
        assert!(Cond::parse("jsonpath=.status.phase", "Pod").is_err());
        assert!(Cond::parse("jsonpath={.status.phase=Running", "Pod").is_err());
        assert!(Cond::parse("is ready", "Pod").is_err());
    }

    #[test]
    fn conditions_match() {
        let pod = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(Cond::parse("Ready", "Pod").unwrap().meets(&pod));
        assert!(Cond::parse("ready", "Pod").unwrap().meets(&pod));
        assert!(!Cond::parse("Ready=False", "Pod").unwrap().meets(&pod));
        assert!(Cond::parse("Running", "Pod").unwrap().meets(&pod));
        assert!(!Cond::parse("Succeeded", "Pod").unwrap().meets(&pod));
        assert!(
            Cond::parse("jsonpath={.status.phase}=Running", "Pod")
                .unwrap()
                .meets(&pod)
        );
        assert!(
            Cond::parse(
                r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}=True"#,
                "Pod"
            )
            .unwrap()
            .meets(&pod)
        );
        assert!(!Cond::parse("Available", "Deployment").unwrap().meets(&pod));
    }
}
