//! twinport's test kit, shared by every suite of the workspace (`publish = false`).
//!
//! - [`pki`]: one test CA with good and bad certificates, server and client TLS configs;
//!   [`OpensslCa`](pki::OpensslCa), a client CA run with `openssl ca`
//! - [`time`]: [`within`] / [`bounded`] / [`eventually`], so that every await is bounded
//! - [`logs`]: [`init_tracing`] and the per-test capture [`Logs`](logs::Logs)
//! - [`clients`]: well-behaved clients: [`Hyper`](clients::Hyper) (HTTP/1.1, HTTP/2),
//!   [`H3`](clients::H3) (HTTP/3), bare TLS and QUIC, [`fetch`](clients::fetch) /
//!   [`served`](clients::served)
//! - [`raw`]: clients that write the protocol themselves to misbehave: raw HTTP/2, HTTP/3 and
//!   WebTransport, floods, rule violations
//! - [`frames`]: HTTP/2, HTTP/3, HPACK / QPACK and QUIC varint builders; [`codes`]: the HTTP/3
//!   and QPACK error codes
//! - [`apps`]: the apps the suites serve; [`servers`]: the servers that serve them
//! - [`peers`]: finding real peers and running them; [`peers::seen`]: which certificate they
//!   are served
//! - [`pebble`]: Pebble, the test ACME CA, with its DNS
//! - [`browsers`]: headless Firefox and Chromium in fresh profiles, pages reporting back
//! - [`errors`], to check that an error keeps its cause and prints it once
//!   ([`assert_cause_once`](errors::assert_cause_once), [`assert_typed_cause`](errors::assert_typed_cause))
//! - [`relay`], [`sys`], [`rng`], [`fs`]: a UDP relay that can cut its client off, RSS and
//!   CPU readings, one seeded generator, temporary directories
//!
//! The root re-exports what nearly every test uses: [`Pki`], [`bounded`], [`within`],
//! [`eventually`], [`init_tracing`], [`TempDir`].
#![forbid(unsafe_code)]
// A test kit fails the test on the spot: that is what its unwraps are for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod apps;
pub mod browsers;
pub mod clients;
pub mod codes;
pub mod errors;
pub mod frames;
pub mod fs;
pub mod logs;
pub mod pebble;
pub mod peers;
pub mod pki;
pub mod raw;
pub mod relay;
pub mod rng;
pub mod servers;
pub mod sys;
pub mod time;

pub use fs::TempDir;
pub use logs::init_tracing;
pub use pki::Pki;
// twinport-quinn's own unit tests (src/proto/interop_tests.rs) take it from here.
pub use rng::Rng;
pub use time::{bounded, eventually, within};
