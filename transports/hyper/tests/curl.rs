//! curl as an independent client: HTTP/1.1 and HTTP/2 over TLS (ALPN), mTLS, h2c.
//!
//! Skipped, with a message, when curl is missing, unless `TWINPORT_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use twinport::ClientAuth;
use twinport_hyper::Http;
use twinport_testkit::peers::{require, run};
use twinport_testkit::pki::PemFiles;
use twinport_testkit::servers::{serve_http, HttpServer};
use twinport_testkit::Pki;

struct CurlOutput {
    ok: bool,
    json: Option<Value>,
    local_port: u16,
    http_version: String,
    stderr: String,
}

async fn curl(curl: &Path, args: &[&str]) -> CurlOutput {
    let mut all = vec!["--silent", "--show-error", "--max-time", "20"];
    all.extend(["--write-out", "\n%{local_port} %{http_version}"]);
    all.extend_from_slice(args);
    let out = run(curl, &all).await;
    let (body, trailer) = out.stdout.rsplit_once('\n').unwrap_or(("", &out.stdout));
    let mut parts = trailer.split_whitespace();
    CurlOutput {
        ok: out.success,
        json: serde_json::from_str(body).ok(),
        local_port: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        http_version: parts.next().unwrap_or("").to_owned(),
        stderr: out.stderr.clone(),
    }
}

async fn tls_server(auth: ClientAuth) -> HttpServer {
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .tls(&Pki::get().server_tls().client_auth(auth))
        .unwrap();
    serve_http(http, Duration::from_secs(5))
}

fn tls_args(files: &PemFiles, server: &HttpServer) -> Vec<String> {
    let port = server.addr().port();
    vec![
        "--cacert".into(),
        files.ca().display().to_string(),
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1"),
        format!("https://localhost:{port}/info"),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn curl_http1_and_http2_over_tls() {
    let Some(curl_bin) = require("curl") else {
        return;
    };
    let files = Pki::get().write_files();
    let server = tls_server(ClientAuth::None).await;
    let base = tls_args(&files, &server);
    for (flag, alpn, version, curl_version) in [
        ("--http1.1", "http/1.1", "HTTP/1.1", "1.1"),
        ("--http2", "h2", "HTTP/2.0", "2"),
    ] {
        let mut args = vec![flag];
        args.extend(strs(&base));
        let out = curl(&curl_bin, &args).await;
        assert!(out.ok, "curl {flag}: {}", out.stderr);
        let info = out.json.expect("JSON body");
        assert_eq!(out.http_version, curl_version);
        assert_eq!(info["version"], version);
        assert_eq!(info["alpn"], alpn);
        assert_eq!(info["sni"], "localhost");
        assert_eq!(info["remote"], format!("127.0.0.1:{}", out.local_port));
    }
    server.stop().await;
}

#[tokio::test]
async fn curl_mtls_required_and_optional() {
    let Some(curl_bin) = require("curl") else {
        return;
    };
    let pki = Pki::get();
    let files = pki.write_files();
    let alice = files.cert_args("client");
    let mallory = files.cert_args("foreign");

    let required = tls_server(ClientAuth::Required(pki.roots())).await;
    let base = tls_args(&files, &required);
    for flag in ["--http1.1", "--http2"] {
        let mut args = vec![flag];
        args.extend(strs(&alice));
        args.extend(strs(&base));
        let out = curl(&curl_bin, &args).await;
        assert!(out.ok, "{}", out.stderr);
        let info = out.json.unwrap();
        assert_eq!(info["client_cn"], "alice");
        assert_eq!(info["client_dns"], serde_json::json!(["alice.example"]));

        let mut args = vec![flag];
        args.extend(strs(&base));
        let out = curl(&curl_bin, &args).await;
        assert!(
            !out.ok && out.json.is_none(),
            "served without a certificate"
        );

        let mut args = vec![flag];
        args.extend(strs(&mallory));
        args.extend(strs(&base));
        let out = curl(&curl_bin, &args).await;
        assert!(
            !out.ok && out.json.is_none(),
            "served another CA's certificate"
        );
    }
    required.stop().await;

    let optional = tls_server(ClientAuth::Optional(pki.roots())).await;
    let base = tls_args(&files, &optional);
    let out = curl(&curl_bin, &strs(&base)).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.json.unwrap()["client_cn"].is_null());
    let mut args = strs(&alice);
    args.extend(strs(&base));
    let out = curl(&curl_bin, &args).await;
    assert_eq!(out.json.unwrap()["client_cn"], "alice");
    optional.stop().await;
}

#[tokio::test]
async fn curl_h2c_prior_knowledge_and_plain_http1() {
    let Some(curl_bin) = require("curl") else {
        return;
    };
    let server = twinport_testkit::servers::plain_server().await;
    let url = format!("http://{}/info", server.addr());
    for (flag, version) in [
        ("--http2-prior-knowledge", "HTTP/2.0"),
        ("--http1.1", "HTTP/1.1"),
    ] {
        let out = curl(&curl_bin, &[flag, &url]).await;
        assert!(out.ok, "{}", out.stderr);
        let info = out.json.unwrap();
        assert_eq!(info["version"], version);
        assert_eq!(info["remote"], format!("127.0.0.1:{}", out.local_port));
    }
    server.stop().await;
}
