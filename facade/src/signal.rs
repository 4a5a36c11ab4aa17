//! [`shutdown_signal`]: Ctrl-C, or SIGTERM on Unix (what `docker stop`, systemd and
//! Kubernetes send).

use std::future::Future;

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: the signal [`serve`](crate::serve)
/// shuts down on, for [`Server::with_graceful_shutdown`](crate::Server::with_graceful_shutdown)
/// too.
///
/// Called within a tokio runtime, it starts listening at once (so a signal that comes before
/// the future is first polled is not lost); otherwise when first polled. A signal that cannot
/// be listened for is logged and not waited for. Once listened for, SIGINT and SIGTERM no
/// longer end the process by themselves, for as long as it runs.
///
/// ```no_run
/// # async fn run(app: axum::Router, http: twinport::Http, h3: twinport::Http3) -> Result<(), twinport::TransportError> {
/// twinport::Server::new(app)
///     .transport(http)
///     .transport(h3)
///     .with_graceful_shutdown(twinport::shutdown_signal())
///     .await?;
/// # Ok(())
/// # }
/// ```
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let listening = tokio::runtime::Handle::try_current()
        .is_ok()
        .then(imp::Listening::start);
    async move {
        let listening = match listening {
            Some(l) => l,
            None => imp::Listening::start(),
        };
        listening.wait().await;
    }
}

#[cfg(unix)]
mod imp {
    use tokio::signal::unix::{signal, Signal, SignalKind};

    pub(super) struct Listening {
        interrupt: Option<Signal>,
        terminate: Option<Signal>,
    }

    fn listen(kind: SignalKind, name: &str) -> Option<Signal> {
        signal(kind)
            .map_err(|error| tracing::warn!(%error, "cannot listen for {name}"))
            .ok()
    }

    async fn recv(signal: &mut Option<Signal>) {
        match signal {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }

    impl Listening {
        pub(super) fn start() -> Self {
            Self {
                interrupt: listen(SignalKind::interrupt(), "Ctrl-C (SIGINT)"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }

        pub(super) async fn wait(mut self) {
            tokio::select! {
                () = recv(&mut self.interrupt) => tracing::info!("Ctrl-C: shutting down"),
                () = recv(&mut self.terminate) => tracing::info!("SIGTERM: shutting down"),
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) struct Listening;

    impl Listening {
        pub(super) fn start() -> Self {
            Self
        }

        pub(super) async fn wait(self) {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("Ctrl-C: shutting down"),
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for Ctrl-C");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}
