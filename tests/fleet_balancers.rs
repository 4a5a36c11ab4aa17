//! Instances of a fleet behind real load balancers. Two example processes (`--server-id 1` and
//! `2`, the same `--fleet-key` file, each on a port of its own) behind HAProxy (`mode tcp`,
//! round robin) and nginx (UDP, hashing the client's address): a TLS session (TLS 1.3 and 1.2,
//! openssl s_client) or a QUIC session (aioquic) from one instance resumes on the other, and
//! `/whoami` (the address the connection reached) proves it was the other. With another key on
//! B, the session is not resumed there but the request is still served.
//!
//! In process, two `twinport_quinn::Http3` endpoints: a NEW_TOKEN from A spares the Retry on
//! B (quinn's client with its token store); and 0-RTT through a shared session store: a ticket
//! from A carries early data to B, once only (aioquic).
//!
//! ngtcp2's client (`gtlsclient`) changes its address (`--change-local-addr`, with and without
//! `--nat-rebinding`) against the example with `--workers 4`, and its request after the change
//! is answered.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use rustls::server::StoresServerSessions;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use twinport::fleet::FleetKey;
use twinport_quinn::{quinn, AddressValidation, Http3, QuicConfig, WorkerStats};
use twinport_testkit::fs::path_arg;
use twinport_testkit::pebble::free_port;
use twinport_testkit::peers::{missing, peer_json, peer_script, python, require, run};
use twinport_testkit::servers::{serve_http3, ExampleProcess, Http3Server};
use twinport_testkit::{bounded, init_tracing, Pki, TempDir};

/// Resumption attempts per case, and how many of them must resume (95%).
const TRIES: usize = 20;
const RESUMED_AT_LEAST: usize = 19;

/// A fleet key file, readable by its owner only.
fn key_file(dir: &TempDir, name: &str, byte: u8) -> PathBuf {
    let path = dir.path(name);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    writeln!(file, "{}", format!("{byte:02x}").repeat(32)).unwrap();
    path
}

/// The example's development CA (it writes certs/ when it starts).
fn example_ca() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/ca.pem")
}

/// Instances A and B of the example, `--server-id 1` and `2`; B with A's fleet key or
/// another.
struct Fleet {
    instances: [ExampleProcess; 2],
}

impl Fleet {
    async fn start(dir: &TempDir, same_key: bool) -> Option<Self> {
        let a_key = key_file(dir, "a.key", 0x11);
        let b_key = if same_key {
            a_key.clone()
        } else {
            key_file(dir, "b.key", 0x22)
        };
        let a =
            ExampleProcess::start(&["--server-id", "1", "--fleet-key", path_arg(&a_key)]).await?;
        let b =
            ExampleProcess::start(&["--server-id", "2", "--fleet-key", path_arg(&b_key)]).await?;
        Some(Self { instances: [a, b] })
    }

    fn addrs(&self) -> [SocketAddr; 2] {
        [self.instances[0].addr, self.instances[1].addr]
    }

    /// Which instance (0 for A, 1 for B) has the address `/whoami` reported as its own.
    fn which(&self, whoami: &Value) -> usize {
        let local: SocketAddr = whoami["local_addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no local_addr in {whoami}"));
        self.addrs()
            .iter()
            .position(|a| *a == local)
            .unwrap_or_else(|| panic!("{local} is neither instance {:?}", self.addrs()))
    }
}

/// The first JSON object in `text`, from its first `{`.
fn first_json(text: &str) -> Option<Value> {
    let start = text.find('{')?;
    serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()?
        .ok()
}

// ---------------------------------------------------------------------------------------------
// HAProxy, TCP, round robin; openssl s_client.

/// HAProxy on a free port of 127.0.0.1, `mode tcp`, round robin over `backends`; killed when
/// the child is dropped. Returns once it accepts connections.
async fn start_haproxy(haproxy: &Path, dir: &TempDir, backends: [SocketAddr; 2]) -> (Child, u16) {
    let port = free_port();
    let cfg = dir.path("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 30s\n  timeout server 30s\nfrontend fe\n  bind 127.0.0.1:{port}\n  \
             default_backend be\nbackend be\n  balance roundrobin\n  server a {}\n  server b {}\n",
            backends[0], backends[1]
        ),
    )
    .unwrap();
    let child = Command::new(haproxy)
        .args(["-db", "-f", path_arg(&cfg)])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting haproxy");
    bounded(20, "haproxy listening", async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    (child, port)
}

/// One connection of openssl s_client: whether it resumed, the TLS version, and `/whoami`.
#[derive(Debug)]
struct SClient {
    reused: bool,
    version: String,
    whoami: Value,
}

/// `openssl s_client` to 127.0.0.1:`port` as `localhost` (verifying the example's CA), asking
/// `GET /whoami` over HTTP/1.1 and reading the whole reply (so a TLS 1.3 ticket sent after
/// the handshake is received); `session` is `-sess_out FILE` or `-sess_in FILE`.
async fn s_client(
    openssl: &Path,
    port: u16,
    version: &[&str],
    session: [&str; 2],
) -> Result<SClient, String> {
    let ca = example_ca();
    let connect = format!("127.0.0.1:{port}");
    let mut child = Command::new(openssl)
        .args(["s_client", "-connect", &connect, "-servername", "localhost"])
        .args(["-CAfile", path_arg(&ca), "-verify_return_error"])
        .args(["-alpn", "http/1.1", "-ign_eof"])
        .args(version)
        .args(session)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting openssl");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    drop(stdin);
    let out = bounded(20, "openssl s_client", child.wait_with_output())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = || format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // "---\nNew, TLSv1.3, Cipher is ..." or "---\nReused, TLSv1.3, ...", once the handshake is done.
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("New, ") || l.starts_with("Reused, "))
        .ok_or_else(|| format!("no handshake summary: {}", all()))?;
    let reused = summary.starts_with("Reused, ");
    let version = summary.split(", ").nth(1).unwrap_or_default().to_string();
    if !stdout.contains("HTTP/1.1 200") {
        return Err(format!("no 200 reply: {}", all()));
    }
    let whoami = first_json(&stdout[stdout.find("HTTP/1.1 200").unwrap()..])
        .ok_or_else(|| format!("no /whoami JSON: {}", all()))?;
    Ok(SClient {
        reused,
        version,
        whoami,
    })
}

/// What happened to each session offered to an instance: resumed on the instance that issued
/// it (`home`) or on the other (`away`), or made new there.
#[derive(Debug, Default)]
struct Outcomes {
    away_resumed: usize,
    away_new: usize,
    home_resumed: usize,
    home_new: usize,
}

/// `rounds` times: a connection through HAProxy saves its session, then `offers` more
/// connections offer it (round robin sends them to alternate instances). Every connection
/// must be answered, by the instance `/whoami` names, in `version`.
async fn through_haproxy(
    (openssl, port, dir): (&Path, u16, &TempDir),
    fleet: &Fleet,
    version: (&str, &[&str]),
    rounds: usize,
    offers: usize,
) -> Outcomes {
    let (name, flags) = version;
    let mut outcomes = Outcomes::default();
    for round in 0..rounds {
        let sess = dir.path(&format!("{name}-{round}.session"));
        let first = s_client(openssl, port, flags, ["-sess_out", path_arg(&sess)])
            .await
            .unwrap_or_else(|e| panic!("{name}, round {round}, first connection: {e}"));
        assert!(!first.reused, "{first:?}");
        assert_eq!(first.version, name, "{first:?}");
        let home = fleet.which(&first.whoami);
        let mut previous = home;
        for offer in 0..offers {
            let next = s_client(openssl, port, flags, ["-sess_in", path_arg(&sess)])
                .await
                .unwrap_or_else(|e| panic!("{name}, round {round}, offer {offer}: {e}"));
            assert_eq!(next.version, name, "{next:?}");
            let at = fleet.which(&next.whoami);
            assert_ne!(
                at, previous,
                "round robin sent two in a row to one instance"
            );
            previous = at;
            match (at == home, next.reused) {
                (false, true) => outcomes.away_resumed += 1,
                (false, false) => outcomes.away_new += 1,
                (true, true) => outcomes.home_resumed += 1,
                (true, false) => outcomes.home_new += 1,
            }
        }
    }
    outcomes
}

const TLS_VERSIONS: [(&str, &[&str]); 2] = [("TLSv1.3", &[]), ("TLSv1.2", &["-tls1_2"])];

#[tokio::test]
async fn behind_haproxy_a_tls_session_from_one_instance_resumes_on_the_other() {
    let (Some(haproxy), Some(openssl)) = (require("haproxy"), require("openssl")) else {
        return;
    };
    let dir = TempDir::new("fleet-haproxy");
    let Some(fleet) = Fleet::start(&dir, true).await else {
        return;
    };
    let (_haproxy, port) = start_haproxy(&haproxy, &dir, fleet.addrs()).await;
    for version in TLS_VERSIONS {
        let seen = through_haproxy((&openssl, port, &dir), &fleet, version, TRIES, 1).await;
        eprintln!("{}: {seen:?}", version.0);
        assert!(
            seen.away_resumed >= RESUMED_AT_LEAST,
            "{}: {} of {TRIES} sessions resumed on the other instance: {seen:?}",
            version.0,
            seen.away_resumed
        );
    }
}

#[tokio::test]
async fn behind_haproxy_with_another_fleet_key_the_other_instance_makes_a_new_session() {
    let (Some(haproxy), Some(openssl)) = (require("haproxy"), require("openssl")) else {
        return;
    };
    let dir = TempDir::new("fleet-haproxy-other");
    let Some(fleet) = Fleet::start(&dir, false).await else {
        return;
    };
    let (_haproxy, port) = start_haproxy(&haproxy, &dir, fleet.addrs()).await;
    for version in TLS_VERSIONS {
        // Each session offered to the other instance, then back to its own.
        let seen = through_haproxy((&openssl, port, &dir), &fleet, version, 5, 2).await;
        eprintln!("{}: {seen:?}", version.0);
        assert_eq!(seen.away_resumed, 0, "{}: {seen:?}", version.0);
        assert_eq!(seen.away_new, 5, "{}: {seen:?}", version.0);
        // The session was good: its own instance resumed it.
        assert_eq!(seen.home_resumed, 5, "{}: {seen:?}", version.0);
    }
}

// ---------------------------------------------------------------------------------------------
// nginx, UDP, hashing the client's address; aioquic.

const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// nginx (one process, in the foreground) proxying UDP on a free port of 127.0.0.1 to
/// `backends`, by a consistent hash of the client's address; killed when the child is dropped.
async fn start_nginx(dir: &TempDir, backends: [SocketAddr; 2]) -> Option<(Child, u16)> {
    let nginx = require("nginx")?;
    if !Path::new(NGINX_STREAM_MODULE).is_file() {
        return missing(&format!(
            "nginx's stream module ({NGINX_STREAM_MODULE}, Debian: libnginx-mod-stream) is not installed"
        ));
    }
    let port = free_port();
    let prefix = dir.path("nginx");
    std::fs::create_dir_all(&prefix).unwrap();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "load_module {NGINX_STREAM_MODULE};\nerror_log {log} info;\npid {pid};\n\
             events {{ worker_connections 1024; }}\n\
             stream {{\n  upstream q {{ hash $remote_addr consistent; server {a}; server {b}; }}\n  \
             server {{ listen 127.0.0.1:{port} udp; proxy_pass q; proxy_timeout 30s; }}\n}}\n",
            log = prefix.join("error.log").display(),
            pid = prefix.join("nginx.pid").display(),
            a = backends[0],
            b = backends[1],
        ),
    )
    .unwrap();
    let child = Command::new(nginx)
        .args(["-e", path_arg(&prefix.join("error.log"))])
        .args(["-c", path_arg(&conf), "-p", path_arg(&prefix)])
        .args(["-g", "daemon off; master_process off;"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting nginx");
    // Listening once the port is taken.
    bounded(20, "nginx listening", async {
        while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    Some((child, port))
}

/// aioquic (tests/peers/h3_client.py) asking `GET /whoami` at 127.0.0.1:`port` from
/// `local_host`, with `extra` arguments; its JSON output, and the `/whoami` reply's JSON.
async fn aioquic_whoami(
    python: &Path,
    port: u16,
    local_host: &str,
    extra: &[&str],
) -> (Value, Value) {
    let script = peer_script("h3_client.py");
    let (port, ca) = (port.to_string(), example_ca());
    let mut args = vec![
        path_arg(&script),
        "--port",
        &port,
        "--ca",
        path_arg(&ca),
        "--local-host",
        local_host,
        "--timeout",
        "10",
        "--request",
        "GET",
        "/whoami",
    ];
    args.extend_from_slice(extra);
    let out = run(python, &args).await;
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}{}", out.stdout, out.stderr));
    assert!(json.get("error").is_none(), "{json}\n{}", out.stderr);
    let reply = &json["responses"][0];
    assert_eq!(reply["status"], 200, "{json}");
    let whoami = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    (json, whoami)
}

/// Two source addresses of 127/8 that nginx sends to different instances: `[to A, to B]`.
async fn a_source_for_each(python: &Path, port: u16, fleet: &Fleet) -> [String; 2] {
    let mut found: [Option<String>; 2] = [None, None];
    for n in 1..=32 {
        let host = format!("127.0.0.{n}");
        let (_, whoami) = aioquic_whoami(python, port, &host, &[]).await;
        let at = fleet.which(&whoami);
        // The same source always reaches the same instance.
        let (_, again) = aioquic_whoami(python, port, &host, &[]).await;
        assert_eq!(fleet.which(&again), at, "{host}");
        found[at].get_or_insert(host);
        if let [Some(a), Some(b)] = &found {
            return [a.clone(), b.clone()];
        }
    }
    panic!("nginx sent 127.0.0.1 to 127.0.0.32 all to one instance: {found:?}")
}

/// `tries` times: a ticket from the instance reached from `sources[0]`, offered from
/// `sources[1]` (the other instance); how many resumed.
async fn tickets_across_nginx(
    (python, port, dir): (&Path, u16, &TempDir),
    fleet: &Fleet,
    sources: &[String; 2],
    tries: usize,
) -> usize {
    let mut resumed = 0;
    for i in 0..tries {
        let ticket = dir.path(&format!("ticket-{i}"));
        let save = ["--save-ticket", path_arg(&ticket)];
        let (_, whoami) = aioquic_whoami(python, port, &sources[0], &save).await;
        assert_eq!(fleet.which(&whoami), 0, "{whoami}");
        let load = ["--load-ticket", path_arg(&ticket)];
        let (out, whoami) = aioquic_whoami(python, port, &sources[1], &load).await;
        assert_eq!(fleet.which(&whoami), 1, "{whoami}");
        assert_eq!(whoami["protocol"], "HTTP/3", "{whoami}");
        // A fleet key without a shared store: tickets, and no 0-RTT.
        assert_eq!(out["early_data_accepted"], false, "{out}");
        if out["resumed"] == true {
            resumed += 1;
        }
    }
    resumed
}

#[tokio::test]
async fn behind_nginx_udp_a_quic_ticket_from_one_instance_resumes_on_the_other() {
    let Some(python) = python("aioquic") else {
        return;
    };
    let dir = TempDir::new("fleet-nginx");
    let Some(fleet) = Fleet::start(&dir, true).await else {
        return;
    };
    let Some((_nginx, port)) = start_nginx(&dir, fleet.addrs()).await else {
        return;
    };
    let sources = a_source_for_each(&python, port, &fleet).await;
    eprintln!("nginx sends {} to A, {} to B", sources[0], sources[1]);
    let resumed = tickets_across_nginx((&python, port, &dir), &fleet, &sources, TRIES).await;
    eprintln!("{resumed} of {TRIES} QUIC sessions from A resumed on B");
    assert!(
        resumed >= RESUMED_AT_LEAST,
        "{resumed} of {TRIES} QUIC sessions from A resumed on B"
    );
}

#[tokio::test]
async fn behind_nginx_udp_with_another_fleet_key_the_ticket_does_not_resume() {
    let Some(python) = python("aioquic") else {
        return;
    };
    let dir = TempDir::new("fleet-nginx-other");
    let Some(fleet) = Fleet::start(&dir, false).await else {
        return;
    };
    let Some((_nginx, port)) = start_nginx(&dir, fleet.addrs()).await else {
        return;
    };
    let sources = a_source_for_each(&python, port, &fleet).await;
    let resumed = tickets_across_nginx((&python, port, &dir), &fleet, &sources, 3).await;
    assert_eq!(resumed, 0, "a ticket of another fleet key resumed");
    // The ticket is good where it came from.
    let ticket = dir.path("ticket-0");
    let load = ["--load-ticket", path_arg(&ticket)];
    let (out, whoami) = aioquic_whoami(&python, port, &sources[0], &load).await;
    assert_eq!(fleet.which(&whoami), 0, "{whoami}");
    assert_eq!(out["resumed"], true, "{out}");
}

// ---------------------------------------------------------------------------------------------
// In process: NEW_TOKEN across instances, and 0-RTT through a shared store.

fn fleet_key(byte: u8) -> FleetKey {
    FleetKey::from_bytes(&[byte; 32]).unwrap()
}

/// An HTTP/3 endpoint on 127.0.0.1 of the fleet `key` that sends a Retry to every client
/// without a token, serving the kit's info app; its counters.
fn validating_instance(key: &FleetKey) -> (Http3Server, WorkerStats) {
    init_tracing();
    let tls = Pki::get().server_tls().fleet_key(key);
    let endpoint = Http3::builder(&tls)
        .http3()
        .quic_config(QuicConfig::default().address_validation(AddressValidation::Always))
        .fleet_key(key)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let stats = endpoint.worker_stats();
    (serve_http3(endpoint), stats)
}

/// quinn's own token store, counting the NEW_TOKEN frames it was given and the tokens it
/// offered.
#[derive(Default)]
struct CountingTokens {
    cache: quinn::TokenMemoryCache,
    received: AtomicUsize,
    offered: AtomicUsize,
}

impl quinn::TokenStore for CountingTokens {
    fn insert(&self, server_name: &str, token: Bytes) {
        self.received.fetch_add(1, Ordering::SeqCst);
        self.cache.insert(server_name, token);
    }

    fn take(&self, server_name: &str) -> Option<Bytes> {
        let token = self.cache.take(server_name);
        if token.is_some() {
            self.offered.fetch_add(1, Ordering::SeqCst);
        }
        token
    }
}

/// A QUIC client of the kit's CA with `tokens` as its token store.
fn client_with(tokens: &Arc<CountingTokens>) -> quinn::ClientConfig {
    let mut config = Pki::get().quic_client(None);
    config.token_store(tokens.clone());
    config
}

/// A handshake with `addr` as `localhost` from a new client socket; closed at once.
async fn handshake(config: &quinn::ClientConfig, addr: SocketAddr) -> quinn::Connection {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connecting = endpoint
        .connect_with(config.clone(), addr, "localhost")
        .unwrap();
    bounded(10, "the QUIC handshake", connecting).await.unwrap()
}

/// Connects to A and waits for its NEW_TOKEN; the client's config, holding it.
async fn token_from(a: &Http3Server) -> (quinn::ClientConfig, Arc<CountingTokens>) {
    let tokens = Arc::new(CountingTokens::default());
    let config = client_with(&tokens);
    let conn = handshake(&config, a.addr).await;
    bounded(10, "A's NEW_TOKEN", async {
        while tokens.received.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    conn.close(0u32.into(), b"");
    (config, tokens)
}

fn retries(stats: &WorkerStats) -> u64 {
    stats.snapshot().iter().map(|s| s.retries).sum()
}

fn connections(stats: &WorkerStats) -> u64 {
    stats.snapshot().iter().map(|s| s.connections).sum()
}

#[tokio::test]
async fn a_new_token_from_one_instance_spares_the_retry_on_another() {
    let key = fleet_key(1);
    let (a, a_stats) = validating_instance(&key);
    let (b, b_stats) = validating_instance(&key);

    let (config, tokens) = token_from(&a).await;
    // A validated the fresh client's address with a Retry.
    assert_eq!(retries(&a_stats), 1, "{:?}", a_stats.snapshot());
    assert_eq!(connections(&a_stats), 1, "{:?}", a_stats.snapshot());
    assert_eq!(tokens.offered.load(Ordering::SeqCst), 0);

    // B takes A's token as proof of the address: no Retry.
    let conn = handshake(&config, b.addr).await;
    conn.close(0u32.into(), b"");
    assert_eq!(tokens.offered.load(Ordering::SeqCst), 1);
    assert_eq!(retries(&b_stats), 0, "{:?}", b_stats.snapshot());
    assert_eq!(connections(&b_stats), 1, "{:?}", b_stats.snapshot());

    // A client without a token is sent a Retry by B.
    let fresh = client_with(&Arc::default());
    let conn = handshake(&fresh, b.addr).await;
    conn.close(0u32.into(), b"");
    assert_eq!(retries(&b_stats), 1, "{:?}", b_stats.snapshot());
    assert_eq!(connections(&b_stats), 2, "{:?}", b_stats.snapshot());

    a.stop(Duration::from_secs(1)).await;
    b.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_new_token_of_another_fleet_key_does_not_spare_the_retry() {
    let (a, a_stats) = validating_instance(&fleet_key(1));
    let (b, b_stats) = validating_instance(&fleet_key(2));
    let (config, tokens) = token_from(&a).await;
    assert_eq!(retries(&a_stats), 1, "{:?}", a_stats.snapshot());
    let conn = handshake(&config, b.addr).await;
    conn.close(0u32.into(), b"");
    // The client offered A's token, and B sent a Retry anyway.
    assert_eq!(tokens.offered.load(Ordering::SeqCst), 1);
    assert_eq!(retries(&b_stats), 1, "{:?}", b_stats.snapshot());
    assert_eq!(connections(&b_stats), 1, "{:?}", b_stats.snapshot());
    a.stop(Duration::from_secs(1)).await;
    b.stop(Duration::from_secs(1)).await;
}

/// A session store shared by the fleet: a map whose `take` removes, under one lock.
#[derive(Debug, Default)]
struct SharedStore {
    sessions: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    taken: AtomicUsize,
}

impl StoresServerSessions for SharedStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.sessions.lock().unwrap().insert(key, value);
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions.lock().unwrap().get(key).cloned()
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let taken = self.sessions.lock().unwrap().remove(key);
        if taken.is_some() {
            self.taken.fetch_add(1, Ordering::SeqCst);
        }
        taken
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// aioquic asking `GET /info` of the endpoint on `port`: its JSON output and the info.
async fn aioquic_info(python: &Path, port: u16, extra: &[&str]) -> (Value, Value) {
    let mut args = vec!["--request", "GET", "/info"];
    args.extend_from_slice(extra);
    let out = peer_json(python, "h3_client.py", port, &args).await;
    assert!(out.get("error").is_none(), "{out}");
    let reply = &out["responses"][0];
    assert_eq!(reply["status"], 200, "{out}");
    let info = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    (out, info)
}

#[tokio::test]
async fn zero_rtt_through_a_shared_store_crosses_instances_once() {
    let Some(python) = python("aioquic") else {
        return;
    };
    init_tracing();
    let key = fleet_key(3);
    let store = Arc::new(SharedStore::default());
    let tls = Pki::get()
        .server_tls()
        .early_data(true)
        .fleet_key(&key)
        .session_store(store.clone());
    let instance = || {
        let endpoint = Http3::builder(&tls)
            .http3()
            .fleet_key(&key)
            .bind("127.0.0.1:0".parse().unwrap())
            .unwrap();
        serve_http3(endpoint)
    };
    let (a, b) = (instance(), instance());
    let dir = TempDir::new("fleet-0rtt");
    let ticket = dir.path("ticket");
    let save = ["--save-ticket", path_arg(&ticket)];
    let load = ["--load-ticket", path_arg(&ticket)];

    // A full handshake with A; its ticket allows early data.
    let (out, info) = aioquic_info(&python, a.addr.port(), &save).await;
    assert_eq!(out["ticket_max_early_data"], u32::MAX, "{out}");
    assert_eq!(info["early_data"], false, "{info}");
    assert!(
        !store.sessions.lock().unwrap().is_empty(),
        "A stored no session"
    );

    // B resumes it from the shared store and takes the request as early data.
    let (out, info) = aioquic_info(&python, b.addr.port(), &load).await;
    assert_eq!(out["resumed"], true, "{out}");
    assert_eq!(out["early_data_accepted"], true, "{out}");
    assert_eq!(info["early_data"], true, "{info}");
    assert_eq!(info["local"], b.addr.to_string(), "{info}");
    assert_eq!(store.taken.load(Ordering::SeqCst), 1);

    // The same ticket again, on either instance: taken already, so no resumption and no
    // early data; the request is still answered, after a full handshake.
    for (name, again) in [("B", &b), ("A", &a)] {
        let (out, info) = aioquic_info(&python, again.addr.port(), &load).await;
        assert_eq!(out["resumed"], false, "replayed on {name}: {out}");
        assert_eq!(
            out["early_data_accepted"], false,
            "replayed on {name}: {out}"
        );
        assert_eq!(info["early_data"], false, "replayed on {name}: {info}");
    }
    assert_eq!(store.taken.load(Ordering::SeqCst), 1);

    a.stop(Duration::from_secs(1)).await;
    b.stop(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// ngtcp2's client changing its address, against the example's workers.

/// The address gtlsclient says it moved to ("Local address is now [127.0.0.1]:PORT").
fn moved_to(output: &str) -> Option<String> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("Local address is now "))?;
    Some(line.trim().replace(['[', ']'], ""))
}

#[tokio::test]
async fn ngtcp2_changing_its_address_mid_connection_is_answered_by_the_example_with_workers() {
    let Some(gtls) = require("gtlsclient") else {
        return;
    };
    let Some(example) = ExampleProcess::start(&["--workers", "4", "--server-id", "1"]).await else {
        return;
    };
    let port = example.addr.port().to_string();
    let url = format!("https://localhost:{port}/whoami");
    // gtlsclient has no option for a CA: it does not verify the dev certificate.
    for (mode, extra) in [
        ("a new port, validated", &[][..]),
        ("NAT rebinding", &["--nat-rebinding"][..]),
    ] {
        for trial in 0..5 {
            let dir = TempDir::new("fleet-gtls");
            let download = format!("--download={}", dir.dir().display());
            let mut args = vec![
                "--exit-on-all-streams-close",
                "--no-quic-dump",
                "--sni=localhost",
                "--timeout=10s",
                &download,
                // The address changes 100 ms after the handshake; the request goes at 500 ms.
                "--change-local-addr=100ms",
                "--delay-stream=500ms",
            ];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["127.0.0.1", &port, &url]);
            let out = run(&gtls, &args).await;
            let all = format!("{}\n{}", out.stdout, out.stderr);
            assert!(
                out.success,
                "{mode}, trial {trial}: gtlsclient failed:\n{all}"
            );
            let new_addr = moved_to(&all)
                .unwrap_or_else(|| panic!("{mode}, trial {trial}: no address change:\n{all}"));
            let body = std::fs::read_to_string(dir.path("whoami")).unwrap_or_default();
            let whoami: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
                panic!("{mode}, trial {trial}: no /whoami JSON ({e}): {body:?}\n{all}")
            });
            assert_eq!(whoami["protocol"], "HTTP/3", "{whoami}");
            // The request came from the new address, on the connection made from the old one.
            assert_eq!(
                whoami["remote_addr"],
                new_addr.as_str(),
                "{mode}, trial {trial}"
            );
            let after = &all[all.find("Local address is now").unwrap()..];
            let client_validates = has_frame(after, "tx", "PATH_CHALLENGE");
            if extra.is_empty() {
                assert!(
                    client_validates,
                    "{mode}, trial {trial}: no PATH_CHALLENGE sent:\n{all}"
                );
            } else {
                // The client moved silently; the server validated the new path itself.
                assert!(!client_validates, "{mode}, trial {trial}:\n{all}");
                assert!(
                    has_frame(after, "rx", "PATH_CHALLENGE")
                        && has_frame(after, "tx", "PATH_RESPONSE"),
                    "{mode}, trial {trial}: the server did not validate the new path:\n{all}"
                );
            }
        }
    }
}

/// Whether ngtcp2's log has a `frame` frame received (`rx`) or sent (`tx`).
fn has_frame(log: &str, direction: &str, frame: &str) -> bool {
    log.lines()
        .any(|l| l.contains(&format!("frm {direction} ")) && l.contains(&format!(" {frame}(")))
}
