//! What the browser suites serve beside the example's app, under `/kit/`, and what they read
//! back without a browser driver:
//! - `/kit/altsvc.html`: fetches `/whoami` until HTTP/3 served it, then reports what it saw
//! - `/kit/wt.html`: a WebTransport session against `/wt/echo` (streams, datagrams, the
//!   session's ConnectionInfo, a close by the server), then reports what it saw
//! - `/kit/page.js`: the script these pages share, the example page's own `<script id="shared">`
//! - `POST /kit/report`: a page's JSON report, kept in [`Reports`]; the example's own page
//!   (`/`) sends one too when asked to with `?report=/kit/report` (its `page` is `"index"`)
//!
//! [`Reports::wrap`] also logs the HTTP version of every request the app serves
//! ([`Reports::served`]), so that a test can check what the server saw, not only the page.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::Version;
use serde_json::Value;
use tokio::sync::Notify;

/// A request the app served: its path and HTTP version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The request's path (without the query).
    pub path: String,
    /// The HTTP version it came over.
    pub version: Version,
}

/// The HTTP versions of the requests for `path` among `served`, in order.
pub fn versions_of(served: &[Served], path: &str) -> Vec<Version> {
    served
        .iter()
        .filter(|s| s.path == path)
        .map(|s| s.version)
        .collect()
}

#[derive(Default)]
struct Inner {
    reports: Mutex<Vec<Value>>,
    served: Mutex<Vec<Served>>,
    posted: Notify,
}

/// The pages' reports and the log of served requests of one server (cheap to clone).
#[derive(Clone, Default)]
pub struct Reports(Arc<Inner>);

impl Reports {
    /// No reports yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `app` with the `/kit/` routes added and every request logged.
    pub fn wrap(&self, app: Router) -> Router {
        let kit = Router::new()
            .route(
                "/kit/altsvc.html",
                get(|| async { Html(include_str!("pages/altsvc.html")) }),
            )
            .route(
                "/kit/wt.html",
                get(|| async { Html(include_str!("pages/wt.html")) }),
            )
            .route("/kit/page.js", get(page_js))
            .route("/kit/report", post(report))
            .with_state(self.clone());
        app.merge(kit)
            .layer(middleware::from_fn_with_state(self.clone(), log_version))
    }

    /// The next report whose `page` field is `page`, waiting for it (bound the wait).
    pub async fn next(&self, page: &str) -> Value {
        loop {
            let posted = self.0.posted.notified();
            {
                let mut reports = self.0.reports.lock().unwrap();
                if let Some(i) = reports.iter().position(|r| r["page"] == page) {
                    return reports.remove(i);
                }
            }
            posted.await;
        }
    }

    /// Every request served so far, in the order they arrived.
    pub fn served(&self) -> Vec<Served> {
        self.0.served.lock().unwrap().clone()
    }
}

/// The text of the example page's `<script id="shared">`: the helpers the kit's pages share.
async fn page_js() -> impl IntoResponse {
    let page = include_str!("../../../examples/app/dist/index.html");
    let start = page
        .find(SHARED)
        .expect("the example page has its shared script")
        + SHARED.len();
    let len = page[start..]
        .find("</script>")
        .expect("the shared script ends");
    let js = &page[start..start + len];
    ([(http::header::CONTENT_TYPE, "text/javascript")], js)
}

const SHARED: &str = "<script id=\"shared\">";

async fn report(State(reports): State<Reports>, Json(report): Json<Value>) {
    reports.0.reports.lock().unwrap().push(report);
    reports.0.posted.notify_waiters();
}

async fn log_version(State(reports): State<Reports>, req: Request, next: Next) -> Response {
    let served = Served {
        path: req.uri().path().to_owned(),
        version: req.version(),
    };
    reports.0.served.lock().unwrap().push(served);
    next.run(req).await
}
