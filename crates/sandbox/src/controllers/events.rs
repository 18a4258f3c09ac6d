//! Events as Kubernetes' recorders write them.
//!
//! - Controllers and the kubelet use client-go's `record` package (core/v1 Events): `source`,
//!   `reportingComponent`/`reportingInstance`, `firstTimestamp`/`lastTimestamp`, `count`; a repeat of
//!   an identical event (same source, involved object, type, reason and message, as the
//!   `EventCorrelator`'s key) increments `count` and moves `lastTimestamp` instead of creating another.
//! - The scheduler uses the `events.k8s.io/v1` recorder: `eventTime`, `action`,
//!   `reportingComponent: default-scheduler`, an empty `source`, no first/last timestamps; a repeat
//!   becomes a `series` with a count.
//!
//! Names are `{involvedObject.name}.{unix nanoseconds in hex}`, as both recorders make them.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::object::{name_of, namespace_of, uid_of};
use crate::resources::by_kind;
use crate::store::{self, Store};

/// Who reports an event.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A kube-controller-manager controller, e.g. "deployment-controller".
    Controller(&'static str),
    /// The kubelet of a node.
    Kubelet(&'a str),
    /// The default scheduler, with the events.k8s.io action ("Scheduling", "Binding").
    Scheduler(&'static str),
}

/// The correlator's cache: identical events are counted, not repeated.
#[derive(Default)]
pub struct Recorder {
    seen: HashMap<String, (String, String, i64)>,
    last_nanos: i64,
}

/// Largest number of distinct events remembered (client-go's LRU holds 4096).
const CACHE: usize = 4096;

impl Recorder {
    /// Record an event about `obj` (a container's when `field_path` is given).
    #[allow(clippy::too_many_arguments)] // the fields of an event, as `recorder.Eventf` takes them
    pub fn emit(
        &mut self,
        store: &Store,
        obj: &Value,
        field_path: Option<&str>,
        type_: &str,
        reason: &str,
        message: &str,
        source: Source<'_>,
    ) {
        let ns = match namespace_of(obj) {
            "" => "default",
            n => n,
        };
        let (component, host) = match source {
            Source::Controller(c) => (c, ""),
            Source::Kubelet(node) => ("kubelet", node),
            Source::Scheduler(_) => ("default-scheduler", ""),
        };
        let cache_key = [
            component,
            host,
            obj.get("kind").and_then(Value::as_str).unwrap_or(""),
            ns,
            name_of(obj),
            field_path.unwrap_or(""),
            uid_of(obj),
            type_,
            reason,
            message,
        ]
        .join("\u{0}");
        let rt = by_kind("Event");
        if let Some((ens, ename, count)) = self.seen.get(&cache_key).cloned() {
            let count = count + 1;
            let scheduler = matches!(source, Source::Scheduler(_));
            let r = store.modify(rt, &ens, &ename, store::Part::All, |e| {
                if scheduler {
                    e["series"] = json!({"count": count, "lastObservedTime": store::now_micro()});
                } else {
                    e["count"] = json!(count);
                    e["lastTimestamp"] = json!(store::now());
                }
                Ok(())
            });
            if r.is_ok() {
                self.seen.insert(cache_key, (ens, ename, count));
                return;
            }
        }
        let mut involved = json!({
            "kind": obj.get("kind").cloned().unwrap_or(Value::Null),
            "namespace": namespace_of(obj),
            "name": name_of(obj),
            "uid": uid_of(obj),
            "apiVersion": obj.get("apiVersion").cloned().unwrap_or(Value::Null),
            "resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null),
        });
        if namespace_of(obj).is_empty()
            && let Some(m) = involved.as_object_mut()
        {
            m.remove("namespace");
        }
        if let Some(fp) = field_path {
            involved["fieldPath"] = json!(fp);
        }
        let mut nanos = chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or(self.last_nanos + 1);
        if nanos <= self.last_nanos {
            nanos = self.last_nanos + 1;
        }
        self.last_nanos = nanos;
        let name = format!("{}.{:x}", name_of(obj), nanos);
        let ev = match source {
            Source::Scheduler(action) => json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": {},
                "firstTimestamp": null,
                "lastTimestamp": null,
                "type": type_,
                "eventTime": store::now_micro(),
                "action": action,
                "reportingComponent": "default-scheduler",
                "reportingInstance": "default-scheduler-sandbox-control-plane",
            }),
            _ => {
                let mut src = json!({"component": component});
                if !host.is_empty() {
                    src["host"] = json!(host);
                }
                let now = store::now();
                json!({
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": ns},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": message,
                    "source": src,
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                    "type": type_,
                    "eventTime": null,
                    "reportingComponent": component,
                    "reportingInstance": host,
                })
            }
        };
        if store.create(rt, ns, ev, false).is_ok() {
            if self.seen.len() >= CACHE {
                self.seen.clear();
            }
            self.seen.insert(cache_key, (ns.to_string(), name, 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> std::sync::Arc<Store> {
        let s = Store::new();
        let _ = s.create(
            by_kind("Namespace"),
            "",
            json!({"metadata": {"name": "default"}}),
            false,
        );
        s
    }

    #[test]
    fn repeats_are_counted() {
        let s = store();
        let pod = json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u"}});
        let mut r = Recorder::default();
        for _ in 0..3 {
            r.emit(
                &s,
                &pod,
                Some("spec.containers{web}"),
                "Warning",
                "BackOff",
                "m",
                Source::Kubelet("n1"),
            );
        }
        r.emit(
            &s,
            &pod,
            None,
            "Normal",
            "Other",
            "m",
            Source::Kubelet("n1"),
        );
        let (evs, _) = s.list(by_kind("Event"), Some("default"), &|_| true);
        assert_eq!(evs.len(), 2);
        let backoff = evs.iter().find(|e| e["reason"] == "BackOff").unwrap();
        assert_eq!(backoff["count"], 3);
        assert_eq!(
            backoff["source"],
            json!({"component": "kubelet", "host": "n1"})
        );
        assert_eq!(
            backoff["involvedObject"]["fieldPath"],
            "spec.containers{web}"
        );
        assert!(
            backoff["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("web-1.")
        );
    }

    #[test]
    fn scheduler_events_use_series() {
        let s = store();
        let pod = json!({"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "namespace": "default", "uid": "u"}});
        let mut r = Recorder::default();
        r.emit(
            &s,
            &pod,
            None,
            "Warning",
            "FailedScheduling",
            "x",
            Source::Scheduler("Scheduling"),
        );
        r.emit(
            &s,
            &pod,
            None,
            "Warning",
            "FailedScheduling",
            "x",
            Source::Scheduler("Scheduling"),
        );
        let (evs, _) = s.list(by_kind("Event"), Some("default"), &|_| true);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0]["series"]["count"], 2);
        assert_eq!(evs[0]["reportingComponent"], "default-scheduler");
        assert!(evs[0]["firstTimestamp"].is_null());
    }
}
