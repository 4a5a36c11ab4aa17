//! The example's app (with its WebTransport echo on `/wt/echo`, and the browser pages of
//! [`browser`](crate::apps::browser)) on HTTP/1.1 + HTTP/2 (TLS) and HTTP/3, one port.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use twinport::{DrainReport, Server, ServerHandle, TransportError};
use twinport_hyper::{Http, ProxyMode};
use twinport_quinn::Http3;

use crate::apps::browser::Reports;
use crate::apps::example::{app, wt_echo_handler};
use crate::logs::init_tracing;
use crate::pki::{Mtls, Pki};
use crate::time::within;

/// A running example server.
pub struct Example {
    /// Its address, TCP and UDP.
    pub addr: SocketAddr,
    /// Its handle.
    pub handle: ServerHandle,
    /// The task serving it.
    pub task: JoinHandle<Result<DrainReport, TransportError>>,
    /// What its `/kit/` pages reported, and the version of every request it served.
    pub reports: Reports,
}

impl Example {
    /// Shuts down with a 5 s grace period; the drain report.
    pub async fn stop(self) -> DrainReport {
        self.handle.shutdown(Duration::from_secs(5));
        within(self.task)
            .await
            .expect("server task")
            .expect("server")
    }
}

/// Starts the example's app with client authentication `mtls`.
pub fn start_example(mtls: Mtls) -> Example {
    start_example_with(mtls, None)
}

/// Like [`start_example`], with the TCP side expecting a PROXY protocol header first when
/// `proxy` is set.
pub fn start_example_with(mtls: Mtls, proxy: Option<ProxyMode>) -> Example {
    init_tracing();
    let tls = Pki::get().server_tls_with(mtls);
    let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).expect("bind");
    let addr = tcp.local_addr().unwrap();
    let http = Http::from_std(tcp).expect("tcp listener");
    let http3 = Http3::builder(&tls)
        .http3()
        .webtransport("/wt/echo", wt_echo_handler())
        .socket(udp)
        .expect("quic");
    let reports = Reports::new();
    let app = reports.wrap(app());
    let server = match proxy {
        Some(mode) => Server::new(app)
            .transport(http.proxy_protocol(mode).tls(&tls).expect("tls"))
            .transport(http3),
        None => Server::new(app)
            .transport(http.tls(&tls).expect("tls"))
            .transport(http3),
    };
    let handle = server.handle();
    let task = tokio::spawn(server.into_future());
    Example {
        addr,
        handle,
        task,
        reports,
    }
}
