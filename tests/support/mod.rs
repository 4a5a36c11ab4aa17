//! Shared by the cross-crate end-to-end tests: certificates, the example's app on a full
//! `twinport::Server`, and finding and running the real peers.
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../examples/serve/app.rs"]
pub mod app;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::task::JoinHandle;
use twinport::dev_certs::DevCerts;
use twinport::{ClientAuth, DrainReport, Server, ServerError, ServerHandle, ServerTls};
use twinport_hyper::{Http, ProxyMode};
use twinport_quinn::Http3;

/// Every await in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(60);

pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut).await.expect("timed out")
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Development certificates in a directory of this test process.
pub fn certs() -> &'static DevCerts {
    static CERTS: OnceLock<DevCerts> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("twinport-e2e-certs-{}", std::process::id()));
        DevCerts::generate(dir).expect("generating certificates")
    })
}

/// Client authentication of a test server.
#[derive(Clone, Copy, Debug)]
pub enum Mtls {
    Off,
    Optional,
    Required,
}

pub fn tls(mtls: Mtls) -> ServerTls {
    let certs = certs();
    let tls = certs.server_tls().expect("server TLS");
    let roots = || certs.ca_roots().expect("CA roots");
    match mtls {
        Mtls::Off => tls,
        Mtls::Optional => tls.client_auth(ClientAuth::optional(roots())),
        Mtls::Required => tls.client_auth(ClientAuth::required(roots())),
    }
}

/// The example's app on HTTP/1.1 + HTTP/2 (TLS) and HTTP/3, on one port of 127.0.0.1.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub task: JoinHandle<Result<DrainReport, ServerError>>,
}

impl Running {
    pub async fn stop(self) -> DrainReport {
        self.handle.shutdown(Duration::from_secs(5));
        within(self.task)
            .await
            .expect("server task")
            .expect("server")
    }
}

pub fn app() -> axum::Router {
    app::router(&workspace().join("examples/app/dist"))
}

pub fn start(mtls: Mtls) -> Running {
    start_with(mtls, None)
}

/// Like [`start`], with the TCP side expecting a PROXY protocol header first when `proxy` is set.
pub fn start_with(mtls: Mtls, proxy: Option<ProxyMode>) -> Running {
    init_tracing();
    let tls = tls(mtls);
    let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).expect("bind");
    let addr = tcp.local_addr().unwrap();
    let http = Http::from_std(tcp).expect("tcp listener");
    let http3 = Http3::builder(&tls)
        .http3()
        .webtransport("/wt/echo", app::wt_echo_handler())
        .socket(udp)
        .expect("quic");
    let server = match proxy {
        Some(mode) => Server::new(app())
            .transport(http.proxy_protocol(mode).tls(&tls).expect("tls"))
            .transport(http3),
        None => Server::new(app())
            .transport(http.tls(&tls).expect("tls"))
            .transport(http3),
    };
    let handle = server.handle();
    let task = tokio::spawn(server.serve());
    Running { addr, handle, task }
}

/// Skips the calling test with a printed reason, or fails it under TWINPORT_REQUIRE_PEERS=1.
/// Returns `None` so callers can `let Some(x) = ... else { return }`.
pub fn missing<T>(reason: &str) -> Option<T> {
    if std::env::var("TWINPORT_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{reason} (required because TWINPORT_REQUIRE_PEERS=1)");
    }
    eprintln!("SKIPPED: {reason} (set TWINPORT_REQUIRE_PEERS=1 to make this a failure)");
    None
}

/// A peer program on PATH (or at one of `extra` paths).
pub fn program(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .chain(extra.iter().map(PathBuf::from))
        .find(|p| p.is_file())
        .or_else(|| missing(&format!("{name} is not installed")))
}

/// The Python with aioquic and niquests: TWINPORT_PYTHON, else the workspace's .venv.
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

/// Output of a finished peer process.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a peer to completion, killed if it outlives [`LIMIT`].
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

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("twinport-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
