//! Pebble, Let's Encrypt's test ACME CA (Debian's `pebble` package), with
//! `pebble-challtestsrv` as its DNS: every name resolves to 127.0.0.1 (no AAAA), so Pebble
//! validates challenges against the test's own server on the ports it is started with.
//! Both run on free ports of 127.0.0.1 and are killed when the [`Pebble`] is dropped.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_body_util::BodyExt;

use crate::clients::{empty, tls_connect_as, Hyper, Proto};
use crate::fs::TempDir;
use crate::peers::require;
use crate::pki::Pki;

/// How Pebble is started.
#[derive(Clone, Debug, Default)]
pub struct PebbleOpts {
    /// The port Pebble validates HTTP-01 on (the test's port-80 listener).
    pub http_port: u16,
    /// The port Pebble validates TLS-ALPN-01 on (the test's TLS port).
    pub tls_port: u16,
    /// The lifetime of the certificates it issues, in seconds (Pebble's default: 5 years).
    pub validity_secs: Option<u64>,
    /// The port of its ACME directory (a free one when `None`).
    pub port: Option<u16>,
}

/// A running Pebble and its DNS.
pub struct Pebble {
    children: Vec<Child>,
    /// The ACME directory URL.
    pub directory: String,
    /// The CA of the directory's own HTTPS certificate (the test CA): `--acme-ca-root`.
    pub directory_ca: PathBuf,
    /// The root Pebble issues under, PEM: what clients of the obtained certificate trust.
    pub root: PathBuf,
    dir: TempDir,
}

/// A port of 127.0.0.1 free right now (TCP and UDP).
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Pebble {
    /// Starts pebble-challtestsrv and pebble, waits for the directory, fetches the root;
    /// `None` (a skip) if they are not installed.
    pub async fn start(opts: PebbleOpts) -> Option<Pebble> {
        let pebble = require("pebble")?;
        let challtestsrv = require("pebble-challtestsrv")?;
        let dir = TempDir::new("pebble");
        let pki = Pki::get();
        let id = pki.issue_server("pebble", &["localhost", "127.0.0.1"], &[0x50, 0x01]);
        std::fs::write(dir.path("wfe.pem"), &id.chain_pem).unwrap();
        std::fs::write(dir.path("wfe.key"), &id.key_pem).unwrap();
        std::fs::write(dir.path("directory-ca.pem"), pki.ca_pem()).unwrap();

        let dns = free_port();
        let (port, mgmt) = (opts.port.unwrap_or_else(free_port), free_port());
        let mut config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt}"),
            "certificate": dir.path("wfe.pem"),
            "privateKey": dir.path("wfe.key"),
            "httpPort": opts.http_port,
            "tlsPort": opts.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        if let Some(v) = opts.validity_secs {
            config["pebble"]["certificateValidityPeriod"] = v.into();
        }
        std::fs::write(dir.path("pebble.json"), config.to_string()).unwrap();

        let log = |name: &str| Stdio::from(std::fs::File::create(dir.path(name)).unwrap());
        let dns_child = Command::new(challtestsrv)
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .unwrap();
        let mut children = vec![dns_child];
        let pebble_child = Command::new(pebble)
            .arg("-config")
            .arg(dir.path("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .unwrap();
        children.push(pebble_child);
        let mut me = Pebble {
            children,
            directory: format!("https://127.0.0.1:{port}/dir"),
            directory_ca: dir.path("directory-ca.pem"),
            root: dir.path("root.pem"),
            dir,
        };
        let mgmt: SocketAddr = ([127, 0, 0, 1], mgmt).into();
        let root = me.get_until_up(mgmt, "/roots/0").await;
        std::fs::write(&me.root, root).unwrap();
        let _ = me.get_until_up(([127, 0, 0, 1], port).into(), "/dir").await;
        me.children.shrink_to_fit();
        Some(me)
    }

    /// Pebble's own log so far (for a failing test's message).
    pub fn log(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path(n)).unwrap_or_default();
        format!("{}{}", read("pebble.log"), read("pebble.err"))
    }

    async fn get_until_up(&self, addr: SocketAddr, path: &str) -> Vec<u8> {
        for _ in 0..200 {
            if let Ok(body) = https_get(addr, path).await {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pebble did not answer {path} on {addr}:\n{}", self.log());
    }
}

/// `GET path` over HTTPS/1.1 from a server whose certificate the test CA issued for its IP.
async fn https_get(addr: SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    let io = tls_connect_as(addr, None, &[b"http/1.1"], None)
        .await
        .map_err(|e| e.to_string())?;
    let (mut client, _task) = Hyper::handshake(io, Proto::H1)
        .await
        .map_err(|e| e.to_string())?;
    let resp = client
        .send(client.request("GET", path, empty()))
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(format!("status {}", resp.status()));
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(body.to_bytes().to_vec())
}
