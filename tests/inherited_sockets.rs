//! The example server on sockets it inherits (`LISTEN_FDS`, `twinport::inherited_sockets`)
//! from a real launcher: systemfd (`cargo install systemfd --locked`), and
//! tests/peers/listen_fds.py, which passes sockets as a systemd socket unit does (without
//! `ReusePort=` unless asked).
//!
//! - On systemfd's sockets the example serves HTTP/2 (curl) and HTTP/3 (quinn) on the port
//!   systemfd bound, and says it serves on inherited sockets.
//! - A restart through inherited sockets drops nothing: systemfd hands the sockets to a shell
//!   loop that starts the example again whenever it exits; SIGTERM to the running example
//!   while curl makes requests on new HTTP/1.1 and HTTP/2 connections: every request is
//!   answered, some by each process (told apart by their logs), including requests that
//!   connected while no process was running (the kernel keeps the listening socket and its
//!   backlog). HTTP/3 works on the new process. What cannot be kept: QUIC connections. One
//!   held open across the SIGTERM is ended by the old process; one held open across a crash
//!   (SIGKILL) is reset by the next process within 1 s of its next request
//!   (`--server-id` and `--fleet-key`, as tests/fleet_restart.rs without inheritance).
//! - `--workers 2` on an inherited UDP socket: refused, naming SO_REUSEPORT, when the socket
//!   does not have it (systemd's default); served when it does (systemfd's sockets, and
//!   `ReusePort=yes`).
//! - `LISTEN_PID`: without `systemfd --no-pid`, a process the shell starts is not the one the
//!   sockets were meant for, and binds its own.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use twinport_quinn::quinn;
use twinport_testkit::clients::{quic_client_trusting, H3};
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{peer_script, python, require, run};
use twinport_testkit::servers::example_binary;
use twinport_testkit::{bounded, eventually, init_tracing, TempDir};

/// The CA of the example's development certificates (certs/, which it uses).
fn ca_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/ca.pem")
}

fn ca_pem() -> Vec<u8> {
    std::fs::read(ca_path()).unwrap()
}

/// A port free on 127.0.0.1 for TCP and UDP (bound and released).
fn free_port() -> u16 {
    let (tcp, _udp) = twinport::bind_same_port(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    tcp.local_addr().unwrap().port()
}

/// A launcher and everything it starts, in a process group of their own, killed together
/// when dropped (the shell loop would otherwise start the example again).
struct Launched {
    child: Child,
    group: Option<u32>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: PathBuf,
}

impl Launched {
    /// `program args`, stdout read line by line, stderr to the file `stderr`; the example's
    /// request logs (tower-http's, at debug) on.
    fn start(program: &Path, args: &[&str], stderr: PathBuf) -> Self {
        let err = std::fs::File::create(&stderr).unwrap();
        let mut child = Command::new(program)
            .args(args)
            .env("RUST_LOG", "info,tower_http=debug,twinport_hyper=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            group: child.id(),
            child,
            stdout,
            stderr,
        }
    }

    /// `systemfd --no-pid` with a TCP and a UDP socket on 127.0.0.1:`port`, running `command`.
    fn systemfd(systemfd: &Path, port: u16, command: &[&str], stderr: PathBuf) -> Self {
        let (tcp, udp) = (
            format!("tcp::127.0.0.1:{port}"),
            format!("udp::127.0.0.1:{port}"),
        );
        let mut args = vec!["--no-pid", "-s", &tcp, "-s", &udp, "--"];
        args.extend_from_slice(command);
        Self::start(systemfd, &args, stderr)
    }

    /// The address of the example's next `listening on https://...` line.
    async fn listening(&mut self) -> SocketAddr {
        let line = bounded(
            60,
            "the example's `listening on` line",
            self.stdout.next_line(),
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("stdout ended; stderr:\n{}", self.stderr_text()));
        line.strip_prefix("listening on https://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("not a `listening on` line: {line:?}"))
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// `curl` GET `path` on a new connection to localhost:`port` (resolved to 127.0.0.1 only,
/// so that no attempt on ::1 is refused), with `version` (`--http1.1`, `--http2`): the
/// status and body, or curl's error.
async fn curl_get(
    curl: &Path,
    port: u16,
    version: &str,
    path: &str,
) -> Result<(u16, String), String> {
    let ca = ca_path();
    let url = format!("https://localhost:{port}{path}");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let out = run(
        curl,
        &[
            "-sS",
            "--max-time",
            "20",
            "--cacert",
            path_arg(&ca),
            "--resolve",
            &resolve,
            version,
            "-w",
            "\n%{http_code}",
            &url,
        ],
    )
    .await;
    if !out.success {
        return Err(out.stderr.trim().to_owned());
    }
    let (body, code) = out.stdout.rsplit_once('\n').unwrap_or(("", &out.stdout));
    let code = code.parse().map_err(|e| format!("status {code:?}: {e}"))?;
    Ok((code, body.to_owned()))
}

/// `kill -SIG pid`.
async fn signal(sig: &str, pid: u32) {
    let Some(kill) = require("kill") else {
        panic!("no kill")
    };
    let out = run(&kill, &[sig, &pid.to_string()]).await;
    assert!(out.success, "kill {sig} {pid}: {out:?}");
}

/// Whether process `pid` still exists.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

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

/// One request of the client loop.
#[derive(Debug)]
struct Outcome {
    n: u64,
    version: &'static str,
    started: Instant,
    took: Duration,
    result: Result<u16, String>,
}

/// The request numbers (`?n=N`) in an example's log.
fn served_in(log: &str) -> BTreeSet<u64> {
    log.match_indices("?n=")
        .filter_map(|(at, _)| {
            let digits: String = log[at + 3..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// A fleet key file, readable by its owner only.
fn key_file(path: &Path) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(file, "{}", "5a".repeat(32)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_through_inherited_sockets_drops_nothing() {
    init_tracing();
    let Some(systemfd) = require("systemfd") else {
        return;
    };
    let Some(curl) = require("curl") else { return };
    let Some(bin) = example_binary() else { return };
    let dir = TempDir::new("inherit-restart");
    let d = dir.dir().display();
    key_file(&dir.path("fleet.key"));
    // Each example: its pid first (the shell's, which exec keeps), its log in a file of its own.
    std::fs::write(
        dir.path("one.sh"),
        format!(
            "echo $$ >> \"{d}/pids\"\nexec \"{}\" --server-id 1 --fleet-key \"{d}/fleet.key\" 2>\"{d}/log.$$\"\n",
            bin.display()
        ),
    )
    .unwrap();
    // Started again whenever it exits, after half a second (so that requests come while no
    // process runs), at most 10 times (a crash loop ends).
    std::fs::write(
        dir.path("loop.sh"),
        format!(
            "i=0\nwhile [ $i -lt 10 ]; do\n  i=$((i+1))\n  sh \"{d}/one.sh\"\n  sleep 0.5\ndone\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let looped = dir.path("loop.sh");
    let mut launched = Launched::systemfd(
        &systemfd,
        port,
        &["sh", path_arg(&looped)],
        dir.path("stderr"),
    );
    let addr = launched.listening().await;
    assert_eq!(addr.port(), port);
    let pids = || -> Vec<u32> {
        std::fs::read_to_string(dir.path("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let log =
        |pid: u32| std::fs::read_to_string(dir.path(&format!("log.{pid}"))).unwrap_or_default();
    eventually("the first example's pid", || pids().len() == 1).await;
    let old = pids()[0];

    // A QUIC connection to the first process, held across the restart.
    let quic = quic_client_trusting(&ca_pem());
    let mut held = H3::connect_with(addr, quic.clone()).await.unwrap();
    assert_eq!(held.get("/whoami").await.status, 200);

    // Two clients, HTTP/1.1 and HTTP/2, each making requests one after another on new
    // connections, numbered.
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let clients: Vec<_> = ["--http1.1", "--http2"]
        .into_iter()
        .map(|version| {
            let (stop, outcomes, next, curl) =
                (stop.clone(), outcomes.clone(), next.clone(), curl.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let started = Instant::now();
                    let result = curl_get(&curl, port, version, &format!("/whoami?n={n}"))
                        .await
                        .map(|(status, _)| status);
                    outcomes.lock().unwrap().push(Outcome {
                        n,
                        version,
                        started,
                        took: started.elapsed(),
                        result,
                    });
                }
            })
        })
        .collect();
    let answered_since = |since: Instant| {
        outcomes
            .lock()
            .unwrap()
            .iter()
            .filter(|o| o.started >= since && o.result.is_ok())
            .count()
    };
    let began = Instant::now();
    eventually("20 requests answered by the first process", || {
        answered_since(began) >= 20
    })
    .await;

    let term = Instant::now();
    signal("-TERM", old).await;
    let second = launched.listening().await;
    let restarted = Instant::now();
    assert_eq!(second, addr);
    eventually("the second example's pid", || pids().len() == 2).await;
    let new = pids()[1];
    eventually("20 requests answered by the second process", || {
        answered_since(restarted) >= 20
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        bounded(30, "the client loops", client).await.unwrap();
    }
    eventually("the first process exited", || !alive(old)).await;

    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let (old_log, new_log) = (log(old), log(new));
    let failed: Vec<_> = outcomes.iter().filter(|o| o.result != Ok(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed across the restart: {failed:#?}\n\
         the first process after the SIGTERM:\n{}",
        failed.len(),
        outcomes.len(),
        old_log
            .split_once("SIGTERM")
            .map_or(old_log.as_str(), |(_, after)| after)
    );
    for (pid, l) in [(old, &old_log), (new, &new_log)] {
        assert!(
            l.contains("serving on inherited sockets"),
            "process {pid} did not serve on the inherited sockets:\n{l}"
        );
    }
    assert!(
        old_log.contains("stopped;"),
        "the first process did not drain:\n{old_log}"
    );
    let (by_old, by_new) = (served_in(&old_log), served_in(&new_log));
    let all: BTreeSet<u64> = outcomes.iter().map(|o| o.n).collect();
    assert!(by_old.is_disjoint(&by_new), "{by_old:?} {by_new:?}");
    let by_either: BTreeSet<u64> = by_old.union(&by_new).copied().collect();
    assert_eq!(by_either, all, "every request was served by one of the two");
    assert!(
        by_old.len() >= 20 && by_new.len() >= 20,
        "{by_old:?} {by_new:?}"
    );
    // Requests that connected while no process accepted (after the old one stopped, before
    // the new one started): the kernel's backlog kept them for the new process.
    let queued: Vec<_> = outcomes
        .iter()
        .filter(|o| o.started < restarted && by_new.contains(&o.n))
        .map(|o| (o.n, o.version, o.took))
        .collect();
    let longest = outcomes.iter().map(|o| o.took).max().unwrap();
    eprintln!(
        "{} requests ({} by pid {old}, {} by pid {new}); new process serving {:?} after \
         SIGTERM; served by the new process after waiting in the backlog: {queued:?}; longest \
         request {longest:?}",
        outcomes.len(),
        by_old.len(),
        by_new.len(),
        restarted - term,
    );
    assert!(
        !queued.is_empty(),
        "no request waited for the new process: the test did not test the backlog"
    );

    // HTTP/3 on the new process.
    let mut h3 = H3::connect_with(addr, quic.clone()).await.unwrap();
    let reply = h3.get("/whoami?n=0").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["protocol"], "HTTP/3");
    h3.close().await;
    assert!(
        served_in(&log(new)).contains(&0),
        "HTTP/3 served by another process"
    );

    // The QUIC connection held across the SIGTERM: the old process closed it as it drained
    // (or the new one resets it at the client's next request).
    let ended = ask_and_wait_for_the_end(&mut held).await;
    eprintln!("the QUIC connection held across the SIGTERM: {ended:?}");
    match ended {
        Some(Ended::BeforeTheRequest(quinn::ConnectionError::ApplicationClosed(_))) => {}
        Some(Ended::After(quinn::ConnectionError::Reset, after))
            if after < Duration::from_secs(1) => {}
        other => panic!("the QUIC connection held across the SIGTERM: {other:?}"),
    }

    // A crash: the connection held across it is reset by the next process (same server ID
    // and fleet key), at the latest within 1 s of the client's next request.
    let mut held = H3::connect_with(addr, quic.clone()).await.unwrap();
    assert_eq!(held.get("/whoami").await.status, 200);
    signal("-KILL", new).await;
    assert_eq!(launched.listening().await, addr);
    let ended = ask_and_wait_for_the_end(&mut held).await;
    eprintln!("the QUIC connection held across a crash: {ended:?}");
    match ended {
        Some(Ended::BeforeTheRequest(quinn::ConnectionError::Reset)) => {}
        Some(Ended::After(quinn::ConnectionError::Reset, after))
            if after < Duration::from_secs(1) => {}
        other => panic!("not a stateless reset within 1 s of the next request: {other:?}"),
    }
}

/// How a QUIC connection held across a restart ended.
#[derive(Debug)]
enum Ended {
    /// Before the client asked again (the old process closed it, or a packet of the client's
    /// own, an acknowledgement, drew the new process's reset).
    BeforeTheRequest(quinn::ConnectionError),
    /// This long after the client's next request.
    After(quinn::ConnectionError, Duration),
}

/// Sends a request on `h3` (if it is still open) and waits 1 s for the connection to end;
/// `None` if it did not.
async fn ask_and_wait_for_the_end(h3: &mut H3) -> Option<Ended> {
    if let Some(reason) = h3.conn.close_reason() {
        return Some(Ended::BeforeTheRequest(reason));
    }
    let asked = Instant::now();
    let mut send = h3.send.clone();
    let request = tokio::spawn(async move {
        let req = http::Request::get(twinport_testkit::clients::uri("/whoami"))
            .body(())
            .unwrap();
        let _ = send.send_request(req).await;
    });
    let closed = tokio::time::timeout(Duration::from_secs(1), h3.conn.closed()).await;
    request.abort();
    closed
        .ok()
        .map(|reason| Ended::After(reason, asked.elapsed()))
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

/// A new HTTP/3 connection to `addr` is served `/whoami` over HTTP/3.
async fn h3_served(addr: SocketAddr) {
    let mut h3 = bounded(
        20,
        "HTTP/3 handshake",
        H3::connect_with(addr, quic_client_trusting(&ca_pem())),
    )
    .await
    .unwrap();
    let reply = h3.get("/whoami").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["protocol"], "HTTP/3");
    h3.close().await;
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
