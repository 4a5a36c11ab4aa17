//! Run with: `build-cost-twinport-ring CERT KEY ADDR` — `/`, `/peer`, `POST /echo` over HTTP/1.1,
//! HTTP/2 and HTTP/3 on ADDR (bench/build-cost.sh builds it to measure what it costs).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [cert, key, addr] = args()?;
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route("/echo", post(|body: Bytes| async move { body }));
    let tls = twinport::ServerTls::from_pem_files(cert, key)?;
    twinport::serve(addr, app, tls).await?;
    Ok(())
}

fn args() -> Result<[String; 3], String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.try_into().map_err(|_| "usage: build-cost-twinport-ring CERT KEY ADDR".into())
}
