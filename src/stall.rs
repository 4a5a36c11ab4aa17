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
/// Before each write, check [`expired`](Self::expired) (and fail with
/// [`error`](Self::error) if so); after it, call [`progress`](Self::progress) if it moved
/// bytes (or a flush completed), and [`poll_stalled`](Self::poll_stalled) if it returned
/// `Pending`: that registers the waker, so the task is woken by the time the limit runs out
/// (possibly earlier, when the timer was still set for an earlier wait: call `poll_stalled`
/// again on every wake while the write is pending, as a retried write does), and it answers
/// `Ready` once the limit has passed, until progress is made. The timer is allocated on the first write that has to wait, so a
/// connection whose writes never block costs nothing extra.
///
/// ```
/// use std::task::Poll;
/// use std::time::Duration;
/// use twinport::WriteStall;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut stall = WriteStall::new(Duration::from_millis(500));
/// // A write returned Pending: not stalled yet...
/// assert!(std::future::poll_fn(|cx| Poll::Ready(stall.poll_stalled(cx))).await.is_pending());
/// tokio::time::sleep(Duration::from_millis(600)).await;
/// // ...but it is once the limit has passed without progress (and the caller came back).
/// assert!(std::future::poll_fn(|cx| Poll::Ready(stall.poll_stalled(cx))).await.is_ready());
/// assert!(stall.expired());
/// stall.progress();
/// assert!(!stall.expired());
/// assert!(std::future::poll_fn(|cx| Poll::Ready(stall.poll_stalled(cx))).await.is_pending());
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

    /// Whether the write about to be tried has already waited for the whole limit: then fail
    /// it without trying. Check it before every retry: a retry woken by this timer can
    /// squeeze a few bytes into a socket whose peer reads nothing (the kernel makes room
    /// below its own wake-up threshold), and counting those as progress would let such a
    /// peer hold the connection indefinitely.
    ///
    /// A wait that nobody came back to for a second whole limit after it ran out (a write
    /// its caller cancelled, on a connection that switched protocols) was abandoned, not
    /// stalled: it is forgotten, and the write is tried afresh.
    pub fn expired(&mut self) -> bool {
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
    pub fn progress(&mut self) {
        self.since = None;
    }

    /// A write is waiting: `Ready` once it has waited for the whole limit since the last
    /// progress (the first call after progress starts the clock).
    pub fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let since = *self.since.get_or_insert_with(Instant::now);
        let due = since
            .checked_add(self.limit)
            .unwrap_or_else(|| crate::server::deadline_after(self.limit));
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
    pub fn error(&self) -> io::Error {
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
