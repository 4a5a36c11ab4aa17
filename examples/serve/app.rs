//! The example server's axum application, shared with the end-to-end tests.

use std::path::Path;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request};
use axum::http::{header, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{json, Value};
use tower_http::services::ServeDir;
use twinport::ConnectionInfo;

/// The largest `/bytes/{n}` served: 16 GiB.
const MAX_BYTES: u64 = 16 << 30;
const CHUNK: usize = 64 * 1024;

/// The routes: `/whoami`, `/echo`, `/bytes/{n}` and the static page in `dist`.
pub fn router(dist: &Path) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/echo", post(echo))
        .route("/bytes/{n}", get(bytes))
        .fallback_service(ServeDir::new(dist))
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "unknown",
    }
}

/// This request's HTTP version and ConnectionInfo, as JSON.
pub fn whoami_json(version: Version, info: Option<&ConnectionInfo>) -> Value {
    let alpn = info.and_then(|i| i.alpn_str());
    json!({
        "protocol": protocol(version),
        "alpn": alpn,
        "transport": info.map(|i| i.transport().as_str()),
        "remote_addr": info.and_then(|i| i.remote_addr()).map(|a| a.to_string()),
        "local_addr": info.and_then(|i| i.local_addr()).map(|a| a.to_string()),
        "sni": info.and_then(|i| i.tls()).and_then(|t| t.server_name()),
        "tls_version": info.and_then(|i| i.tls()).and_then(|t| t.version_str()),
        "cipher_suite": info.and_then(|i| i.tls()).and_then(|t| t.cipher_suite_str()),
        "client_certificate": info.and_then(|i| i.client_certificate()).map(|c| json!({
            "common_name": c.common_name(),
            "sans": c.subject_alt_names(),
            "sha256": c.fingerprint_sha256_hex(),
            "issuer": c.issuer(),
        })),
        "connection": info,
    })
}

async fn whoami(info: Option<ConnectionInfo>, req: Request) -> Json<Value> {
    Json(whoami_json(req.version(), info.as_ref()))
}

async fn echo(req: Request) -> Response {
    let body = Body::from_stream(req.into_body().into_data_stream());
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

async fn bytes(UrlPath(n): UrlPath<u64>) -> Response {
    if n > MAX_BYTES {
        return (
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_BYTES} bytes"),
        )
            .into_response();
    }
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = stream::unfold(n, move |left| {
        let chunk = chunk.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(CHUNK as u64);
            // take <= CHUNK, so it fits in usize.
            let piece = chunk.slice(..take as usize);
            Some((Ok::<_, std::convert::Infallible>(piece), left - take))
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, n.to_string()),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}
