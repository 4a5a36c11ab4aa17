//! [`Malformed`]: the request streams whose request turned out malformed (RFC 9114 §4.1.2)
//! while their handlers ran, so that a response failing on one is reset with
//! H3_MESSAGE_ERROR rather than H3_INTERNAL_ERROR.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// The marked stream ids of one connection; a handful at most, touched only when a request
/// is malformed (the count spares every other request the lock).
#[derive(Default)]
pub(crate) struct Malformed {
    ids: Mutex<Vec<u64>>,
    count: AtomicUsize,
}

impl Malformed {
    /// Marks request stream `id`.
    pub(crate) fn mark(&self, id: u64) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        if !ids.contains(&id) {
            ids.push(id);
            self.count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether request stream `id` was marked; forgets it either way.
    pub(crate) fn take(&self, id: u64) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(at) = ids.iter().position(|&i| i == id) else {
            return false;
        };
        ids.swap_remove(at);
        self.count.fetch_sub(1, Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_taken_once() {
        let malformed = Malformed::default();
        assert!(!malformed.take(4));
        malformed.mark(4);
        malformed.mark(4);
        malformed.mark(8);
        assert!(!malformed.take(0));
        assert!(malformed.take(4));
        assert!(!malformed.take(4));
        assert!(malformed.take(8));
        assert_eq!(malformed.count.load(Ordering::Acquire), 0);
    }
}
