//! The hardening suite's server: the [`attack`](crate::apps::attack) app on HTTP/1.1 + HTTP/2
//! (TLS) and HTTP/3, one port, with the limits of [`Opts`].

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use twinport::{DrainReport, Server, ServerHandle, TransportError};
use twinport_hyper::{Http, HttpConfig, TlsAcceptor};
use twinport_quinn::{Http3, Http3Config, QuicConfig};

use crate::apps::attack::{router, Stats};
use crate::pki::{Mtls, Pki};
use crate::time::{within, LIMIT};

/// Server settings for one test: short timeouts so that attacks end within seconds.
pub struct Opts {
    /// Whether a client certificate of the test CA is asked for (none by default).
    pub mtls: Mtls,
    /// HTTP/1.1 and HTTP/2 limits.
    pub http: HttpConfig,
    /// The TLS handshake timeout on TCP.
    pub handshake_timeout: Duration,
    /// QUIC limits.
    pub quic: QuicConfig,
    /// HTTP/3 limits.
    pub h3: Http3Config,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            mtls: Mtls::Off,
            http: HttpConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            quic: QuicConfig::default(),
            h3: Http3Config::default(),
        }
    }
}

/// A running hardened server.
pub struct Srv {
    /// Its address, TCP and UDP.
    pub addr: SocketAddr,
    /// Its handle.
    pub handle: ServerHandle,
    /// The task serving it.
    pub task: JoinHandle<Result<DrainReport, TransportError>>,
    /// What its handlers saw.
    pub stats: Arc<Stats>,
}

/// Starts a hardened server with `opts`.
pub fn start(opts: Opts) -> Srv {
    let tls = Pki::get().server_tls_with(opts.mtls);
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
    let server = Server::new(router(stats.clone()))
        .transport(http)
        .transport(h3);
    let handle = server.handle();
    let task = tokio::spawn(server.into_future());
    Srv {
        addr,
        handle,
        task,
        stats,
    }
}

impl Srv {
    /// Live TCP connections.
    pub fn tcp(&self) -> usize {
        self.count("tcp")
    }

    /// Live QUIC connections.
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

    /// Shuts down with a 5 s grace period; the drain report.
    pub async fn stop(self) -> DrainReport {
        self.handle.shutdown(Duration::from_secs(5));
        within(self.task).await.unwrap().unwrap()
    }
}
