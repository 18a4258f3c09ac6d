//! What a pod asks of a node: resource quantities parsed, and its requests summed as
//! `resourcehelper.PodRequests` does (containers added, init containers as a maximum, sidecars
//! alongside, limits standing in for missing requests).

use serde_json::Value;

use crate::object::{PointerLookup, str_at};

/// A quantity in millis of its unit ("100m" → 100, "1" → 1000, "1Ki" → 1024000).
pub fn parse_quantity_milli(q: &Value) -> Option<i128> {
    let s = match q {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (n, mult) = SUFFIXES
        .iter()
        .find_map(|(suf, mult)| {
            s.strip_suffix(suf)
                .and_then(|n| n.parse::<f64>().ok())
                .map(|n| (n, *mult))
        })
        .or_else(|| s.parse::<f64>().ok().map(|n| (n, 1.0)))?;
    if !n.is_finite() {
        return None;
    }
    Some((n * mult * 1000.0).round() as i128)
}

fn container_requests(c: &Value) -> (i64, i64) {
    let get = |res: &str| {
        c.at(&format!("/resources/requests/{res}"))
            .or_else(|| c.at(&format!("/resources/limits/{res}")))
            .and_then(parse_quantity_milli)
            .unwrap_or(0)
    };
    let cpu = get("cpu");
    let mem = get("memory") / 1000;
    (cpu as i64, mem as i64)
}

/// A pod's effective requests: (cpu in millicores, memory in bytes).
pub fn pod_requests(pod: &Value) -> (i64, i64) {
    let mut cpu = 0;
    let mut mem = 0;
    for c in pod
        .at("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (a, b) = container_requests(c);
        cpu += a;
        mem += b;
    }
    // Sidecars (restartable init containers) run alongside; other init containers run before.
    let (mut side_cpu, mut side_mem, mut init_cpu, mut init_mem) = (0, 0, 0, 0);
    for c in pod
        .at("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (a, b) = container_requests(c);
        if str_at(c, "/restartPolicy") == "Always" {
            side_cpu += a;
            side_mem += b;
        } else {
            init_cpu = init_cpu.max(side_cpu + a);
            init_mem = init_mem.max(side_mem + b);
        }
    }
    (
        (cpu + side_cpu).max(init_cpu),
        (mem + side_mem).max(init_mem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity_milli(&json!("100m")), Some(100));
        assert_eq!(parse_quantity_milli(&json!("2")), Some(2000));
        assert_eq!(parse_quantity_milli(&json!(0.5)), Some(500));
        assert_eq!(parse_quantity_milli(&json!("1Ki")), Some(1_024_000));
        assert_eq!(parse_quantity_milli(&json!("1e3")), Some(1_000_000));
        assert_eq!(
            parse_quantity_milli(&json!("128Mi")),
            Some(128 * 1024 * 1024 * 1000)
        );
        assert_eq!(parse_quantity_milli(&json!("1G")), Some(1_000_000_000_000));
        assert_eq!(parse_quantity_milli(&json!("bogus")), None);
    }

    #[test]
    fn requests_sum_containers_and_max_init() {
        let p = json!({"spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                {"resources": {"limits": {"cpu": "500m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}]}});
        assert_eq!(pod_requests(&p), (2000, 64 * 1024 * 1024));
    }
}
