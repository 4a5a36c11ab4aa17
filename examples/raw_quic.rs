//! Run with: `cargo run --example raw_quic`
//!
//! A raw QUIC protocol, `echo/1`, beside HTTP/3 on the same UDP endpoint: the server picks the
//! handler by the ALPN the client negotiated. The example starts the server, then connects to
//! it once with ALPN `echo/1` and once with `h3`, and prints what it got:
//!
//! ```text
//! echo/1 answered: "hello over raw QUIC" (server saw ConnectionInfo id 1, alpn echo/1)
//! h3 negotiated on the same port
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use twinport::dev_certs::DevCerts;
use twinport::quic::{quinn, Http3, QuicConnection};
use twinport::BoxError;

/// Echoes each bidirectional stream back; the handler sees the connection's ConnectionInfo.
async fn echo(conn: QuicConnection) -> Result<(), BoxError> {
    let (conn, info, _shutdown) = conn.into_parts();
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let data = recv.read_to_end(64 * 1024).await?;
        let mut reply = data;
        reply.extend_from_slice(
            format!(
                " (server saw ConnectionInfo id {}, alpn {})",
                info.id(),
                info.alpn_str().unwrap_or("?")
            )
            .as_bytes(),
        );
        send.write_all(&reply).await?;
        send.finish()?;
    }
    Ok(())
}

fn client(certs: &DevCerts, alpn: &[u8]) -> Result<quinn::Endpoint, BoxError> {
    let mut roots = twinport::rustls::RootCertStore::empty();
    for cert in certs.ca_roots()?.store().roots.iter() {
        roots.roots.push(cert.clone());
    }
    let mut tls = twinport::rustls::ClientConfig::builder_with_provider(
        twinport::tls::default_crypto_provider()?,
    )
    .with_protocol_versions(&[&twinport::rustls::version::TLS13])?
    .with_root_certificates(roots)
    .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    Ok(endpoint)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let certs = DevCerts::ensure(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs"))?;
    let tls = certs.server_tls()?;
    let app =
        axum::Router::new().route("/", axum::routing::get(|| async { "hello over HTTP/3\n" }));

    // h3 first, then echo/1: the server's ALPN preference is the registration order.
    let endpoint = Http3::builder(&tls)
        .http3()
        .route("echo/1", echo)
        .bind("127.0.0.1:0".parse()?)?;
    let addr = endpoint.local_addr();
    println!("listening on {addr} (UDP): ALPN h3 and echo/1");
    let server = tokio::spawn(endpoint.serve(app));

    let conn = client(&certs, b"echo/1")?
        .connect(addr, "localhost")?
        .await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(b"hello over raw QUIC").await?;
    send.finish()?;
    let reply = recv.read_to_end(64 * 1024).await?;
    println!("echo/1 answered: {:?}", String::from_utf8_lossy(&reply));
    conn.close(0u32.into(), b"done");

    let conn = client(&certs, b"h3")?.connect(addr, "localhost")?.await?;
    let alpn = conn
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol);
    println!(
        "{} negotiated on the same port",
        String::from_utf8_lossy(&alpn.unwrap_or_default())
    );
    conn.close(0u32.into(), b"done");

    server.abort();
    Ok(())
}
