//! Run with: `build-cost-salvo CERT KEY ADDR` — `/`, `/peer`, `POST /echo` over HTTP/1.1,
//! HTTP/2 and HTTP/3 on ADDR (bench/build-cost.sh builds it to measure what it costs).

#[path = "../../shared/args.rs"]
mod args;

use salvo::conn::rustls::{Keycert, RustlsConfig};
use salvo::prelude::*;

#[handler]
async fn hello() -> &'static str {
    "hello"
}

#[handler]
async fn peer(req: &mut Request) -> String {
    req.remote_addr().to_string()
}

#[handler]
async fn echo(req: &mut Request, res: &mut Response) {
    match req.payload().await {
        Ok(body) => res.write_body(body.clone()).unwrap_or_default(),
        Err(_) => res.status_code(StatusCode::BAD_REQUEST).render("bad body"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [cert, key, addr] = args::args()?;
    let keycert = Keycert::new()
        .cert(std::fs::read(cert)?)
        .key(std::fs::read(key)?);
    let config = RustlsConfig::new(keycert);
    let router = Router::new()
        .get(hello)
        .push(Router::with_path("peer").get(peer))
        .push(Router::with_path("echo").post(echo));
    let tcp = TcpListener::new(addr.clone()).rustls(config.clone());
    let quic = QuinnListener::new(config.build_quinn_config()?, addr);
    let acceptor = quic.join(tcp).bind().await;
    let server = Server::new(acceptor);
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.stop_graceful(std::time::Duration::from_secs(10));
    });
    server.serve(router).await;
    Ok(())
}
