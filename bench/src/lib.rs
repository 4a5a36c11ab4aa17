//! What the benchmark servers and the load client share: the one handler every server runs,
//! the bulk body, and the development certificates.

use std::convert::Infallible;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Path as UrlPath;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body::{Body, Frame, SizeHint};

/// The small response: 13 bytes.
pub const HELLO: &str = "Hello, world!";
/// The size of one chunk of a bulk response.
pub const CHUNK: usize = 64 * 1024;

static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// The handler every server runs (salvo has its own twin of it):
///
/// - `GET /` — `Hello, world!` (13 bytes)
/// - `GET /bytes/{n}` — `n` zero bytes, streamed in 64 KiB chunks
/// - `POST /upload` — reads the body and answers how many bytes it had
pub fn app() -> Router {
    Router::new()
        .route("/", get(|| async { HELLO }))
        .route(
            "/bytes/{n}",
            get(|UrlPath(n): UrlPath<u64>| async move { axum::body::Body::new(Zeros::new(n)) }),
        )
        .route("/upload", post(upload))
}

async fn upload(body: axum::body::Body) -> String {
    let mut total = 0u64;
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        match chunk {
            Ok(chunk) => total += chunk.len() as u64,
            Err(_) => break,
        }
    }
    total.to_string()
}

/// A body of `n` zero bytes in [`CHUNK`]-sized static slices: no allocation per chunk.
#[derive(Debug)]
pub struct Zeros {
    remaining: u64,
}

impl Zeros {
    /// `n` bytes.
    pub fn new(n: u64) -> Self {
        Self { remaining: n }
    }
}

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(CHUNK as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&ZEROS[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The development certificates in `dir`, generated there if missing.
pub fn certs(dir: &Path) -> Result<twinport::dev_certs::DevCerts, Box<dyn std::error::Error>> {
    Ok(twinport::dev_certs::DevCerts::ensure(dir)?)
}

/// The server's TLS settings from the certificates in `dir`.
pub fn server_tls(dir: &Path) -> Result<twinport::ServerTls, Box<dyn std::error::Error>> {
    Ok(certs(dir)?.server_tls()?)
}

/// Like [`server_tls`] on ring (classical key exchange only), its key loaded with ring too.
pub fn server_tls_ring(dir: &Path) -> Result<twinport::ServerTls, Box<dyn std::error::Error>> {
    let dev = certs(dir)?;
    let certs = twinport::Certificates::builder()
        .crypto_provider(twinport::tls::ring_crypto_provider())
        .default_pem_files(&dev.server_pem, &dev.server_key)
        .build()?;
    Ok(twinport::ServerTls::from_certificates(&certs))
}

/// A client configuration trusting the development CA in `dir`, with session resumption
/// off (every connection is a full handshake), offering `alpn`; TLS 1.3 only for QUIC. Its
/// key-exchange groups are twinport's default ones, X25519MLKEM768 first, as browsers offer.
pub fn client_tls(
    dir: &Path,
    alpn: &[&[u8]],
    quic: bool,
) -> Result<rustls::ClientConfig, Box<dyn std::error::Error>> {
    let roots = twinport::CaRoots::from_pem_file(certs(dir)?.ca_pem)?;
    let provider = twinport::tls::default_crypto_provider()?;
    let versions: &[&rustls::SupportedProtocolVersion] = if quic {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots.store().clone())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// The resident set size of process `pid`, in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
