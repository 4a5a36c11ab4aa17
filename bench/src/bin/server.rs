//! One benchmark server: `server KIND PORT CERTS_DIR`, listening on 127.0.0.1:PORT.
//!
//! KIND is one of
//! - `twinport` — twinport::Server with twinport-hyper (TCP + TLS) and twinport-quinn (QUIC)
//!   on the same port, as the README shows it;
//! - `twinport-w2` — the same with two QUIC workers (`Builder::workers(2)`); every second it
//!   writes its workers' counters to the file `TWINPORT_BENCH_WORKER_STATS` names;
//! - `bare` — hyper-util's auto builder over tokio-rustls, TCP_NODELAY on like twinport;
//! - `axum-server` — axum-server with rustls, its defaults;
//! - `bare-h3` — the minimal h3 + h3-quinn accept loop;
//! - `salvo` — salvo with TCP + TLS and QUIC (its own handler, the same routes).
//!
//! Every kind but salvo runs the same axum handler (`twinport_bench::app`) with the same
//! certificates and the ring provider. It prints `ready` once bound.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tower::ServiceExt;

type BoxError = Box<dyn Error + Send + Sync>;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, port, certs] = args.as_slice() else {
        return Err(
            "usage: server twinport|twinport-w2|twinport-spawn|twinport-ring|bare|axum-server|bare-h3|salvo PORT CERTS_DIR"
                .into(),
        );
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port.parse()?));
    let certs = PathBuf::from(certs);
    // One worker per CPU the process may run on: pinned to one core, one worker.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match kind.as_str() {
            "twinport" => {
                twinport(addr, twinport_bench::server_tls(&certs)?, Tuning::DEFAULT).await
            }
            "twinport-w2" => {
                let tuning = Tuning {
                    workers: 2,
                    ..Tuning::DEFAULT
                };
                twinport(addr, twinport_bench::server_tls(&certs)?, tuning).await
            }
            "twinport-spawn" => {
                let tuning = Tuning {
                    spawn_streams: true,
                    ..Tuning::DEFAULT
                };
                twinport(addr, twinport_bench::server_tls(&certs)?, tuning).await
            }
            "twinport-ring" => {
                twinport(
                    addr,
                    twinport_bench::server_tls_ring(&certs)?,
                    Tuning::DEFAULT,
                )
                .await
            }
            "bare" => bare(addr, &certs).await,
            "axum-server" => axum_server(addr, &certs).await,
            "bare-h3" => bare_h3(addr, &certs).await,
            #[cfg(feature = "salvo")]
            "salvo" => salvo::serve(addr, &certs).await,
            other => Err(format!("unknown server kind {other:?}").into()),
        }
    })
}

fn ready() {
    println!("ready");
}

/// What differs between the twinport kinds beside the crypto provider.
struct Tuning {
    /// QUIC workers.
    workers: usize,
    /// `HttpConfig::http2_spawn_streams` and `Http3Config::spawn_requests`: each HTTP/2
    /// stream and HTTP/3 request a task of its own.
    spawn_streams: bool,
}

impl Tuning {
    const DEFAULT: Self = Self {
        workers: 1,
        spawn_streams: false,
    };
}

async fn twinport(
    addr: SocketAddr,
    tls: twinport::ServerTls,
    Tuning {
        workers,
        spawn_streams,
    }: Tuning,
) -> Result<(), Box<dyn Error>> {
    let (tcp, udp) = twinport::bind_same_port(addr)?;
    // The default limit is exactly 10,000 connections, which the idle test reaches.
    let config = twinport_hyper::HttpConfig::default()
        .max_connections(50_000)
        .http2_spawn_streams(spawn_streams);
    let server = twinport::Server::new(twinport_bench::app())
        .transport(
            twinport_hyper::Http::from_std(tcp)?
                .config(config)
                .tls(&tls)?,
        )
        .transport({
            let http3 = twinport_quinn::Http3::builder(&tls)
                .http3()
                .http3_config(twinport_quinn::Http3Config::default().spawn_requests(spawn_streams))
                .workers(workers)
                .socket(udp)?;
            let stats_file = std::env::var_os("TWINPORT_BENCH_WORKER_STATS");
            if let Some(path) = stats_file.filter(|_| workers > 1) {
                let stats = http3.worker_stats();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        let _ = std::fs::write(&path, format!("{:?}", stats.snapshot()));
                    }
                });
            }
            http3
        });
    ready();
    server.await?;
    Ok(())
}

async fn bare(addr: SocketAddr, certs: &Path) -> Result<(), Box<dyn Error>> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    let tls = twinport_bench::server_tls(certs)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.tcp_config()?));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let app = twinport_bench::app();
    ready();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let svc = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                .await;
        });
    }
}

async fn axum_server(addr: SocketAddr, certs: &Path) -> Result<(), Box<dyn Error>> {
    let tls = twinport_bench::server_tls(certs)?;
    let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls.tcp_config()?));
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let server = axum_server::from_tcp_rustls(listener, config)?;
    ready();
    server
        .serve(twinport_bench::app().into_make_service())
        .await?;
    Ok(())
}

async fn bare_h3(addr: SocketAddr, certs: &Path) -> Result<(), Box<dyn Error>> {
    let tls = twinport_bench::server_tls(certs)?;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.quic_config(&[])?)?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let endpoint = quinn::Endpoint::server(config, addr)?;
    let app = twinport_bench::app();
    ready();
    while let Some(incoming) = endpoint.accept().await {
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else {
                return;
            };
            let mut builder = h3::server::builder();
            builder.max_field_section_size(64 * 1024);
            let Ok(mut h3) = builder
                .build::<_, Bytes>(h3_quinn::Connection::new(conn))
                .await
            else {
                return;
            };
            while let Ok(Some(resolver)) = h3.accept().await {
                tokio::spawn(h3_request(resolver, app.clone()));
            }
        });
    }
    Ok(())
}

async fn h3_request(
    resolver: h3::server::RequestResolver<h3_quinn::Connection, Bytes>,
    app: axum::Router,
) {
    let Ok((req, stream)) = resolver.resolve_request().await else {
        return;
    };
    let (mut send, recv) = stream.split();
    let req = req.map(|()| axum::body::Body::new(H3Body { recv }));
    let Ok(res) = app.oneshot(req).await;
    let (parts, body) = res.into_parts();
    if send
        .send_response(http::Response::from_parts(parts, ()))
        .await
        .is_err()
    {
        return;
    }
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return };
        if let Ok(data) = frame.into_data() {
            if send.send_data(data).await.is_err() {
                return;
            }
        }
    }
    let _ = send.finish().await;
}

/// The request body of the bare h3 server.
struct H3Body {
    recv: h3::server::RequestStream<h3_quinn::RecvStream, Bytes>,
}

impl Body for H3Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.recv.poll_recv_data(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(mut buf))) => {
                Poll::Ready(Some(Ok(Frame::data(buf.copy_to_bytes(buf.remaining())))))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e.into()))),
        }
    }
}

#[cfg(feature = "salvo")]
mod salvo {
    use std::error::Error;
    use std::net::SocketAddr;
    use std::path::Path;

    use salvo::conn::rustls::{Keycert, RustlsConfig};
    use salvo::prelude::*;

    #[handler]
    async fn hello() -> &'static str {
        twinport_bench::HELLO
    }

    pub(super) async fn serve(addr: SocketAddr, certs: &Path) -> Result<(), Box<dyn Error>> {
        let certs = twinport_bench::certs(certs)?;
        let keycert = Keycert::new()
            .cert(std::fs::read(&certs.server_pem)?)
            .key(std::fs::read(&certs.server_key)?);
        let config = RustlsConfig::new(keycert);
        let router = Router::new().get(hello);
        let tcp = TcpListener::new(addr).rustls(config.clone());
        let quic = QuinnListener::new(config.build_quinn_config()?, addr);
        let acceptor = quic.join(tcp).bind().await;
        super::ready();
        Server::new(acceptor).serve(router).await;
        Ok(())
    }
}
