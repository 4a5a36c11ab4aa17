//! Two instances of a fleet (the example, `--server-id 1` and `2`, one `--fleet-key`) behind
//! HAProxy (`mode tcp`, round robin): a TLS session (TLS 1.3 and 1.2, openssl s_client) from
//! one instance resumes on the other, and `/whoami` (the address the connection reached)
//! proves it was the other. With another key on B, the session is new there, and served.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod fleet;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use twinport_testkit::fs::path_arg;
use twinport_testkit::pebble::free_port;
use twinport_testkit::peers::require;
use twinport_testkit::{bounded, TempDir};

use fleet::*;

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
