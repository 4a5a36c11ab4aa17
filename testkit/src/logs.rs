//! Logs: [`init_tracing`] for a test's output, [`Logs`] to assert on what twinport logged.

use std::io;
use std::sync::{Arc, Mutex};

/// Sends logs to the test's output, filtered by `RUST_LOG` (default `warn`). Idempotent.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The twinport crates' log lines (debug and up) of this test's thread: with the
/// current-thread runtime `#[tokio::test]` uses, that is this test's server and clients.
pub struct Logs {
    buf: LogBuf,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    /// Captures from now until the `Logs` is dropped.
    pub fn capture() -> Self {
        let buf = LogBuf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "twinport=debug,twinport_hyper=debug,twinport_quinn=debug",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        Self { buf, _guard: guard }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.0.lock().unwrap()).into_owned()
    }

    /// Lines at `level` ("WARN", "ERROR", ...).
    pub fn lines_at(&self, level: &str) -> Vec<String> {
        let tag = format!(" {level} ");
        self.text()
            .lines()
            .filter(|l| l.contains(&tag))
            .map(str::to_owned)
            .collect()
    }

    /// Forgets what was captured so far.
    pub fn clear(&self) {
        self.buf.0.lock().unwrap().clear();
    }
}
