//! Shared test kit: a PKI made with rcgen, a test application, an HTTP/3 client on h3 +
//! h3-quinn, and a server runner. Every await in here has a timeout.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use rcgen::{CertificateParams, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use twinport::{BoxError, ConnectionInfoExt, ServerTls};
use twinport_quinn::RecvBody;

/// Awaits `fut` for at most `secs` seconds, failing the test with `what` otherwise.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs}s: {what}"),
    }
}

pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf signed by this CA: (chain DER, key DER, chain PEM, key PEM).
    pub fn leaf(&self, cn: &str, sans: &[SanType]) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans.to_vec();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            chain: vec![cert.der().clone(), self.cert.der().clone()],
            key_der: key.serialize_der(),
            chain_pem: format!("{}{}", cert.pem(), self.cert.pem()),
            key_pem: key.serialize_pem(),
        }
    }
}

pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
    pub chain_pem: String,
    pub key_pem: String,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A CA, a server certificate for localhost / 127.0.0.1, and client certificates from the
/// CA and from another CA.
pub struct Pki {
    pub ca: Ca,
    pub other_ca: Ca,
    pub server: Leaf,
    pub alice: Leaf,
    pub mallory: Leaf,
}

impl Pki {
    pub fn new() -> Self {
        let ca = Ca::new("twinport test CA");
        let other_ca = Ca::new("some other CA");
        let server = ca.leaf(
            "localhost",
            &[
                SanType::DnsName("localhost".try_into().unwrap()),
                SanType::IpAddress("127.0.0.1".parse().unwrap()),
            ],
        );
        let alice = ca.leaf(
            "alice",
            &[
                SanType::DnsName("alice.example".try_into().unwrap()),
                SanType::URI("spiffe://example.org/alice".try_into().unwrap()),
            ],
        );
        let mallory = other_ca.leaf(
            "mallory",
            &[SanType::DnsName("mallory.example".try_into().unwrap())],
        );
        Self {
            ca,
            other_ca,
            server,
            alice,
            mallory,
        }
    }

    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem(
            self.server.chain_pem.as_bytes(),
            self.server.key_pem.as_bytes(),
        )
        .unwrap()
    }

    pub fn roots(&self) -> twinport::CaRoots {
        twinport::CaRoots::from_pem(self.ca.pem().as_bytes()).unwrap()
    }

    /// A quinn client configuration trusting the test CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]], cert: Option<&Leaf>) -> quinn::ClientConfig {
        let provider = twinport::default_crypto_provider().unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots);
        let mut tls = match cert {
            Some(leaf) => builder
                .with_client_auth_cert(leaf.chain.clone(), leaf.key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_idle_timeout(Some(Duration::from_secs(20).try_into().unwrap()));
        config.transport_config(Arc::new(transport));
        config
    }
}

pub type TestBody = UnsyncBoxBody<Bytes, BoxError>;

fn full(data: impl Into<Bytes>) -> TestBody {
    Full::new(data.into())
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

fn query_u64(req: &Request<RecvBody>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

/// The byte at `i` of a download: a pattern that catches reordering and loss.
pub fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the test application answers:
/// - `/info`: JSON with the request's ConnectionInfo and version, echoes `x-test`
/// - `/echo`: the request body streamed back, frame by frame, trailers included
/// - `/sha256`: reads the body, answers `<count> <sha256>`, and echoes request trailers
///   as response trailers
/// - `/download?n=N`: N bytes of [`pattern`], in 64 KiB frames
/// - `/trailers`: a body with trailers
/// - `/sleep?ms=N`: waits, then answers `slept`
/// - `/panic`, `/panic-body`: panics before / after the response head
pub async fn app(req: Request<RecvBody>) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let resp = match path.as_str() {
        "/info" => {
            let info = req
                .connection_info()
                .expect("every request carries ConnectionInfo");
            let tls = info.tls();
            let cert = info.client_certificate();
            let body = serde_json::json!({
                "transport": info.transport().as_str(),
                "alpn": info.alpn_str(),
                "remote": info.remote_addr().map(|a| a.to_string()),
                "local": info.local_addr().map(|a| a.to_string()),
                "sni": tls.and_then(|t| t.server_name()),
                "tls_version": tls.and_then(|t| t.version_str()),
                "early_data": info.is_early_data(),
                "version": format!("{:?}", req.version()),
                "client_cn": cert.and_then(|c| c.common_name()),
                "client_dns": cert.map(|c| c.dns_names().map(str::to_owned).collect::<Vec<_>>()),
                "client_spiffe": cert.and_then(|c| c.spiffe_id()),
                "client_issuer": cert.map(|c| c.issuer().to_owned()),
                "connection_id": info.id().get(),
            });
            let mut resp = Response::new(full(body.to_string()));
            if let Some(v) = req.headers().get("x-test") {
                resp.headers_mut().insert("x-test-echo", v.clone());
            }
            resp.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            resp
        }
        "/echo" => Response::new(req.into_body().map_err(BoxError::from).boxed_unsync()),
        "/sha256" => {
            let mut body = req.into_body();
            let mut hasher = Sha256::new();
            let mut count = 0u64;
            let mut trailers = None;
            while let Some(frame) = body.frame().await {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        let mut r = Response::new(full(format!("body error: {e}")));
                        *r.status_mut() = StatusCode::BAD_REQUEST;
                        return Ok(r);
                    }
                };
                match frame.into_data() {
                    Ok(data) => {
                        count += data.len() as u64;
                        hasher.update(&data);
                    }
                    Err(frame) => trailers = frame.into_trailers().ok(),
                }
            }
            let text = format!("{count} {}", hex(&hasher.finalize()));
            let mut frames = vec![Ok::<_, BoxError>(http_body::Frame::data(Bytes::from(text)))];
            if let Some(t) = trailers {
                frames.push(Ok(http_body::Frame::trailers(t)));
            }
            Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync())
        }
        "/download" => {
            let n = query_u64(&req, "n").unwrap_or(0);
            const CHUNK: u64 = 64 * 1024;
            let stream = futures_util::stream::unfold(0u64, move |off| async move {
                if off >= n {
                    return None;
                }
                let len = CHUNK.min(n - off);
                let data: Vec<u8> = (off..off + len).map(pattern).collect();
                Some((
                    Ok::<_, BoxError>(http_body::Frame::data(Bytes::from(data))),
                    off + len,
                ))
            });
            Response::new(StreamBody::new(stream).boxed_unsync())
        }
        "/trailers" => {
            let mut trailers = HeaderMap::new();
            trailers.insert("x-checksum", "abc123".parse().unwrap());
            let frames = vec![
                Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(b"with trailers"))),
                Ok(http_body::Frame::trailers(trailers)),
            ];
            Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync())
        }
        "/sleep" => {
            let ms = query_u64(&req, "ms").unwrap_or(100);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Response::new(full("slept"))
        }
        "/panic" => panic!("the handler panicked on purpose"),
        "/panic-body" => {
            let stream = futures_util::stream::unfold(0u8, |state| async move {
                match state {
                    0 => Some((
                        Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(b"partial"))),
                        1,
                    )),
                    _ => panic!("the body panicked on purpose"),
                }
            });
            Response::new(StreamBody::new(stream).boxed_unsync())
        }
        _ => {
            let mut r = Response::new(full("not found"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    let mut resp = resp;
    resp.headers_mut()
        .insert("x-served-by", "twinport-quinn".parse().unwrap());
    Ok(resp)
}

pub fn app_service() -> impl tower_service::Service<
    Request<RecvBody>,
    Response = Response<TestBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<TestBody>, Infallible>> + Send,
> + Clone
       + Send
       + 'static {
    tower::service_fn(app)
}

/// A running server: its address, a trigger to shut it down, and its task.
pub struct Running {
    pub addr: SocketAddr,
    pub trigger: twinport::ShutdownTrigger,
    pub task: JoinHandle<Result<twinport::DrainReport, twinport_quinn::Error>>,
    pub gauge: twinport::ConnectionGauge,
}

impl Running {
    pub async fn stop(self, grace: Duration) -> twinport::DrainReport {
        self.trigger.shutdown(grace);
        within(grace.as_secs() + 10, "server shutdown", self.task)
            .await
            .expect("server task")
            .expect("server result")
    }
}

/// Serves the test application on `endpoint` in a task.
pub fn spawn(endpoint: twinport_quinn::Http3) -> Running {
    use twinport::Transport;
    let addr = endpoint.local_addr();
    let (trigger, shutdown) = twinport::Shutdown::pair();
    let ctx = twinport::ServeContext::new(shutdown);
    let gauge = ctx.connections.clone();
    let task = tokio::spawn(async move {
        Transport::serve(endpoint, app_service(), ctx)
            .await
            .map_err(|e| twinport_quinn::Error::Config {
                name: "serve",
                reason: e.to_string(),
            })
    });
    Running {
        addr,
        trigger,
        task,
        gauge,
    }
}

/// A QUIC connection from a fresh client endpoint.
pub async fn connect(
    addr: SocketAddr,
    config: quinn::ClientConfig,
) -> Result<(quinn::Endpoint, quinn::Connection), quinn::ConnectionError> {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connecting = endpoint.connect_with(config, addr, "localhost").unwrap();
    let conn = within(10, "QUIC handshake", connecting).await?;
    Ok((endpoint, conn))
}

pub type SendRequest = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// An HTTP/3 client on one connection.
pub struct Client {
    pub endpoint: quinn::Endpoint,
    pub conn: quinn::Connection,
    pub send: SendRequest,
    pub driver: JoinHandle<()>,
}

impl Client {
    pub async fn connect(addr: SocketAddr, config: quinn::ClientConfig) -> Self {
        let (endpoint, conn) = connect(addr, config).await.expect("QUIC connection");
        let (mut driver, send) = within(
            10,
            "h3 client setup",
            h3::client::new(h3_quinn::Connection::new(conn.clone())),
        )
        .await
        .expect("h3 client");
        let driver = tokio::spawn(async move {
            let _ = poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Self {
            endpoint,
            conn,
            send,
            driver,
        }
    }

    pub fn local_port(&self) -> u16 {
        self.endpoint.local_addr().unwrap().port()
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.request(
            Request::get(uri(path)).body(()).unwrap(),
            Bytes::new(),
            None,
        )
        .await
        .expect("GET")
    }

    /// Sends a request with `body` (and `trailers`), and reads the whole reply.
    pub async fn request(
        &mut self,
        req: Request<()>,
        body: Bytes,
        trailers: Option<HeaderMap>,
    ) -> Result<Reply, h3::error::StreamError> {
        let mut send = self.send.clone();
        within(60, "HTTP/3 request", async move {
            let mut stream = send.send_request(req).await?;
            if !body.is_empty() {
                stream.send_data(body).await?;
            }
            if let Some(t) = trailers {
                stream.send_trailers(t).await?;
            }
            stream.finish().await?;
            read_reply(&mut stream).await
        })
        .await
    }

    pub async fn close(self) {
        self.conn.close(0u32.into(), b"done");
        self.driver.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

pub fn uri(path: &str) -> http::Uri {
    format!("https://localhost{path}").parse().unwrap()
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

pub async fn read_reply<S>(
    stream: &mut h3::client::RequestStream<S, Bytes>,
) -> Result<Reply, h3::error::StreamError>
where
    S: h3::quic::RecvStream,
{
    let head = stream.recv_response().await?;
    let mut body = Vec::new();
    while let Some(mut chunk) = stream.recv_data().await? {
        while chunk.has_remaining() {
            let c = chunk.chunk();
            body.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    let trailers = stream.recv_trailers().await?;
    Ok(Reply {
        status: head.status(),
        headers: head.headers().clone(),
        body,
        trailers,
    })
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
