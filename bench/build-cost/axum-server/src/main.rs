//! Run with: `build-cost-axum-server CERT KEY ADDR` — `/`, `/peer`, `POST /echo` over
//! HTTP/1.1 and HTTP/2 on ADDR (bench/build-cost.sh builds it to measure what it costs).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;

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
    let config = RustlsConfig::from_pem_file(cert, key).await?;
    let handle = Handle::<SocketAddr>::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::bind_rustls(addr.parse()?, config)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}

fn args() -> Result<[String; 3], String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.try_into().map_err(|_| "usage: build-cost-axum-server CERT KEY ADDR".into())
}
