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
/// Before each write, check [`is_expired`](Self::is_expired) (and fail with
/// [`error`](Self::error) if so); after it, call [`progress`](Self::progress) if it moved
/// bytes (or a flush completed), and [`poll_stalled`](Self::poll_stalled) if it returned
/// `Pending`: that registers the waker, so the task is woken when the limit runs out, and
/// answers `Ready` from then on until progress is made. The timer is allocated on the first write that has to wait, so a
/// connection whose writes never block costs nothing extra.
///
/// ```
/// use std::task::Poll;
/// use std::time::Duration;
/// use twinport::WriteStall;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut stall = WriteStall::new(Duration::from_millis(10));
/// // A write returned Pending: not stalled yet...
/// assert!(std::future::poll_fn(|cx| Poll::Ready(stall.poll_stalled(cx))).await.is_pending());
/// tokio::time::sleep(Duration::from_millis(20)).await;
/// // ...but it is once the limit has passed without progress.
/// assert!(std::future::poll_fn(|cx| Poll::Ready(stall.poll_stalled(cx))).await.is_ready());
/// assert!(stall.is_expired());
/// stall.progress();
/// assert!(!stall.is_expired());
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

    /// Whether a write has waited for the whole limit. Check it before trying the write
    /// again: a retry woken by this timer can squeeze a few bytes into a socket whose peer
    /// reads nothing (the kernel makes room below its own wake-up threshold), and counting
    /// those as progress would let such a peer hold the connection indefinitely.
    pub fn is_expired(&self) -> bool {
        self.since
            .is_some_and(|since| since.elapsed() >= self.limit)
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
