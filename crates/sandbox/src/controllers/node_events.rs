//! The events a node has when it joins a cluster, as `kubectl describe node` lists them: the
//! kubelet's (Starting, the NodeHas… conditions, NodeAllocatableEnforced, NodeReady), recorded with
//! the node's name as the involved object's uid as the kubelet does, and the node lifecycle
//! controller's RegisteredNode with the node's own uid.

use serde_json::Value;

use super::events::{Recorder, Source};
use crate::object::{PointerLookup, name_of, str_at};
use crate::store::Store;

/// Records the events of `node` joining, if it is ready.
pub fn joined(events: &mut Recorder, store: &Store, node: &Value) {
    let ready = node
        .at("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True");
    let name = name_of(node);
    if !ready || name.is_empty() {
        return;
    }
    // The kubelet names its node by name, uid included.
    let mut as_kubelet = node.clone();
    as_kubelet["metadata"]["uid"] = Value::String(name.to_string());
    let status = |c: &str| format!("Node {name} status is now: {c}");
    let kubelet: [(&str, String); 6] = [
        ("Starting", "Starting kubelet.".into()),
        ("NodeHasSufficientMemory", status("NodeHasSufficientMemory")),
        ("NodeHasNoDiskPressure", status("NodeHasNoDiskPressure")),
        ("NodeHasSufficientPID", status("NodeHasSufficientPID")),
        (
            "NodeAllocatableEnforced",
            "Updated Node Allocatable limit across pods".into(),
        ),
        ("NodeReady", status("NodeReady")),
    ];
    for (reason, message) in &kubelet {
        events.emit(
            store,
            &as_kubelet,
            None,
            "Normal",
            reason,
            message,
            Source::Kubelet(name),
        );
    }
    events.emit(
        store,
        node,
        None,
        "Normal",
        "RegisteredNode",
        &format!("Node {name} event: Registered Node {name} in Controller"),
        Source::Controller("node-controller"),
    );
}
