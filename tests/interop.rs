#![allow(clippy::unwrap_used)]
//! One server, one port: the example's app on HTTP/1.1, HTTP/2 and HTTP/3 at once, reached by
//! real, independent clients. A missing client is skipped with a printed reason, unless
//! TWINPORT_REQUIRE_PEERS=1 (as .ci/run sets), when it fails the test. (aioquic and ngtcp2's
//! HTTP/3 clients are tested against twinport-quinn, in transports/quinn/tests/peers.rs.)

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use twinport_testkit::browsers::{shown, Chromium};
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{python, require, run};
use twinport_testkit::pki::{Mtls, PemFiles};
use twinport_testkit::servers::{
    example_binary, start_example, start_example_with, ExampleProcess,
};
use twinport_testkit::{within, Pki, TempDir};

/// `curl` fetching `url`: the JSON body, the response headers and curl's local port.
async fn curl_json(
    curl: &Path,
    files: &PemFiles,
    url: &str,
    extra: &[&str],
) -> Result<(Value, String, u16), String> {
    let dir = TempDir::new("curl");
    let (headers, body) = (dir.path("headers"), dir.path("body"));
    let ca = files.ca();
    let mut args = vec![
        "-sS",
        "--cacert",
        path_arg(&ca),
        "-D",
        path_arg(&headers),
        "-o",
        path_arg(&body),
    ];
    args.extend_from_slice(&["-w", "%{local_port}", "--max-time", "20"]);
    args.extend_from_slice(extra);
    args.push(url);
    let out = run(curl, &args).await;
    if !out.success {
        return Err(format!("curl failed: {}{}", out.stdout, out.stderr));
    }
    let port = out
        .stdout
        .trim()
        .parse()
        .map_err(|e| format!("local port {:?}: {e}", out.stdout))?;
    let headers = std::fs::read_to_string(&headers).unwrap_or_default();
    let body = std::fs::read_to_string(&body).unwrap_or_default();
    let json = serde_json::from_str(&body).map_err(|e| format!("body {body:?}: {e}"))?;
    Ok((json, headers.to_ascii_lowercase(), port))
}

#[tokio::test]
async fn curl_sees_http1_and_http2_with_connection_info_and_alt_svc() {
    let Some(curl) = require("curl") else {
        return;
    };
    let files = Pki::get().write_files();
    let server = start_example(Mtls::Off);
    let port = server.addr.port();
    let url = format!("https://localhost:{port}/whoami");

    for (flag, protocol, alpn) in [
        ("--http1.1", "HTTP/1.1", "http/1.1"),
        ("--http2", "HTTP/2", "h2"),
    ] {
        let (info, headers, local_port) = curl_json(&curl, &files, &url, &[flag]).await.unwrap();
        assert_eq!(info["protocol"], protocol, "{info}");
        assert_eq!(info["alpn"], alpn);
        assert_eq!(info["transport"], "tcp");
        assert_eq!(info["sni"], "localhost");
        assert_eq!(info["tls_version"], "TLSv1.3");
        assert_eq!(info["remote_addr"], format!("127.0.0.1:{local_port}"));
        assert_eq!(info["local_addr"], format!("127.0.0.1:{port}"));
        assert!(info["client_certificate"].is_null());
        // The server advertises HTTP/3 on the UDP port it really serves.
        assert!(
            headers.contains(&format!("alt-svc: h3=\":{port}\"; ma=86400")),
            "{headers}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn curl_mtls_optional_and_required() {
    let Some(curl) = require("curl") else {
        return;
    };
    let files = Pki::get().write_files();
    let cert_args = files.cert_args("client");
    let cert: Vec<&str> = cert_args.iter().map(String::as_str).collect();

    let server = start_example(Mtls::Optional);
    let url = format!("https://localhost:{}/whoami", server.addr.port());
    let (info, _, _) = curl_json(&curl, &files, &url, &cert).await.unwrap();
    let cc = &info["client_certificate"];
    assert_eq!(cc["common_name"], "alice", "{info}");
    let sans = cc["sans"].to_string();
    assert!(
        sans.contains("spiffe://example.org/alice") && sans.contains("alice@example.org"),
        "{sans}"
    );
    let (anon, _, _) = curl_json(&curl, &files, &url, &[]).await.unwrap();
    assert!(anon["client_certificate"].is_null(), "{anon}");
    server.stop().await;

    let server = start_example(Mtls::Required);
    let url = format!("https://localhost:{}/whoami", server.addr.port());
    let (info, _, _) = curl_json(&curl, &files, &url, &cert).await.unwrap();
    assert_eq!(info["client_certificate"]["common_name"], "alice");
    for flag in ["--http1.1", "--http2"] {
        let refused = curl_json(&curl, &files, &url, &[flag]).await;
        assert!(
            refused.is_err(),
            "a client without a certificate was served: {refused:?}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn h2load_short_run_has_no_failures() {
    let Some(h2load) = require("h2load") else {
        return;
    };
    let server = start_example(Mtls::Off);
    let url = format!("https://127.0.0.1:{}/whoami", server.addr.port());
    let out = run(&h2load, &["-n", "2000", "-c", "4", "-m", "10", &url]).await;
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("2000 succeeded, 0 failed, 0 errored"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Application protocol: h2"),
        "{}",
        out.stdout
    );
    server.stop().await;
}

/// oha (built with `--features http3`) as an HTTP/3 load generator: 2,000 requests on 10
/// connections × 10 streams, every one answered 200.
#[tokio::test]
async fn oha_http3_short_run_has_no_failures() {
    let Some(oha) = require("oha") else {
        return;
    };
    let server = start_example(Mtls::Off);
    let url = format!("https://127.0.0.1:{}/whoami", server.addr.port());
    let args = [
        "--no-tui",
        "--insecure",
        "--output-format",
        "json",
        "--http-version",
        "3",
        "-n",
        "2000",
        "-c",
        "10",
        "-p",
        "10",
        &url,
    ];
    let out = run(&oha, &args).await;
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    let report: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(
        report["statusCodeDistribution"]["200"], 2000,
        "{}",
        out.stdout
    );
    assert_eq!(report["summary"]["successRate"], 1.0, "{}", out.stdout);
    server.stop().await;
}

#[tokio::test]
async fn niquests_moves_from_http2_to_http3_through_alt_svc() {
    let Some(py) = python("niquests") else { return };
    let files = Pki::get().write_files();
    let server = start_example(Mtls::Off);
    let script = twinport_testkit::peers::peer_script("altsvc_upgrade.py");
    let url = format!("https://localhost:{}/whoami", server.addr.port());
    let out = run(&py, &[path_arg(&script), &url, path_arg(&files.ca()), "5"]).await;
    assert!(out.success, "{}{}", out.stdout, out.stderr);
    let seen: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    // What the server saw, request by request, on one session.
    let protocols: Vec<&str> = seen
        .iter()
        .map(|r| r["server_saw"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(protocols[0], "HTTP/2", "{seen:?}");
    assert!(
        seen[0]["alt_svc"].as_str().unwrap_or("").contains("h3="),
        "{seen:?}"
    );
    assert_eq!(
        protocols.last().copied(),
        Some("HTTP/3"),
        "never moved to HTTP/3: {seen:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn haproxy_sends_proxy_v2_and_the_handler_sees_the_client() {
    let Some(curl) = require("curl") else {
        return;
    };
    let Some(haproxy) = require("haproxy") else {
        return;
    };
    let files = Pki::get().write_files();
    let server = start_example_with(Mtls::Off, Some(twinport_hyper::ProxyMode::Required));
    let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let front_port = front.local_addr().unwrap().port();
    drop(front);
    let dir = TempDir::new("haproxy");
    let cfg = dir.path("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  \
             timeout server 30s\nfrontend fe\n  bind 127.0.0.1:{front_port}\n  default_backend be\n\
             backend be\n  server app 127.0.0.1:{} send-proxy-v2\n",
            server.addr.port()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(&haproxy)
        .args(["-db", "-f", path_arg(&cfg)])
        .kill_on_drop(true)
        .spawn()
        .expect("starting haproxy");
    within(async {
        while tokio::net::TcpStream::connect(("127.0.0.1", front_port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    let url = format!("https://localhost:{front_port}/whoami");
    let (info, _, curl_port) = curl_json(&curl, &files, &url, &[]).await.unwrap();
    assert_eq!(
        info["remote_addr"],
        format!("127.0.0.1:{curl_port}"),
        "{info}"
    );
    let proxy = &info["connection"]["proxy"];
    assert_eq!(proxy["source"], format!("127.0.0.1:{curl_port}"), "{info}");
    assert_eq!(
        proxy["destination"],
        format!("127.0.0.1:{front_port}"),
        "{info}"
    );
    assert_ne!(
        proxy["peer_addr"], proxy["source"],
        "the balancer's own address is kept"
    );

    // Straight to the server, without the balancer's header: refused.
    let direct = format!("https://localhost:{}/whoami", server.addr.port());
    assert!(curl_json(&curl, &files, &direct, &[]).await.is_err());

    let _ = child.kill().await;
    server.stop().await;
}

fn certs_spki() -> String {
    // The example serves the workspace's certs/; they exist once it has started.
    let spki = twinport_testkit::fs::workspace().join("certs/server.spki");
    std::fs::read_to_string(spki)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn shown_protocol(dom: &str) -> Option<&str> {
    shown(dom, "protocol")
}

#[tokio::test]
async fn the_example_serves_chromium_over_http3_when_forced_and_http2_otherwise() {
    let Some(ExampleProcess { mut child, addr }) = ExampleProcess::start(&[]).await else {
        return;
    };

    // The example itself answers curl too, on HTTP/2 with Alt-Svc.
    if let Some(curl) = require("curl") {
        let ca = twinport_testkit::fs::workspace().join("certs/ca.pem");
        let port = addr.port();
        let out = run(
            &curl,
            &[
                "-sS",
                "--cacert",
                path_arg(&ca),
                &format!("https://localhost:{port}/whoami"),
            ],
        )
        .await;
        let info: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        assert_eq!(info["protocol"], "HTTP/2");
    }

    if let Some(chromium) = Chromium::require() {
        let url = format!("https://{addr}/");
        let forced = format!("--origin-to-force-quic-on={addr}");
        let spki = certs_spki();
        let dom = chromium.dom(&url, &spki, &["--enable-quic", &forced]).await;
        assert_eq!(shown_protocol(&dom), Some("HTTP/3"), "{dom}");
        let dom = chromium.dom(&url, &spki, &[]).await;
        assert_eq!(shown_protocol(&dom), Some("HTTP/2"), "{dom}");
    }
    let _ = child.kill().await;
}

/// The example's WebSocket echo `/ws` (axum's `WebSocketUpgrade` on `any`) from Chromium's
/// page JavaScript: over HTTP/2 (RFC 8441: Chromium opens it on the page's HTTP/2 connection,
/// since the server enables extended CONNECT) and, with HTTP/2 disabled, over HTTP/1.1. The
/// server's first message names the HTTP version that carried the socket.
#[tokio::test]
async fn chromium_opens_the_examples_websocket_over_http2_and_http1() {
    let Some(chromium) = Chromium::require() else {
        return;
    };
    let Some(ExampleProcess { mut child, addr }) = ExampleProcess::start(&[]).await else {
        return;
    };
    let url = format!("https://{addr}/?ws=1");
    let spki = certs_spki();
    for (extra, want) in [(None, "HTTP/2"), (Some("--disable-http2"), "HTTP/1.1")] {
        let dom = chromium.dom(&url, &spki, extra.as_slice()).await;
        assert_eq!(shown_protocol(&dom), Some(want), "{dom}");
        assert_eq!(shown(&dom, "ws-status"), Some("done"), "{dom}");
        assert_eq!(shown(&dom, "ws-protocol"), Some(want), "{dom}");
        assert_eq!(shown(&dom, "ws-echo"), Some("hello websocket"), "{dom}");
    }
    let _ = child.kill().await;
}

/// The example serves with `twinport::serve`, which shuts down on SIGTERM (what `docker stop`
/// and systemd send): it drains and exits successfully, saying so.
#[cfg(unix)]
#[tokio::test]
async fn the_example_drains_and_exits_on_sigterm() {
    let Some(bin) = example_binary() else { return };
    let Some(kill) = require("kill") else { return };
    let mut child = tokio::process::Command::new(&bin)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the example");
    use tokio::io::AsyncBufReadExt;
    let stdout = child.stdout.take().expect("stdout");
    let first = within(tokio::io::BufReader::new(stdout).lines().next_line())
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(first.starts_with("listening on https://"), "{first:?}");
    // Once it answers, it is serving (and listening for signals).
    let addr = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https://"))
        .unwrap_or_default();
    let Some(curl) = require("curl") else { return };
    let peer = run(&curl, &["-sSk", &format!("https://{addr}/peer")]).await;
    assert!(peer.stdout.starts_with("127.0.0.1:"), "{peer:?}");
    let pid = child.id().expect("running").to_string();
    assert!(run(&kill, &["-TERM", &pid]).await.success);
    let out = within(child.wait_with_output()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(stderr.contains("stopped; 0 connection(s) cut"), "{stderr}");
}
