//! Every await in a test is bounded: [`within`] by the one [`LIMIT`], [`bounded`] by a
//! limit of its own and naming what it waited for; [`eventually`] polls a condition.

use std::future::Future;
use std::time::Duration;

/// The limit of [`within`] and [`eventually`].
pub const LIMIT: Duration = Duration::from_secs(60);

/// Awaits `fut` for at most [`LIMIT`], failing the test otherwise.
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {LIMIT:?}"))
}

/// Awaits `fut` for at most `secs`, failing the test with `what` otherwise.
pub async fn bounded<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s: {what}"))
}

/// Polls `cond` every 50 ms until it holds, failing the test with `what` after [`LIMIT`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + LIMIT;
    while !cond() {
        if tokio::time::Instant::now() > end {
            panic!("never happened: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
