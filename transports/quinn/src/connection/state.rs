//! Where an HTTP/3 connection is in its life, the one fact every branch of its driver reads.

/// The connection's state: serving, draining after the server's GOAWAY, or finishing the
/// requests in flight once no stream will be accepted any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Accepting request and unidirectional streams.
    Serving,
    /// The server is shutting down: GOAWAY is announced, streams below its id are still
    /// accepted and the requests in flight served.
    Draining,
    /// No stream will be accepted (the client sent GOAWAY or the connection is gone): the
    /// requests in flight are finished, then the connection closes.
    Finishing {
        /// Whether the server is shutting down too (it says so when it closes).
        shutdown: bool,
    },
}

impl State {
    /// Whether new streams are accepted.
    pub(crate) fn accepting(self) -> bool {
        matches!(self, Self::Serving | Self::Draining)
    }

    /// Whether the server's shutdown has reached this connection.
    pub(crate) fn shutting_down(self) -> bool {
        matches!(self, Self::Draining | Self::Finishing { shutdown: true })
    }

    /// The server starts shutting down.
    pub(crate) fn shut_down(self) -> Self {
        match self {
            Self::Serving | Self::Draining => Self::Draining,
            Self::Finishing { .. } => Self::Finishing { shutdown: true },
        }
    }

    /// The client goes away or the connection ends: nothing more is accepted.
    pub(crate) fn stop_accepting(self) -> Self {
        Self::Finishing {
            shutdown: self.shutting_down(),
        }
    }

    /// Whether the connection is done once `in_flight` requests are left.
    pub(crate) fn done(self, in_flight: usize) -> bool {
        self != Self::Serving && in_flight == 0
    }

    /// The reason phrase the connection closes with.
    pub(crate) fn close_reason(self) -> &'static [u8] {
        if self.shutting_down() {
            b"server shutting down"
        } else {
            b""
        }
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn a_shutdown_is_remembered_whatever_comes_after() {
        let finishing = State::Draining.stop_accepting();
        assert_eq!(finishing, State::Finishing { shutdown: true });
        assert!(!finishing.accepting());
        assert_eq!(finishing.close_reason(), b"server shutting down");
        let left = State::Serving.stop_accepting();
        assert_eq!(left.shut_down(), State::Finishing { shutdown: true });
        assert!(!State::Serving.done(0));
        assert!(!State::Draining.done(1));
        assert!(State::Draining.done(0));
    }
}
