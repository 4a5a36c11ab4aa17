//! [`WithStreams`]: an HTTP/2 connection whose streams run inside the connection's own task,
//! as h2o and nginx run them, instead of a tokio task each (hyper's default).
//!
//! hyper hands every stream it accepts to an executor. [`StreamExecutor`] puts it in the
//! connection's inbox; [`WithStreams`], which the connection's task polls in place of hyper's
//! connection, moves new streams from there into a `FuturesUnordered` and polls them right
//! after the connection, then polls the connection again once streams have finished, so every
//! response that became ready in one wake-up leaves in one write (and one TLS record), in the
//! same poll. No spawn, no cross-task wake-up per response.
//!
//! What it costs: one connection's streams share one task, so a handler that computes for long
//! without yielding holds its connection's other streams (they are no longer spread over the
//! runtime's threads); other connections go on (see [`hand_over`]).
//! [`HttpConfig::http2_spawn_streams`](crate::HttpConfig::http2_spawn_streams) gives each stream
//! its own task again.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};

use crate::io::yield_turn;

type StreamFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How many times one poll goes round (connection, then streams) before it lets other tasks
/// run; each round after the first is there because streams finished and their responses
/// wait to be written.
const ROUNDS: usize = 4;

/// Streams hyper accepted and the connection's task has not taken yet.
#[derive(Default)]
struct Inbox {
    new: Vec<StreamFuture>,
    /// The connection's task, woken when a stream arrives outside its poll.
    waker: Option<Waker>,
    /// The connection's task is polling: it takes what arrives before it returns.
    polling: bool,
    /// The connection is gone: what arrives now gets a task of its own.
    closed: bool,
}

fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    // Nothing that runs under the lock can panic halfway through an update.
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// hyper's executor for one connection: the streams it spawns run in that connection's task,
/// or, made with [`spawning`](Self::spawning), each in a tokio task of its own.
#[derive(Clone)]
pub(crate) struct StreamExecutor {
    inbox: Arc<Mutex<Inbox>>,
    spawn: bool,
}

impl StreamExecutor {
    /// Streams run in the task that polls the [`WithStreams`] made with this executor.
    pub(crate) fn in_connection() -> Self {
        Self {
            inbox: Arc::default(),
            spawn: false,
        }
    }

    /// Every stream is a tokio task (hyper's `TokioExecutor`).
    pub(crate) fn spawning() -> Self {
        Self {
            inbox: Arc::default(),
            spawn: true,
        }
    }
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, stream: F) {
        if self.spawn {
            tokio::spawn(stream);
            return;
        }
        // A panic while polling a stream (a response body's) resets that stream, as it would
        // in a task of its own, instead of ending the connection and its other streams.
        let stream = AssertUnwindSafe(stream).catch_unwind().map(|ended| {
            if ended.is_err() {
                tracing::error!("an HTTP/2 stream panicked; it is reset, its connection stays up");
            }
        });
        let mut inbox = lock(&self.inbox);
        if inbox.closed {
            drop(inbox);
            // Its connection has ended (hyper spawns an upgraded stream's pump late):
            // it runs on its own rather than being dropped unpolled.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(stream);
            }
            return;
        }
        inbox.new.push(Box::pin(stream));
        let wake = if inbox.polling {
            None
        } else {
            inbox.waker.take()
        };
        drop(inbox);
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

/// A hyper HTTP/2 connection `C` together with the streams it spawned on its
/// [`StreamExecutor`]; resolves once the connection has ended and its streams have finished.
/// When the client vanishes, hyper's connection ends at once, and its streams' handlers see
/// their request bodies fail (as they would in tasks of their own) instead of being dropped
/// where they wait.
pub(crate) struct WithStreams<C: Future> {
    /// hyper's connection, until it ends (dropping it hands the stream back).
    conn: Option<Pin<Box<C>>>,
    /// What it ended with, returned once the streams have finished.
    ended: Option<C::Output>,
    inbox: Arc<Mutex<Inbox>>,
    running: FuturesUnordered<StreamFuture>,
    /// The last poll ended in a yield before new streams ran.
    yielded: bool,
}

impl<C: Future> WithStreams<C> {
    /// `conn` must have been made with `executor` (the streams would otherwise never run).
    pub(crate) fn new(conn: C, executor: &StreamExecutor) -> Self {
        Self {
            conn: Some(Box::pin(conn)),
            ended: None,
            inbox: executor.inbox.clone(),
            running: FuturesUnordered::new(),
            yielded: false,
        }
    }

    /// Runs `f` on hyper's connection (its graceful shutdown), unless it has ended.
    pub(crate) fn with_conn(&mut self, f: impl FnOnce(Pin<&mut C>)) {
        if let Some(conn) = self.conn.as_mut() {
            f(conn.as_mut());
        }
    }

    /// Marks the task as polling (or not), and takes the streams that arrived.
    fn take_new(&mut self, polling: bool, cx: &Context<'_>) -> bool {
        let mut inbox = lock(&self.inbox);
        inbox.polling = polling;
        if !polling
            && !inbox
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inbox.waker = Some(cx.waker().clone());
        }
        let took = !inbox.new.is_empty();
        for stream in inbox.new.drain(..) {
            self.running.push(stream);
        }
        took
    }

    /// After the connection: polls the streams left until every one has finished.
    fn finish(&mut self, cx: &mut Context<'_>) -> Poll<C::Output> {
        loop {
            self.take_new(true, cx);
            match self.running.poll_next_unpin(cx) {
                Poll::Ready(Some(())) => {}
                Poll::Ready(None) => {
                    if !self.take_new(false, cx) {
                        // `None` only when polled again after it resolved.
                        return self.ended.take().map_or(Poll::Pending, Poll::Ready);
                    }
                }
                Poll::Pending => {
                    if self.take_new(false, cx) {
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

// Nothing in it is ever pinned in place: the connection is boxed, its output only moved.
impl<C: Future> Unpin for WithStreams<C> {}

impl<C: Future> Future for WithStreams<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let this = self.get_mut();
        let may_yield = !std::mem::take(&mut this.yielded);
        this.take_new(true, cx);
        for _ in 0..ROUNDS {
            let Some(conn) = this.conn.as_mut() else {
                return this.finish(cx);
            };
            if let Poll::Ready(ended) = conn.as_mut().poll(cx) {
                this.ended = Some(ended);
                this.conn = None;
                return this.finish(cx);
            }
            if this.take_new(true, cx) && may_yield && !this.yielded && hand_over(cx) {
                // New streams run on the next turn, after the runtime has seen work queued.
                this.yielded = true;
                this.take_new(false, cx);
                return Poll::Pending;
            }
            let mut finished = false;
            while let Poll::Ready(Some(())) = this.running.poll_next_unpin(cx) {
                finished = true;
            }
            // Streams that arrived while others ran (an upgrade's pump) are polled next
            // round; without finished streams and new ones, there is nothing to write.
            if !finished && !this.take_new(true, cx) {
                if this.take_new(false, cx) {
                    // Arrived between the check and the flag: go round once more.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        }
        this.take_new(false, cx);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Goes to the back of the runtime's queue (`true`: woken, to be polled again), so that new
/// streams' handlers run only once the runtime has seen a task queued.
///
/// A task woken by the runtime's I/O driver runs next on the worker that polled the driver,
/// and no other worker is woken for it: were that task to block its thread at once (a handler
/// calling blocking code), no worker would poll the driver until it returns, and the I/O of
/// every other connection would wait. A yield queues the task where other workers see it, and
/// one is woken to take it or to poll the driver in its place: one yield per wake-up that
/// brought new streams, however many. (Spawning each stream, hyper's way, does not help: a
/// spawned task goes to the same worker's LIFO slot and wakes no other either: with
/// `http2_spawn_streams(true)`, another connection waited 1.84 s behind a handler blocking
/// for 2 s, measured while writing `tests/streams.rs`.)
fn hand_over(cx: &mut Context<'_>) -> bool {
    yield_turn(cx)
}

impl<C: Future> Drop for WithStreams<C> {
    fn drop(&mut self) {
        let mut inbox = lock(&self.inbox);
        inbox.closed = true;
        inbox.waker = None;
        let left = std::mem::take(&mut inbox.new);
        drop(inbox);
        // Dropped outside the lock: a stream's drop may hand hyper's executor another one.
        drop(left);
    }
}
