//! [`WriteStall`]: the timer that cuts a write which makes no progress.
//!
//! A peer that stops reading (a TCP window of zero, or QUIC flow-control credit that never
//! comes) would otherwise hold a connection, and every response buffered for it, forever.
//! Both transports wrap their writes with one: twinport-hyper around the connection's byte
//! stream, twinport-quinn around each response stream. A transport of your own can do the
//! same.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Fails a write that has been waiting for `limit` without the peer accepting a byte.
///
/// Run every write-side poll (write, flush, shutdown) through
/// [`poll_write`](Self::poll_write): a write that has already waited for the whole limit
/// fails before it is tried again, a `Ready` write counts as progress, and a `Pending` one
/// arms the timer, which wakes the task by the time the limit runs out (possibly earlier; the
/// retry that follows polls it again). The timer is allocated on the first write that has to
/// wait, so a connection whose writes never block costs nothing extra.
///
/// ```
/// use std::future::poll_fn;
/// use std::task::{Context, Poll};
/// use std::time::Duration;
/// use twinport::transport::WriteStall;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut stall = WriteStall::new(Duration::from_millis(500));
/// let blocked = |_: &mut Context<'_>| Poll::<std::io::Result<usize>>::Pending;
/// // A write that cannot go on is pending, not failed, at first...
/// assert!(poll_fn(|cx| Poll::Ready(stall.poll_write(cx, blocked))).await.is_pending());
/// tokio::time::sleep(Duration::from_millis(600)).await;
/// // ...and fails once it has waited for the limit.
/// let failed = poll_fn(|cx| stall.poll_write(cx, blocked)).await;
/// assert_eq!(failed.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
///
/// // A write that goes through passes its own result on.
/// let mut stall = WriteStall::new(Duration::from_millis(500));
/// let wrote = poll_fn(|cx| stall.poll_write(cx, |_| Poll::Ready(Ok::<_, std::io::Error>(3))));
/// assert_eq!(wrote.await.unwrap().unwrap(), 3);
/// # }
/// ```
#[derive(Debug)]
pub struct WriteStall {
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// When the current wait began; `None` while writes make progress.
    since: Option<Instant>,
}

impl WriteStall {
    /// A timer that gives a waiting write `limit` to make progress.
    pub fn new(limit: Duration) -> Self {
        Self {
            limit,
            timer: None,
            since: None,
        }
    }

    /// How long a write may wait.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Runs one write-side poll, `op`, under the timer. `Ok` carries what `op` returned once
    /// it was ready (success or its own error); `Err` is [`io::ErrorKind::TimedOut`], naming
    /// the limit, when the write has waited that long without progress.
    pub fn poll_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut Context<'_>) -> Poll<R>,
    ) -> Poll<Result<R, io::Error>> {
        if self.expired() {
            return Poll::Ready(Err(self.error()));
        }
        match op(cx) {
            Poll::Ready(ready) => {
                self.progress();
                Poll::Ready(Ok(ready))
            }
            Poll::Pending => match self.poll_stalled(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => Poll::Ready(Err(self.error())),
            },
        }
    }

    /// Whether the write about to be tried has already waited for the whole limit: then fail
    /// it without trying. Check it before every retry: a retry woken by this timer can
    /// squeeze a few bytes into a socket whose peer reads nothing (the kernel makes room
    /// below its own wake-up threshold), and counting those as progress would let such a
    /// peer hold the connection indefinitely.
    ///
    /// A wait that nobody came back to for a second whole limit after it ran out (a write
    /// its caller cancelled, on a connection that switched protocols) was abandoned, not
    /// stalled: it is forgotten, and the write is tried afresh.
    fn expired(&mut self) -> bool {
        let Some(since) = self.since else {
            return false;
        };
        let waited = since.elapsed();
        if waited >= self.limit.saturating_mul(2) {
            self.since = None;
            return false;
        }
        waited >= self.limit
    }

    /// A write moved bytes: the next wait starts afresh.
    fn progress(&mut self) {
        self.since = None;
    }

    /// A write is waiting: `Ready` once it has waited for the whole limit since the last
    /// progress (the first call after progress starts the clock).
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let since = *self.since.get_or_insert_with(Instant::now);
        let due = since
            .checked_add(self.limit)
            .unwrap_or_else(|| super::deadline_after(self.limit));
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        // The timer moves only when it fires before the current wait's end (it was set for an
        // earlier wait): under load a connection's writes block and resume thousands of times
        // a second, and moving a timer on each would cost more than the write.
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= due {
                return Poll::Ready(());
            }
            timer.as_mut().reset(due);
        }
    }

    /// The error a stalled write ends with: [`io::ErrorKind::TimedOut`], naming the limit.
    fn error(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "write stalled: the peer accepted no bytes for {:?}",
                self.limit
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn poll(stall: &mut WriteStall) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(stall.poll_stalled(cx))).await
    }

    /// A write its caller gave up on (nobody came back for two limits) does not fail the
    /// next write on that stream: the wait starts afresh.
    #[tokio::test]
    async fn an_abandoned_wait_is_forgotten() {
        let limit = Duration::from_millis(50);
        let mut stall = WriteStall::new(limit);
        assert!(poll(&mut stall).await.is_pending());
        tokio::time::sleep(limit * 3).await;
        assert!(!stall.expired(), "an abandoned wait failed a later write");
        assert!(
            poll(&mut stall).await.is_pending(),
            "the new wait started expired"
        );
    }

    /// The timer wakes the waiting task by the time the limit runs out, also when it was
    /// still set for an earlier, shorter wait.
    #[tokio::test]
    async fn a_later_wait_is_woken_at_its_own_end() {
        let limit = Duration::from_millis(100);
        let mut stall = WriteStall::new(limit);
        assert!(poll(&mut stall).await.is_pending());
        tokio::time::sleep(limit / 2).await;
        stall.progress();
        assert!(poll(&mut stall).await.is_pending());
        let start = Instant::now();
        // Woken first at the earlier wait's deadline, then at this one's.
        std::future::poll_fn(|cx| stall.poll_stalled(cx)).await;
        assert!(
            start.elapsed() >= limit * 9 / 10,
            "woken at the earlier deadline as if stalled"
        );
        assert!(stall.expired());
    }
}
