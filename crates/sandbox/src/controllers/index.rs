//! What the informers' caches and the controllers' indexers would hold: pods by controller, node
//! and namespace, replica sets by owner, orphans, nodes; and what each node's pods request.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::conditions::is_terminal;
use super::owners::controller_ref;
use super::pod_requests::pod_requests;
use crate::object::{Key, str_at};

/// Resource use of a pod bound to a node, as the scheduler counts it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub cpu_milli: i64,
    pub memory: i64,
    /// The pod's controller (uid), for spreading.
    pub owner: Option<String>,
}

/// The pods bound to a node and what they request, kept summed (the scheduler's NodeInfo).
#[derive(Clone, Debug, Default)]
pub struct NodeUsage {
    pub pods: BTreeMap<Key, Usage>,
    pub cpu_milli: i64,
    pub memory: i64,
    /// Controller uid → pods of it on the node.
    pub by_owner: HashMap<String, i64>,
}

impl NodeUsage {
    fn add(&mut self, key: Key, u: Usage) {
        self.cpu_milli += u.cpu_milli;
        self.memory += u.memory;
        if let Some(o) = &u.owner {
            *self.by_owner.entry(o.clone()).or_default() += 1;
        }
        if let Some(old) = self.pods.insert(key, u) {
            self.sub(&old);
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.pods.remove(key) {
            self.sub(&old);
        }
    }

    fn sub(&mut self, u: &Usage) {
        self.cpu_milli -= u.cpu_milli;
        self.memory -= u.memory;
        if let Some(o) = &u.owner
            && let Some(n) = self.by_owner.get_mut(o)
        {
            *n -= 1;
            if *n <= 0 {
                self.by_owner.remove(o);
            }
        }
    }
}

/// What the informers' caches and the controllers' indexers would hold.
#[derive(Default)]
pub struct Index {
    /// Controller uid → keys of the pods it controls.
    pub pods_by_owner: HashMap<String, BTreeSet<Key>>,
    pod_owner: HashMap<Key, String>,
    /// Namespace → names of pods without a controller.
    pub orphan_pods: HashMap<String, BTreeSet<String>>,
    /// Node → pods bound to it that are not terminal, with their requests and totals.
    pub pods_on_node: HashMap<String, NodeUsage>,
    pod_node: HashMap<Key, String>,
    /// Namespace → replica set names.
    pub rs_by_ns: HashMap<String, BTreeSet<String>>,
    /// Controller uid → replica sets it controls.
    pub rs_by_owner: HashMap<String, BTreeSet<Key>>,
    /// Replica set → (controller uid, controller kind, controller name).
    pub rs_owner: HashMap<Key, (String, String, String)>,
    /// Namespace → names of replica sets without a controller.
    pub orphan_rs: HashMap<String, BTreeSet<String>>,
    pub deploys_by_ns: HashMap<String, BTreeSet<String>>,
    pub jobs_by_ns: HashMap<String, BTreeSet<String>>,
    pub rollouts_by_ns: HashMap<String, BTreeSet<String>>,
    pub nodes: BTreeMap<String, Arc<Value>>,
}

fn remove_from<K: std::hash::Hash + Eq, V: Ord>(m: &mut HashMap<K, BTreeSet<V>>, k: &K, v: &V) {
    if let Some(set) = m.get_mut(k) {
        set.remove(v);
        if set.is_empty() {
            m.remove(k);
        }
    }
}

impl Index {
    /// Record a pod (or its removal, `None`).
    pub fn index_pod(&mut self, key: &Key, pod: Option<&Value>) {
        if let Some(owner) = self.pod_owner.remove(key) {
            remove_from(&mut self.pods_by_owner, &owner, key);
        }
        remove_from(&mut self.orphan_pods, &key.0, &key.1);
        if let Some(node) = self.pod_node.remove(key)
            && let Some(m) = self.pods_on_node.get_mut(&node)
        {
            m.remove(key);
        }
        let Some(pod) = pod else { return };
        match controller_ref(pod)
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
        {
            Some(uid) => {
                self.pod_owner.insert(key.clone(), uid.to_string());
                self.pods_by_owner
                    .entry(uid.to_string())
                    .or_default()
                    .insert(key.clone());
            }
            None => {
                self.orphan_pods
                    .entry(key.0.clone())
                    .or_default()
                    .insert(key.1.clone());
            }
        }
        let node = str_at(pod, "/spec/nodeName");
        if !node.is_empty() && !is_terminal(pod) {
            self.bind(key, node, pod);
        }
    }

    /// Count a pod on a node (the scheduler does this as it binds, before the change comes back).
    pub fn bind(&mut self, key: &Key, node: &str, pod: &Value) {
        let (cpu_milli, memory) = pod_requests(pod);
        let owner = controller_ref(pod)
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(old) = self.pod_node.insert(key.clone(), node.to_string())
            && old != node
            && let Some(m) = self.pods_on_node.get_mut(&old)
        {
            m.remove(key);
        }
        self.pods_on_node.entry(node.to_string()).or_default().add(
            key.clone(),
            Usage {
                cpu_milli,
                memory,
                owner,
            },
        );
    }

    pub(super) fn index_rs(&mut self, key: &Key, rs: Option<&Value>) {
        if let Some((uid, _, _)) = self.rs_owner.remove(key) {
            remove_from(&mut self.rs_by_owner, &uid, key);
        }
        remove_from(&mut self.orphan_rs, &key.0, &key.1);
        remove_from(&mut self.rs_by_ns, &key.0, &key.1);
        let Some(rs) = rs else { return };
        self.rs_by_ns
            .entry(key.0.clone())
            .or_default()
            .insert(key.1.clone());
        match controller_ref(rs) {
            Some(r) => {
                let uid = str_at(r, "/uid").to_string();
                self.rs_owner.insert(
                    key.clone(),
                    (
                        uid.clone(),
                        str_at(r, "/kind").to_string(),
                        str_at(r, "/name").to_string(),
                    ),
                );
                self.rs_by_owner.entry(uid).or_default().insert(key.clone());
            }
            None => {
                self.orphan_rs
                    .entry(key.0.clone())
                    .or_default()
                    .insert(key.1.clone());
            }
        }
    }

    pub(super) fn index_named(
        map: &mut HashMap<String, BTreeSet<String>>,
        key: &Key,
        present: bool,
    ) {
        if present {
            map.entry(key.0.clone()).or_default().insert(key.1.clone());
        } else {
            remove_from(map, &key.0, &key.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn index_tracks_owners_orphans_and_nodes() {
        let mut idx = Index::default();
        let k: Key = ("ns".into(), "p".into());
        let owned = json!({"metadata": {"name": "p", "namespace": "ns",
            "ownerReferences": [{"uid": "u1", "controller": true, "kind": "ReplicaSet", "name": "rs"}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}]}});
        idx.index_pod(&k, Some(&owned));
        assert!(idx.pods_by_owner["u1"].contains(&k));
        assert_eq!(idx.pods_on_node["n1"].pods[&k].cpu_milli, 250);
        assert_eq!(idx.pods_on_node["n1"].cpu_milli, 250);
        assert_eq!(idx.pods_on_node["n1"].by_owner["u1"], 1);
        let orphan = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {}});
        idx.index_pod(&k, Some(&orphan));
        assert!(!idx.pods_by_owner.contains_key("u1"));
        assert!(idx.orphan_pods["ns"].contains("p"));
        assert!(idx.pods_on_node["n1"].pods.is_empty());
        assert_eq!(idx.pods_on_node["n1"].cpu_milli, 0);
        assert!(idx.pods_on_node["n1"].by_owner.is_empty());
        idx.index_pod(&k, None);
        assert!(!idx.orphan_pods.contains_key("ns"));
    }
}
