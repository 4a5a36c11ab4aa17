//! Run with: `build-cost-twinport CERT KEY ADDR` (or `build-cost-twinport-ring`, the same code
//! on ring) — `/`, `/peer`, `POST /echo` over HTTP/1.1, HTTP/2 and HTTP/3 on ADDR
//! (bench/build-cost.sh builds it to measure what it costs).

#[path = "../../shared/args.rs"]
mod args;
#[path = "../../shared/routes.rs"]
mod routes;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [cert, key, addr] = args::args()?;
    let tls = twinport::ServerTls::from_pem_files(cert, key)?;
    twinport::serve(addr, routes::router(), tls).await?;
    Ok(())
}
