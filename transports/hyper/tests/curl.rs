//! curl as an independent client: HTTP/1.1 and HTTP/2 over TLS (ALPN), mTLS, h2c.
//!
//! Skipped, with a message, when curl is missing, unless `TWINPORT_REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use twinport::ClientAuth;
use twinport_hyper::Http;

struct CurlOutput {
    ok: bool,
    json: Option<Value>,
    local_port: u16,
    http_version: String,
    stderr: String,
}

async fn curl(args: &[&str]) -> CurlOutput {
    let out = within(
        tokio::process::Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20"])
            .args(["--write-out", "\n%{local_port} %{http_version}"])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, trailer) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let mut parts = trailer.split_whitespace();
    CurlOutput {
        ok: out.status.success(),
        json: serde_json::from_str(body).ok(),
        local_port: parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        http_version: parts.next().unwrap_or("").to_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn tls_server(pki: &Pki, auth: ClientAuth) -> Running {
    init_tracing();
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .tls(&pki.server_tls().client_auth(auth))
        .unwrap();
    start(http, Duration::from_secs(5))
}

fn tls_args(pki: &Pki, server: &Running) -> Vec<String> {
    let port = server.addr().port();
    vec![
        "--cacert".into(),
        pki.path("ca.pem").display().to_string(),
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
    if !have_curl() {
        return;
    }
    let pki = Pki::new();
    let server = tls_server(&pki, ClientAuth::none()).await;
    let base = tls_args(&pki, &server);
    for (flag, alpn, version, curl_version) in [
        ("--http1.1", "http/1.1", "HTTP/1.1", "1.1"),
        ("--http2", "h2", "HTTP/2.0", "2"),
    ] {
        let mut args = vec![flag];
        args.extend(strs(&base));
        let out = curl(&args).await;
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
    if !have_curl() {
        return;
    }
    let pki = Pki::new();
    let alice = [
        "--cert".to_owned(),
        pki.path("alice.pem").display().to_string(),
        "--key".to_owned(),
        pki.path("alice.key").display().to_string(),
    ];
    let mallory = [
        "--cert".to_owned(),
        pki.path("mallory.pem").display().to_string(),
        "--key".to_owned(),
        pki.path("mallory.key").display().to_string(),
    ];

    let required = tls_server(&pki, ClientAuth::required(pki.roots())).await;
    let base = tls_args(&pki, &required);
    for flag in ["--http1.1", "--http2"] {
        let mut args = vec![flag];
        args.extend(strs(&alice));
        args.extend(strs(&base));
        let out = curl(&args).await;
        assert!(out.ok, "{}", out.stderr);
        let info = out.json.unwrap();
        assert_eq!(info["client_cn"], "alice");
        assert_eq!(info["client_dns"], serde_json::json!(["alice.example"]));

        let mut args = vec![flag];
        args.extend(strs(&base));
        let out = curl(&args).await;
        assert!(
            !out.ok && out.json.is_none(),
            "served without a certificate"
        );

        let mut args = vec![flag];
        args.extend(strs(&mallory));
        args.extend(strs(&base));
        let out = curl(&args).await;
        assert!(
            !out.ok && out.json.is_none(),
            "served another CA's certificate"
        );
    }
    required.stop().await;

    let optional = tls_server(&pki, ClientAuth::optional(pki.roots())).await;
    let base = tls_args(&pki, &optional);
    let out = curl(&strs(&base)).await;
    assert!(out.ok, "{}", out.stderr);
    assert!(out.json.unwrap()["client_cn"].is_null());
    let mut args = strs(&alice);
    args.extend(strs(&base));
    let out = curl(&args).await;
    assert_eq!(out.json.unwrap()["client_cn"], "alice");
    optional.stop().await;
}

#[tokio::test]
async fn curl_h2c_prior_knowledge_and_plain_http1() {
    if !have_curl() {
        return;
    }
    init_tracing();
    let server = plain_server().await;
    let url = format!("http://{}/info", server.addr());
    for (flag, version) in [
        ("--http2-prior-knowledge", "HTTP/2.0"),
        ("--http1.1", "HTTP/1.1"),
    ] {
        let out = curl(&[flag, &url]).await;
        assert!(out.ok, "{}", out.stderr);
        let info = out.json.unwrap();
        assert_eq!(info["version"], version);
        assert_eq!(info["remote"], format!("127.0.0.1:{}", out.local_port));
    }
    server.stop().await;
}
