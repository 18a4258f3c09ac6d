//! What the API server and the controllers share: the store, the logs and simulated time.

use std::sync::Arc;
use std::time::Duration;

use super::logs::LogHub;
use super::store::Store;

/// How fast simulated time runs and how chatty containers are.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Every delay is divided by this: 1.0 is a watchable pace, 50 suits tests.
    pub speed: f64,
    /// Log lines a running container writes per second (before `speed`); 0 for none.
    pub log_rate: f64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            speed: 1.0,
            log_rate: 1.0,
        }
    }
}

impl Timing {
    /// A delay of `secs` simulated seconds, in real time.
    pub fn delay(&self, secs: f64) -> Duration {
        let speed = if self.speed.is_finite() && self.speed > 0.0 {
            self.speed
        } else {
            1.0
        };
        let secs = secs / speed;
        // NaN (from a nonsense duration) is no wait rather than a panic.
        Duration::from_secs_f64(if secs.is_nan() {
            0.0
        } else {
            secs.clamp(0.0, 86_400.0)
        })
    }
}

/// What the controllers and the API server share: the objects, the containers' logs and the
/// pace of simulated time.
pub struct Shared {
    pub store: Arc<Store>,
    pub logs: Arc<LogHub>,
    pub timing: Timing,
    /// Faults injected by a rehearsal ([`crate::faults`]).
    pub faults: crate::faults::Faults,
    /// When each `unhealthy` pod's application stops answering, on the kubelet's clock: what
    /// its HTTP answers ([`crate::traffic`]) follow.
    pub apps: crate::traffic::Apps,
    /// Repository URL → the local git repository served for it ([`crate::Config::repos`]).
    pub repos: Arc<std::collections::BTreeMap<String, std::path::PathBuf>>,
}
