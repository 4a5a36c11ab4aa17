//! The benchmark's own client, for what oha and h2load do not measure. Prints one JSON line.
//!
//! - `load bulk h2|h3 down|up BYTES PORT CERTS_DIR` — one request moving BYTES (a download of
//!   `/bytes/BYTES` or an upload to `/upload`) on a fresh connection; MB/s (10^6 bytes).
//! - `load connrate h2|h3 SECS CONCURRENCY PORT CERTS_DIR` — new connections per second, each
//!   a full handshake (no resumption) plus one `GET /`, then closed.
//! - `load idle h2|h3 COUNT PORT CERTS_DIR` — opens COUNT connections, each after one
//!   `GET /`, prints `{"opened":..}` and holds them, idle, until stdin closes.

use std::error::Error;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures_util::stream::{self, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncReadExt;

type BoxError = Box<dyn Error + Send + Sync>;
type ReqBody = BoxBody<Bytes, std::convert::Infallible>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    H2,
    H3,
}

impl std::str::FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "h2" => Ok(Self::H2),
            "h3" => Ok(Self::H3),
            _ => Err(format!("protocol {s:?}: h2 or h3")),
        }
    }
}

#[derive(Clone)]
struct Client {
    addr: SocketAddr,
    tcp_tls: Arc<rustls::ClientConfig>,
    endpoint: Option<quinn::Endpoint>,
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

async fn run(args: Vec<String>) -> Result<(), BoxError> {
    let usage = "usage: load bulk h2|h3 down|up BYTES PORT CERTS | connrate h2|h3 SECS CONC PORT CERTS | idle h2|h3 COUNT PORT CERTS";
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["bulk", proto, dir, bytes, port, certs] => {
            let client = Client::new(port.parse()?, Path::new(certs), None)?;
            let n: u64 = bytes.parse()?;
            let start = Instant::now();
            let moved = match (*dir, proto.parse()?) {
                ("down", Proto::H2) => client.h2_download(n).await?,
                ("up", Proto::H2) => client.h2_upload(n).await?,
                ("down", Proto::H3) => client.h3_download(n).await?,
                ("up", Proto::H3) => client.h3_upload(n).await?,
                _ => return Err(usage.into()),
            };
            let secs = start.elapsed().as_secs_f64();
            if moved != n {
                return Err(format!("moved {moved} bytes, expected {n}").into());
            }
            println!(
                "{{\"bytes\":{n},\"secs\":{secs:.4},\"mb_per_s\":{:.1}}}",
                n as f64 / 1e6 / secs
            );
        }
        ["connrate", proto, secs, conc, port, certs] => {
            let client = Client::new(port.parse()?, Path::new(certs), None)?;
            let proto: Proto = proto.parse()?;
            let secs: f64 = secs.parse()?;
            let conc: usize = conc.parse()?;
            let done = Arc::new(AtomicU64::new(0));
            let errors = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let until = start + Duration::from_secs_f64(secs);
            let mut workers = Vec::new();
            for _ in 0..conc {
                let (client, done, errors) = (client.clone(), done.clone(), errors.clone());
                workers.push(tokio::spawn(async move {
                    while Instant::now() < until {
                        match client.one_shot(proto).await {
                            Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                            Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }));
            }
            for w in workers {
                w.await?;
            }
            let secs = start.elapsed().as_secs_f64();
            let n = done.load(Ordering::Relaxed);
            println!(
                "{{\"conns\":{n},\"errors\":{},\"secs\":{secs:.3},\"per_sec\":{:.1}}}",
                errors.load(Ordering::Relaxed),
                n as f64 / secs
            );
        }
        ["idle", proto, count, port, certs] => {
            // Keep-alives every 5 s hold QUIC connections open past the idle timeout.
            let client = Client::new(
                port.parse()?,
                Path::new(certs),
                Some(Duration::from_secs(5)),
            )?;
            let proto: Proto = proto.parse()?;
            let count: usize = count.parse()?;
            let opened: Vec<_> = stream::iter(0..count)
                .map(|_| client.hold(proto))
                .buffer_unordered(64)
                .collect()
                .await;
            let ok = opened.iter().filter(|r| r.is_ok()).count();
            println!("{{\"opened\":{ok},\"failed\":{}}}", count - ok);
            let mut sink = Vec::new();
            let _ = tokio::io::stdin().read_to_end(&mut sink).await;
            drop(opened);
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}

/// What keeps an idle connection open.
#[allow(dead_code)]
enum Held {
    H2(hyper::client::conn::http2::SendRequest<ReqBody>),
    H3(
        h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
        tokio::task::JoinHandle<()>,
    ),
}

impl Client {
    fn new(port: u16, certs: &Path, keep_alive: Option<Duration>) -> Result<Self, BoxError> {
        let certs = PathBuf::from(certs);
        let tcp_tls = Arc::new(twinport_bench::client_tls(&certs, &[b"h2"], false).map_err(err)?);
        let quic_tls = twinport_bench::client_tls(&certs, &[b"h3"], true).map_err(err)?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(quic_tls)?;
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(keep_alive);
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(Arc::new(transport));
        let endpoint = if tokio::runtime::Handle::try_current().is_ok() {
            let mut e = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            e.set_default_client_config(config);
            Some(e)
        } else {
            None
        };
        Ok(Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tcp_tls,
            endpoint,
        })
    }

    fn uri(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    async fn h2(&self) -> Result<hyper::client::conn::http2::SendRequest<ReqBody>, BoxError> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        let tls = tokio_rustls::TlsConnector::from(self.tcp_tls.clone())
            .connect(name, tcp)
            .await?;
        let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(8 << 20)
            .initial_connection_window_size(16 << 20)
            .handshake(TokioIo::new(tls))
            .await?;
        tokio::spawn(conn);
        Ok(send)
    }

    async fn h2_request(
        &self,
        send: &mut hyper::client::conn::http2::SendRequest<ReqBody>,
        req: http::Request<ReqBody>,
    ) -> Result<u64, BoxError> {
        send.ready().await?;
        let res = send.send_request(req).await?;
        if !res.status().is_success() {
            return Err(format!("status {}", res.status()).into());
        }
        let mut body = res.into_body();
        let mut n = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len() as u64;
            }
        }
        Ok(n)
    }

    async fn h2_download(&self, bytes: u64) -> Result<u64, BoxError> {
        let mut send = self.h2().await?;
        let req =
            http::Request::get(self.uri(&format!("/bytes/{bytes}"))).body(Empty::new().boxed())?;
        self.h2_request(&mut send, req).await
    }

    async fn h2_upload(&self, bytes: u64) -> Result<u64, BoxError> {
        let mut send = self.h2().await?;
        let req = http::Request::post(self.uri("/upload")).body(
            twinport_bench::Zeros::new(bytes)
                .map_err(|e| match e {})
                .boxed(),
        )?;
        send.ready().await?;
        let res = send.send_request(req).await?;
        let body = res.into_body().collect().await?.to_bytes();
        Ok(std::str::from_utf8(&body)?.trim().parse()?)
    }

    async fn h3(
        &self,
    ) -> Result<
        (
            quinn::Connection,
            h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
            tokio::task::JoinHandle<()>,
        ),
        BoxError,
    > {
        let endpoint = self.endpoint.as_ref().ok_or("no QUIC endpoint")?;
        let conn = endpoint.connect(self.addr, "localhost")?.await?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn.clone())).await?;
        let drive = tokio::spawn(async move {
            let _ = poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok((conn, send, drive))
    }

    async fn h3_get(
        &self,
        send: &mut h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
        path: &str,
    ) -> Result<u64, BoxError> {
        let mut stream = send
            .send_request(http::Request::get(self.uri(path)).body(())?)
            .await?;
        stream.finish().await?;
        let res = stream.recv_response().await?;
        if !res.status().is_success() {
            return Err(format!("status {}", res.status()).into());
        }
        let mut n = 0u64;
        while let Some(chunk) = stream.recv_data().await? {
            n += chunk.remaining() as u64;
        }
        Ok(n)
    }

    async fn h3_download(&self, bytes: u64) -> Result<u64, BoxError> {
        let (conn, mut send, drive) = self.h3().await?;
        let n = self.h3_get(&mut send, &format!("/bytes/{bytes}")).await?;
        conn.close(0u32.into(), b"");
        drive.abort();
        Ok(n)
    }

    async fn h3_upload(&self, bytes: u64) -> Result<u64, BoxError> {
        let (conn, mut send, drive) = self.h3().await?;
        let mut stream = send
            .send_request(http::Request::post(self.uri("/upload")).body(())?)
            .await?;
        let chunk = Bytes::from(vec![0u8; twinport_bench::CHUNK]);
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            stream.send_data(chunk.slice(..n)).await?;
            left -= n as u64;
        }
        stream.finish().await?;
        let _ = stream.recv_response().await?;
        let mut body = Vec::new();
        while let Some(mut c) = stream.recv_data().await? {
            body.extend_from_slice(&c.copy_to_bytes(c.remaining()));
        }
        conn.close(0u32.into(), b"");
        drive.abort();
        Ok(std::str::from_utf8(&body)?.trim().parse()?)
    }

    /// One connection, one `GET /`, closed.
    async fn one_shot(&self, proto: Proto) -> Result<(), BoxError> {
        match proto {
            Proto::H2 => {
                let mut send = self.h2().await?;
                let req = http::Request::get(self.uri("/")).body(Empty::new().boxed())?;
                self.h2_request(&mut send, req).await?;
            }
            Proto::H3 => {
                let (conn, mut send, drive) = self.h3().await?;
                let got = self.h3_get(&mut send, "/").await;
                conn.close(0u32.into(), b"");
                drive.abort();
                got?;
            }
        }
        Ok(())
    }

    /// One connection after one `GET /`, kept open.
    async fn hold(&self, proto: Proto) -> Result<Held, BoxError> {
        match proto {
            Proto::H2 => {
                let mut send = self.h2().await?;
                let req = http::Request::get(self.uri("/")).body(Empty::new().boxed())?;
                self.h2_request(&mut send, req).await?;
                Ok(Held::H2(send))
            }
            Proto::H3 => {
                let (_conn, mut send, drive) = self.h3().await?;
                self.h3_get(&mut send, "/").await?;
                Ok(Held::H3(send, drive))
            }
        }
    }
}

fn err(e: Box<dyn Error>) -> BoxError {
    e.to_string().into()
}
