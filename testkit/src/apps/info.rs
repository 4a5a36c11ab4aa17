//! The transport suites' app, the same on every protocol:
//! - `/info`: JSON with the request's version, [`ConnectionInfo`](twinport::ConnectionInfo)
//!   and the tokio task it runs in; echoes `x-test` as `x-test-echo`
//! - `/echo` (POST): the request body streamed back, frame by frame, trailers included
//! - `/sha256` (POST): answers `<count> <sha256>` of the body and echoes its trailers as
//!   response trailers; a body error is a 400 saying what went wrong
//! - `/upload` (POST): `{"len": N, "sha256": "..."}` of the body
//! - `/download?n=N&after_ms=M`: N bytes of [`pattern`], in [`CHUNK`]s, after M ms
//! - `/small-upload` (POST): `{"len": N}` of a body up to [`SMALL_UPLOAD`] bytes; a larger
//!   declared `content-length` is refused with `413` at once, the body unread
//! - `/trailers`: GET, a body with an `x-checksum` trailer; POST, the body echoed with
//!   trailers `x-sha256` (of the body) and `x-echo-checksum` (the request's `x-checksum`)
//! - `/sleep?ms=N`: waits, then answers `slept`
//! - `/block?ms=N`: holds its thread for N ms (as a handler computing without an `.await`
//!   does), then answers `blocked`
//! - `/ws`: a WebSocket echoing text as `echo: TEXT`
//! - `/panic`, `/panic-body`: panic before / after the response head
//!
//! Every response carries `x-served-by: twinport-testkit`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;
use twinport::{BoxError, ConnectionInfoExt};

use super::hex;

/// The frame size of `/download` and of [`streaming`] bodies: 64 KiB.
pub const CHUNK: usize = 64 * 1024;

/// The largest body `/small-upload` takes: 1 MiB.
pub const SMALL_UPLOAD: u64 = 1024 * 1024;

/// The value of the `x-served-by` header on every response.
pub const SERVED_BY: &str = "twinport-testkit";

/// The app; see the [module docs](self).
pub fn router() -> Router {
    Router::new()
        .route("/info", any(info))
        .route("/echo", post(echo))
        .route("/sha256", post(sha256))
        .route("/upload", post(upload))
        .route("/download", get(download))
        .route("/small-upload", post(small_upload))
        .route("/trailers", get(trailers).post(echo_with_trailers))
        .route("/sleep", get(sleep))
        .route("/block", get(block))
        .route("/ws", get(ws))
        .route("/panic", get(panic))
        .route("/panic-body", get(panic_body))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(SetResponseHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-served-by"),
            HeaderValue::from_static(SERVED_BY),
        ))
}

/// The byte at offset `i` of a download or upload: a pattern that catches reordering and loss.
pub fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

/// Bytes `start..start + len` of the [`pattern`].
pub fn pattern_bytes(start: u64, len: usize) -> Bytes {
    (start..start + len as u64)
        .map(pattern)
        .collect::<Vec<u8>>()
        .into()
}

/// The SHA-256 (hex) of the first `total` bytes of the [`pattern`].
pub fn expected_sha(total: u64) -> String {
    let mut h = Sha256::new();
    for (start, len) in chunks(total) {
        h.update(pattern_bytes(start, len));
    }
    hex(&h.finalize())
}

/// (offset, length) of each [`CHUNK`] of `total` bytes.
fn chunks(total: u64) -> impl Iterator<Item = (u64, usize)> {
    (0..total).step_by(CHUNK).map(move |start| {
        // At most CHUNK, so it fits in usize.
        (start, (total - start).min(CHUNK as u64) as usize)
    })
}

/// `total` bytes of the [`pattern`], made as they are sent.
pub fn pattern_stream(total: u64) -> impl Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::iter(chunks(total)).map(|(start, len)| Ok(pattern_bytes(start, len)))
}

/// A request body of `total` bytes of the [`pattern`], streamed in [`CHUNK`]s.
pub fn streaming(total: u64) -> crate::clients::ClientBody {
    StreamBody::new(pattern_stream(total).map(|r| r.map(Frame::data)))
        .map_err(|e| match e {})
        .boxed()
}

/// The value of `key` in the query of `uri`.
pub fn query_u64(uri: &http::Uri, key: &str) -> Option<u64> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

async fn info(req: Request) -> Response {
    let version = format!("{:?}", req.version());
    let Some(info) = req.connection_info() else {
        return Json(json!({ "version": version, "info": null })).into_response();
    };
    let tls = info.tls();
    let cert = info.client_certificate();
    let body = json!({
        "version": version,
        "id": info.id().get(),
        "transport": info.transport().as_str(),
        "remote": info.remote_addr().map(|a| a.to_string()),
        "local": info.local_addr().map(|a| a.to_string()),
        "alpn": info.alpn_str(),
        "sni": tls.and_then(|t| t.server_name()),
        "tls_version": tls.and_then(|t| t.version_str()),
        "cipher": tls.and_then(|t| t.cipher_suite_str()),
        "group": tls.and_then(|t| t.key_exchange_group_str()),
        "early_data": info.is_early_data(),
        "client_cn": cert.and_then(|c| c.common_name()),
        "client_dns": cert.map(|c| c.dns_names().collect::<Vec<_>>()),
        "client_uris": cert.map(|c| c.uris().collect::<Vec<_>>()),
        "client_spiffe": cert.and_then(|c| c.spiffe_id()),
        "client_issuer": cert.map(|c| c.issuer()),
        "proxy_peer": info.proxy().and_then(|p| p.peer_addr).map(|a| a.to_string()),
        "proxy_destination": info.proxy().and_then(|p| p.destination).map(|a| a.to_string()),
        // The tokio task the handler runs in: its connection's, or one of its own.
        "task": tokio::task::try_id().map(|id| id.to_string()),
    });
    let mut res = Json(body).into_response();
    if let Some(v) = req.headers().get("x-test") {
        res.headers_mut().insert("x-test-echo", v.clone());
    }
    res
}

async fn echo(req: Request) -> Body {
    req.into_body()
}

/// What reading a body to its end found.
struct Hashed {
    len: u64,
    sha256: String,
    trailers: Option<HeaderMap>,
}

async fn hash(body: Body) -> Result<Hashed, axum::Error> {
    let mut body = body;
    let mut h = Sha256::new();
    let mut len = 0u64;
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame?.into_data() {
            Ok(data) => {
                len += data.len() as u64;
                h.update(&data);
            }
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    Ok(Hashed {
        len,
        sha256: hex(&h.finalize()),
        trailers,
    })
}

async fn sha256(req: Request) -> Response {
    let hashed = match hash(req.into_body()).await {
        Ok(h) => h,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("body error: {e}")).into_response(),
    };
    let text = format!("{} {}", hashed.len, hashed.sha256);
    let mut frames = vec![Ok::<_, Infallible>(Frame::data(Bytes::from(text)))];
    frames.extend(hashed.trailers.map(|t| Ok(Frame::trailers(t))));
    Body::new(StreamBody::new(futures_util::stream::iter(frames))).into_response()
}

async fn upload(req: Request) -> Result<Json<Value>, String> {
    let hashed = hash(req.into_body()).await.map_err(|e| e.to_string())?;
    Ok(Json(json!({ "len": hashed.len, "sha256": hashed.sha256 })))
}

async fn download(uri: http::Uri) -> Body {
    if let Some(ms) = query_u64(&uri, "after_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Body::from_stream(pattern_stream(query_u64(&uri, "n").unwrap_or(0)))
}

async fn small_upload(req: Request) -> Response {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > SMALL_UPLOAD) {
        return (StatusCode::PAYLOAD_TOO_LARGE, "at most 1 MiB").into_response();
    }
    match axum::body::to_bytes(req.into_body(), SMALL_UPLOAD as usize).await {
        Ok(body) => Json(json!({ "len": body.len() })).into_response(),
        Err(_) => (StatusCode::PAYLOAD_TOO_LARGE, "at most 1 MiB").into_response(),
    }
}

fn with_trailers(data: Bytes, trailers: HeaderMap) -> Body {
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(data)),
        Ok(Frame::trailers(trailers)),
    ];
    Body::new(StreamBody::new(futures_util::stream::iter(frames)))
}

async fn trailers() -> Body {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc123"));
    with_trailers(Bytes::from_static(b"with trailers"), trailers)
}

async fn echo_with_trailers(req: Request) -> Result<Body, String> {
    let collected = req.into_body().collect().await.map_err(|e| e.to_string())?;
    let request_trailer = collected
        .trailers()
        .and_then(|t| t.get("x-checksum"))
        .cloned();
    let body = collected.to_bytes();
    let mut trailers = HeaderMap::new();
    let sha = super::sha256_hex(&body);
    trailers.insert("x-sha256", sha.parse().map_err(|_| "header")?);
    if let Some(v) = request_trailer {
        trailers.insert("x-echo-checksum", v);
    }
    Ok(with_trailers(body, trailers))
}

async fn sleep(uri: http::Uri) -> &'static str {
    let ms = query_u64(&uri, "ms").unwrap_or(100);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "slept"
}

async fn block(uri: http::Uri) -> &'static str {
    let ms = query_u64(&uri, "ms").unwrap_or(100);
    std::thread::sleep(Duration::from_millis(ms));
    "blocked"
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            let reply = match msg {
                Message::Text(t) => Message::Text(format!("echo: {}", t.as_str()).into()),
                Message::Binary(b) => Message::Binary(b),
                Message::Close(_) => break,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    })
}

async fn panic() -> &'static str {
    if true {
        panic!("the handler panicked on purpose");
    }
    "unreachable"
}

async fn panic_body() -> Body {
    let stream = futures_util::stream::unfold(0u8, |state| async move {
        match state {
            0 => Some((Ok::<_, BoxError>(Bytes::from_static(b"partial")), 1)),
            _ => panic!("the body panicked on purpose"),
        }
    });
    Body::from_stream(stream)
}
