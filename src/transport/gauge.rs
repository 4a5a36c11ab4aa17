//! [`ConnectionGauge`]: how many connections a transport has open.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts a transport's live connections. Cheap to clone; each connection holds a
/// [`ConnectionGuard`] for its lifetime.
#[derive(Clone, Debug, Default)]
pub struct ConnectionGauge {
    live: Arc<AtomicUsize>,
}

impl ConnectionGauge {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one more live connection until the guard drops.
    pub fn guard(&self) -> ConnectionGuard {
        self.live.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            live: self.live.clone(),
        }
    }

    /// How many connections are live now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

/// Keeps one connection counted in its [`ConnectionGauge`].
#[derive(Debug)]
pub struct ConnectionGuard {
    live: Arc<AtomicUsize>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_counts_guards() {
        let g = ConnectionGauge::new();
        let a = g.guard();
        let b = g.guard();
        assert_eq!(g.live(), 2);
        drop(a);
        drop(b);
        assert_eq!(g.live(), 0);
    }
}
