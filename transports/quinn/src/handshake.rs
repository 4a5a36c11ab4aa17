//! [`Handshake`]: the end of a 0-RTT connection's handshake, which early requests wait for.

use futures_util::future::Shared;
use futures_util::FutureExt;
use tokio::time::Instant;

/// The end of a 0-RTT connection's handshake: until it completes, what the client sends may
/// be replayed early data.
#[derive(Clone)]
pub(crate) struct Handshake {
    connected: Shared<quinn::ZeroRttAccepted>,
    conn: quinn::Connection,
    deadline: Instant,
}

impl Handshake {
    pub(crate) fn new(
        connected: quinn::ZeroRttAccepted,
        conn: quinn::Connection,
        deadline: Instant,
    ) -> Self {
        Self {
            connected: connected.shared(),
            conn,
            deadline,
        }
    }

    /// Whether the handshake has completed (or failed) already. Polls quinn's signal itself
    /// rather than a flag set by another task, so a request sent after the handshake is never
    /// taken for early data.
    pub(crate) fn is_over(&self) -> bool {
        self.connected.clone().now_or_never().is_some()
    }

    /// Waits until the handshake completes: false if it failed or missed its deadline.
    pub(crate) async fn completed(&self) -> bool {
        // On a server quinn's value means nothing; it resolves on completion or loss.
        let over = tokio::time::timeout_at(self.deadline, self.connected.clone()).await;
        over.is_ok() && self.conn.close_reason().is_none()
    }
}
