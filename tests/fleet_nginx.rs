//! Two instances of a fleet behind nginx's `stream` module (UDP, hashing the client's
//! address): a QUIC session ticket (aioquic) from one instance resumes on the other, the
//! client's source address picking the instance. With another key on B, it does not resume
//! there.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod fleet;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};
use twinport_testkit::fs::path_arg;
use twinport_testkit::pebble::free_port;
use twinport_testkit::peers::{missing, peer_script, python, require, run};
use twinport_testkit::{bounded, TempDir};

use fleet::*;

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
