//! [`Shutdown`]: one graceful-shutdown signal, shared by every transport and connection, that
//! carries the deadline by which in-flight work must end.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// `now + after`, or about thirty years from now when that would overflow the clock (a
/// `Duration::MAX` grace period means "wait for everything", not a panic).
pub fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The receiving side of a graceful shutdown, cloned into every transport and connection.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<Option<Instant>>,
}

/// The sending side of a graceful shutdown.
#[derive(Clone, Debug)]
pub struct ShutdownTrigger {
    tx: Arc<watch::Sender<Option<Instant>>>,
}

impl Shutdown {
    /// A linked trigger and signal.
    pub fn pair() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(None);
        (ShutdownTrigger { tx: Arc::new(tx) }, Shutdown { rx })
    }

    /// A signal that never fires.
    pub fn never() -> Self {
        Self::pair().1
    }

    /// Waits until shutdown starts and returns the deadline by which in-flight work must end.
    /// If the trigger is dropped without firing, this waits forever.
    pub async fn draining(&self) -> Instant {
        let mut rx = self.rx.clone();
        loop {
            if let Some(deadline) = *rx.borrow_and_update() {
                return deadline;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// The drain deadline, once shutdown has started.
    pub fn deadline(&self) -> Option<Instant> {
        *self.rx.borrow()
    }
}

/// Watches a shutdown signal for `Server::with_graceful_shutdown`; stops watching when dropped.
#[derive(Debug)]
pub(crate) struct SignalGuard {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ShutdownTrigger {
    /// Starts a graceful shutdown: stop accepting, let in-flight requests finish for up to
    /// `grace`, then close what is left. A second call does not move the deadline.
    pub fn shutdown(&self, grace: Duration) {
        let deadline = deadline_after(grace);
        self.tx.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
    }

    /// Starts the shutdown with `grace` once `signal` completes, unless the returned guard
    /// was dropped first (`Server::with_graceful_shutdown`).
    pub(crate) fn fire_on<F>(&self, signal: F, grace: Duration) -> SignalGuard
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let trigger = self.clone();
        let task = tokio::spawn(async move {
            signal.await;
            tracing::info!(?grace, "graceful shutdown started");
            trigger.shutdown(grace);
            // The trigger stays alive with this task, so the deadline stays readable.
            std::future::pending::<()>().await;
        });
        SignalGuard { task }
    }

    /// The signal side.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_signal_carries_the_deadline_once() {
        let (trigger, shutdown) = Shutdown::pair();
        assert!(!shutdown.is_draining());
        trigger.shutdown(Duration::from_secs(5));
        let first = tokio::time::timeout(Duration::from_secs(1), shutdown.draining())
            .await
            .unwrap();
        trigger.shutdown(Duration::from_secs(50));
        assert_eq!(shutdown.deadline(), Some(first));
    }

    #[tokio::test]
    async fn an_endless_grace_period_is_not_a_panic() {
        let (trigger, shutdown) = Shutdown::pair();
        trigger.shutdown(Duration::MAX);
        assert!(shutdown.deadline().unwrap() > Instant::now() + Duration::from_secs(86_400 * 365));
    }
}
