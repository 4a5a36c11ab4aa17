//! What a QUIC connection tells the metrics: why its handshake failed, and its figures when
//! it closes (from quinn's statistics).

use twinport::transport::{HandshakeFailure, QuicClose};

/// TLS alerts travel as QUIC CRYPTO_ERRORs, 0x100 plus the alert (RFC 9001 §4.8).
const CRYPTO_ERROR: u64 = 0x100;
/// The alerts that are about the client's certificate (RFC 8446 §6.2).
const CERTIFICATE_ALERTS: [u64; 8] = [42, 43, 44, 45, 46, 48, 49, 116];
const NO_APPLICATION_PROTOCOL: u64 = 120;

/// The reason a QUIC handshake failed, read from quinn's error.
pub(crate) fn handshake_failure(error: &(dyn std::error::Error + 'static)) -> HandshakeFailure {
    let Some(error) = error.downcast_ref::<quinn::ConnectionError>() else {
        return HandshakeFailure::Io;
    };
    let code = match error {
        quinn::ConnectionError::TimedOut => return HandshakeFailure::Timeout,
        quinn::ConnectionError::TransportError(e) => u64::from(e.code),
        quinn::ConnectionError::ConnectionClosed(c) => u64::from(c.error_code),
        _ => return HandshakeFailure::Io,
    };
    match code.checked_sub(CRYPTO_ERROR) {
        Some(NO_APPLICATION_PROTOCOL) => HandshakeFailure::NoAlpn,
        Some(alert) if CERTIFICATE_ALERTS.contains(&alert) => HandshakeFailure::ClientCertificate,
        Some(alert) if alert < 0x100 => HandshakeFailure::Tls,
        _ => HandshakeFailure::Io,
    }
}

/// Records the connection's figures as it ends (read only when metrics are recorded).
pub(crate) fn closed(conn: &quinn::Connection) {
    QuicClose::record(|| {
        let stats = conn.stats();
        let mut close = QuicClose::default();
        close.rtt = stats.path.rtt;
        close.lost_packets = stats.path.lost_packets;
        close.lost_bytes = stats.path.lost_bytes;
        close.congestion_events = stats.path.congestion_events;
        close.mtu = stats.path.current_mtu;
        close.sent_datagrams = stats.udp_tx.datagrams;
        close.sent_bytes = stats.udp_tx.bytes;
        close.received_datagrams = stats.udp_rx.datagrams;
        close.received_bytes = stats.udp_rx.bytes;
        close.path_challenges = stats.frame_rx.path_challenge;
        close.reason = close_reason(conn.close_reason().as_ref());
        close
    });
}

fn close_reason(reason: Option<&quinn::ConnectionError>) -> &'static str {
    match reason {
        None | Some(quinn::ConnectionError::LocallyClosed) => "local",
        Some(quinn::ConnectionError::TimedOut) => "idle_timeout",
        Some(quinn::ConnectionError::ApplicationClosed(_)) => "application",
        Some(quinn::ConnectionError::ConnectionClosed(_)) => "transport",
        Some(quinn::ConnectionError::TransportError(_)) => "protocol_violation",
        Some(quinn::ConnectionError::Reset) => "reset",
        Some(_) => "_OTHER",
    }
}
