//! Which certificate a server answers a name with, asked by real peers on every protocol:
//! curl on HTTP/1.1 and HTTP/2, aioquic and h3 (the kit's [`H3`]) on HTTP/3. Each answer is
//! the status of a full `GET /info` and the serial of the certificate the peer verified.

use std::net::SocketAddr;
use std::path::Path;

use twinport_quinn::quinn;

use crate::clients::{normalize_serial, quic_serial, Proto, H3, TCP};
use crate::fs::path_arg;
use crate::peers::{peer_script, run};
use crate::pki::Pki;

/// A peer's answer: the HTTP status (0 if the exchange failed), the protocol it spoke and
/// the serial number of the certificate it verified (normalized hex), or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The status of `GET /info`.
    pub status: u16,
    /// `1.1`, `2` or `3`.
    pub version: String,
    /// The certificate's serial.
    pub serial: String,
}

/// How [`curl_seen`] asks.
#[derive(Clone, Copy, Debug)]
pub struct CurlAsk<'a> {
    /// HTTP/1.1 (`--http1.1`, the default) or HTTP/2 (`--http2`).
    pub proto: Proto,
    /// The name asked for, resolved to 127.0.0.1; `None` (the default): the address itself,
    /// so no SNI.
    pub name: Option<&'a str>,
    /// The path, `/info` by default.
    pub path: &'a str,
    /// No verification of the server's certificate (`-k`).
    pub insecure: bool,
}

impl Default for CurlAsk<'_> {
    fn default() -> Self {
        Self {
            proto: Proto::H1,
            name: None,
            path: "/info",
            insecure: false,
        }
    }
}

/// curl fetching `https://NAME:PORT/PATH` as `ask` says, verifying against `ca` unless
/// `ask.insecure`.
pub async fn curl_seen(
    curl: &Path,
    addr: SocketAddr,
    ca: &Path,
    ask: CurlAsk<'_>,
) -> Result<Seen, String> {
    let CurlAsk {
        proto,
        name,
        path,
        insecure,
    } = ask;
    let port = addr.port();
    let host = name.unwrap_or("127.0.0.1");
    let resolve = format!("{host}:{port}:127.0.0.1");
    let url = format!("https://{host}:{port}{path}");
    let mut args = vec![
        "-sS",
        "-o",
        "/dev/null",
        "--max-time",
        "10",
        "--cacert",
        path_arg(ca),
        "--resolve",
        &resolve,
        "-w",
        "%{http_code} %{http_version}\n%{certs}",
    ];
    args.push(match proto {
        Proto::H1 => "--http1.1",
        Proto::H2 => "--http2",
        Proto::H3 => panic!("curl_seen asks over TCP"),
    });
    if insecure {
        args.push("-k");
    }
    args.push(&url);
    let out = run(curl, &args).await;
    if !out.success {
        return Err(format!("curl {url}: {}", out.stderr.trim()));
    }
    let mut lines = out.stdout.lines();
    let head = lines.next().unwrap_or_default();
    let (status, version) = head.split_once(' ').unwrap_or_default();
    let serial = lines
        .find_map(|l| l.strip_prefix("Serial Number:"))
        .map(normalize_serial)
        .ok_or_else(|| format!("curl printed no certificate: {}", out.stdout))?;
    Ok(Seen {
        status: status.parse().unwrap_or(0),
        version: version.to_owned(),
        serial,
    })
}

/// curl over HTTP/1.1 and over HTTP/2 and aioquic over HTTP/3, each on a new connection to
/// `addr` for `name`, verifying against `ca`: each gets `path` answered `200` with the
/// certificate `serial`.
pub async fn real_peers_see_at(
    (curl, python): (&Path, &Path),
    addr: SocketAddr,
    name: &str,
    ca: &Path,
    path: &str,
    serial: &str,
) {
    for proto in TCP {
        let ask = CurlAsk {
            proto,
            name: Some(name),
            path,
            ..CurlAsk::default()
        };
        let seen = curl_seen(curl, addr, ca, ask).await.unwrap();
        assert_eq!(
            (seen.status, seen.serial.as_str()),
            (200, serial),
            "curl {proto:?}"
        );
    }
    let seen = aioquic_seen(python, addr, name, ca, path).await.unwrap();
    assert_eq!(
        (seen.status, seen.serial.as_str()),
        (200, serial),
        "aioquic"
    );
}

/// aioquic (`tests/peers/h3_client.py`) fetching `path` over HTTP/3 from 127.0.0.1 with
/// `server_name` in the SNI, verifying against `ca`.
pub async fn aioquic_seen(
    python: &Path,
    addr: SocketAddr,
    server_name: &str,
    ca: &Path,
    path: &str,
) -> Result<Seen, String> {
    let port = addr.port().to_string();
    let script = peer_script("h3_client.py");
    let args = [
        path_arg(&script),
        "--port",
        &port,
        "--ca",
        path_arg(ca),
        "--server-name",
        server_name,
        "--request",
        "GET",
        path,
    ];
    let out = run(python, &args).await;
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .map_err(|e| format!("aioquic: {e}: {} {}", out.stdout, out.stderr))?;
    if let Some(e) = json.get("error") {
        return Err(format!("aioquic: {e}"));
    }
    Ok(Seen {
        status: json["responses"][0]["status"].as_u64().unwrap_or(0) as u16,
        version: "3".into(),
        serial: normalize_serial(json["peer_serial"].as_str().unwrap_or_default()),
    })
}

/// The kit's h3 client fetching `/info` with `server_name` in the SNI, trusting the test CA.
pub async fn h3_seen(addr: SocketAddr, server_name: &str) -> Result<Seen, String> {
    h3_seen_with(addr, server_name, Pki::get().quic_client(None)).await
}

/// Like [`h3_seen`] with a client configuration of its own ([`quic_client_trusting`](crate::clients::quic_client_trusting)).
pub async fn h3_seen_with(
    addr: SocketAddr,
    server_name: &str,
    config: quinn::ClientConfig,
) -> Result<Seen, String> {
    let mut h3 = H3::connect_as(addr, config, server_name).await?;
    let serial = quic_serial(&h3.conn);
    let reply = h3.get("/info").await;
    h3.close().await;
    Ok(Seen {
        status: reply.status.as_u16(),
        version: "3".into(),
        serial,
    })
}
