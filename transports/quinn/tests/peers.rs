//! Interop with independent HTTP/3 stacks: Python's aioquic (through
//! `tests/peers/h3_client.py`) and ngtcp2's `gtlsclient`.
//!
//! A missing peer is a skip, with the reason printed, unless `TWINPORT_REQUIRE_PEERS=1`, when
//! it fails the test. The Python is `$TWINPORT_PYTHON`, else the workspace's `.venv`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::*;
use twinport::ClientAuth;
use twinport_quinn::Http3;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Skips (or, with TWINPORT_REQUIRE_PEERS=1, fails) the test.
fn skip(reason: &str) {
    if std::env::var("TWINPORT_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("required peer missing: {reason}");
    }
    eprintln!("SKIPPED: {reason} (set TWINPORT_REQUIRE_PEERS=1 to make this a failure)");
}

fn python() -> Result<PathBuf, String> {
    let python = match std::env::var_os("TWINPORT_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => workspace().join(".venv/bin/python"),
    };
    let ok = std::process::Command::new(&python)
        .args(["-c", "import aioquic"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "no Python with aioquic at {} (python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements.txt)",
            python.display()
        ))
    }
}

fn gtlsclient() -> Result<PathBuf, String> {
    for p in ["/usr/bin/gtlsclient", "/usr/local/bin/gtlsclient"] {
        if Path::new(p).exists() {
            return Ok(PathBuf::from(p));
        }
    }
    Err("no gtlsclient (apt-get install ngtcp2-client)".into())
}

/// PEM files for the peers, removed on drop.
struct Files(PathBuf);

impl Files {
    fn new(tag: &str, pki: &Pki) -> Self {
        let dir = std::env::temp_dir().join(format!("twinport-quinn-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), pki.ca.pem()).unwrap();
        std::fs::write(dir.join("alice.pem"), &pki.alice.chain_pem).unwrap();
        std::fs::write(dir.join("alice.key"), &pki.alice.key_pem).unwrap();
        Self(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn run(mut cmd: tokio::process::Command) -> (bool, String, String) {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = within(60, "peer process", cmd.output()).await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn aioquic(python: &Path, port: u16, files: &Files, extra: &[&str]) -> serde_json::Value {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(workspace().join("tests/peers/h3_client.py"))
        .args(["--port", &port.to_string(), "--ca", &files.path("ca.pem")])
        .args(extra);
    let (_, stdout, stderr) = run(cmd).await;
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("h3_client.py printed no JSON ({e}): {stdout}\n{stderr}"))
}

#[tokio::test]
async fn aioquic_gets_info_echo_and_trailers() {
    init_tracing();
    let python = match python() {
        Ok(p) => p,
        Err(reason) => return skip(&reason),
    };
    let pki = Pki::new();
    let files = Files::new("aioquic", &pki);
    let server = spawn(Http3::bind("127.0.0.1:0".parse().unwrap(), &pki.server_tls()).unwrap());
    let out = aioquic(
        &python,
        server.addr.port(),
        &files,
        &[
            "--request",
            "GET",
            "/info",
            "--request",
            "POST",
            "/sha256",
            "hello from aioquic",
            "--request",
            "GET",
            "/trailers",
            "--trailer",
            "x-client-trailer: yes",
        ],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    assert_eq!(out["alpn"], "h3");
    let responses = out["responses"].as_array().unwrap();

    let info_reply = &responses[0];
    assert_eq!(info_reply["status"], 200);
    assert_eq!(info_reply["headers"]["x-served-by"], "twinport-quinn");
    let info: serde_json::Value =
        serde_json::from_str(info_reply["body"].as_str().unwrap()).unwrap();
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

    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn aioquic_resuming_with_0rtt_gets_early_data_marked_and_a_post_held_back() {
    init_tracing();
    let python = match python() {
        Ok(p) => p,
        Err(reason) => return skip(&reason),
    };
    let pki = Pki::new();
    let files = Files::new("aioquic-0rtt", &pki);
    let tls = pki.server_tls().early_data(true);
    let server = spawn(Http3::bind("127.0.0.1:0".parse().unwrap(), &tls).unwrap());
    let out = aioquic(
        &python,
        server.addr.port(),
        &files,
        &[
            "--zero-rtt",
            "--request",
            "GET",
            "/info",
            "--request",
            "POST",
            "/sha256",
            "sent as early data",
        ],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    // The second connection resumed the first one's session and the server took its 0-RTT.
    assert_eq!(out["resumed"], true, "{out}");
    assert_eq!(out["early_data_accepted"], true, "{out}");
    let responses = out["responses"].as_array().unwrap();

    // The GET arrived as early data and was served at once, marked as such for the handler.
    assert_eq!(responses[0]["status"], 200);
    let info: serde_json::Value =
        serde_json::from_str(responses[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(info["early_data"], true, "{info}");

    // The POST is not safe to replay: it waited for the handshake, then was served in full.
    assert_eq!(responses[1]["status"], 200);
    assert_eq!(
        responses[1]["body"],
        format!("18 {}", sha256_hex(b"sent as early data"))
    );

    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn aioquic_with_mtls_required() {
    init_tracing();
    let python = match python() {
        Ok(p) => p,
        Err(reason) => return skip(&reason),
    };
    let pki = Pki::new();
    let files = Files::new("aioquic-mtls", &pki);
    let tls = pki
        .server_tls()
        .client_auth(ClientAuth::required(pki.roots()));
    let server = spawn(Http3::bind("127.0.0.1:0".parse().unwrap(), &tls).unwrap());
    let port = server.addr.port();

    let out = aioquic(
        &python,
        port,
        &files,
        &[
            "--cert",
            &files.path("alice.pem"),
            "--key",
            &files.path("alice.key"),
            "--request",
            "GET",
            "/info",
        ],
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    let info: serde_json::Value =
        serde_json::from_str(out["responses"][0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(info["client_cn"], "alice");
    assert_eq!(info["client_spiffe"], "spiffe://example.org/alice");

    let refused = aioquic(
        &python,
        port,
        &files,
        &["--timeout", "5", "--request", "GET", "/info"],
    )
    .await;
    assert!(
        refused.get("error").is_some(),
        "no certificate must be refused: {refused}"
    );

    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn ngtcp2_gtlsclient_gets_a_response() {
    init_tracing();
    let gtls = match gtlsclient() {
        Ok(p) => p,
        Err(reason) => return skip(&reason),
    };
    let pki = Pki::new();
    let server = spawn(Http3::bind("127.0.0.1:0".parse().unwrap(), &pki.server_tls()).unwrap());
    let port = server.addr.port();
    let dir = std::env::temp_dir().join(format!("twinport-quinn-gtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut cmd = tokio::process::Command::new(gtls);
    cmd.args([
        "--exit-on-all-streams-close",
        "--no-quic-dump",
        "--sni=localhost",
        "--timeout=10s",
    ])
    .arg(format!("--download={}", dir.display()))
    .args([
        "127.0.0.1".to_string(),
        port.to_string(),
        format!("https://localhost:{port}/info"),
    ]);
    let (ok, stdout, stderr) = run(cmd).await;
    let downloaded = std::fs::read_to_string(dir.join("info")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "gtlsclient failed:\n{stdout}\n{stderr}");
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains(":status: 200"),
        "no 200 status in the output:\n{all}"
    );
    assert!(all.contains("x-served-by: twinport-quinn"), "{all}");
    let info: serde_json::Value = serde_json::from_str(&downloaded).unwrap_or_else(|e| {
        panic!("downloaded body is not the info JSON ({e}): {downloaded:?}\n{all}")
    });
    assert_eq!(info["transport"], "quic");
    assert_eq!(info["alpn"], "h3");
    assert_eq!(info["sni"], "localhost");

    server.stop(Duration::from_secs(2)).await;
}
