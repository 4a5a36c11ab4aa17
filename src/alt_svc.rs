//! [`AltSvcLayer`]: tell HTTP/1.1 and HTTP/2 clients where HTTP/3 is ([RFC 7838]).
//!
//! The header is added only to responses to requests that did not arrive over HTTP/3, and
//! only when the handler did not set an `alt-svc` header itself. The value is built and
//! validated once, when the layer is made.
//!
//! On a connection served by a twinport transport (a request that carries a
//! [`ConnectionInfo`](crate::ConnectionInfo)), it is sent on the connection's first
//! [`FIRST_RESPONSES`] responses and then on one in every [`RESPONSE_INTERVAL`], not on every
//! response: a client caches an advertisement per origin for `ma` seconds (RFC 7838 §3.1), so
//! repeating it on each response of a connection tells the client nothing new, and over HTTP/2 it
//! cost about a third of what twinport adds to a small response (BENCHMARKS.md, "Alt-Svc per
//! connection"). The later samples refresh the advertisement on long-lived connections and reach
//! origins a client coalesced onto the connection after its first requests. A request without a
//! `ConnectionInfo` (the layer on a server of another kind) gets it on every response, as does the
//! value `clear`; [`AltSvcLayer::on_every_response`] restores that for all.
//!
//! On an axum `Router`:
//!
//! ```
//! use axum::{routing::get, Router};
//! use std::time::Duration;
//! use twinport::AltSvcLayer;
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hi" }))
//!     .layer(AltSvcLayer::new(4433).max_age(Duration::from_secs(3600)));
//! ```
//!
//! On a bare tower service:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use twinport::AltSvcLayer;
//!
//! let svc = ServiceBuilder::new()
//!     .layer(AltSvcLayer::with_value(r#"h3=":443"; ma=3600, h3=":8443""#)?)
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(()))
//!     }));
//! let res = svc.oneshot(http::Request::new(())).await?;
//! assert_eq!(res.headers()["alt-svc"], r#"h3=":443"; ma=3600, h3=":8443""#);
//! # Ok(())
//! # }
//! ```
//!
//! [RFC 7838]: https://www.rfc-editor.org/rfc/rfc7838

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;
mod value;

pub use future::ResponseFuture;
pub use layer::{AltSvcLayer, DEFAULT_MAX_AGE};
pub use service::{AltSvc, FIRST_RESPONSES, RESPONSE_INTERVAL};
pub use value::InvalidAltSvc;
