//! The lifecycle every transport shares, written once: accept until the shutdown starts, one
//! task per connection (counted, its panic logged), then drain until the deadline, cut what
//! is left, and report. A transport supplies what differs — how to accept one connection and
//! serve it, how to stop accepting — as a [`Listen`].

use std::future::Future;

use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use super::measure::{self, ConnectionMetrics};
use crate::transport::TransportContext;
use crate::DrainReport;

/// The tokio runtime cannot serve: there is none, or it was built without the I/O or time
/// driver that sockets and timeouts need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Called outside any tokio runtime.
    #[error(
        "no tokio runtime: serve from within one (under #[tokio::main], or inside \
         Runtime::block_on of a runtime built with enable_all)"
    )]
    Missing,
    /// The runtime has no I/O driver.
    #[error(
        "the tokio runtime was built without I/O: build it with enable_all() (or enable_io()), \
         as #[tokio::main] does"
    )]
    NoIo,
    /// The runtime has no time driver.
    #[error(
        "the tokio runtime was built without timers: build it with enable_all() (or \
         enable_time()), as #[tokio::main] does"
    )]
    NoTime,
}

/// `Ok` when called from within a tokio runtime that has the I/O and time drivers a server
/// needs; the error says how to fix it otherwise, where tokio would panic later.
pub fn ensure_runtime() -> Result<(), RuntimeError> {
    tokio::runtime::Handle::try_current().map_err(|_| RuntimeError::Missing)?;
    if !crate::transport::probe::has_io() {
        return Err(RuntimeError::NoIo);
    }
    if !crate::transport::probe::has_time() {
        return Err(RuntimeError::NoTime);
    }
    Ok(())
}

/// What a transport supplies to [`serve_connections`].
pub trait Listen: Send {
    /// Serves one accepted connection to its end (its handshake included).
    type Connection: Future<Output = ()> + Send + 'static;

    /// The next connection to serve, or `None` once the listener is gone for good. Dropped
    /// and called again whenever another event comes first: it must lose nothing then.
    fn accept(&mut self) -> impl Future<Output = Option<Self::Connection>> + Send;

    /// The drain has started: take no more connections.
    fn stop_accepting(&mut self);

    /// The grace period is over: the connections still open are about to be aborted.
    fn cut(&mut self) {}

    /// How many of the connections still open have sent every response and only wait for
    /// their clients to close: reported apart from those cut with responses in flight.
    fn lingering(&self) -> usize {
        0
    }
}

/// Serves the connections `listen` accepts until `ctx.shutdown` starts the drain (or the
/// listener ends), then waits for them until the deadline and cuts the rest. Returns the
/// listener, for whatever closing it still needs, and the report.
pub async fn serve_connections<L: Listen>(
    name: &'static str,
    mut listen: L,
    ctx: &TransportContext,
) -> (L, DrainReport) {
    measure::describe();
    let mut tasks = JoinSet::new();
    let draining = ctx.shutdown.draining();
    let mut draining = std::pin::pin!(draining);
    let deadline = loop {
        tokio::select! {
            biased;
            deadline = &mut draining => break Some(deadline),
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => log_panic(name, joined),
            accepted = listen.accept() => {
                let Some(connection) = accepted else { break None };
                let counted = (ctx.connections.guard(), ConnectionMetrics::accepted(name));
                tasks.spawn(async move {
                    connection.await;
                    drop(counted);
                });
            }
        }
    };
    listen.stop_accepting();
    let report = match deadline {
        Some(deadline) => drain(name, &mut listen, &mut tasks, deadline).await,
        None => {
            tracing::warn!(
                transport = name,
                "the listener ended; closing its connections"
            );
            tasks.shutdown().await;
            DrainReport::default()
        }
    };
    measure::drained(name, report.cut, report.lingering);
    (listen, report)
}

/// Waits for `tasks` until `deadline`, then cuts what is left.
async fn drain<L: Listen>(
    name: &'static str,
    listen: &mut L,
    tasks: &mut JoinSet<()>,
    deadline: Instant,
) -> DrainReport {
    tracing::info!(transport = name, live = tasks.len(), "draining connections");
    let finished = tokio::time::timeout_at(deadline, async {
        while let Some(joined) = tasks.join_next().await {
            log_panic(name, joined);
        }
    })
    .await
    .is_ok();
    if finished {
        tracing::info!(transport = name, "drained");
        return DrainReport::default();
    }
    let open = tasks.len();
    // Read before the abort: a lingering connection has sent all its responses.
    let lingering = listen.lingering().min(open);
    let cut = open - lingering;
    listen.cut();
    tasks.shutdown().await;
    tracing::info!(
        transport = name,
        cut,
        lingering,
        "grace period over; closed the connections still open"
    );
    DrainReport::new(cut).with_lingering(lingering)
}

fn log_panic(name: &'static str, joined: Result<(), JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            tracing::error!(transport = name, "a connection task panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::transport::BoxFuture;
    use crate::transport::Shutdown;

    /// Hands out `conns` connections that each take `each` to serve, then waits forever.
    struct Fake {
        conns: Vec<Duration>,
        stopped: Arc<AtomicUsize>,
        cut: Arc<AtomicUsize>,
    }

    impl Listen for Fake {
        type Connection = BoxFuture<()>;

        async fn accept(&mut self) -> Option<BoxFuture<()>> {
            match self.conns.pop() {
                Some(each) => Some(Box::pin(async move {
                    if each == Duration::MAX {
                        panic!("a connection's bug");
                    }
                    tokio::time::sleep(each).await;
                })),
                None => std::future::pending().await,
            }
        }

        fn stop_accepting(&mut self) {
            self.stopped.fetch_add(1, Ordering::SeqCst);
        }

        fn cut(&mut self) {
            self.cut.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn fake(conns: Vec<Duration>) -> Fake {
        Fake {
            conns,
            stopped: Arc::default(),
            cut: Arc::default(),
        }
    }

    #[tokio::test]
    async fn drains_what_finishes_in_time_and_cuts_the_rest() {
        let (trigger, shutdown) = Shutdown::pair();
        let ctx = TransportContext::new(shutdown);
        let conns = vec![Duration::from_millis(50), Duration::from_secs(60)];
        let serving = serve_connections("fake", fake(conns), &ctx);
        let stop = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            trigger.shutdown(Duration::from_millis(200));
        };
        let ((listen, report), ()) = tokio::join!(serving, stop);
        assert_eq!(report, DrainReport::new(1));
        assert_eq!(listen.stopped.load(Ordering::SeqCst), 1);
        assert_eq!(listen.cut.load(Ordering::SeqCst), 1);
        assert_eq!(ctx.connections.live(), 0);
    }

    #[tokio::test]
    async fn a_panicking_connection_is_counted_out_and_the_others_go_on() {
        let (trigger, shutdown) = Shutdown::pair();
        let ctx = TransportContext::new(shutdown);
        let conns = vec![Duration::from_millis(20), Duration::MAX];
        let serving = serve_connections("fake", fake(conns), &ctx);
        let stop = async {
            // Long enough for both, even with a panic's backtrace printed on this thread.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let live = ctx.connections.live();
            trigger.shutdown(Duration::from_secs(5));
            live
        };
        let ((listen, report), live) = tokio::join!(serving, stop);
        assert_eq!(live, 0);
        assert_eq!(report, DrainReport::default());
        assert!(listen.conns.is_empty(), "both were accepted");
    }

    #[tokio::test]
    async fn a_drain_that_finishes_cuts_nothing() {
        let (trigger, shutdown) = Shutdown::pair();
        let ctx = TransportContext::new(shutdown);
        trigger.shutdown(Duration::from_secs(5));
        let (listen, report) = serve_connections("fake", fake(Vec::new()), &ctx).await;
        assert_eq!(report, DrainReport::default());
        assert_eq!(listen.cut.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn outside_a_runtime_the_error_says_how_to_fix_it() {
        let e = ensure_runtime().unwrap_err();
        assert_eq!(e, RuntimeError::Missing);
        assert!(e.to_string().contains("#[tokio::main]"), "{e}");
    }

    #[test]
    fn a_runtime_without_io_or_timers_is_an_error_not_a_panic() {
        use tokio::runtime::Builder;
        let no_io = Builder::new_current_thread().enable_time().build().unwrap();
        let e = no_io.block_on(async { ensure_runtime() }).unwrap_err();
        assert_eq!(e, RuntimeError::NoIo);
        assert!(e.to_string().contains("enable_all()"), "{e}");
        let no_time = Builder::new_current_thread().enable_io().build().unwrap();
        let e = no_time.block_on(async { ensure_runtime() }).unwrap_err();
        assert_eq!(e, RuntimeError::NoTime);
        let full = Builder::new_current_thread().enable_all().build().unwrap();
        full.block_on(async { ensure_runtime() }).unwrap();
        // The probes' own panics were caught: this thread can still panic and be caught.
        assert!(std::panic::catch_unwind(|| panic!("still reported")).is_err());
    }
}
