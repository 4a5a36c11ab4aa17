//! What the transports report beyond requests and connections: handshakes, QUIC's figures at
//! close, and their own decisions ([`Event`]).

use std::time::Duration;

use metrics::{counter, histogram};

use super::{
    CLOSED_BY_SERVER, CONNECTION_BYTES, GOAWAYS, HANDSHAKE_DURATION, HANDSHAKE_FAILURES,
    QUIC_BYTES, QUIC_CLOSED, QUIC_CONGESTION_EVENTS, QUIC_DATAGRAMS, QUIC_LOST_BYTES,
    QUIC_LOST_PACKETS, QUIC_MTU, QUIC_PATH_CHALLENGES, QUIC_RETRIES, QUIC_RTT,
    QUIC_WORKER_DATAGRAMS, REFUSED, STREAM_RESETS, TRANSPORT_RESPONSES, ZERO_RTT,
};
use crate::transport::{Event, QuicClose};

pub(crate) fn handshake_done(transport: &'static str, took: Duration, resumed: bool) {
    if !super::recording() {
        return;
    }
    let resumed = if resumed { "true" } else { "false" };
    histogram!(HANDSHAKE_DURATION, "network.transport" => transport, "tls.resumed" => resumed)
        .record(took.as_secs_f64());
}

pub(crate) fn handshake_failed(transport: &'static str, why: &'static str) {
    if !super::recording() {
        return;
    }
    counter!(HANDSHAKE_FAILURES, "network.transport" => transport, "error.type" => why)
        .increment(1);
}

pub(crate) fn quic_closed(read: impl FnOnce() -> QuicClose) {
    if !super::recording() {
        return;
    }
    let close = read();
    histogram!(QUIC_RTT).record(close.rtt.as_secs_f64());
    counter!(QUIC_LOST_PACKETS).increment(close.lost_packets);
    counter!(QUIC_LOST_BYTES).increment(close.lost_bytes);
    counter!(QUIC_CONGESTION_EVENTS).increment(close.congestion_events);
    histogram!(QUIC_MTU).record(f64::from(close.mtu));
    counter!(QUIC_DATAGRAMS, "network.io.direction" => "transmit").increment(close.sent_datagrams);
    counter!(QUIC_DATAGRAMS, "network.io.direction" => "receive")
        .increment(close.received_datagrams);
    counter!(QUIC_BYTES, "network.io.direction" => "transmit").increment(close.sent_bytes);
    counter!(QUIC_BYTES, "network.io.direction" => "receive").increment(close.received_bytes);
    counter!(QUIC_PATH_CHALLENGES).increment(close.path_challenges);
    counter!(QUIC_CLOSED, "error.type" => close.reason).increment(1);
}

pub(crate) fn event(event: Event) {
    if !super::recording() {
        return;
    }
    let net = "network.transport";
    match event {
        Event::Refused { transport, reason } => {
            counter!(REFUSED, net => transport, "error.type" => reason).increment(1)
        }
        Event::Retry => counter!(QUIC_RETRIES).increment(1),
        Event::WorkerDatagram { worker, outcome } => counter!(
            QUIC_WORKER_DATAGRAMS,
            "twinport.quic.worker" => worker.to_string(),
            "twinport.quic.outcome" => outcome
        )
        .increment(1),
        Event::Closed { transport, reason } => {
            counter!(CLOSED_BY_SERVER, net => transport, "error.type" => reason).increment(1)
        }
        Event::StreamReset { transport, code } => {
            counter!(STREAM_RESETS, net => transport, "error.type" => code).increment(1)
        }
        Event::GoAway { transport } => counter!(GOAWAYS, net => transport).increment(1),
        Event::Transferred {
            transport,
            received,
            sent,
        } => {
            let dir = "network.io.direction";
            counter!(CONNECTION_BYTES, net => transport, dir => "receive").increment(received);
            counter!(CONNECTION_BYTES, net => transport, dir => "transmit").increment(sent);
        }
        Event::ZeroRtt { accepted } => {
            let accepted = if accepted { "true" } else { "false" };
            counter!(ZERO_RTT, "accepted" => accepted).increment(1)
        }
        Event::Answered { transport, status } => counter!(
            TRANSPORT_RESPONSES,
            net => transport,
            "http.response.status_code" => status.as_str().to_owned()
        )
        .increment(1),
    }
}
