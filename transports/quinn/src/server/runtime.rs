//! [`Batching`]: quinn's tokio runtime, except that the tasks quinn spawns (the endpoint's
//! driver and each connection's) go to the back of the run queue before each poll.
//!
//! A request that writes its response wakes its connection's driver, and tokio runs a task
//! woken that way next: the driver then sent that one response in a packet of its own, before
//! the connection's other requests had written theirs (ten pipelined 13-byte responses took
//! about five packets, and the client answered each). Waiting one turn, the driver finds all
//! the responses that became ready in that turn and sends them together: 0.46 → 0.14
//! datagrams sent per request under `oha -c 10 -p 10`, fewer acknowledgements back, half the
//! syscalls (BENCHMARKS.md). An idle server adds one turn of the scheduler to a packet.
//! Queued at the back, the driver is also where the runtime's other threads can see it, so
//! one of them takes the I/O while this one runs handlers.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use quinn::{AsyncTimer, AsyncUdpSocket, Runtime, TokioRuntime};

/// quinn's [`TokioRuntime`], with its tasks [`Deferred`].
#[derive(Debug)]
pub(super) struct Batching;

impl Runtime for Batching {
    fn new_timer(&self, at: Instant) -> Pin<Box<dyn AsyncTimer>> {
        TokioRuntime.new_timer(at)
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        tokio::spawn(Deferred {
            inner: future,
            yielded: false,
        });
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        TokioRuntime.wrap_udp_socket(socket)
    }

    fn now(&self) -> Instant {
        TokioRuntime.now()
    }
}

/// A task that yields once before each poll of `inner`.
struct Deferred {
    inner: Pin<Box<dyn Future<Output = ()> + Send>>,
    yielded: bool,
}

impl Future for Deferred {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !std::mem::replace(&mut self.yielded, true) {
            // Woken while it runs, tokio puts the task at the back of the queue.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        self.inner.as_mut().poll(cx)
    }
}
