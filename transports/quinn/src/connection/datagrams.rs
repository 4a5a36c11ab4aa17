//! The client's HTTP/3 datagrams (RFC 9297 §2.1): routed to their WebTransport sessions, the
//! only users of datagrams here. The server sends SETTINGS_H3_DATAGRAM = 1 only with
//! WebTransport, and a client may send none before it has received that, so without
//! WebTransport any datagram ends the connection (quinn would otherwise hold up to its
//! receive buffer of them, unread, for the connection's life).

use std::sync::Arc;

use super::context::Ctx;
use crate::codes::H3_GENERAL_PROTOCOL_ERROR;
use crate::proto::error::ProtoError;

/// Reads the connection's datagrams until it ends, or closes it for one that breaks the
/// rules.
pub(crate) async fn route(ctx: Arc<Ctx>) {
    while let Ok(datagram) = ctx.quic.read_datagram().await {
        let routed = match ctx.wt.as_ref() {
            Some(wt) => wt.registry.deliver_datagram(datagram),
            None => Err(ProtoError::connection(
                H3_GENERAL_PROTOCOL_ERROR,
                "a datagram, but HTTP datagrams were not enabled",
            )),
        };
        if let Err(e) = routed {
            ctx.fail(&e);
            return;
        }
    }
}
