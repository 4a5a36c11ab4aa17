//! [`Both`]: the info app on TCP (HTTP/1.1, HTTP/2) and QUIC (HTTP/3) on one port, with the
//! same TLS, for the suites that ask which certificate each peer is served.

use std::net::SocketAddr;
use std::time::Duration;

use twinport::ServerTls;
use twinport_hyper::Http;
use twinport_quinn::Http3;

use super::{serve_http, serve_http3, Http3Server, HttpServer};

/// TCP (HTTP/1.1, HTTP/2) and QUIC (HTTP/3) on the same port of 127.0.0.1, both with `tls`.
pub struct Both {
    /// The TCP side.
    pub tcp: HttpServer,
    /// The QUIC side.
    pub quic: Http3Server,
    /// The address of both.
    pub addr: SocketAddr,
}

impl Both {
    /// Serves the info app with `tls` on both transports.
    pub async fn serve(tls: &ServerTls) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve_on(listener, tls)
    }

    /// Like [`serve`](Self::serve) on this TCP listener (and UDP on its port).
    pub fn serve_on(listener: tokio::net::TcpListener, tls: &ServerTls) -> Self {
        let http = Http::new(listener).tls(tls).unwrap();
        let tcp = serve_http(http, Duration::from_secs(2));
        let addr = tcp.addr();
        let quic = serve_http3(Http3::bind(addr, tls).unwrap());
        Self { tcp, quic, addr }
    }

    /// Stops both.
    pub async fn stop(self) {
        self.tcp.stop().await;
        self.quic.stop(Duration::from_secs(1)).await;
    }
}
