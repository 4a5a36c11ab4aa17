//! twinport's test kit, shared by every suite of the workspace (`publish = false`).
//!
//! - [`pki`]: one test CA with good and bad certificates, server and client TLS configs
//! - [`time`]: [`within`] / [`bounded`] / [`eventually`], so that every await is bounded
//! - [`logs`]: [`init_tracing`] and the per-test capture [`Logs`]
//! - [`pebble`]: Pebble, the test ACME CA, with its DNS ([`Pebble::start`])
//! - [`peers`]: finding real peers ([`require`], [`python`]) and running them ([`run`])
//! - [`clients`]: [`Hyper`] (HTTP/1.1, HTTP/2), [`H3`] (HTTP/3), bare QUIC, [`fetch`]
//! - [`frames`]: raw HTTP/2, HTTP/3, HPACK / QPACK and QUIC varint builders; [`codes`]: the
//!   HTTP/3 and QPACK error codes; [`RawH3`]: a raw HTTP/3 client that writes them
//! - [`openssl_ca`]: a client CA run with `openssl ca` (issue, revoke, CRLs)
//! - [`certs`]: which certificate curl, aioquic and h3 see for a name ([`Both`] serves both)
//! - [`app`]: the apps the suites serve; [`server`]: the servers that serve them
//! - [`browsers`]: headless [`Firefox`] and [`Chromium`] in fresh profiles, pages reporting
//!   back through [`Reports`]
//! - [`relay`], [`sys`], [`rng`], [`fs`]: a UDP relay that can cut its client off, RSS and
//!   CPU readings, one seeded generator, temporary directories
//!
//! Everything is re-exported at the root: `use twinport_testkit::*;`.
#![forbid(unsafe_code)]
// A test kit fails the test on the spot: that is what its unwraps are for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod browsers;
pub mod certs;
pub mod clients;
pub mod codes;
pub mod frames;
pub mod fs;
pub mod logs;
pub mod openssl_ca;
pub mod pebble;
pub mod peers;
pub mod pki;
pub mod relay;
pub mod rng;
pub mod server;
pub mod sys;
pub mod time;

pub use app::attack::{Live, Stats};
pub use app::browser::{versions_of, Reports, Served};
pub use app::{hex, sha256_hex};
pub use browsers::{assert_page_webtransport_echo, shown, BrowserRun, Chromium, Firefox};
pub use certs::{
    aioquic_seen, aioquic_seen_at, curl_seen, h3_seen, h3_seen_with, quic_client_trusting,
    real_peers_see_at, Both, CurlAsk, Seen,
};
pub use clients::*;
pub use codes::*;
pub use frames::*;
pub use fs::{path_arg, workspace, TempDir};
pub use logs::{init_tracing, Logs};
pub use openssl_ca::OpensslCa;
pub use pebble::{free_port, Pebble, PebbleOpts};
pub use peers::{find, missing, peer_json, peer_script, python, require, require_any, run, Output};
pub use pki::{Id, Mtls, PemFiles, Pki, CA_NAME};
pub use relay::Relay;
pub use rng::Rng;
pub use server::*;
pub use sys::{cpu_time, rss_kib, RssWatch};
pub use time::{bounded, eventually, within, LIMIT};
