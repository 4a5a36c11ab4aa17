//! Run with: `cargo run --example tower_only`
//!
//! A plain `tower::service_fn`, no axum, served over HTTP/1.1, HTTP/2 and HTTP/3 on one port.
//! `BoxRequestBodyLayer` gives it one request body type whatever protocol carried the request.
//! Prints the address, then answers every request with its protocol and the client's address:
//!
//! ```text
//! $ curl --cacert certs/ca.pem https://localhost:PORT/
//! HTTP/2.0 from 127.0.0.1:50312 (tcp, alpn h2)
//! ```

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use tower::ServiceBuilder;
use twinport::body::{Body, BoxRequestBodyLayer};
use twinport::dev_certs::DevCerts;
use twinport::ConnectionInfoExt;

async fn handle(
    req: http::Request<Body>,
) -> Result<http::Response<Full<bytes::Bytes>>, Infallible> {
    let line = match req.connection_info() {
        Some(info) => format!(
            "{:?} from {} ({}, alpn {})\n",
            req.version(),
            info.remote_addr().map_or("?".into(), |a| a.to_string()),
            info.transport(),
            info.alpn_str().unwrap_or("none"),
        ),
        None => "not served by twinport\n".to_string(),
    };
    // Read (and here, count) the body the same way on every protocol.
    let size = match req.into_body().collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(e) => {
            return Ok(http::Response::new(Full::from(format!(
                "body error: {e}\n"
            ))))
        }
    };
    let text = if size > 0 {
        format!("{line}{size} bytes received\n")
    } else {
        line
    };
    Ok(http::Response::new(Full::from(text)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let certs = DevCerts::ensure(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs"))?;
    let tls = certs.server_tls()?;
    let service = ServiceBuilder::new()
        .layer(BoxRequestBodyLayer::new())
        .service_fn(handle);

    let sockets = twinport::bind_same_port("127.0.0.1:0".parse()?)?;
    println!("listening on https://{}", sockets.0.local_addr()?);
    twinport::serve(sockets, service, tls)
        .grace_period(Duration::from_secs(5))
        .await?;
    Ok(())
}
