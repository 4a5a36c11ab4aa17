//! Shared by the end-to-end tests: certificates made on the fly, the test app, clients.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Request};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use twinport::server::DrainReport;
use twinport::{ConnectionInfo, ServerTls};
use twinport_hyper::{Acceptor, Http, Listener};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ClientBody = BoxBody<Bytes, BoxError>;

/// Every await in the tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(30);

pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut).await.expect("timed out")
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

// ---------------------------------------------------------------------------------------------
// Certificates

pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

impl Identity {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

pub struct Pki {
    pub ca: Identity,
    pub server: Identity,
    pub alice: Identity,
    /// A client certificate from a CA the server does not trust.
    pub mallory: Identity,
    pub dir: PathBuf,
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn make_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn identity(cert: &rcgen::Certificate, key: &KeyPair) -> Identity {
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

fn leaf(ca: &Ca, cn: &str, sans: Vec<SanType>, eku: ExtendedKeyUsagePurpose) -> Identity {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![eku];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    identity(&cert, &key)
}

impl Pki {
    pub fn new() -> Self {
        let ca = make_ca("twinport test CA");
        let other = make_ca("some other CA");
        let server = leaf(
            &ca,
            "localhost",
            vec![
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress("127.0.0.1".parse().unwrap()),
            ],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let alice = leaf(
            &ca,
            "alice",
            vec![
                SanType::DnsName("alice.example".try_into().unwrap()),
                SanType::URI("spiffe://example.org/alice".try_into().unwrap()),
            ],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let mallory = leaf(
            &other,
            "mallory",
            vec![SanType::DnsName("mallory.example".try_into().unwrap())],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let dir = std::env::temp_dir().join(format!(
            "twinport-hyper-{}-{:x}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Self {
            ca: identity(&ca.cert, &ca.key),
            server,
            alice,
            mallory,
            dir,
        };
        for (name, id) in [
            ("ca", &pki.ca),
            ("server", &pki.server),
            ("alice", &pki.alice),
            ("mallory", &pki.mallory),
        ] {
            std::fs::write(pki.dir.join(format!("{name}.pem")), &id.cert_pem).unwrap();
            std::fs::write(pki.dir.join(format!("{name}.key")), &id.key_pem).unwrap();
        }
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem(
            self.server.cert_pem.as_bytes(),
            self.server.key_pem.as_bytes(),
        )
        .unwrap()
    }

    pub fn roots(&self) -> twinport::CaRoots {
        twinport::CaRoots::from_pem(self.ca.cert_pem.as_bytes()).unwrap()
    }

    pub fn client_config(&self, cert: Option<&Identity>, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert_der.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let mut config = match cert {
            Some(id) => builder
                .with_client_auth_cert(vec![id.cert_der.clone()], id.key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        config
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

// ---------------------------------------------------------------------------------------------
// The app

/// Everything the handler saw of its request's connection, as JSON.
async fn info(req: Request) -> Json<Value> {
    let version = format!("{:?}", req.version());
    let Some(info) = req.extensions().get::<ConnectionInfo>().cloned() else {
        return Json(json!({ "version": version, "info": null }));
    };
    let tls = info.tls();
    let cert = info.client_certificate();
    Json(json!({
        "version": version,
        "id": info.id().get(),
        "transport": info.transport().as_str(),
        "remote": info.remote_addr().map(|a| a.to_string()),
        "local": info.local_addr().map(|a| a.to_string()),
        "alpn": info.alpn_str(),
        "sni": tls.and_then(|t| t.server_name()),
        "tls_version": tls.and_then(|t| t.version_str()),
        "cipher": tls.and_then(|t| t.cipher_suite_str()),
        "client_cn": cert.and_then(|c| c.common_name()),
        "client_dns": cert.map(|c| c.dns_names().collect::<Vec<_>>()),
        "client_uris": cert.map(|c| c.uris().collect::<Vec<_>>()),
        "proxy_peer": info.proxy().and_then(|p| p.peer_addr).map(|a| a.to_string()),
        "proxy_destination": info.proxy().and_then(|p| p.destination).map(|a| a.to_string()),
    }))
}

/// Deterministic bytes for chunk `k` of a transfer.
pub fn chunk(k: usize, len: usize) -> Bytes {
    let seed = (k as u8).wrapping_mul(31);
    Bytes::from(
        (0..len)
            .map(|j| seed.wrapping_add(j as u8))
            .collect::<Vec<u8>>(),
    )
}

pub const CHUNK: usize = 64 * 1024;

/// The SHA-256 of `total` bytes made of `chunk`s.
pub fn expected_sha(total: usize) -> String {
    let mut h = Sha256::new();
    for k in 0..total.div_ceil(CHUNK) {
        h.update(chunk(k, CHUNK.min(total - k * CHUNK)));
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn stream_of(total: usize) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::iter(0..total.div_ceil(CHUNK))
        .map(move |k| Ok(chunk(k, CHUNK.min(total - k * CHUNK))))
}

async fn upload(body: Body) -> Result<Json<Value>, String> {
    let mut stream = body.into_data_stream();
    let mut h = Sha256::new();
    let mut len = 0usize;
    while let Some(data) = stream.next().await {
        let data = data.map_err(|e| e.to_string())?;
        len += data.len();
        h.update(&data);
    }
    Ok(Json(json!({ "len": len, "sha256": hex(&h.finalize()) })))
}

async fn download(Path(total): Path<usize>) -> Body {
    Body::from_stream(stream_of(total))
}

/// Echoes the body, and answers with trailers: the request's `x-checksum` trailer, and the
/// SHA-256 of the body it received.
async fn trailers(req: Request) -> Result<axum::response::Response, String> {
    let collected = req.into_body().collect().await.map_err(|e| e.to_string())?;
    let request_trailer = collected
        .trailers()
        .and_then(|t| t.get("x-checksum"))
        .cloned();
    let body = collected.to_bytes();
    let mut trailers = http::HeaderMap::new();
    trailers.insert(
        "x-sha256",
        hex(&Sha256::digest(&body)).parse().map_err(|_| "header")?,
    );
    if let Some(v) = request_trailer {
        trailers.insert("x-echo-checksum", v);
    }
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(body)),
        Ok(Frame::trailers(trailers)),
    ];
    Ok(axum::response::Response::new(Body::new(StreamBody::new(
        futures_util::stream::iter(frames),
    ))))
}

async fn ws(upgrade: WebSocketUpgrade) -> axum::response::Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            let reply = match msg {
                Message::Text(t) => Message::Text(format!("echo: {}", t.as_str()).into()),
                Message::Binary(b) => Message::Binary(b),
                Message::Close(_) => break,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    })
}

pub fn app() -> Router {
    Router::new()
        .route("/info", any(info))
        .route("/upload", post(upload))
        .route("/download/{n}", get(download))
        .route("/trailers", post(trailers))
        .route("/ws", get(ws))
        .route(
            "/panic",
            get(|| async {
                panic!("boom (an expected test panic)");
                #[allow(unreachable_code)]
                ""
            }),
        )
        .route(
            "/slow/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "done"
            }),
        )
}

// ---------------------------------------------------------------------------------------------
// Running a server

pub struct Running {
    pub addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<DrainReport>>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP server")
    }

    /// Starts a graceful shutdown with this grace period.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    pub async fn stop(mut self) -> DrainReport {
        self.begin_shutdown();
        within(self.task).await.unwrap().unwrap()
    }

    pub async fn join(self) -> DrainReport {
        within(self.task).await.unwrap().unwrap()
    }
}

pub fn start<A, L>(http: Http<A, L>, grace: Duration) -> Running
where
    L: Listener,
    A: Acceptor<L::Io>,
{
    let addr = http.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(http.serve_with_shutdown(
        app(),
        async move {
            let _ = rx.await;
        },
        grace,
    ));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

pub async fn plain_server() -> Running {
    start(
        Http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap(),
        Duration::from_secs(5),
    )
}

// ---------------------------------------------------------------------------------------------
// Clients

pub fn empty() -> ClientBody {
    Empty::new().map_err(|e: Infallible| match e {}).boxed()
}

pub fn full(data: impl Into<Bytes>) -> ClientBody {
    Full::new(data.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

pub fn streaming(total: usize) -> ClientBody {
    StreamBody::new(stream_of(total).map(|r| r.map(Frame::data)))
        .map_err(|e: Infallible| match e {})
        .boxed()
}

pub enum Sender {
    H1(hyper::client::conn::http1::SendRequest<ClientBody>),
    H2(hyper::client::conn::http2::SendRequest<ClientBody>),
}

impl Sender {
    pub async fn send(
        &mut self,
        req: http::Request<ClientBody>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        match self {
            Self::H1(s) => {
                within(s.ready()).await?;
                within(s.send_request(req)).await
            }
            Self::H2(s) => {
                within(s.ready()).await?;
                within(s.send_request(req)).await
            }
        }
    }

    pub fn is_h2(&self) -> bool {
        matches!(self, Self::H2(_))
    }

    /// A request for `path` in the form the protocol wants.
    pub fn request(&self, method: &str, path: &str, body: ClientBody) -> http::Request<ClientBody> {
        let builder = http::Request::builder().method(method);
        let builder = if self.is_h2() {
            builder.uri(format!("https://localhost{path}"))
        } else {
            builder.uri(path).header("host", "localhost")
        };
        builder.body(body).unwrap()
    }

    pub async fn get_json(&mut self, path: &str) -> Value {
        let req = self.request("GET", path, empty());
        let res = self.send(req).await.unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        let body = within(res.into_body().collect()).await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    }
}

pub async fn handshake<IO>(io: IO, h2: bool) -> hyper::Result<Sender>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if h2 {
        let (send, conn) = within(hyper::client::conn::http2::handshake(
            TokioExecutor::new(),
            io,
        ))
        .await?;
        tokio::spawn(conn);
        Ok(Sender::H2(send))
    } else {
        let (send, conn) = within(hyper::client::conn::http1::handshake(io)).await?;
        tokio::spawn(conn.with_upgrades());
        Ok(Sender::H1(send))
    }
}

/// A TLS connection to `addr` as `localhost`, and the client's own TCP port.
pub async fn tls_connect(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<(tokio_rustls::client::TlsStream<TcpStream>, u16)> {
    let tcp = within(TcpStream::connect(addr)).await?;
    let port = tcp.local_addr()?.port();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("localhost").unwrap();
    let tls = within(connector.connect(name, tcp)).await?;
    Ok((tls, port))
}

/// Whether curl can be used; when it cannot and `TWINPORT_REQUIRE_PEERS=1`, fails instead.
pub fn have_curl() -> bool {
    let ok = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("TWINPORT_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("curl is not installed and TWINPORT_REQUIRE_PEERS=1");
        }
        eprintln!("SKIPPED: curl is not installed (set TWINPORT_REQUIRE_PEERS=1 to fail instead)");
    }
    ok
}
