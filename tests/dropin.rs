#![allow(clippy::unwrap_used)]
//! An existing axum app moved to twinport unchanged: `twinport::serve`, the one call, on all
//! three protocols; axum's own `ConnectInfo<SocketAddr>` on every protocol (and on QUIC, the
//! address after a migration); and the mistakes twinport refuses rather than serving wrongly
//! (plaintext beside HTTP/3, a privileged port without the right). The example's WebSocket
//! route over HTTP/1.1 and HTTP/2 from Chromium, and its exit on SIGTERM, are in
//! tests/interop.rs.

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::extract::ws::WebSocketUpgrade;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use twinport::transport::RuntimeError;
use twinport::{Server, TransportError};
use twinport_hyper::Http;
use twinport_quinn::Http3;
use twinport_testkit::apps::example;
use twinport_testkit::clients::{empty, local_port, tls_connect, Hyper, Proto, H3, TCP};
use twinport_testkit::fs::path_arg;
use twinport_testkit::logs::Logs;
use twinport_testkit::peers::{require, run};
use twinport_testkit::pki::Mtls;
use twinport_testkit::servers::start_example;
use twinport_testkit::{init_tracing, within, Pki};

/// `GET /peer` over HTTP/1.1 or HTTP/2 on a new TLS connection: the response and the client's
/// own port.
async fn get_peer(addr: SocketAddr, proto: Proto) -> (http::Response<hyper::body::Incoming>, u16) {
    let tls = tls_connect(addr, &[proto.alpn()], None).await.unwrap();
    let client_port = local_port(&tls);
    let (mut client, _conn) = Hyper::handshake(tls, proto).await.unwrap();
    let res = client
        .send(client.request("GET", "/peer", empty()))
        .await
        .unwrap();
    (res, client_port)
}

/// The README's one call: HTTP/1.1 and HTTP/2 (with Alt-Svc naming the port) and HTTP/3 on
/// the port `serve` bound, the app's axum `ConnectInfo` on each, and a graceful stop.
#[tokio::test]
async fn serve_is_one_call_for_all_three_protocols() {
    init_tracing();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = twinport::serve("127.0.0.1:0", example::app(), Pki::get().server_tls())
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
    let addr = serving.local_addr().expect("bound when serve was called");
    let task = tokio::spawn(serving.into_future());

    for proto in TCP {
        let (res, client_port) = get_peer(addr, proto).await;
        assert_eq!(res.status(), 200);
        let alt_svc = res.headers()["alt-svc"].to_str().unwrap().to_owned();
        assert_eq!(alt_svc, format!("h3=\":{}\"; ma=86400", addr.port()));
        let body = within(res.into_body().collect()).await.unwrap().to_bytes();
        assert_eq!(body, format!("127.0.0.1:{client_port}"));
    }
    let mut h3 = H3::connect(addr, None).await.unwrap();
    let reply = h3.get("/peer").await;
    assert_eq!(reply.text(), format!("127.0.0.1:{}", h3.local_port()));
    assert!(
        !reply.headers.contains_key("alt-svc"),
        "not on HTTP/3 itself"
    );
    h3.close().await;

    stop.send(()).unwrap();
    let report = within(task).await.unwrap().unwrap();
    assert_eq!(report.cut, 0);
}

/// `serve` on a port that is taken: the error, when awaited, names the address.
#[tokio::test]
async fn serve_on_a_taken_port_says_which() {
    let (tcp, _udp) = twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = tcp.local_addr().unwrap();
    let serving = twinport::serve(addr, example::app(), Pki::get().server_tls());
    assert_eq!(serving.local_addr(), None);
    let err = within(serving.into_future()).await.unwrap_err();
    assert!(matches!(err, twinport::ServeError::Io(_)), "{err:?}");
    assert!(
        err.to_string().contains(&format!("cannot bind TCP {addr}")),
        "{err}"
    );
}

/// `/peer` answers axum's `ConnectInfo<SocketAddr>`: over HTTP/1.1 and HTTP/2 (curl, an
/// independent client, telling its own port) and HTTP/3 (h3), where a client that moves to a
/// new port is seen at the new one.
#[tokio::test]
async fn axum_connect_info_is_the_client_on_every_protocol() {
    let server = start_example(Mtls::Off);
    let port = server.addr.port();

    if let Some(curl) = require("curl") {
        let files = Pki::get().write_files();
        let ca = files.ca();
        for flag in ["--http1.1", "--http2"] {
            let url = format!("https://localhost:{port}/peer");
            let out = run(
                &curl,
                &[
                    "-sS",
                    "--cacert",
                    path_arg(&ca),
                    flag,
                    "-w",
                    "\n%{local_port} %{http_version}",
                    &url,
                ],
            )
            .await;
            assert!(out.success, "{out:?}");
            let (body, meta) = out.stdout.rsplit_once('\n').unwrap();
            let (client_port, version) = meta.split_once(' ').unwrap();
            assert_eq!(body, format!("127.0.0.1:{client_port}"), "{flag}");
            assert_eq!(version, if flag == "--http2" { "2" } else { "1.1" });
        }
    }

    // Also the kit's hyper client, which knows its port without curl.
    for proto in TCP {
        let (res, client_port) = get_peer(server.addr, proto).await;
        assert_eq!(res.status(), 200);
        let body = within(res.into_body().collect()).await.unwrap().to_bytes();
        assert_eq!(body, format!("127.0.0.1:{client_port}"), "{proto:?}");
    }

    let mut h3 = H3::connect(server.addr, None).await.unwrap();
    let first = h3.get("/peer").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), format!("127.0.0.1:{}", h3.local_port()));
    // The client moves to another UDP port (a NAT rebinding): the next request's
    // ConnectInfo is the new address.
    let old = h3.local_port();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    h3.endpoint.rebind(socket).unwrap();
    assert_ne!(h3.local_port(), old);
    let moved = h3.get("/peer").await;
    assert_eq!(moved.text(), format!("127.0.0.1:{}", h3.local_port()));
    h3.close().await;
    server.stop().await;
}

/// TCP without TLS beside HTTP/3 would advertise HTTP/3 for an `http://` origin: the server
/// refuses to start, saying what to do; with TLS, or with the Alt-Svc port named (a proxy
/// terminates TLS in front), it serves.
#[tokio::test]
async fn plaintext_beside_http3_is_refused_with_the_fix_named() {
    init_tracing();
    let tls = Pki::get().server_tls();
    let bind = || twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
    let app = Router::new().route("/", get(|| async { "hi" }));

    let (tcp, udp) = bind();
    let err = Server::new(app.clone())
        .transport(Http::from_std(tcp).unwrap()) // no .tls(..)
        .transport(Http3::new(udp, &tls).unwrap());
    let err = within(err.into_future()).await.unwrap_err();
    assert!(
        matches!(err, TransportError::PlaintextBesideHttp3 { name: "tcp" }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("Http::tls") && msg.contains("alt_svc_port"),
        "{msg}"
    );

    // Behind a TLS-terminating proxy: named explicitly, it serves (and advertises).
    let (tcp, udp) = bind();
    let addr = tcp.local_addr().unwrap();
    let server = Server::new(app)
        .transport(Http::from_std(tcp).unwrap())
        .transport(Http3::new(udp, &tls).unwrap())
        .alt_svc_port(443);
    let handle = server.handle();
    let task = tokio::spawn(server.into_future());
    let tcp = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
    let (mut client, _conn) = Hyper::handshake(tcp, Proto::H1).await.unwrap();
    let res = client
        .send(client.request("GET", "/", empty()))
        .await
        .unwrap();
    assert_eq!(res.headers()["alt-svc"], "h3=\":443\"; ma=86400");
    handle.shutdown(std::time::Duration::from_secs(1));
    within(task).await.unwrap().unwrap();
}

/// An HTTP/2 WebSocket (RFC 8441 extended CONNECT) to a route written `get(..)` gets axum's
/// 405, which browsers do not work around: twinport says so in a warning naming the fix. The
/// same request to `any(..)` opens (200). hyper's client sends the extended CONNECT.
#[tokio::test]
async fn an_http2_websocket_to_a_get_route_is_a_405_with_a_warning() {
    let logs = Logs::capture();
    async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
        upgrade.on_upgrade(|_socket| async {})
    }
    let app = Router::new()
        .route("/get", get(ws))
        .route("/any", axum::routing::any(ws));
    let tls = Pki::get().server_tls();
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .tls(&tls)
        .unwrap();
    let addr: SocketAddr = http.local_addr().unwrap();
    let server = tokio::spawn(http.serve(app));

    let (mut client, _conn) = Hyper::connect(addr, Proto::H2, None).await.unwrap();
    // One exchange first, so that the server's SETTINGS (which enable extended CONNECT)
    // have arrived.
    let res = client
        .send(client.request("GET", "/", empty()))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    for (path, status) in [("/get", 405), ("/any", 200)] {
        let mut req = client.request("CONNECT", path, empty());
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        req.headers_mut().insert(
            "sec-websocket-version",
            http::HeaderValue::from_static("13"),
        );
        let res = client.send(req).await.unwrap();
        assert_eq!(res.status(), status, "{path}");
    }
    let warnings = logs.lines_at("WARN");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("/get")
            && warnings[0].contains("any(handler)")
            && warnings[0].contains("http2_websockets(false)"),
        "{warnings:?}"
    );
    server.abort();
}

/// Binding a port below 1024 without the right: the error names the address and
/// CAP_NET_BIND_SERVICE. Run as an unprivileged user: this test binary again, under
/// `setpriv` when the test runs as root.
#[test]
fn a_privileged_port_without_the_right_names_cap_net_bind_service() {
    const CHILD: &str = "TWINPORT_DROPIN_BIND_CHILD";
    let addr: SocketAddr = "127.0.0.1:1023".parse().unwrap();
    if std::env::var_os(CHILD).is_some() {
        let err = twinport::bind_same_port(addr).unwrap_err();
        // The whole chain: the OS's "permission denied" is the source, not in the message.
        println!("BIND ERROR: {}", twinport::transport::ErrorChain::new(&err));
        return;
    }
    let unprivileged_from: u16 =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024);
    if unprivileged_from <= addr.port() {
        twinport_testkit::peers::missing::<()>(&format!(
            "this machine lets anyone bind ports from {unprivileged_from} (net.ipv4.ip_unprivileged_port_start)"
        ));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let test = "a_privileged_port_without_the_right_names_cap_net_bind_service";
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    let mut cmd = if root {
        let Some(setpriv) = twinport_testkit::peers::find("setpriv") else {
            twinport_testkit::peers::missing::<()>("setpriv (util-linux) is not installed");
            return;
        };
        let mut cmd = std::process::Command::new(setpriv);
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(&exe);
        cmd
    } else {
        std::process::Command::new(&exe)
    };
    let out = cmd
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("BIND ERROR: ").map(|(_, e)| e))
        .unwrap_or_else(|| panic!("no error line: {stdout}"));
    assert!(
        line.contains("cannot bind TCP 127.0.0.1:1023")
            && line.contains("ermission denied")
            && line.contains("CAP_NET_BIND_SERVICE"),
        "{line}"
    );
}

/// Awaited without a runtime (here: polled by hand), `serve` is an error that says what to
/// do, not a panic naming a function the user never called; the port was bound before.
#[test]
fn serve_outside_a_runtime_says_how_to_fix_it() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let serving = twinport::serve("127.0.0.1:0", example::app(), Pki::get().server_tls());
    assert!(
        serving.local_addr().is_some(),
        "bound when serve was called"
    );
    let mut fut = std::pin::pin!(serving.into_future());
    let Poll::Ready(Err(err)) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("serving outside a runtime must fail at once");
    };
    assert!(
        matches!(err, twinport::ServeError::Runtime(RuntimeError::Missing)),
        "{err:?}"
    );
    assert!(err.to_string().contains("#[tokio::main]"), "{err}");
}

/// A runtime built without I/O (or timers) is an error returned, not a panic inside tokio.
#[test]
fn serve_on_a_runtime_without_io_or_timers_is_an_error() {
    use tokio::runtime::Builder;

    for (mut builder, missing) in [
        (Builder::new_current_thread(), RuntimeError::NoIo),
        (Builder::new_multi_thread(), RuntimeError::NoTime),
    ] {
        let runtime = match missing {
            RuntimeError::NoIo => builder.enable_time().build().unwrap(),
            _ => builder.enable_io().build().unwrap(),
        };
        let serving = twinport::serve("127.0.0.1:0", example::app(), Pki::get().server_tls());
        let err = runtime.block_on(serving.into_future()).unwrap_err();
        match err {
            twinport::ServeError::Runtime(e) => assert_eq!(e, missing),
            other => panic!("{other:?}"),
        }
    }
}
