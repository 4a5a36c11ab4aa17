//! [`WorkerStats`]: what each worker of an [`Http3`](super::Http3) endpoint received,
//! forwarded and dropped, and how many connections it took.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Counters of one worker.
#[derive(Debug, Default)]
pub(super) struct Counters {
    received: AtomicU64,
    forwarded: AtomicU64,
    forwarded_in: AtomicU64,
    queue_full: AtomicU64,
    foreign: AtomicU64,
    connections: AtomicU64,
    retries: AtomicU64,
}

impl Counters {
    pub(super) fn received(&self) {
        self.received.fetch_add(1, Relaxed);
    }
    pub(super) fn forwarded(&self) {
        self.forwarded.fetch_add(1, Relaxed);
    }
    pub(super) fn forwarded_in(&self) {
        self.forwarded_in.fetch_add(1, Relaxed);
    }
    pub(super) fn queue_full(&self) {
        self.queue_full.fetch_add(1, Relaxed);
    }
    pub(super) fn foreign(&self) {
        self.foreign.fetch_add(1, Relaxed);
    }
    pub(super) fn connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }
    pub(super) fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
}

/// The counters of every worker of one endpoint, shared with the application: take them with
/// [`Http3::worker_stats`](super::Http3::worker_stats) before serving.
#[derive(Clone, Debug)]
pub struct WorkerStats {
    workers: Arc<[Counters]>,
}

/// What one worker counted so far. Datagrams are counted only where twinport reads the
/// connection ID: with several workers, or with a server ID ([`Builder::server_id`]).
///
/// [`Builder::server_id`]: super::Builder::server_id
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSnapshot {
    /// Datagrams its socket received.
    pub received: u64,
    /// Of those, datagrams that named another worker and were handed to it.
    pub forwarded: u64,
    /// Datagrams other workers handed to it.
    pub forwarded_in: u64,
    /// Datagrams for another worker lost because that worker's queue was full.
    pub queue_full: u64,
    /// Datagrams dropped unanswered: another server's connection ID, or not QUIC.
    pub foreign: u64,
    /// Connections it accepted.
    pub connections: u64,
    /// Connection attempts it answered with a Retry (address validation).
    pub retries: u64,
}

impl WorkerStats {
    pub(super) fn new(workers: usize) -> Self {
        Self {
            workers: (0..workers).map(|_| Counters::default()).collect(),
        }
    }

    pub(super) fn worker(&self, index: u8) -> &Counters {
        // Indexes come from this endpoint's own workers; an out-of-range one is a bug, and
        // counting it on worker 0 is harmless.
        self.workers
            .get(usize::from(index))
            .unwrap_or(&self.workers[0])
    }

    /// Each worker's counters, by worker index.
    pub fn snapshot(&self) -> Vec<WorkerSnapshot> {
        self.workers
            .iter()
            .map(|c| WorkerSnapshot {
                received: c.received.load(Relaxed),
                forwarded: c.forwarded.load(Relaxed),
                forwarded_in: c.forwarded_in.load(Relaxed),
                queue_full: c.queue_full.load(Relaxed),
                foreign: c.foreign.load(Relaxed),
                connections: c.connections.load(Relaxed),
                retries: c.retries.load(Relaxed),
            })
            .collect()
    }
}
