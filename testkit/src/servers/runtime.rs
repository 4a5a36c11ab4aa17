//! [`ServerRuntime`]: a runtime of its own for a server under test.

use std::future::Future;

/// A multi-threaded tokio runtime (4 threads) for a server, apart from the test's own, as in
/// production: a handler holding one of its threads cannot hold the test's client and timers
/// too. Dropping it shuts it down in the background (a runtime may not be dropped where a test
/// awaits).
pub struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl ServerRuntime {
    /// Builds it.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Self(Some(runtime))
    }

    /// Runs `start` (which binds and spawns the server) on this runtime; what it returns.
    pub async fn start<F>(&self, start: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.0.as_ref().expect("a live runtime");
        runtime.spawn(start).await.expect("the server started")
    }
}

impl Default for ServerRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
