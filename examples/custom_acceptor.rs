//! Run with: `cargo run --example custom_acceptor -- [DENIED_IP ...]`
//!
//! Your own acceptor in the TCP chain: this one refuses clients on a deny list before TLS
//! starts, and the rest are served over HTTP/1.1 and HTTP/2 with TLS. With no arguments it
//! denies 127.0.0.2, so:
//!
//! ```text
//! $ curl --cacert certs/ca.pem https://localhost:PORT/      # served: "hello 127.0.0.1"
//! $ curl --cacert certs/ca.pem --interface 127.0.0.2 https://localhost:PORT/   # refused
//! ```
//!
//! and the server logs why: `connection refused error=refused: 127.0.0.2 is on the deny list`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use twinport::tcp::{AcceptError, AcceptFuture, Acceptor, DefaultAcceptor, Http};
use twinport::{connection_info::ConnectionInfoBuilder, ConnectionInfo};

/// Refuses connections from the listed addresses; passes the others to `inner`.
#[derive(Clone)]
struct DenyList<A = DefaultAcceptor> {
    inner: A,
    denied: Arc<HashSet<IpAddr>>,
}

impl<A: Acceptor<I> + Sync, I: Send + 'static> Acceptor<I> for DenyList<A> {
    type Io = A::Io;
    type Future = AcceptFuture<A::Io>;

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
        .with_writer(std::io::stderr)
        .init();
    let mut denied = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse::<IpAddr>()
                .map_err(|e| format!("{a:?} is not an IP address: {e}"))
        })
        .collect::<Result<HashSet<_>, _>>()?;
    if denied.is_empty() {
        denied.insert("127.0.0.2".parse()?);
    }
    let certs = twinport::dev_certs::DevCerts::ensure(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs"),
    )?;

    let app = axum::Router::new().route(
        "/",
        get(|info: ConnectionInfo| async move {
            format!(
                "hello {}\n",
                info.remote_addr()
                    .map_or("?".into(), |a| a.ip().to_string())
            )
        }),
    );
    // The deny list runs first, then TLS: a denied client costs no handshake.
    let http = Http::bind("127.0.0.1:0".parse()?)
        .await?
        .acceptor(DenyList {
            inner: DefaultAcceptor::new(),
            denied: Arc::new(denied),
        })
        .tls(&certs.server_tls()?)?;
    println!(
        "listening on https://{}",
        http.local_addr().ok_or("no address")?
    );
    http.serve(app).await?;
    Ok(())
}
