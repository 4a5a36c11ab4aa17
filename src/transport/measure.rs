//! What the lifecycle and the request guard measure: the `metrics` feature's emitters, or
//! nothing at all without it (zero-sized, no code on the request path).

#[cfg(feature = "metrics")]
pub(crate) use crate::metrics::{
    describe, drained, event, handshake_done, handshake_failed, quic_closed, ConnectionMetrics,
    RequestMetrics,
};

#[cfg(not(feature = "metrics"))]
pub(crate) use self::off::{
    describe, drained, event, handshake_done, handshake_failed, quic_closed, ConnectionMetrics,
    RequestMetrics,
};

#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::Duration;

    use http::{Method, StatusCode, Version};

    pub(crate) fn describe() {}

    pub(crate) fn drained(_transport: &'static str, _cut: usize, _lingering: usize) {}

    pub(crate) fn handshake_done(_transport: &'static str, _took: Duration, _resumed: bool) {}

    pub(crate) fn handshake_failed(_transport: &'static str, _why: &'static str) {}

    pub(crate) fn quic_closed(_read: impl FnOnce() -> crate::transport::QuicClose) {}

    pub(crate) fn event(_event: crate::transport::Event) {}

    #[derive(Debug)]
    pub(crate) struct RequestMetrics;

    impl RequestMetrics {
        pub(crate) fn start(_method: &Method, _version: Version, _https: bool) -> Option<Self> {
            None
        }

        pub(crate) fn answered(
            &mut self,
            _status: StatusCode,
            _extensions: Option<&http::Extensions>,
        ) {
        }
    }

    #[derive(Debug)]
    pub(crate) struct ConnectionMetrics;

    impl ConnectionMetrics {
        pub(crate) fn accepted(_transport: &'static str) -> Option<Self> {
            None
        }
    }
}
