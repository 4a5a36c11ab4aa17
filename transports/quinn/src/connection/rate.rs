//! [`Rate`]: a token bucket that tells a flood from normal use.

use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

/// Allows `per_second` events a second on average, in bursts of up to as many; what goes
/// beyond is a flood ([`allow`](Self::allow) returns false).
pub(crate) struct Rate {
    per_second: u32,
    state: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Rate {
    /// `per_second` events a second; 0 means no limit.
    pub(crate) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            state: Mutex::new(Bucket {
                tokens: f64::from(per_second),
                last: Instant::now(),
            }),
        }
    }

    /// Counts one event: false if it goes over the rate.
    pub(crate) fn allow(&self) -> bool {
        self.per_second == 0 || self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let rate = f64::from(self.per_second);
        let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let refill = now.saturating_duration_since(b.last).as_secs_f64() * rate;
        b.tokens = (b.tokens + refill).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_a_flood_does_not_and_time_refills() {
        let rate = Rate::new(10);
        let start = Instant::now();
        assert!((0..10).all(|_| rate.allow_at(start)));
        assert!(!rate.allow_at(start));
        let later = start + std::time::Duration::from_millis(500);
        assert!((0..5).all(|_| rate.allow_at(later)));
        assert!(!rate.allow_at(later));
        assert!((0..1000).all(|_| Rate::new(0).allow()));
    }
}
