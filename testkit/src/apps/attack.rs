//! The hardening suite's target: `/ok`, `/panic`, `/panic-body` (a body that panics after
//! its first chunk), `/upload` (reads the body to its end,
//! counting errors), `/download` (an endless body), `/slow?ms=N`; [`Stats`] says what the
//! handlers saw.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;

use super::info::query_u64;

/// What the handlers saw. `live` counts handler futures and response bodies still alive
/// (each holds a [`Live`] guard), so a leaked task shows up as `live > 0`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Handlers and bodies alive now.
    pub live: AtomicUsize,
    /// The most alive at once.
    pub max_live: AtomicUsize,
    /// Upload bodies that ended in an error.
    pub body_errors: AtomicUsize,
    /// Upload bodies read to their end.
    pub bodies_ok: AtomicUsize,
    /// Downloads begun.
    pub download_started: AtomicUsize,
    /// Uploads begun.
    pub upload_started: AtomicUsize,
}

impl Stats {
    /// Handlers and bodies alive now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Upload bodies that ended in an error.
    pub fn body_errors(&self) -> usize {
        self.body_errors.load(Ordering::SeqCst)
    }
}

/// Counted in [`Stats::live`] until dropped.
pub struct Live(Arc<Stats>);

impl Live {
    /// Counts one more.
    pub fn new(stats: &Arc<Stats>) -> Self {
        let now = stats.live.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_live.fetch_max(now, Ordering::SeqCst);
        Self(stats.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The app; see the [module docs](self).
pub fn router(stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("the /panic handler panics on purpose");
                }
                "unreachable"
            }),
        )
        .route("/panic-body", get(panic_body))
        .route("/upload", post(upload))
        .route("/download", get(download))
        .route("/slow", get(slow))
        .with_state(stats)
}

async fn panic_body() -> Body {
    let chunks = futures_util::stream::unfold(0, |n| async move {
        if n == 1 {
            panic!("the /panic-body body panics on purpose");
        }
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b"partial")),
            n + 1,
        ))
    });
    Body::from_stream(chunks)
}

async fn upload(State(stats): State<Arc<Stats>>, body: Body) -> String {
    let _live = Live::new(&stats);
    stats.upload_started.fetch_add(1, Ordering::SeqCst);
    let mut stream = body.into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => total += c.len(),
            Err(_) => {
                stats.body_errors.fetch_add(1, Ordering::SeqCst);
                return "body error".into();
            }
        }
    }
    stats.bodies_ok.fetch_add(1, Ordering::SeqCst);
    total.to_string()
}

async fn download(State(stats): State<Arc<Stats>>) -> Body {
    stats.download_started.fetch_add(1, Ordering::SeqCst);
    let live = Live::new(&stats);
    let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
    let endless = futures_util::stream::unfold(live, move |live| {
        let chunk = chunk.clone();
        async move { Some((Ok::<_, std::convert::Infallible>(chunk), live)) }
    });
    Body::from_stream(endless)
}

async fn slow(State(stats): State<Arc<Stats>>, uri: http::Uri) -> &'static str {
    let _live = Live::new(&stats);
    let ms = query_u64(&uri, "ms").unwrap_or(100);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "slow"
}
