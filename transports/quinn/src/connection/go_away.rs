//! GOAWAY bookkeeping (RFC 9114 §5.2): which request streams a connection still serves once it
//! has announced that it is going away.

/// The request streams admitted so far and, once GOAWAY is announced, the id from which on
/// none is.
#[derive(Debug)]
pub(crate) struct GoAway {
    /// One past the highest client bidirectional stream id admitted, in stream-id steps.
    next: u64,
    /// Streams with an id at or above this are refused; `u64::MAX` until GOAWAY.
    limit: u64,
}

impl GoAway {
    pub(crate) const fn new() -> Self {
        Self {
            next: 0,
            limit: u64::MAX,
        }
    }

    /// Whether request stream `id` is served: a stream at or above the GOAWAY id is not
    /// processed, so the client may retry it elsewhere.
    pub(crate) fn admit(&mut self, id: u64) -> bool {
        if id >= self.limit {
            return false;
        }
        self.next = self.next.max(id + 4);
        true
    }

    /// Refuses every stream not admitted yet; returns the GOAWAY id to announce.
    pub(crate) fn announce(&mut self) -> u64 {
        self.limit = self.next;
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::GoAway;

    #[test]
    fn streams_at_or_above_the_announced_id_are_refused() {
        let mut go_away = GoAway::new();
        assert!(go_away.admit(0));
        assert!(go_away.admit(8));
        assert_eq!(go_away.announce(), 12);
        // A lower stream that arrives late is still below the id the client was told.
        assert!(go_away.admit(4));
        assert!(!go_away.admit(12));
        assert_eq!(go_away.announce(), 12);
    }
}
