//! [`ConnIo`]: the connection's byte stream as hyper sees it. It counts the reads and writes
//! that moved bytes (for the idle timeout) and fails a write that makes no progress for the
//! write-stall timeout, so a peer that stops reading cannot hold a connection, and the
//! responses buffered for it, forever.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use twinport::transport::{Event, WriteStall};

/// A connection's stream, with its activity counted and its writes bounded in time.
pub(crate) struct ConnIo<IO> {
    inner: IO,
    activity: Arc<AtomicU64>,
    stall: Option<WriteStall>,
    transport: &'static str,
    received: u64,
    sent: u64,
    /// HTTP/2: whether the next write first lets the other ready tasks run (see
    /// [`ConnIo::coalesce`]), and whether it already did this round.
    coalesce: bool,
    yielded: bool,
}

impl<IO> ConnIo<IO> {
    /// Wraps `inner`; each read or write that moves bytes bumps `activity`. With a
    /// `write_stall` limit, a write (or flush, or shutdown) that has been pending that long
    /// without a byte accepted fails with [`io::ErrorKind::TimedOut`].
    pub(crate) fn new(
        inner: IO,
        activity: Arc<AtomicU64>,
        write_stall: Option<Duration>,
        transport: &'static str,
    ) -> Self {
        Self {
            inner,
            activity,
            stall: write_stall.map(WriteStall::new),
            transport,
            received: 0,
            sent: 0,
            coalesce: false,
            yielded: false,
        }
    }

    /// Lets the first write of each flush wait one turn of the scheduler, so that responses
    /// other tasks are about to hand to the same HTTP/2 connection leave in the same write
    /// (and TLS record): hyper answers each stream in a task of its own, and without this
    /// the connection writes as soon as the first one is ready, one write per response. The
    /// turn is a `yield_now` (the task goes to the back of the run queue), so an idle server
    /// adds only that to a response's latency; TCP_NODELAY stays on.
    pub(crate) fn coalesce(mut self, on: bool) -> Self {
        self.coalesce = on;
        self
    }

    /// `true` when this write should wait one turn first (and has arranged to be woken).
    fn defer_write(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.coalesce || self.yielded {
            return false;
        }
        self.yielded = true;
        yield_turn(cx)
    }

    fn touch(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends the task to the back of the runtime's run queue: `true` when it has been woken, to
/// be polled again after the other ready tasks (tokio's `yield_now`, polled once).
pub(crate) fn yield_turn(cx: &mut Context<'_>) -> bool {
    let yielding = std::pin::pin!(tokio::task::yield_now());
    std::future::Future::poll(yielding, cx).is_pending()
}

/// The bytes the connection carried, counted once it ends.
impl<IO> Drop for ConnIo<IO> {
    fn drop(&mut self) {
        Event::Transferred {
            transport: self.transport,
            received: self.received,
            sent: self.sent,
        }
        .record();
    }
}

impl<IO> ConnIo<IO> {
    fn wrote(&mut self, res: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = *res {
            if n > 0 {
                self.sent += n as u64;
                self.touch();
            }
        }
    }

    /// Runs one write-side poll of the inner stream under the stall timer, if there is one.
    fn write_side<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut IO>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>>
    where
        IO: Unpin,
    {
        let inner = &mut self.inner;
        let Some(stall) = self.stall.as_mut() else {
            return op(Pin::new(inner), cx);
        };
        match std::task::ready!(stall.poll_write(cx, |cx| op(Pin::new(inner), cx))) {
            Ok(res) => Poll::Ready(res),
            Err(stalled) => {
                tracing::debug!(error = %stalled, "closing the connection");
                Event::Closed {
                    transport: self.transport,
                    reason: "write_stall",
                }
                .record();
                Poll::Ready(Err(stalled))
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ConnIo<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if matches!(res, Poll::Ready(Ok(()))) && read > 0 {
            self.received += read as u64;
            self.touch();
        }
        res
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ConnIo<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.defer_write(cx) {
            return Poll::Pending;
        }
        let res = self.write_side(cx, |io, cx| io.poll_write(cx, buf));
        self.wrote(&res);
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.defer_write(cx) {
            return Poll::Pending;
        }
        let res = self.write_side(cx, |io, cx| io.poll_write_vectored(cx, bufs));
        self.wrote(&res);
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let res = self.write_side(cx, |io, cx| io.poll_flush(cx));
        if res.is_ready() {
            // The next write starts a new round.
            self.yielded = false;
        }
        res
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write_side(cx, |io, cx| io.poll_shutdown(cx))
    }
}
