#![allow(clippy::unwrap_used)]
//! WebSockets over HTTP/3 (RFC 9220) on axum's own `WebSocketUpgrade`: the example's `/ws`
//! route, unchanged, from an independent client (aioquic + wsproto, tests/peers/ws_h3_client.py);
//! a route written `get(..)` (405 and a warning, as over HTTP/2); axum's `ConnectInfo` in the
//! handler; WebSockets turned off; and the tunnel's bounds: a client that floods a handler
//! that does not read, and one that takes nothing of a handler that writes, with the server's
//! memory watched while another client is served; a client that resets its socket; and
//! headless Chromium's RFC 9220 client on the example's page.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use http::Version;
use serde_json::{json, Value};
use twinport::Server;
use twinport_quinn::{Http3, Http3Config};
use twinport_testkit::apps::browser::versions_of;
use twinport_testkit::browsers::Chromium;
use twinport_testkit::codes::code_name;
use twinport_testkit::frames::{h3_frame_head, H3_DATA};
use twinport_testkit::logs::Logs;
use twinport_testkit::peers::{peer_json, python};
use twinport_testkit::pki::Mtls;
use twinport_testkit::raw::{describe, pump, read_to_end, Ended, RawH3};
use twinport_testkit::servers::start_example;
use twinport_testkit::sys::RssWatch;
use twinport_testkit::{bounded, eventually, init_tracing, within, Pki};

/// The memory tests measure the process's RSS: the tests of this file run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The fields of a WebSocket's extended CONNECT.
const WS_FIELDS: &[(&str, &[u8])] = &[
    (":protocol", b"websocket"),
    ("sec-websocket-version", b"13"),
];

/// Runs ws_h3_client.py against `port`; the JSON it printed.
async fn ws_client(python: &Path, port: u16, extra: &[&str]) -> Value {
    peer_json(python, "ws_h3_client.py", port, extra).await
}

#[tokio::test]
async fn aioquic_opens_the_examples_websocket_over_http3() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(py) = python("wsproto") else { return };
    let server = start_example(Mtls::Off);
    let out = ws_client(
        &py,
        server.addr.port(),
        &[
            "--text",
            "hello",
            "--text",
            "über",
            "--binary-size",
            "300000",
        ],
    )
    .await;
    assert!(out["error"].is_null(), "{out}");
    // The server offers extended CONNECT, and the example's route accepts the WebSocket.
    assert_eq!(out["enable_connect_protocol"], 1, "{out}");
    assert_eq!(out["status"], 200, "{out}");
    // The handler's first message: the version the request came over.
    assert_eq!(out["first"], "HTTP/3", "{out}");
    assert_eq!(out["echoes"], json!(["hello", "über"]), "{out}");
    // 300 kB in one message: more than the tunnel's buffers, each way.
    assert_eq!(out["binary_echoed"], 300_000, "{out}");
    assert_eq!(out["binary_intact"], true, "{out}");
    // The close handshake completes, and the stream ends cleanly (no reset).
    assert_eq!(out["close"]["code"], 1000, "{out}");
    assert_eq!(out["stream_ended"], true, "{out}");
    let served = server.reports.served();
    assert!(
        served
            .iter()
            .any(|s| s.path == "/ws" && s.version == Version::HTTP_3),
        "{served:?}"
    );
    server.stop().await;
}

/// The example's page opens its WebSocket echo (`?ws=1`) in headless Chromium with QUIC
/// forced. With RFC 9220 turned on (`--enable-features=EnableWebsocketsOverHttp3`) the socket
/// goes over the page's HTTP/3 connection; without it, Chromium opens it over TCP — as the
/// server's first message and its log of served requests say.
#[tokio::test]
async fn chromium_opens_the_examples_websocket_over_http3() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(chromium) = Chromium::require() else {
        return;
    };
    // Without the feature, Chromium (which has no TCP connection to the origin: QUIC is
    // forced) opens the socket on a new HTTP/1.1 connection.
    for (feature, want, version) in [
        (
            Some("--enable-features=EnableWebsocketsOverHttp3"),
            "HTTP/3",
            Version::HTTP_3,
        ),
        (None, "HTTP/1.1", Version::HTTP_11),
    ] {
        let server = start_example(Mtls::Off);
        let addr = server.addr;
        // The page POSTs what it saw to the kit's server (`?report=`).
        let url = format!("https://{addr}/?ws=1&report=/kit/report");
        let forced = format!("--origin-to-force-quic-on={addr}");
        let mut flags = vec!["--enable-quic", forced.as_str()];
        flags.extend(feature);
        let mut run = chromium.open(&url, &Pki::get().server_spki(), &flags).await;
        let report = run.report(&server.reports, "index").await;
        run.close().await;
        assert_eq!(report["next_hop"], "h3", "{feature:?}: {report}");
        let ws = &report["ws"];
        assert_eq!(ws["status"], "done", "{feature:?}: {report}");
        assert_eq!(ws["protocol"], want, "{feature:?}: {report}");
        assert_eq!(ws["echo"], "hello websocket", "{feature:?}: {report}");
        // The close handshake completed: the server's close frame came back before its FIN.
        assert_eq!(ws["closed"]["clean"], true, "{feature:?}: {report}");
        assert_eq!(ws["closed"]["code"], 1000, "{feature:?}: {report}");
        let served = server.reports.served();
        let ws = versions_of(&served, "/ws");
        assert_eq!(ws, [version], "{feature:?}: {served:?}");
        server.stop().await;
    }
}

/// A WebSocket handler that says who it serves: axum's `ConnectInfo` and the HTTP version.
async fn peer_ws(
    upgrade: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    version: Version,
) -> Response {
    upgrade.on_upgrade(move |mut socket: WebSocket| async move {
        let said = format!("{peer} {version:?}");
        let _ = socket.send(Message::Text(said.into())).await;
        let _ = socket.send(Message::Close(None)).await;
    })
}

/// An HTTP/3 server of these tests.
struct H3Server {
    addr: SocketAddr,
    handle: twinport::ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

impl H3Server {
    /// Serves `app` with `config`.
    fn start(app: Router, config: Http3Config) -> Self {
        init_tracing();
        let tls = Pki::get().server_tls();
        let http3 = Http3::builder(&tls)
            .http3()
            .http3_config(config)
            .bind("127.0.0.1:0".parse().unwrap())
            .unwrap();
        let addr = http3.local_addr();
        let server = Server::new(app).transport(http3);
        let handle = server.handle();
        let task = tokio::spawn(async move {
            let _ = server.await;
        });
        Self { addr, handle, task }
    }

    /// Shuts down and waits until every connection task is gone (so that their spans end
    /// while a test's log capture still stands).
    async fn stop(self) {
        self.handle.shutdown(Duration::from_secs(1));
        let _ = within(self.task).await;
    }
}

/// The payloads of the DATA frames among `frames`, joined.
fn data_of(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    frames
        .iter()
        .filter(|(ty, _)| *ty == H3_DATA)
        .flat_map(|(_, p)| p.iter().copied())
        .collect()
}

/// A route written `get(..)` answers an HTTP/3 WebSocket `405`, and the server says why in a
/// warning; on `any(..)` the same handler opens, with axum's `ConnectInfo` the client's
/// address. (A raw client: the bytes on the stream are checked as they came.)
#[tokio::test]
async fn a_get_route_is_a_405_with_a_warning_and_any_opens_with_connect_info() {
    let _one = ONE_AT_A_TIME.lock().await;
    let logs = Logs::capture();
    let app = Router::new()
        .route("/get", get(peer_ws))
        .route("/any", any(peer_ws));
    let server = H3Server::start(app, Http3Config::default());
    let addr = server.addr;
    let raw = RawH3::h3(addr).await;
    let local = raw.endpoint.local_addr().unwrap();

    let mut refused = raw.extended_connect("/get", WS_FIELDS).await;
    assert_eq!(refused.status(), 405);
    let _ = refused.read_rest(Duration::from_secs(5)).await;

    let mut open = raw.extended_connect("/any", WS_FIELDS).await;
    assert_eq!(open.status(), 200);
    let frames = open.read_rest(Duration::from_secs(10)).await.unwrap();
    let bytes = data_of(&frames);
    // A text frame (FIN, opcode 1, unmasked: from the server), then a close frame (opcode 8).
    let said = format!("127.0.0.1:{} HTTP/3.0", local.port());
    let mut want = vec![0x81, said.len() as u8];
    want.extend_from_slice(said.as_bytes());
    want.extend_from_slice(&[0x88, 0x00]);
    assert_eq!(bytes, want, "{:?}", String::from_utf8_lossy(&bytes));

    let warnings = logs.lines_at("WARN");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("/get")
            && warnings[0].contains("any(handler)")
            && warnings[0].contains("Http3Config::websockets(false)"),
        "{warnings:?}"
    );
    raw.close().await;
    server.stop().await;
}

/// With `Http3Config::websockets(false)` (and no WebTransport), the server's SETTINGS do not
/// offer extended CONNECT, and a client that tries anyway sent a malformed request: `400`
/// (RFC 9220 §3, RFC 9114 §4.1.2).
#[tokio::test]
async fn websockets_off_offer_no_extended_connect_and_answer_400() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(py) = python("wsproto") else { return };
    let app = Router::new().route("/ws", any(peer_ws));
    let server = H3Server::start(app, Http3Config::default().websockets(false));
    let addr = server.addr;
    let out = ws_client(&py, addr.port(), &[]).await;
    assert!(out["error"].is_null(), "{out}");
    assert!(out["enable_connect_protocol"].is_null(), "{out}");
    assert_eq!(out["status"], 400, "{out}");
    server.stop().await;
}

/// What the bound tests' handlers did.
#[derive(Default)]
struct Seen {
    /// Bytes a writing handler got into its socket.
    written: AtomicU64,
    /// Set when a writing handler's send failed.
    send_failed: AtomicU64,
    /// Echo handlers whose socket ended.
    echo_ended: AtomicU64,
}

/// A WebSocket route (`any`) whose sockets `run` serves, with what the test watches.
fn ws_route<F, Fut>(seen: &Arc<Seen>, run: F) -> axum::routing::MethodRouter
where
    F: Fn(WebSocket, Arc<Seen>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let seen = seen.clone();
    any(move |upgrade: WebSocketUpgrade| {
        let (seen, run) = (seen.clone(), run.clone());
        async move { upgrade.on_upgrade(move |socket| run(socket, seen)) }
    })
}

/// Accepts and never reads.
async fn hold(socket: WebSocket, _: Arc<Seen>) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    drop(socket);
}

/// Sends 64 KiB binary messages until a send fails.
async fn write(mut socket: WebSocket, seen: Arc<Seen>) {
    let chunk = bytes::Bytes::from(vec![b'w'; 64 * 1024]);
    while socket.send(Message::Binary(chunk.clone())).await.is_ok() {
        seen.written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    seen.send_failed.fetch_add(1, Ordering::SeqCst);
}

/// Echoes until the socket ends.
async fn echo(mut socket: WebSocket, seen: Arc<Seen>) {
    while let Some(Ok(msg)) = socket.recv().await {
        if socket.send(msg).await.is_err() {
            break;
        }
    }
    seen.echo_ended.fetch_add(1, Ordering::SeqCst);
}

/// `/hold`, `/write`, `/echo` (above), and `/ok`: a plain GET, for the well-behaved client.
fn bound_app(seen: Arc<Seen>) -> Router {
    Router::new()
        .route("/hold", ws_route(&seen, hold))
        .route("/echo", ws_route(&seen, echo))
        .route("/write", ws_route(&seen, write))
        .route("/ok", get(|| async { "ok" }))
}

/// A client floods a WebSocket whose handler never reads: the tunnel holds a bounded amount
/// (QUIC flow control stops the client), the server's memory stays flat, another client is
/// served meanwhile.
#[tokio::test]
async fn a_flood_into_a_handler_that_does_not_read_is_held_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = H3Server::start(bound_app(Arc::default()), Http3Config::default());
    let addr = server.addr;
    let good = RawH3::h3(addr).await;
    good.assert_serves("before the flood").await;
    let watch = RssWatch::start();
    let raw = RawH3::h3(addr).await;
    let mut socket = raw.extended_connect("/hold", WS_FIELDS).await;
    assert_eq!(socket.status(), 200);
    // One DATA frame of 64 KiB of WebSocket bytes after another, for 4 s.
    let mut chunk = h3_frame_head(H3_DATA, 64 * 1024);
    chunk.extend_from_slice(&[0x82; 64 * 1024]);
    let pumped = pump(&mut socket.send, &chunk, Duration::from_secs(4)).await;
    good.assert_serves("during the flood").await;
    let grew = watch.peak_growth_kib();
    // What got in: the stream's receive window, the tunnel's 32 KiB and hyper's buffers.
    assert!(
        pumped.bytes < 4 * 1024 * 1024,
        "the client wrote {} bytes into a socket nobody reads",
        pumped.bytes
    );
    println!("flood: {} bytes written, RSS grew {grew} KiB", pumped.bytes);
    assert!(grew < 10 * 1024, "RSS grew {grew} KiB during the flood");
    server.stop().await;
}

/// A client that takes nothing of what the handler writes: after the write-stall timeout the
/// stream is reset and the handler's send fails; memory stays bounded meanwhile.
#[tokio::test]
async fn a_client_that_reads_nothing_is_cut_at_the_write_stall_timeout() {
    let _one = ONE_AT_A_TIME.lock().await;
    let seen = Arc::new(Seen::default());
    let config = Http3Config::default().write_stall_timeout(Duration::from_secs(1));
    let server = H3Server::start(bound_app(seen.clone()), config);
    let addr = server.addr;
    let good = RawH3::h3(addr).await;
    let watch = RssWatch::start();
    let raw = RawH3::h3(addr).await;
    let mut socket = raw.extended_connect("/write", WS_FIELDS).await;
    assert_eq!(socket.status(), 200);
    // Read nothing; the handler writes until its send fails.
    good.assert_serves("while the handler is stalled").await;
    eventually("the stalled handler's send fails", || {
        seen.send_failed.load(Ordering::SeqCst) > 0
    })
    .await;
    let grew = watch.peak_growth_kib();
    // What it got in before: the client's windows and the tunnel's buffers, not more.
    let written = seen.written.load(Ordering::SeqCst);
    assert!(
        written < 8 * 1024 * 1024,
        "the handler wrote {written} bytes"
    );
    println!("stall: the handler wrote {written} bytes, RSS grew {grew} KiB");
    assert!(grew < 10 * 1024, "RSS grew {grew} KiB");
    // The client, reading at last, finds the stream reset with H3_REQUEST_CANCELLED.
    match read_to_end(&mut socket.recv, Duration::from_secs(5)).await {
        Ended::Reset(code) => assert_eq!(code, 0x10c, "{}", code_name(code)),
        other => panic!("the stalled WebSocket: {}", describe(&other)),
    }
    server.stop().await;
}

/// A client that resets its WebSocket stream (RFC 9220 §3: TCP's RST): the server resets its
/// side with `H3_REQUEST_CANCELLED`, and the handler's socket ends.
#[tokio::test]
async fn a_client_reset_resets_the_servers_side_and_ends_the_handlers_socket() {
    let _one = ONE_AT_A_TIME.lock().await;
    let seen = Arc::new(Seen::default());
    let server = H3Server::start(bound_app(seen.clone()), Http3Config::default());
    let raw = RawH3::h3(server.addr).await;
    let mut socket = raw.extended_connect("/echo", WS_FIELDS).await;
    assert_eq!(socket.status(), 200);
    // A masked text frame "hi" (key 0), echoed unmasked: the socket is open.
    let mut frame = h3_frame_head(H3_DATA, 8);
    frame.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    socket.send.write_all(&frame).await.unwrap();
    let mut echo = Vec::new();
    let mut buf = [0u8; 64];
    while !echo.windows(2).any(|w| w == b"hi") {
        let n = bounded(10, "the echo", socket.recv.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        echo.extend_from_slice(&buf[..n]);
    }
    socket.send.reset(0x10c_u32.into()).unwrap();
    match read_to_end(&mut socket.recv, Duration::from_secs(5)).await {
        Ended::Reset(code) => assert_eq!(code, 0x10c, "{}", code_name(code)),
        other => panic!("after the client's reset: {}", describe(&other)),
    }
    eventually("the handler's socket ends", || {
        seen.echo_ended.load(Ordering::SeqCst) == 1
    })
    .await;
    raw.assert_serves("after the reset").await;
    server.stop().await;
}
