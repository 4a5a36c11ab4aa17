//! HTTP/3 over QUIC for twinport (work in progress).
#![forbid(unsafe_code)]
