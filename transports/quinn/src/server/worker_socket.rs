//! [`WorkerSocket`]: one worker's UDP socket as its quinn endpoint sees it. Datagrams whose
//! connection ID names another worker of this process go to that worker's bounded queue;
//! datagrams naming another server are dropped before quinn sees them (never answered with a
//! stateless reset). Everything is counted in [`WorkerStats`].

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use twinport::transport::Event;

use super::steer::{Dest, Steer};
use super::worker_stats::WorkerStats;

/// How many forwarded datagrams, and how many of their bytes, wait for a worker before more
/// are dropped.
const QUEUE_DATAGRAMS: usize = 1024;
const QUEUE_BYTES: usize = 2 << 20;
/// How many batches one receive may read and hand entirely elsewhere before it lets the
/// endpoint run (a flood of foreign datagrams must not hold the endpoint's task).
const EMPTY_BATCHES: usize = 16;

/// A datagram forwarded from another worker: its bytes and what the kernel said of it.
struct Forwarded {
    meta: RecvMeta,
    data: Box<[u8]>,
}

/// One worker's inbox of datagrams forwarded by the others, and the waker of its endpoint.
#[derive(Default)]
pub(super) struct Inbox {
    queue: Mutex<Queue>,
    waker: AtomicWaker,
}

/// The datagrams waiting, and their bytes.
#[derive(Default)]
struct Queue {
    datagrams: VecDeque<Forwarded>,
    bytes: usize,
}

impl Inbox {
    /// Queues `data` for this worker; `false` when the queue is full (the datagram is lost,
    /// as on a full socket buffer).
    fn push(&self, meta: RecvMeta, data: &[u8]) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.datagrams.len() >= QUEUE_DATAGRAMS || queue.bytes + data.len() > QUEUE_BYTES {
            return false;
        }
        queue.bytes += data.len();
        queue.datagrams.push_back(Forwarded {
            meta: RecvMeta {
                len: data.len(),
                stride: data.len(),
                ..meta
            },
            data: data.into(),
        });
        drop(queue);
        self.waker.wake();
        true
    }

    fn pop(&self) -> Option<Forwarded> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let forwarded = queue.datagrams.pop_front()?;
        queue.bytes -= forwarded.data.len();
        Some(forwarded)
    }
}

/// The inboxes of all workers of one endpoint, by worker index.
pub(super) type Inboxes = Arc<[Inbox]>;

/// A worker's socket: the real one, plus the steering of what arrives on it.
pub(super) struct WorkerSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    worker: u8,
    steer: Steer,
    inboxes: Inboxes,
    stats: WorkerStats,
}

impl fmt::Debug for WorkerSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerSocket")
            .field("worker", &self.worker)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl WorkerSocket {
    pub(super) fn new(
        inner: Arc<dyn AsyncUdpSocket>,
        worker: u8,
        steer: Steer,
        inboxes: Inboxes,
        stats: WorkerStats,
    ) -> Self {
        Self {
            inner,
            worker,
            steer,
            inboxes,
            stats,
        }
    }

    /// Counts a datagram this worker did not keep.
    fn not_kept(&self, outcome: &'static str) {
        Event::WorkerDatagram {
            worker: self.worker,
            outcome,
        }
        .record();
    }

    /// Where one datagram goes: kept, forwarded (then no longer this worker's) or dropped.
    fn keep(&self, meta: &RecvMeta, datagram: &[u8]) -> bool {
        let stats = self.stats.worker(self.worker);
        stats.received();
        match self.steer.dest(datagram) {
            Dest::Here => true,
            Dest::Worker(w) if w == self.worker => true,
            Dest::Worker(w) => match self.inboxes.get(usize::from(w)) {
                Some(inbox) => {
                    if inbox.push(*meta, datagram) {
                        stats.forwarded();
                        self.stats.worker(w).forwarded_in();
                        self.not_kept("forwarded");
                    } else {
                        stats.queue_full();
                        self.not_kept("queue_full");
                    }
                    false
                }
                // A worker this process does not have: another instance's, or garbage.
                None => {
                    stats.foreign();
                    self.not_kept("foreign");
                    false
                }
            },
            Dest::Foreign => {
                stats.foreign();
                self.not_kept("foreign");
                false
            }
        }
    }

    /// Filters one received buffer (one datagram, or several of `stride` bytes each with
    /// GRO) in place; returns the bytes left.
    fn filter(&self, meta: &RecvMeta, buf: &mut [u8]) -> usize {
        let stride = meta.stride.max(1);
        let len = meta.len.min(buf.len());
        let mut kept = 0;
        let mut at = 0;
        while at < len {
            let end = (at + stride).min(len);
            if self.keep(meta, &buf[at..end]) {
                if kept != at {
                    buf.copy_within(at..end, kept);
                }
                kept += end - at;
            }
            at = end;
        }
        kept
    }
}

impl AsyncUdpSocket for WorkerSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        self.inner.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let inbox = &self.inboxes[usize::from(self.worker)];
        inbox.waker.register(cx.waker());
        let slots = bufs.len().min(meta.len());
        // Forwarded datagrams first (they waited already), but at most half the batch, so
        // that other workers' forwarding cannot keep this one from its own socket.
        let mut filled = 0;
        while filled < slots.div_ceil(2) {
            let Some(forwarded) = inbox.pop() else { break };
            let buf = &mut bufs[filled];
            if forwarded.data.len() > buf.len() {
                self.stats.worker(self.worker).queue_full();
                continue;
            }
            buf[..forwarded.data.len()].copy_from_slice(&forwarded.data);
            meta[filled] = forwarded.meta;
            filled += 1;
        }
        for _ in 0..EMPTY_BATCHES {
            let n =
                match self
                    .inner
                    .poll_recv(cx, &mut bufs[filled..slots], &mut meta[filled..slots])
                {
                    Poll::Ready(Ok(n)) => n,
                    Poll::Ready(Err(e)) if filled == 0 => return Poll::Ready(Err(e)),
                    // What was forwarded is handed over now; the error comes back next time.
                    Poll::Ready(Err(_)) | Poll::Pending if filled > 0 => {
                        return Poll::Ready(Ok(filled))
                    }
                    other => return other,
                };
            // Compact: buffers left empty by the filter are dropped from the batch.
            let mut out = filled;
            for i in filled..filled + n {
                let kept = self.filter(&meta[i], &mut bufs[i]);
                if kept == 0 {
                    continue;
                }
                if out != i {
                    let (head, tail) = bufs.split_at_mut(i);
                    head[out][..kept].copy_from_slice(&tail[0][..kept]);
                }
                meta[out] = RecvMeta {
                    len: kept,
                    ..meta[i]
                };
                out += 1;
            }
            if out > 0 {
                return Poll::Ready(Ok(out));
            }
            // All of it went elsewhere: read again, a bounded number of times.
        }
        // A flood of datagrams for elsewhere: let the endpoint run, and come back at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}
