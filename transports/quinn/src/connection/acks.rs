//! [`Acks`]: finished response streams whose acknowledgement the connection waits for before
//! it closes (closing discards unsent data: the race quic-go had).

use std::sync::{Mutex, PoisonError};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use quinn::VarInt;

/// quinn's `SendStream::stopped`: `Ok(Some(code))` when the client sends STOP_SENDING,
/// `Ok(None)` once the finished stream is acknowledged, an error when the connection is lost.
/// For a stream reset by this side it may never complete once polled (quinn frees such a
/// stream without waking it), so only finished streams are waited for.
pub(crate) type Stopped = BoxFuture<'static, Result<Option<VarInt>, quinn::StoppedError>>;

/// Below this many finished streams, no pruning.
const PRUNE_MIN: usize = 64;

/// Finished streams whose acknowledgement may still be outstanding, waited for when the
/// connection closes. Nobody polls them while the connection serves (a wake-up per response
/// would cost more than the rest of a small request); they are pruned as they pile up.
pub(crate) struct Acks(Mutex<Unacked>);

struct Unacked {
    streams: Vec<Stopped>,
    prune_at: usize,
}

impl Acks {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(Unacked {
            streams: Vec::new(),
            prune_at: PRUNE_MIN,
        }))
    }

    /// Keeps a finished stream's [`Stopped`] future until the connection closes. When they
    /// pile up, the acknowledged ones are dropped (one poll each); the threshold doubles with
    /// what remains, so pruning costs O(1) per stream.
    pub(crate) fn push(&self, stopped: Stopped) {
        let mut unacked = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if unacked.streams.len() >= unacked.prune_at {
            unacked
                .streams
                .retain_mut(|s| s.as_mut().now_or_never().is_none());
            unacked.prune_at = (unacked.streams.len() * 2).max(PRUNE_MIN);
        }
        unacked.streams.push(stopped);
    }

    /// The finished streams whose acknowledgement may still be outstanding, each a future
    /// that completes when it arrives (or the stream is stopped, or the connection is lost).
    pub(crate) fn take(&self) -> Vec<Stopped> {
        let mut unacked = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        unacked.prune_at = PRUNE_MIN;
        std::mem::take(&mut unacked.streams)
    }
}
