//! For transport authors: what a way of carrying requests implements and is given.
//!
//! Applications do not need this module; they use [`Server`](crate::Server) with the
//! transports twinport ships (`twinport::tcp::Http`, `twinport::quic::Http3`). A transport of
//! your own implements [`Transport`]: the server hands it the service and a
//! [`TransportContext`] (the shared [`Shutdown`] and a [`ConnectionGauge`]), and it returns a
//! [`DrainReport`](crate::DrainReport) when it has drained. The lifecycle every transport shares is here too:
//! [`serve_connections`] over a [`Listen`] (accept, one task per connection, drain, cut,
//! report), so that a transport writes only how it accepts and serves one connection; the
//! [`request`] guard it calls the service through; [`WriteStall`] for bounded writes.

pub(crate) mod contract;
mod gauge;
mod lifecycle;
mod measure;
mod observe;
mod probe;
pub mod request;
mod service;
mod shutdown;
mod stall;

pub use self::contract::{BoxFuture, Transport, TransportContext};
pub use self::gauge::{ConnectionGauge, ConnectionGuard};
pub use self::lifecycle::{ensure_runtime, serve_connections, Listen, RuntimeError};
pub use self::observe::{Event, Handshake, HandshakeFailure, QuicClose};
pub use self::service::HttpService;
pub use self::shutdown::{deadline_after, Shutdown, ShutdownTrigger};
pub use self::stall::WriteStall;
pub use crate::bind::bind_error;
pub use crate::error_chain::ErrorChain;
pub use crate::server::{NoTransport, WithTransports};
