//! The two tracing spans every transport opens, named and shaped in one place so that logs
//! read the same whatever protocol carried the request:
//!
//! - `conn`: one per connection, with `id`, `transport` (`tcp`, `unix`, `quic`), `remote`
//!   (the peer's address), `protocol` (`h2`, `http/1.1`, `h1/h2c` or the ALPN, such as `h3`)
//!   and, when a PROXY protocol header named one, `client`;
//! - `req`: one per request, a child of its `conn`, with `method`, `path` (path and query)
//!   and, on HTTP/3, the QUIC `stream` id.
//!
//! The names differ from tower-http's `TraceLayer` span (`request`), so an application that
//! adds one logs `conn{..}:req{..}:request{..}`, not the same name twice.

use std::net::SocketAddr;

use http::Request;
use tracing::field::{display, Empty};

use crate::ConnectionInfo;

/// The `conn` span of a connection from `remote`, as soon as it is accepted; fill in the rest
/// with [`record_connection`] once the acceptors are done.
pub fn connection_span(transport: &'static str, remote: Option<SocketAddr>) -> tracing::Span {
    tracing::info_span!(
        "conn",
        id = Empty,
        transport,
        remote = remote.map(display),
        protocol = Empty,
        client = Empty,
    )
}

/// Records the connection's id, its `protocol` and (behind a PROXY protocol balancer) the
/// client's address in its `conn` span.
pub fn record_connection(span: &tracing::Span, info: &ConnectionInfo, protocol: &str) {
    span.record("id", info.id().get());
    span.record("protocol", protocol);
    if let (Some(_), Some(client)) = (info.proxy(), info.remote_addr()) {
        span.record("client", display(client));
    }
}

/// The `req` span of one request, a child of the current (`conn`) span; `stream` is the
/// request's stream id where the transport knows it.
pub fn request_span<B>(req: &Request<B>, stream: Option<u64>) -> tracing::Span {
    let uri = req.uri();
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    tracing::info_span!("req", method = %req.method(), path = %path, stream)
}
