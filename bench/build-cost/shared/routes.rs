//! The routes of the build-cost apps on axum (each includes this file with `#[path]`, so that
//! they differ only in how they serve it): `/`, `/peer` with the client's address, `POST /echo`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;

/// `/`, `/peer` and `POST /echo`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
}
