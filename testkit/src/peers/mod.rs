//! The real peers: finding them, skipping without them, running them.
//!
//! The policy is one: a missing peer skips the test with a printed reason, unless
//! `TWINPORT_REQUIRE_PEERS=1` (as `.ci/run` sets), when it fails it. Programs are found on
//! `PATH`; Python modules in the Python of `TWINPORT_PYTHON`, else the workspace's `.venv`.
//!
//! [`seen`]: which certificate the peers (curl, aioquic, the kit's h3 client) are served.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::fs::workspace;
use crate::time::within;

pub mod seen;

pub use seen::{aioquic_seen, curl_seen, h3_seen, h3_seen_with, real_peers_see_at, CurlAsk, Seen};

/// Skips the calling test with a printed reason, or fails it under TWINPORT_REQUIRE_PEERS=1.
/// Returns `None` so that callers can `let Some(x) = ... else { return };`.
pub fn missing<T>(reason: &str) -> Option<T> {
    if std::env::var("TWINPORT_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{reason} (required because TWINPORT_REQUIRE_PEERS=1)");
    }
    eprintln!("SKIPPED: {reason} (set TWINPORT_REQUIRE_PEERS=1 to make this a failure)");
    None
}

/// The program `name` on `PATH`, if there is one (no skip: for optional extra checks).
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The peer program `name` on `PATH`, or a skip (see the [module docs](self)).
pub fn require(name: &str) -> Option<PathBuf> {
    require_any(&[name])
}

/// The first of `names` on `PATH` (for a program packaged under several names), or a skip.
pub fn require_any(names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .find_map(|n| find(n))
        .or_else(|| missing(&format!("{} is not installed", names.join(" or "))))
}

/// The Python that can import `module` (aioquic, niquests), or a skip.
pub fn python(module: &str) -> Option<PathBuf> {
    let python = std::env::var_os("TWINPORT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/bin/python"));
    if !python.is_file() {
        return missing(&format!(
            "no Python at {} (python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements.txt)",
            python.display()
        ));
    }
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return missing(&format!("{} cannot import {module}", python.display()));
    }
    Some(python)
}

/// A script of `tests/peers/`.
pub fn peer_script(name: &str) -> PathBuf {
    workspace().join("tests/peers").join(name)
}

/// Output of a finished peer process.
#[derive(Debug)]
pub struct Output {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs a peer to completion, killed if it outlives the test [`LIMIT`](crate::time::LIMIT).
pub async fn run(program: &Path, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = within(cmd.output()).await.expect("starting the peer");
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the Python peer `script` of `tests/peers/` with `--port port --ca CA` (the kit's CA
/// file) and `extra`; the one JSON object it printed (the test fails with its output if it
/// printed none).
pub async fn peer_json(
    python: &Path,
    script: &str,
    port: u16,
    extra: &[&str],
) -> serde_json::Value {
    let script_path = peer_script(script);
    let files = crate::pki::Pki::get().write_files();
    let port = port.to_string();
    let ca = files.ca();
    let mut args = vec![
        crate::fs::path_arg(&script_path),
        "--port",
        &port,
        "--ca",
        crate::fs::path_arg(&ca),
    ];
    args.extend_from_slice(extra);
    let out = run(python, &args).await;
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}{}",
            out.stdout, out.stderr
        )
    })
}
