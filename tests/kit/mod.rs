//! The hardening suite's kit: a PKI with the bad client certificates, an app that counts its
//! live handlers and body errors, a server with short test timeouts, well-behaved clients on
//! every protocol, raw HTTP/2 and HTTP/3 frame builders, a UDP relay that can "vanish", a
//! per-test log capture, and process RSS / CPU readings.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use bytes::{Buf, Bytes};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinHandle;
use twinport::{CaRoots, ClientAuth, DrainReport, Server, ServerError, ServerHandle, ServerTls};
use twinport_hyper::{Http, HttpConfig, TlsAcceptor};
use twinport_quinn::{h3, quinn, Http3, Http3Config, QuicConfig};

pub use crate::support::{within, LIMIT};

// ---------------------------------------------------------------------------------------------
// Certificates

/// A certificate chain and its key.
pub struct Id {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
    pub chain_pem: String,
    pub key_pem: String,
}

impl Id {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    fn leaf(&self, cn: &str, eku: Vec<ExtendedKeyUsagePurpose>, expired: bool) -> Id {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
        ];
        params.extended_key_usages = eku;
        if expired {
            params.not_before = date_time_ymd(2001, 1, 1);
            params.not_after = date_time_ymd(2002, 1, 1);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Id {
            chain: vec![cert.der().clone(), self.cert.der().clone()],
            key_der: key.serialize_der(),
            chain_pem: format!("{}{}", cert.pem(), self.cert.pem()),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The test CA, a server certificate, a good client certificate and the three bad ones.
pub struct Pki {
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    pub server: Id,
    pub client: Id,
    pub expired: Id,
    pub foreign: Id,
    pub no_client_eku: Id,
}

impl Pki {
    pub fn get() -> &'static Pki {
        static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
        PKI.get_or_init(|| {
            use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
            let ca = Ca::new("twinport hardening CA");
            let other = Ca::new("some other CA");
            Pki {
                ca_der: ca.cert.der().clone(),
                ca_pem: ca.cert.pem(),
                server: ca.leaf("localhost", vec![ServerAuth], false),
                client: ca.leaf("good-client", vec![ClientAuth], false),
                expired: ca.leaf("expired-client", vec![ClientAuth], true),
                foreign: other.leaf("foreign-client", vec![ClientAuth], false),
                no_client_eku: ca.leaf("server-only-client", vec![ServerAuth], false),
            }
        })
    }

    pub fn roots(&self) -> CaRoots {
        CaRoots::from_pem(self.ca_pem.as_bytes()).unwrap()
    }

    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem(
            self.server.chain_pem.as_bytes(),
            self.server.key_pem.as_bytes(),
        )
        .unwrap()
    }

    /// A rustls client configuration trusting the test CA.
    pub fn client_tls(&self, alpn: &[&[u8]], id: Option<&Id>) -> rustls::ClientConfig {
        let provider = twinport::default_crypto_provider().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut tls = match id {
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        tls
    }

    pub fn quic_client(&self, id: Option<&Id>) -> quinn::ClientConfig {
        let mut tls = self.client_tls(&[b"h3"], id);
        tls.alpn_protocols = vec![b"h3".to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_idle_timeout(Some(Duration::from_secs(20).try_into().unwrap()));
        config.transport_config(Arc::new(transport));
        config
    }
}

// ---------------------------------------------------------------------------------------------
// The application

/// What the handlers saw. `live` counts handler futures and response bodies still alive
/// (each holds a [`Live`] guard), so a leaked task shows up as `live > 0`.
#[derive(Debug, Default)]
pub struct Stats {
    pub live: AtomicUsize,
    pub max_live: AtomicUsize,
    pub body_errors: AtomicUsize,
    pub bodies_ok: AtomicUsize,
    pub download_started: AtomicUsize,
    pub upload_started: AtomicUsize,
}

impl Stats {
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    pub fn body_errors(&self) -> usize {
        self.body_errors.load(Ordering::SeqCst)
    }
}

/// Counted in [`Stats::live`] until dropped.
pub struct Live(Arc<Stats>);

impl Live {
    pub fn new(stats: &Arc<Stats>) -> Self {
        let now = stats.live.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_live.fetch_max(now, Ordering::SeqCst);
        Self(stats.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `/ok`, `/panic`, `/panic-body` (a body that panics after its first chunk), `/upload`
/// (reads the body to its end, counting errors), `/download` (an endless body), `/slow?ms=N`.
pub fn app(stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("the /panic handler panics on purpose");
                }
                "unreachable"
            }),
        )
        .route("/panic-body", get(panic_body))
        .route("/upload", post(upload))
        .route("/download", get(download))
        .route("/slow", get(slow))
        .with_state(stats)
}

async fn panic_body() -> Body {
    let chunks = futures_util::stream::unfold(0, |n| async move {
        if n == 1 {
            panic!("the /panic-body body panics on purpose");
        }
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from_static(b"partial")),
            n + 1,
        ))
    });
    Body::from_stream(chunks)
}

async fn upload(State(stats): State<Arc<Stats>>, body: Body) -> String {
    let _live = Live::new(&stats);
    stats.upload_started.fetch_add(1, Ordering::SeqCst);
    let mut stream = body.into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => total += c.len(),
            Err(_) => {
                stats.body_errors.fetch_add(1, Ordering::SeqCst);
                return "body error".into();
            }
        }
    }
    stats.bodies_ok.fetch_add(1, Ordering::SeqCst);
    total.to_string()
}

async fn download(State(stats): State<Arc<Stats>>) -> Body {
    stats.download_started.fetch_add(1, Ordering::SeqCst);
    let live = Live::new(&stats);
    let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
    let endless = futures_util::stream::unfold(live, move |live| {
        let chunk = chunk.clone();
        async move { Some((Ok::<_, std::convert::Infallible>(chunk), live)) }
    });
    Body::from_stream(endless)
}

async fn slow(State(stats): State<Arc<Stats>>, uri: http::Uri) -> &'static str {
    let _live = Live::new(&stats);
    let ms = uri
        .query()
        .and_then(|q| q.strip_prefix("ms="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "slow"
}

// ---------------------------------------------------------------------------------------------
// The server

/// Server settings for one test: short timeouts so that attacks end within seconds.
pub struct Opts {
    pub mtls: bool,
    pub http: HttpConfig,
    pub handshake_timeout: Duration,
    pub quic: QuicConfig,
    pub h3: Http3Config,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            mtls: false,
            http: HttpConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            quic: QuicConfig::default(),
            h3: Http3Config::default(),
        }
    }
}

pub struct Srv {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub task: JoinHandle<Result<DrainReport, ServerError>>,
    pub stats: Arc<Stats>,
}

pub fn start(opts: Opts) -> Srv {
    let pki = Pki::get();
    let mut tls = pki.server_tls();
    if opts.mtls {
        tls = tls.client_auth(ClientAuth::required(pki.roots()));
    }
    let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = tcp.local_addr().unwrap();
    let acceptor = TlsAcceptor::from_server_tls(&tls)
        .unwrap()
        .handshake_timeout(opts.handshake_timeout);
    let http = Http::from_std(tcp)
        .unwrap()
        .config(opts.http)
        .acceptor(acceptor);
    let h3 = Http3::builder(&tls)
        .http3()
        .quic_config(opts.quic)
        .http3_config(opts.h3)
        .socket(udp)
        .unwrap();
    let stats = Arc::new(Stats::default());
    let server = Server::new(app(stats.clone()))
        .transport(http)
        .transport(h3);
    let handle = server.handle();
    let task = tokio::spawn(server.serve());
    Srv {
        addr,
        handle,
        task,
        stats,
    }
}

impl Srv {
    pub fn tcp(&self) -> usize {
        self.count("tcp")
    }
    pub fn quic(&self) -> usize {
        self.count("quic")
    }
    fn count(&self, name: &str) -> usize {
        self.handle
            .connections()
            .into_iter()
            .find(|c| c.0 == name)
            .map_or(0, |c| c.1)
    }

    /// Waits (bounded) until no connection is live and no handler or body is alive.
    pub async fn settles(&self, what: &str) {
        let end = tokio::time::Instant::now() + LIMIT;
        while !(self.tcp() == 0 && self.quic() == 0 && self.stats.live() == 0) {
            if tokio::time::Instant::now() > end {
                panic!(
                    "never happened: {what} (tcp {}, quic {}, live handlers/bodies {})",
                    self.tcp(),
                    self.quic(),
                    self.stats.live()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) -> DrainReport {
        self.handle.shutdown(Duration::from_secs(5));
        within(self.task).await.unwrap().unwrap()
    }
}

/// Polls `cond` until it holds, failing after [`LIMIT`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + LIMIT;
    while !cond() {
        if tokio::time::Instant::now() > end {
            panic!("never happened: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Well-behaved clients

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
    H3,
}

pub const ALL: [Proto; 3] = [Proto::H1, Proto::H2, Proto::H3];

pub type ClientBody = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

pub fn empty() -> ClientBody {
    Empty::new().map_err(|e| match e {}).boxed()
}

pub fn full(b: impl Into<Bytes>) -> ClientBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

/// A TLS connection to the server as `localhost`.
pub async fn tls_connect(
    addr: SocketAddr,
    alpn: &[&[u8]],
    id: Option<&Id>,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(Pki::get().client_tls(alpn, id)));
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// Like [`tls_connect`], with a handle on the socket that makes the client vanish at once
/// (`shutdown(2)` both ways, whatever tasks still hold the stream).
pub async fn tls_connect_killable(
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> io::Result<(
    tokio_rustls::client::TlsStream<TcpStream>,
    std::net::TcpStream,
)> {
    let tcp = TcpStream::connect(addr).await?.into_std()?;
    let kill = tcp.try_clone()?;
    let tcp = TcpStream::from_std(tcp)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(Pki::get().client_tls(alpn, None)));
    let name = ServerName::try_from("localhost").unwrap();
    Ok((connector.connect(name, tcp).await?, kill))
}

/// One HTTP/1.1 or HTTP/2 connection.
pub enum Hyper {
    H1(hyper::client::conn::http1::SendRequest<ClientBody>),
    H2(hyper::client::conn::http2::SendRequest<ClientBody>),
}

impl Hyper {
    pub async fn connect(
        addr: SocketAddr,
        h2: bool,
        id: Option<&Id>,
    ) -> Result<(Self, JoinHandle<()>), String> {
        let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
        let tls = tls_connect(addr, alpn, id)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        Self::over(tls, h2).await
    }

    /// A connection whose socket the returned handle can kill.
    pub async fn connect_killable(
        addr: SocketAddr,
        h2: bool,
    ) -> (Self, JoinHandle<()>, std::net::TcpStream) {
        let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
        let (tls, kill) = tls_connect_killable(addr, alpn).await.unwrap();
        let (c, task) = Self::over(tls, h2).await.unwrap();
        (c, task, kill)
    }

    pub async fn over(
        tls: tokio_rustls::client::TlsStream<TcpStream>,
        h2: bool,
    ) -> Result<(Self, JoinHandle<()>), String> {
        let io = TokioIo::new(tls);
        if h2 {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let task = tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok((Self::H2(send), task))
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            let task = tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok((Self::H1(send), task))
        }
    }

    pub fn request(&self, method: &str, path: &str, body: ClientBody) -> http::Request<ClientBody> {
        let b = http::Request::builder().method(method);
        let b = match self {
            Self::H2(_) => b.uri(format!("https://localhost{path}")),
            Self::H1(_) => b.uri(path).header("host", "localhost"),
        };
        b.body(body).unwrap()
    }

    pub async fn ready(&mut self) -> hyper::Result<()> {
        match self {
            Self::H1(s) => s.ready().await,
            Self::H2(s) => s.ready().await,
        }
    }

    pub async fn send(
        &mut self,
        req: http::Request<ClientBody>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        self.ready().await?;
        match self {
            Self::H1(s) => s.send_request(req).await,
            Self::H2(s) => s.send_request(req).await,
        }
    }
}

/// An HTTP/3 connection.
pub struct H3 {
    pub endpoint: quinn::Endpoint,
    pub conn: quinn::Connection,
    pub send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    pub driver: JoinHandle<()>,
}

impl H3 {
    pub async fn connect(addr: SocketAddr, id: Option<&Id>) -> Result<Self, String> {
        let endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string())?;
        let conn = endpoint
            .connect_with(Pki::get().quic_client(id), addr, "localhost")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| format!("QUIC handshake: {e}"))?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn.clone()))
            .await
            .map_err(|e| format!("h3 setup: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok(Self {
            endpoint,
            conn,
            send,
            driver,
        })
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes), String> {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("https://localhost{path}"))
            .body(())
            .unwrap();
        let mut stream = self
            .send
            .send_request(req)
            .await
            .map_err(|e| format!("send_request: {e}"))?;
        if !body.is_empty() {
            stream
                .send_data(body)
                .await
                .map_err(|e| format!("send_data: {e}"))?;
        }
        stream.finish().await.map_err(|e| format!("finish: {e}"))?;
        let head = stream
            .recv_response()
            .await
            .map_err(|e| format!("recv_response: {e}"))?;
        let mut out = Vec::new();
        while let Some(mut chunk) = stream
            .recv_data()
            .await
            .map_err(|e| format!("recv_data: {e}"))?
        {
            while chunk.has_remaining() {
                let c = chunk.chunk();
                out.extend_from_slice(c);
                let n = c.len();
                chunk.advance(n);
            }
        }
        Ok((head.status().as_u16(), Bytes::from(out)))
    }

    pub async fn close(self) {
        self.conn.close(0u32.into(), b"done");
        self.driver.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// One request on a fresh connection of `proto`: the status and body, or what went wrong.
pub async fn fetch(
    addr: SocketAddr,
    proto: Proto,
    method: &str,
    path: &str,
    id: Option<&Id>,
) -> Result<(u16, Bytes), String> {
    let work = async {
        match proto {
            Proto::H3 => {
                let mut c = H3::connect(addr, id).await?;
                let r = c.request(method, path, Bytes::new()).await;
                c.close().await;
                r
            }
            Proto::H1 | Proto::H2 => {
                let (mut c, task) = Hyper::connect(addr, proto == Proto::H2, id).await?;
                let req = c.request(method, path, empty());
                let res = c.send(req).await.map_err(|e| format!("request: {e}"))?;
                let status = res.status().as_u16();
                let body = res
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body: {e}"))?
                    .to_bytes();
                task.abort();
                Ok((status, body))
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .unwrap_or_else(|_| Err(format!("{proto:?} {method} {path}: no answer in 30 s")))
}

/// The well-behaved client: `GET /ok` on HTTP/1.1, HTTP/2 and HTTP/3 must answer `200 ok`.
pub async fn served(addr: SocketAddr, when: &str) {
    for proto in ALL {
        let got = fetch(addr, proto, "GET", "/ok", None).await;
        match got {
            Ok((200, body)) if body == "ok" => {}
            other => panic!("{when}: a well-behaved {proto:?} client was not served: {other:?}"),
        }
    }
}

/// Runs the well-behaved client in a loop until `stop` is set; returns how many rounds
/// succeeded, panicking on the first failure.
pub fn served_meanwhile(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
    tokio::spawn(async move {
        let mut rounds = 0;
        while !stop.load(Ordering::SeqCst) {
            served(addr, "during the attack").await;
            rounds += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rounds
    })
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/2

pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const H2_HEADERS: u8 = 0x1;
pub const H2_RST_STREAM: u8 = 0x3;
pub const H2_SETTINGS: u8 = 0x4;
pub const H2_GOAWAY: u8 = 0x7;
pub const H2_CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub fn h2_frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(ty);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK / QPACK prefixed integer: `value` with an `n`-bit prefix, `flags` in the high bits.
pub fn prefix_int(flags: u8, n: u32, value: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// An HPACK literal header field without indexing, new name, no Huffman.
pub fn hpack_literal(name: &str, value: &[u8], out: &mut Vec<u8>) {
    out.push(0x00);
    prefix_int(0, 7, name.len(), out);
    out.extend_from_slice(name.as_bytes());
    prefix_int(0, 7, value.len(), out);
    out.extend_from_slice(value);
}

/// `GET https://localhost/ok` as an HPACK header block (static-table indexes).
pub fn hpack_get_ok() -> Vec<u8> {
    // :method GET (2), :scheme https (7), :path from index 4 with the value "/ok".
    let mut b = vec![0x82, 0x87, 0x04, 3];
    b.extend_from_slice(b"/ok");
    // :authority (1) "localhost", literal without indexing.
    b.push(0x01);
    b.push(9);
    b.extend_from_slice(b"localhost");
    b
}

/// Reads one HTTP/2 frame: (type, flags, stream, payload); `None` at EOF or an error.
pub async fn h2_read<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> Option<(u8, u8, u32, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await.ok()?;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    Some((head[3], head[4], stream, payload))
}

/// Whether a header block (HPACK or QPACK, as our peers encode it) carries status 431:
/// either literally or as the Huffman code of "431" (0x69 0x90 0xff).
pub fn says_431(block: &[u8]) -> bool {
    block
        .windows(3)
        .any(|w| w == b"431" || w == [0x69, 0x90, 0xff])
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/3

pub fn quic_varint(v: u64, out: &mut Vec<u8>) {
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

/// An HTTP/3 HEADERS frame for `GET https://localhost/ok` plus `extra` fields (QPACK, static
/// table only, no Huffman).
pub fn h3_headers_frame(extra: &[(&str, &[u8])]) -> Vec<u8> {
    // Required insert count 0, base 0.
    let mut block = vec![0x00, 0x00];
    // Indexed static: :method GET (17), :scheme https (23).
    block.extend_from_slice(&[0xc0 | 17, 0xc0 | 23]);
    // Literal with static name reference :path (1) = "/ok".
    prefix_int(0x50, 4, 1, &mut block);
    prefix_int(0, 7, 3, &mut block);
    block.extend_from_slice(b"/ok");
    // :authority (0) = "localhost".
    prefix_int(0x50, 4, 0, &mut block);
    prefix_int(0, 7, 9, &mut block);
    block.extend_from_slice(b"localhost");
    for (name, value) in extra {
        // Literal with literal name: 001N H xxx.
        prefix_int(0x20, 3, name.len(), &mut block);
        block.extend_from_slice(name.as_bytes());
        prefix_int(0, 7, value.len(), &mut block);
        block.extend_from_slice(value);
    }
    let mut frame = Vec::new();
    quic_varint(0x01, &mut frame);
    quic_varint(block.len() as u64, &mut frame);
    frame.extend_from_slice(&block);
    frame
}

/// A raw QUIC connection with ALPN h3 (no HTTP/3 client on top).
pub async fn quic_raw(addr: SocketAddr) -> (quinn::Endpoint, quinn::Connection) {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = within(
        endpoint
            .connect_with(Pki::get().quic_client(None), addr, "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    (endpoint, conn)
}

/// The first flight of a real QUIC client (its Initial datagrams), captured without ever
/// reaching the server: replaying it from a socket that never answers is a handshake that
/// never finishes.
pub async fn quic_first_flight() -> Vec<Vec<u8>> {
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let _connecting = endpoint
        .connect_with(
            Pki::get().quic_client(None),
            sink.local_addr().unwrap(),
            "localhost",
        )
        .unwrap();
    let mut flight = Vec::new();
    let mut buf = vec![0u8; 65536];
    let (n, _) = within(sink.recv_from(&mut buf)).await.unwrap();
    flight.push(buf[..n].to_vec());
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(100), sink.recv_from(&mut buf)).await
    {
        flight.push(buf[..n].to_vec());
    }
    endpoint.close(0u32.into(), b"");
    flight
}

// ---------------------------------------------------------------------------------------------
// A UDP relay whose client can vanish

/// Forwards datagrams between one client and the server until [`cut`](Self::cut), after
/// which it silently drops everything in both directions: the client vanished.
pub struct Relay {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Relay {
    pub async fn new(server: SocketAddr) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        back.connect(server).await.unwrap();
        let addr = front.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let task = tokio::spawn(async move {
            let mut client = None;
            let mut a = vec![0u8; 65536];
            let mut b = vec![0u8; 65536];
            loop {
                tokio::select! {
                    Ok((n, from)) = front.recv_from(&mut a) => {
                        client = Some(from);
                        if !flag.load(Ordering::SeqCst) {
                            let _ = back.send(&a[..n]).await;
                        }
                    }
                    Ok(n) = back.recv(&mut b) => {
                        if let (Some(to), false) = (client, flag.load(Ordering::SeqCst)) {
                            let _ = front.send_to(&b[..n], to).await;
                        }
                    }
                }
            }
        });
        Self { addr, cut, task }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Logs, memory, CPU

#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The twinport crates' log lines (debug and up) of this test's thread: with the
/// current-thread runtime `#[tokio::test]` uses, that is this test's server and clients.
pub struct Logs {
    buf: LogBuf,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Logs {
    pub fn capture() -> Self {
        let buf = LogBuf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "twinport=debug,twinport_hyper=debug,twinport_quinn=debug",
            ))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        Self { buf, _guard: guard }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.0.lock().unwrap()).into_owned()
    }

    /// Lines at `level` ("WARN", "ERROR", ...).
    pub fn lines_at(&self, level: &str) -> Vec<String> {
        let tag = format!(" {level} ");
        self.text()
            .lines()
            .filter(|l| l.contains(&tag))
            .map(str::to_owned)
            .collect()
    }

    pub fn clear(&self) {
        self.buf.0.lock().unwrap().clear();
    }
}

/// This process's resident set size in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// A small deterministic generator (xorshift), so garbage is reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Between 1 and `max` random bytes.
    pub fn junk(&mut self, max: u64) -> Vec<u8> {
        let n = 1 + self.below(max) as usize;
        self.bytes(n)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Awaits `fut` for at most `secs`.
pub async fn bounded<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s: {what}"))
}
