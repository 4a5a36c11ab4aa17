//! Interop with independent HTTP/3 stacks: Python's aioquic (through
//! `tests/peers/h3_client.py`) and ngtcp2's `gtlsclient`.
//!
//! A missing peer is a skip, with the reason printed, unless `TWINPORT_REQUIRE_PEERS=1`, when
//! it fails the test. The Python is `$TWINPORT_PYTHON`, else the workspace's `.venv`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use twinport::{DrainReport, Server, ServerHandle, ServerTls, TransportError};
use twinport_quinn::Http3;
use twinport_testkit::apps::info::{router, SERVED_BY};
use twinport_testkit::apps::sha256_hex;
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{peer_script, python, require, run};
use twinport_testkit::pki::{Mtls, PemFiles};
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{bounded, init_tracing, Pki, TempDir};

/// Runs h3_client.py against `port`: the JSON it printed.
async fn aioquic(python: &Path, port: u16, files: &PemFiles, extra: &[&str]) -> Value {
    let script = peer_script("h3_client.py");
    let port = port.to_string();
    let ca = files.ca();
    let mut args = vec![path_arg(&script), "--port", &port, "--ca", path_arg(&ca)];
    args.extend_from_slice(extra);
    let out = run(python, &args).await;
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "h3_client.py printed no JSON ({e}): {}\n{}",
            out.stdout, out.stderr
        )
    })
}

/// h3_client.py with `flags` and `requests` (each `METHOD PATH [BODY]`) against the info app on
/// HTTP/3 with `tls`: the JSON it printed, which must carry no error; `None` (a skip) without
/// aioquic.
async fn aioquic_served(tls: &ServerTls, flags: &[&str], requests: &[&[&str]]) -> Option<Value> {
    let python = python("aioquic")?;
    let files = Pki::get().write_files();
    let server = serve_http3(endpoint(tls));
    let mut args = flags.to_vec();
    for request in requests {
        args.push("--request");
        args.extend_from_slice(request);
    }
    let out = aioquic(&python, server.addr.port(), &files, &args).await;
    server.stop(Duration::from_secs(2)).await;
    assert!(out.get("error").is_none(), "{out}");
    Some(out)
}

/// The JSON body of one response of h3_client.py's output.
fn body_json(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

fn endpoint(tls: &ServerTls) -> Http3 {
    Http3::bind("127.0.0.1:0".parse().unwrap(), tls).unwrap()
}

/// The info app on HTTP/3 under `twinport::Server`, which adds Alt-Svc to responses that
/// did not come over HTTP/3.
struct Served {
    port: u16,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<Result<DrainReport, TransportError>>,
}

impl Served {
    fn start(mtls: Mtls) -> Self {
        init_tracing();
        let http3 = endpoint(&Pki::get().server_tls_with(mtls));
        let port = http3.local_addr().port();
        let server = Server::new(router()).transport(http3);
        let handle = server.handle();
        let task = tokio::spawn(server.into_future());
        Self { port, handle, task }
    }

    async fn stop(self) {
        self.handle.shutdown(Duration::from_secs(2));
        bounded(10, "server", self.task).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn aioquic_gets_info_echo_and_trailers() {
    let requests: [&[&str]; 3] = [
        &["GET", "/info"],
        &["POST", "/sha256", "hello from aioquic"],
        &["GET", "/trailers"],
    ];
    let flags = ["--trailer", "x-client-trailer: yes"];
    let Some(out) = aioquic_served(&Pki::get().server_tls(), &flags, &requests).await else {
        return;
    };
    assert_eq!(out["alpn"], "h3");
    let responses = out["responses"].as_array().unwrap();

    let info_reply = &responses[0];
    assert_eq!(info_reply["status"], 200);
    assert_eq!(info_reply["headers"]["x-served-by"], SERVED_BY);
    let info = body_json(info_reply);
    assert_eq!(info["transport"], "quic");
    assert_eq!(info["alpn"], "h3");
    assert_eq!(info["sni"], "localhost");
    assert_eq!(info["version"], "HTTP/3.0");
    let remote: std::net::SocketAddr = info["remote"].as_str().unwrap().parse().unwrap();
    assert_eq!(remote.port() as u64, out["local_port"].as_u64().unwrap());

    let upload = &responses[1];
    assert_eq!(upload["status"], 200);
    assert_eq!(
        upload["body"],
        format!("18 {}", sha256_hex(b"hello from aioquic"))
    );
    // The request trailers reached the handler, which sent them back as response trailers.
    assert_eq!(upload["trailers"]["x-client-trailer"], "yes");

    let trailers = &responses[2];
    assert_eq!(trailers["body"], "with trailers");
    assert_eq!(trailers["trailers"]["x-checksum"], "abc123");
}

#[tokio::test]
async fn aioquic_resuming_with_0rtt_gets_early_data_marked_and_a_post_held_back() {
    let requests: [&[&str]; 2] = [
        &["GET", "/info"],
        &["POST", "/sha256", "sent as early data"],
    ];
    let tls = Pki::get().server_tls().early_data(true);
    let Some(out) = aioquic_served(&tls, &["--zero-rtt"], &requests).await else {
        return;
    };
    // The second connection resumed the first one's session and the server took its 0-RTT.
    assert_eq!(out["resumed"], true, "{out}");
    assert_eq!(out["early_data_accepted"], true, "{out}");
    let responses = out["responses"].as_array().unwrap();

    // The GET arrived as early data and was served at once, marked as such for the handler.
    assert_eq!(responses[0]["status"], 200);
    let info = body_json(&responses[0]);
    assert_eq!(info["early_data"], true, "{info}");

    // The POST is not safe to replay: it waited for the handshake, then was served in full.
    assert_eq!(responses[1]["status"], 200);
    assert_eq!(
        responses[1]["body"],
        format!("18 {}", sha256_hex(b"sent as early data"))
    );
}

/// Optional mTLS reads aioquic's certificate or serves it anonymously; required mTLS
/// refuses it without one. Served under `twinport::Server`: HTTP/3 responses carry no
/// Alt-Svc.
#[tokio::test]
async fn aioquic_with_mtls_optional_and_required() {
    let Some(python) = python("aioquic") else {
        return;
    };
    let files = Pki::get().write_files();
    let mut with_cert: Vec<String> = files.cert_args("client").into();
    with_cert.extend(["--request", "GET", "/info"].map(String::from));
    let with_cert: Vec<&str> = with_cert.iter().map(String::as_str).collect();
    // `GET /info` with the client certificate: the whole output and the info the app saw.
    let get_info_with_cert = |port: u16| {
        let (python, files, args) = (&python, &files, &with_cert);
        async move {
            let out = aioquic(python, port, files, args).await;
            assert!(out.get("error").is_none(), "{out}");
            let res = &out["responses"][0];
            assert_eq!(res["status"], 200, "{out}");
            let info = body_json(res);
            assert_eq!(info["client_cn"], "alice");
            assert_eq!(info["client_spiffe"], "spiffe://example.org/alice");
            (out, info)
        }
    };

    let server = Served::start(Mtls::Optional);
    let (out, info) = get_info_with_cert(server.port).await;
    assert_eq!(out["alpn"], "h3", "{out}");
    // HTTP/3 responses do not advertise HTTP/3.
    let headers = &out["responses"][0]["headers"];
    assert!(headers.get("alt-svc").is_none(), "{headers}");
    assert_eq!(info["version"], "HTTP/3.0");
    assert_eq!(info["transport"], "quic");
    assert_eq!(info["remote"], format!("127.0.0.1:{}", out["local_port"]));

    let out = aioquic(&python, server.port, &files, &["--request", "GET", "/info"]).await;
    let info = body_json(&out["responses"][0]);
    assert!(info["client_cn"].is_null(), "{info}");
    server.stop().await;

    let server = Served::start(Mtls::Required);
    let refused = aioquic(
        &python,
        server.port,
        &files,
        &["--timeout", "5", "--request", "GET", "/info"],
    )
    .await;
    assert!(
        refused.get("error").is_some(),
        "no certificate must be refused: {refused}"
    );
    get_info_with_cert(server.port).await;
    server.stop().await;
}

#[tokio::test]
async fn ngtcp2_gtlsclient_gets_a_response() {
    let Some(gtls) = require("gtlsclient") else {
        return;
    };
    let server = Served::start(Mtls::Off);
    let dir = TempDir::new("gtls");
    let download = format!("--download={}", dir.dir().display());
    let port = server.port.to_string();
    let url = format!("https://localhost:{port}/info");
    let out = run(
        &gtls,
        &[
            "--exit-on-all-streams-close",
            "--no-quic-dump",
            "--sni=localhost",
            "--timeout=10s",
            &download,
            "127.0.0.1",
            &port,
            &url,
        ],
    )
    .await;
    let all = format!("{}\n{}", out.stdout, out.stderr);
    assert!(out.success, "gtlsclient failed:\n{all}");
    assert!(
        all.contains(":status: 200"),
        "no 200 status in the output:\n{all}"
    );
    assert!(all.contains(&format!("x-served-by: {SERVED_BY}")), "{all}");
    let downloaded = std::fs::read_to_string(dir.path("info")).unwrap_or_default();
    let info: Value = serde_json::from_str(&downloaded).unwrap_or_else(|e| {
        panic!("downloaded body is not the info JSON ({e}): {downloaded:?}\n{all}")
    });
    assert_eq!(info["version"], "HTTP/3.0");
    assert_eq!(info["transport"], "quic");
    assert_eq!(info["alpn"], "h3");
    assert_eq!(info["sni"], "localhost");
    server.stop().await;
}
