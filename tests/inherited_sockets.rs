//! The example server on sockets it inherits (`LISTEN_FDS`, `twinport::inherited_sockets`)
//! from a real launcher: systemfd (`cargo install systemfd --locked`), and
//! tests/peers/listen_fds.py, which passes sockets as a systemd socket unit does (without
//! `ReusePort=` unless asked).
//!
//! - On systemfd's sockets the example serves HTTP/2 (curl) and HTTP/3 (quinn) on the port
//!   systemfd bound, and says it serves on inherited sockets.
//! - `--workers 2` on an inherited UDP socket: refused, naming SO_REUSEPORT, when the socket
//!   does not have it (systemd's default); served when it does (systemfd's sockets, and
//!   `ReusePort=yes`).
//! - `LISTEN_PID`: without `systemfd --no-pid`, a process the shell starts is not the one the
//!   sockets were meant for, and binds its own.
//!
//! Restarts through inherited sockets: tests/restart_inherited.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod inherit;

use std::net::SocketAddr;

use inherit::*;
use twinport_testkit::clients::{quic_client_trusting, H3};
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{peer_script, python, require, run};
use twinport_testkit::servers::example_binary;
use twinport_testkit::{eventually, init_tracing, TempDir};

#[tokio::test]
async fn on_systemfds_sockets_the_example_serves_http2_and_http3() {
    init_tracing();
    let Some(systemfd) = require("systemfd") else {
        return;
    };
    let Some(curl) = require("curl") else { return };
    let Some(bin) = example_binary() else { return };
    let dir = TempDir::new("inherit-serve");
    let port = free_port();
    let mut launched = Launched::systemfd(&systemfd, port, &[path_arg(&bin)], dir.path("stderr"));
    // Without --addr the example would bind 127.0.0.1:4433: the port says whose socket it is.
    let addr = launched.listening().await;
    assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], port)));
    eventually("the example says it serves on inherited sockets", || {
        launched
            .stderr_text()
            .contains("serving on inherited sockets")
    })
    .await;

    let (status, body) = curl_get(&curl, port, "--http2", "/whoami").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["protocol"], "HTTP/2", "{json}");
    assert_eq!(json["local_addr"], addr.to_string(), "{json}");

    let mut h3 = H3::connect_with(addr, quic_client_trusting(&ca_pem()))
        .await
        .unwrap();
    let reply = h3.get("/whoami").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json = reply.json();
    assert_eq!(json["protocol"], "HTTP/3", "{json}");
    assert_eq!(json["local_addr"], addr.to_string(), "{json}");
    h3.close().await;
}

#[tokio::test]
async fn workers_on_an_inherited_socket_need_so_reuseport() {
    init_tracing();
    let Some(python) = python("socket") else {
        return;
    };
    let Some(bin) = example_binary() else { return };
    let dir = TempDir::new("inherit-workers");
    let launcher = peer_script("listen_fds.py");

    // Without SO_REUSEPORT (systemd's default): refused at start, naming it.
    let port = free_port().to_string();
    let out = run(
        &python,
        &[
            path_arg(&launcher),
            "--port",
            &port,
            "--",
            path_arg(&bin),
            "--workers",
            "2",
        ],
    )
    .await;
    assert!(!out.success, "served with 2 workers: {out:?}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("serve: ") && last.contains("SO_REUSEPORT") && last.contains("2 workers"),
        "{out:?}"
    );

    // With it (`ReusePort=yes`): the workers join the socket's group and serve.
    let port = free_port();
    let port_arg = port.to_string();
    let mut launched = Launched::start(
        &python,
        &[
            path_arg(&launcher),
            "--port",
            &port_arg,
            "--reuseport",
            "--",
            path_arg(&bin),
            "--workers",
            "2",
        ],
        dir.path("stderr"),
    );
    let addr = launched.listening().await;
    assert_eq!(addr.port(), port);
    h3_served(addr).await;
    let log = launched.stderr_text();
    assert!(log.contains("serving on inherited sockets"), "{log}");
    assert!(log.contains("workers=2"), "{log}");
}

/// systemfd's sockets have SO_REUSEPORT (systemfd 0.4 sets it on every socket): `--workers 2`
/// serves HTTP/3 on them.
#[tokio::test]
async fn workers_serve_on_systemfds_sockets() {
    init_tracing();
    let Some(systemfd) = require("systemfd") else {
        return;
    };
    let Some(bin) = example_binary() else { return };
    let dir = TempDir::new("inherit-systemfd-workers");
    let port = free_port();
    let mut launched = Launched::systemfd(
        &systemfd,
        port,
        &[path_arg(&bin), "--workers", "2"],
        dir.path("stderr"),
    );
    let addr = launched.listening().await;
    assert_eq!(addr.port(), port);
    for _ in 0..10 {
        h3_served(addr).await;
    }
    let log = launched.stderr_text();
    assert!(log.contains("serving on inherited sockets"), "{log}");
    assert!(log.contains("workers=2"), "{log}");
}

/// systemfd without `--no-pid` sets LISTEN_PID to its own pid, which the command it execs
/// keeps: a process that the command starts in turn (the shell loop's) is not that pid, and
/// `inherited_sockets` leaves the sockets alone (it binds `--addr` instead). Hence `--no-pid`
/// for a shell loop.
#[tokio::test]
async fn without_no_pid_a_child_of_the_shell_does_not_take_the_sockets() {
    init_tracing();
    let Some(systemfd) = require("systemfd") else {
        return;
    };
    let Some(bin) = example_binary() else { return };
    let dir = TempDir::new("inherit-pid");
    let port = free_port();
    let (tcp, udp) = (
        format!("tcp::127.0.0.1:{port}"),
        format!("udp::127.0.0.1:{port}"),
    );
    // `; exit`: the shell runs the example as a child rather than exec'ing it.
    let script = format!("\"{}\" --addr 127.0.0.1:0; exit", bin.display());
    let mut launched = Launched::start(
        &systemfd,
        &["-s", &tcp, "-s", &udp, "--", "sh", "-c", &script],
        dir.path("stderr"),
    );
    let addr = launched.listening().await;
    assert_ne!(
        addr.port(),
        port,
        "a child of the shell took systemfd's sockets"
    );
    let log = launched.stderr_text();
    assert!(!log.contains("serving on inherited sockets"), "{log}");
}
