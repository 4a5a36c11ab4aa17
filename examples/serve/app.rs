//! The example server's axum application, shared with the end-to-end tests.

use std::path::Path;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path as UrlPath, Request};
use axum::http::{header, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use tower_http::services::ServeDir;
use twinport::{BoxError, ConnectionInfo};
use twinport_quinn::webtransport::{
    Protocols, RecvStream, SendStream, WebTransportHandler, WebTransportSession,
};

/// The largest `/bytes/{n}` served: 16 GiB.
const MAX_BYTES: u64 = 16 << 30;
const CHUNK: usize = 64 * 1024;
/// What `/bytes/{n}` sends, a chunk at a time.
static FILL: [u8; CHUNK] = [b'x'; CHUNK];

/// The routes: `/whoami`, `/peer`, `/echo`, `/bytes/{n}`, the WebSocket echo `/ws` and the
/// static page in `dist`.
pub fn router(dist: &Path) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/peer", get(peer))
        .route("/echo", post(echo))
        .route("/bytes/{n}", get(bytes))
        // `any`, not `get`: over HTTP/2 a WebSocket opens with CONNECT (RFC 8441).
        .route("/ws", any(ws))
        .fallback_service(ServeDir::new(dist))
}

/// axum's own `ConnectInfo`, as apps written for `into_make_service_with_connect_info` use it.
async fn peer(ConnectInfo(addr): ConnectInfo<SocketAddr>) -> String {
    addr.to_string()
}

/// A WebSocket echo: first a text message naming the HTTP version that carried the socket
/// (`HTTP/1.1`, `HTTP/2` or `HTTP/3`), then every message back as it came.
async fn ws(upgrade: WebSocketUpgrade, version: Version) -> Response {
    upgrade.on_upgrade(move |socket| ws_echo(socket, version))
}

async fn ws_echo(mut socket: WebSocket, version: Version) {
    if socket
        .send(Message::Text(protocol(version).into()))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(msg)) = socket.recv().await {
        let echo = match msg {
            Message::Text(_) | Message::Binary(_) => msg,
            // The next read sends the close frame back and ends the socket: the close
            // handshake completes (RFC 6455 §5.5.1).
            Message::Close(_) => continue,
            // axum answers pings itself.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(echo).await.is_err() {
            return;
        }
    }
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
        "key_exchange_group": info.and_then(|i| i.tls()).and_then(|t| t.key_exchange_group_str()),
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
    // Static slices, as the bench harness serves them: no buffer allocated or filled per
    // request (that cost dominated small responses through this example).
    let body = if n <= CHUNK as u64 {
        // n <= CHUNK, so it fits in usize.
        Body::from(Bytes::from_static(&FILL[..n as usize]))
    } else {
        Body::from_stream(stream::unfold(n, |left| async move {
            if left == 0 {
                return None;
            }
            let take = left.min(CHUNK as u64);
            // take <= CHUNK, so it fits in usize.
            let piece = Bytes::from_static(&FILL[..take as usize]);
            Some((Ok::<_, std::convert::Infallible>(piece), left - take))
        }))
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(n)),
        ],
        body,
    )
        .into_response()
}

/// The largest stream `/wt/echo` echoes: 1 MiB.
const MAX_ECHO: usize = 1 << 20;

/// The WebTransport handler of `/wt/echo`, speaking the sub-protocol `echo-v1` if offered.
pub fn wt_echo_handler() -> impl WebTransportHandler {
    Protocols::new(["echo-v1"], wt_echo)
}

/// `/wt/echo`: every bidirectional stream is echoed on itself (one that says `whoami` gets
/// the session's ConnectionInfo and WebTransport draft as JSON instead, one that says `close` closes the session with
/// code 4242), every unidirectional stream on a new
/// unidirectional stream from the server, every datagram as a datagram.
pub async fn wt_echo(session: WebTransportSession) -> Result<(), BoxError> {
    let session = std::sync::Arc::new(session);
    // Dropping the JoinSet (when the session ends) aborts the per-stream tasks.
    let mut tasks: JoinSet<Result<(), BoxError>> = JoinSet::new();
    loop {
        tokio::select! {
            Some((send, recv)) = session.accept_bi() => {
                tasks.spawn(echo_bi(session.clone(), send, recv));
            }
            Some(recv) = session.accept_uni() => {
                let session = session.clone();
                tasks.spawn(async move {
                    let mut recv = recv;
                    let data = recv.read_to_end(MAX_ECHO).await?;
                    let mut send = session.open_uni().await?;
                    send.write_all(&data).await?;
                    send.finish()?;
                    let _ = send.stopped().await;
                    Ok(())
                });
            }
            Some(datagram) = session.read_datagram() => {
                if let Err(e) = session.send_datagram(datagram) {
                    tracing::debug!(error = %e, "datagram not echoed");
                }
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(Err(e)) = done {
                    tracing::debug!(error = %e, "echo stream failed");
                }
            }
            else => return Ok(()),
        }
    }
}

async fn echo_bi(
    session: std::sync::Arc<WebTransportSession>,
    mut send: SendStream,
    mut recv: RecvStream,
) -> Result<(), BoxError> {
    let data = recv.read_to_end(MAX_ECHO).await?;
    match &data[..] {
        b"whoami" => {
            let mut whoami = whoami_json(Version::HTTP_3, Some(session.connection_info()));
            // The WebTransport draft the client's SETTINGS picked.
            whoami["webtransport_draft"] = session.draft().as_str().into();
            send.write_all(whoami.to_string().as_bytes()).await?;
        }
        b"close" => {
            session.close(4242, "closed on request");
            return Ok(());
        }
        _ => send.write_all(&data).await?,
    }
    send.finish()?;
    let _ = send.stopped().await;
    Ok(())
}
