//! HTTP/1.1 and HTTP/2 over TCP for twinport (work in progress).
#![forbid(unsafe_code)]
