//! Run with: `build-cost-axum-server CERT KEY ADDR` — `/`, `/peer`, `POST /echo` over
//! HTTP/1.1 and HTTP/2 on ADDR (bench/build-cost.sh builds it to measure what it costs).

#[path = "../../shared/args.rs"]
mod args;
#[path = "../../shared/routes.rs"]
mod routes;

use std::net::SocketAddr;
use std::time::Duration;

use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [cert, key, addr] = args::args()?;
    let config = RustlsConfig::from_pem_file(cert, key).await?;
    let handle = Handle::<SocketAddr>::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::bind_rustls(addr.parse()?, config)
        .handle(handle)
        .serve(routes::router().into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}
