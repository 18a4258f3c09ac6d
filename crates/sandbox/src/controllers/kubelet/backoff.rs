//! The kubelet's `flowcontrol.Backoff`, for crashed containers and failed image pulls.

use std::time::Duration;

use tokio::time::Instant;

/// The kubelet's `flowcontrol.Backoff` for one key: 10 s doubling to 300 s.
#[derive(Clone, Debug, Default)]
pub(super) struct Backoff {
    /// Current back-off in simulated seconds.
    pub(super) secs: f64,
    pub(super) last_update: Option<Instant>,
}

const BACKOFF_INITIAL: f64 = 10.0;
const BACKOFF_MAX: f64 = 300.0;

impl Backoff {
    fn expired(&self, event: Instant, per_sec: Duration) -> bool {
        match self.last_update {
            None => true,
            Some(l) => event.saturating_duration_since(l) > per_sec.mul_f64(BACKOFF_MAX * 2.0),
        }
    }

    /// `IsInBackOffSince(key, eventTime)`.
    pub(super) fn in_backoff_since(&self, event: Instant, now: Instant, per_sec: Duration) -> bool {
        if self.last_update.is_none() || self.expired(event, per_sec) {
            return false;
        }
        now.saturating_duration_since(event) < per_sec.mul_f64(self.secs)
    }

    /// `IsInBackOffSinceUpdate(key, eventTime)`: whether `now` falls in the back-off that started
    /// at the last update (the image pull's check).
    pub(super) fn in_backoff_since_update(&self, now: Instant, per_sec: Duration) -> bool {
        self.last_update.is_some_and(|l| {
            !self.expired(now, per_sec)
                && now.saturating_duration_since(l) < per_sec.mul_f64(self.secs)
        })
    }

    /// `Next(key, eventTime)`.
    pub(super) fn next(&mut self, event: Instant, per_sec: Duration) {
        if self.expired(event, per_sec) {
            self.secs = BACKOFF_INITIAL;
        } else {
            self.secs = (self.secs * 2.0).min(BACKOFF_MAX);
        }
        self.last_update = Some(event);
    }

    /// The instant the current back-off started from `event` ends.
    pub(super) fn until(&self, event: Instant, per_sec: Duration) -> Instant {
        event + per_sec.mul_f64(self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_backoff_doubles_to_five_minutes() {
        let unit = Duration::from_millis(1);
        let t0 = Instant::now();
        let mut b = Backoff::default();
        // First crash: not in back-off, restart at once.
        assert!(!b.in_backoff_since(t0, t0, unit));
        b.next(t0, unit);
        assert_eq!(b.secs, 10.0);
        let t1 = t0 + unit.mul_f64(1.0);
        assert!(b.in_backoff_since(t1, t1, unit));
        assert!(!b.in_backoff_since(t1, t1 + unit.mul_f64(10.0), unit));
        let mut t = t1;
        for want in [20.0, 40.0, 80.0, 160.0, 300.0, 300.0] {
            b.next(t, unit);
            assert_eq!(b.secs, want);
            t += unit.mul_f64(want + 1.0);
        }
        // Ten minutes without a crash resets it.
        let later = t + unit.mul_f64(601.0);
        b.next(later, unit);
        assert_eq!(b.secs, 10.0);
    }
}
