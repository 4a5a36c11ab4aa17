//! What the tests of inherited sockets share (`tests/inherited_sockets.rs`,
//! `tests/restart_inherited.rs`): the example's CA, a free port, a launcher and everything it
//! starts in a process group of their own, curl, signals.

// Each test binary uses its own share of these.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use twinport_testkit::bounded;
use twinport_testkit::clients::{quic_client_trusting, H3};
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{require, run};

/// The CA of the example's development certificates (certs/, which it uses).
pub fn ca_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/ca.pem")
}

pub fn ca_pem() -> Vec<u8> {
    std::fs::read(ca_path()).unwrap()
}

/// A port free on 127.0.0.1 for TCP and UDP (bound and released).
pub fn free_port() -> u16 {
    let (tcp, _udp) = twinport::bind_same_port(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    tcp.local_addr().unwrap().port()
}

/// A launcher and everything it starts, in a process group of their own, killed together
/// when dropped (the shell loop would otherwise start the example again).
pub struct Launched {
    child: Child,
    group: Option<u32>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: PathBuf,
}

impl Launched {
    /// `program args`, stdout read line by line, stderr to the file `stderr`; the example's
    /// request logs (tower-http's, at debug) on.
    pub fn start(program: &Path, args: &[&str], stderr: PathBuf) -> Self {
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
    pub fn systemfd(systemfd: &Path, port: u16, command: &[&str], stderr: PathBuf) -> Self {
        let (tcp, udp) = (
            format!("tcp::127.0.0.1:{port}"),
            format!("udp::127.0.0.1:{port}"),
        );
        let mut args = vec!["--no-pid", "-s", &tcp, "-s", &udp, "--"];
        args.extend_from_slice(command);
        Self::start(systemfd, &args, stderr)
    }

    /// The address of the example's next `listening on https://...` line.
    pub async fn listening(&mut self) -> SocketAddr {
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

    pub fn stderr_text(&self) -> String {
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
pub async fn curl_get(
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
pub async fn signal(sig: &str, pid: u32) {
    let Some(kill) = require("kill") else {
        panic!("no kill")
    };
    let out = run(&kill, &[sig, &pid.to_string()]).await;
    assert!(out.success, "kill {sig} {pid}: {out:?}");
}

/// Whether process `pid` still exists.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A new HTTP/3 connection to `addr` is served `/whoami` over HTTP/3.
pub async fn h3_served(addr: SocketAddr) {
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
