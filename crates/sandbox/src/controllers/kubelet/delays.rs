//! How long each step of a pod's life takes, in simulated seconds.

/// Delays of a pod's life, in simulated seconds.
#[derive(Clone, Debug)]
pub struct Delays {
    /// Admission to a ready sandbox (network, IP).
    pub sandbox: f64,
    /// Shortest image pull; pulls take this plus up to `pull_spread`, fixed per image.
    pub pull: f64,
    pub pull_spread: f64,
    /// A pull that fails takes this long to fail.
    pub pull_fail: f64,
    /// From a pulled image to a started container.
    pub create: f64,
    /// How long a `crashloop` container runs.
    pub crash_after: f64,
    /// How long an `oom` container runs.
    pub oom_after: f64,
    /// How long a run-to-completion container (a Job's) runs.
    pub job_runtime: f64,
    /// How long a (non-sidecar) init container runs.
    pub init_runtime: f64,
    /// When a `slow` container starts serving.
    pub slow_ready: f64,
    /// When an `unhealthy` container stops being healthy.
    pub unhealthy_after: f64,
    /// Longest graceful stop.
    pub max_grace: f64,
    /// The kubelet's resync of a pod that waits in a back-off.
    pub resync: f64,
}

impl Default for Delays {
    fn default() -> Delays {
        Delays {
            sandbox: 1.0,
            pull: 1.0,
            pull_spread: 2.0,
            pull_fail: 1.0,
            create: 0.3,
            crash_after: 2.0,
            oom_after: 3.0,
            job_runtime: 3.0,
            init_runtime: 1.0,
            slow_ready: 60.0,
            unhealthy_after: 10.0,
            max_grace: 2.0,
            resync: 10.0,
        }
    }
}
