//! Run with: `cargo run --example custom_acceptor [-- DENIED_IP ...]`
//!
//! An acceptor of your own in about 30 lines: `DenyList` closes connections from the listed
//! IP addresses before TLS or HTTP starts. It runs inside `TlsAcceptor`, so it sees the
//! address a PROXY header reported when you add one (`.proxy_protocol(..)` before `.tls(..)`).
//! Prints `listening on https://127.0.0.1:PORT`; try `curl --cacert certs/ca.pem
//! https://localhost:PORT/`, then run again with `127.0.0.1` as argument and watch curl be
//! refused (the server logs why with `RUST_LOG=twinport_hyper=debug`).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::{routing::get, Router};
use twinport::dev_certs::DevCerts;
use twinport::server::BoxFuture;
use twinport::{ConnectionInfo, ConnectionInfoBuilder};
use twinport_hyper::{AcceptError, Acceptor, DefaultAcceptor, Http, TlsAcceptor};

/// Refuses connections from denied addresses, after the inner acceptor `A` ran.
#[derive(Clone)]
struct DenyList<A = DefaultAcceptor> {
    inner: A,
    denied: Arc<HashSet<IpAddr>>,
}

impl<A: Acceptor<I>, I: Send + 'static> Acceptor<I> for DenyList<A> {
    type Io = A::Io;
    type Future = BoxFuture<Result<(A::Io, ConnectionInfoBuilder), AcceptError>>;

    fn accept(&self, io: I, info: ConnectionInfoBuilder) -> Self::Future {
        let inner = self.inner.accept(io, info);
        let denied = self.denied.clone();
        Box::pin(async move {
            let (io, info) = inner.await?;
            match info.remote_addr_ref() {
                Some(addr) if denied.contains(&addr.ip()) => Err(AcceptError::refused(format!(
                    "{} is on the deny list",
                    addr.ip()
                ))),
                _ => Ok((io, info)),
            }
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let denied = std::env::args()
        .skip(1)
        .map(|a| a.parse::<IpAddr>())
        .collect::<Result<HashSet<_>, _>>()?;
    let tls = DevCerts::ensure("certs")?.server_tls()?;

    // TLS around the deny list: the deny list runs first, before any handshake work.
    let acceptor = TlsAcceptor::from_server_tls(&tls)?.acceptor(DenyList {
        inner: DefaultAcceptor::new(),
        denied: Arc::new(denied),
    });
    let http = Http::bind("127.0.0.1:0".parse()?).await?.acceptor(acceptor);
    let addr = http.local_addr().ok_or("no address")?;
    println!("listening on https://{addr}");

    let app = Router::new().route(
        "/",
        get(|info: ConnectionInfo| async move { format!("welcome, {:?}\n", info.remote_addr()) }),
    );
    http.serve(app).await;
    Ok(())
}
