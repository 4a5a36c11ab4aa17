#![allow(clippy::unwrap_used)]
//! WebTransport over HTTP/3 with a real, independent client: aioquic's (tests/peers/wt_client.py)
//! against the example's `/wt/echo` handler, served beside the example's HTTP app. A missing
//! aioquic is skipped with a printed reason, unless TWINPORT_REQUIRE_PEERS=1.
//! (The page's JavaScript client in headless Chromium is tested in tests/interop.rs.)

use std::future::IntoFuture;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use twinport::Server;
use twinport_quinn::webtransport::WebTransportSession;
use twinport_quinn::{Http3, Http3Config, WebTransportHandler};
use twinport_testkit::apps::example;
use twinport_testkit::peers::{peer_json, python};
use twinport_testkit::pki::Mtls;
use twinport_testkit::servers::start_example;
use twinport_testkit::{init_tracing, within, Pki};

/// Runs wt_client.py against `port`; the JSON it printed.
async fn wt_client(python: &Path, port: u16, extra: &[&str]) -> Value {
    peer_json(python, "wt_client.py", port, extra).await
}

fn session(out: &Value, i: usize) -> &Value {
    assert!(out["error"].is_null(), "{out}");
    &out["sessions"][i]
}

#[tokio::test]
async fn two_sessions_echo_streams_and_datagrams_beside_a_get_on_one_connection() {
    let Some(py) = python("aioquic") else { return };
    let server = start_example(Mtls::Off);
    let out = wt_client(
        &py,
        server.addr.port(),
        &[
            "--session",
            "/wt/echo",
            "--session",
            "/wt/echo",
            "--session",
            "/wt/nope",
            "--protocols",
            "echo-v2,echo-v1",
            "--get",
            "/whoami",
        ],
    )
    .await;
    assert_eq!(out["alpn"], "h3", "{out}");

    // The ordinary request, sent while both sessions were open, on the same connection.
    let get = &out["get"];
    assert_eq!(get["status"], 200, "{out}");
    let whoami: Value = serde_json::from_str(get["body"].as_str().unwrap()).unwrap();
    assert_eq!(whoami["protocol"], "HTTP/3");

    for i in 0..2 {
        let session = session(&out, i);
        assert_eq!(session["status"], 200, "{out}");
        assert_eq!(
            session["headers"]["sec-webtransport-http3-draft"],
            "draft02"
        );
        // The handler picked the one sub-protocol it speaks from those offered.
        assert_eq!(session["headers"]["wt-protocol"], "\"echo-v1\"");
        assert_eq!(session["bidi"], format!("bidi-{i}"));
        assert_eq!(session["uni"], format!("uni-{i}"));
        assert_eq!(session["datagram"], format!("dgram-{i}"));
        // The handler's ConnectionInfo is the connection the GET came on.
        let info = &session["whoami"];
        assert_eq!(info["transport"], "quic");
        assert_eq!(info["alpn"], "h3");
        assert_eq!(info["sni"], "localhost");
        assert_eq!(
            info["connection"]["id"], whoami["connection"]["id"],
            "{out}"
        );
        assert_eq!(info["remote_addr"], whoami["remote_addr"]);
        assert!(info["client_certificate"].is_null());
    }
    // An unregistered path: 404 on the CONNECT, no session.
    let refused = session(&out, 2);
    assert_eq!(refused["status"], 404, "{out}");
    assert!(refused["bidi"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn the_handler_sees_the_client_certificate_under_mtls() {
    let Some(py) = python("aioquic") else { return };
    let files = Pki::get().write_files();
    let server = start_example(Mtls::Required);
    let mut args: Vec<&str> = Vec::new();
    let cert_args = files.cert_args("client");
    args.extend(cert_args.iter().map(String::as_str));
    args.extend(["--session", "/wt/echo"]);
    let out = wt_client(&py, server.addr.port(), &args).await;
    let session = session(&out, 0);
    assert_eq!(session["bidi"], "bidi-0", "{out}");
    let cert = &session["whoami"]["client_certificate"];
    assert_eq!(cert["common_name"], "alice", "{out}");
    assert!(
        cert["sans"]
            .to_string()
            .contains("spiffe://example.org/alice"),
        "{cert}"
    );
    // No sub-protocol offered, none picked.
    assert!(session["headers"]["wt-protocol"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn the_handler_closes_sessions_with_a_code_and_reason() {
    let Some(py) = python("aioquic") else { return };
    let server = start_example(Mtls::Off);
    let out = wt_client(
        &py,
        server.addr.port(),
        &["--session", "/wt/echo", "--session", "/wt/echo", "--close"],
    )
    .await;
    for i in 0..2 {
        let close = &session(&out, i)["close"];
        assert_eq!(close["code"], 4242, "{out}");
        assert_eq!(close["reason"], "closed on request");
    }
    server.stop().await;
}

/// An HTTP/3-only server with `handler` on `/wt/echo`; returns its port and a stopper.
fn start_http3(
    config: Http3Config,
    handler: impl WebTransportHandler,
) -> (u16, impl FnOnce() -> tokio::task::JoinHandle<()>) {
    init_tracing();
    let tls = Pki::get().server_tls_with(Mtls::Off);
    let (_tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = udp.local_addr().unwrap().port();
    let http3 = Http3::builder(&tls)
        .http3()
        .http3_config(config)
        .webtransport("/wt/echo", handler)
        .socket(udp)
        .unwrap();
    let server = Server::new(example::app()).transport(http3);
    let handle = server.handle();
    let task = tokio::spawn(server.into_future());
    let stop = move || {
        tokio::spawn(async move {
            handle.shutdown(Duration::from_secs(5));
            within(task).await.unwrap().unwrap();
        })
    };
    (port, stop)
}

#[tokio::test]
async fn a_connect_above_the_session_limit_gets_429() {
    let Some(py) = python("aioquic") else { return };
    let (port, stop) = start_http3(
        Http3Config::default().max_webtransport_sessions(1),
        example::wt_echo_handler(),
    );

    let out = wt_client(
        &py,
        port,
        &["--session", "/wt/echo", "--session", "/wt/echo"],
    )
    .await;
    let sessions = out["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"));
    let mut statuses: Vec<_> = sessions.iter().map(|s| s["status"].clone()).collect();
    statuses.sort_by_key(|s| s.as_u64());
    assert_eq!(statuses, [200, 429], "{out}");
    // The session that got in works.
    let ok = sessions.iter().find(|s| s["status"] == 200).unwrap();
    assert!(ok["bidi"].as_str().unwrap().starts_with("bidi-"), "{out}");

    within(stop()).await.unwrap();
}

/// Sends on `dropped` when the handler's future is dropped.
struct DropProbe(mpsc::UnboundedSender<()>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[tokio::test]
async fn streams_above_the_per_session_limit_are_refused_and_the_handler_ends_with_the_connection()
{
    let Some(py) = python("aioquic") else { return };
    let (held_tx, mut held_rx) = watch::channel(0usize);
    let (dropped_tx, mut dropped_rx) = mpsc::unbounded_channel();
    let held_tx = Arc::new(held_tx);
    // Accepts unidirectional streams and keeps them open, never returning by itself.
    let handler = move |session: WebTransportSession| {
        let held_tx = held_tx.clone();
        let probe = DropProbe(dropped_tx.clone());
        async move {
            let _probe = probe;
            let mut held = Vec::new();
            while let Some(stream) = session.accept_uni().await {
                held.push(stream);
                held_tx.send_replace(held.len());
            }
            std::future::pending::<()>().await;
            Ok::<_, twinport::BoxError>(())
        }
    };
    let (port, stop) = start_http3(Http3Config::default().max_webtransport_streams(2), handler);
    let out = wt_client(&py, port, &["--session", "/wt/echo", "--hold-uni", "5"]).await;
    assert_eq!(session(&out, 0)["status"], 200, "{out}");
    // The client has hung up: the session ended and the handler's future was dropped.
    within(dropped_rx.recv()).await.unwrap();
    // Of the 5 streams, the session took 2; the others were refused.
    assert_eq!(*held_rx.borrow_and_update(), 2);
    within(stop()).await.unwrap();
}
