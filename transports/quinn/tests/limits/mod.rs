//! The fixture of the HTTP/3 limit tests: a server under siege whose memory is this process's
//! RSS, attacks from raw QUIC connections ([`RawH3`]), and the checks that a flood was read
//! and dropped or that a violation closed its connection with the code wanted.

// Each test binary uses its own share of these.
#![allow(dead_code)]

use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use twinport_quinn::Http3Config;
use twinport_testkit::codes::{H3_EXCESSIVE_LOAD, H3_FRAME_ERROR};
use twinport_testkit::raw::{check_violations, describe, Pumped, Violation};
use twinport_testkit::servers::{Opts, Siege};

/// One test at a time: RSS is the whole process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// How much RSS may grow during an attack that would make an unbounded server hold hundreds
/// of MiB (the attacker's own buffers included).
pub const RSS_LIMIT_KIB: u64 = 10 * 1024;
/// How long the floods go on (a server that buffers what it should skip grows by about 5 MiB
/// a second in a debug build; one that skips takes some 45 MiB/s of a request body).
pub const FLOOD: Duration = Duration::from_secs(5);
/// How long the server has to react to a violation.
pub const REACTION: Duration = Duration::from_secs(2);
/// The field section limit of these servers.
pub const MAX_FIELD_SECTION: u64 = 16 * 1024;
/// A declared frame length no server can buffer.
pub const HUGE: u64 = 1 << 40;
/// A flood must have pushed at least this much past the server's flow-control windows
/// (1 MiB per stream, 8 MiB per connection): proof that the server read and dropped it.
pub const FLOODED: u64 = 16 * 1024 * 1024;
/// The frame errors a declared length over a frame type's limit may be closed with.
pub const TOO_LONG: &[u64] = &[H3_FRAME_ERROR, H3_EXCESSIVE_LOAD];

/// Takes the one-at-a-time lock and lays siege to a fresh server with the field section
/// limit of these tests.
pub async fn siege() -> (MutexGuard<'static, ()>, Siege) {
    siege_with(Http3Config::default()).await
}

/// As [`siege`], with `h3` (its field section limit set to [`MAX_FIELD_SECTION`]).
pub async fn siege_with(h3: Http3Config) -> (MutexGuard<'static, ()>, Siege) {
    let one = ONE_AT_A_TIME.lock().await;
    let opts = Opts {
        h3: h3.max_field_section_size(MAX_FIELD_SECTION),
        ..Opts::default()
    };
    (one, Siege::begin(opts).await)
}

/// Asserts that a flood went on for the whole time and pushed far more than the windows.
pub fn flooded(pumped: &Pumped, what: &str) {
    if let Some(ended) = &pumped.ended {
        panic!(
            "{what}: ended after {} bytes: {}",
            pumped.bytes,
            describe(ended)
        );
    }
    assert!(
        pumped.bytes >= FLOODED,
        "{what}: only {} KiB went through: the server stopped reading",
        pumped.bytes / 1024
    );
}

/// Runs `violations` under siege, each on a connection of its own, and asserts that each
/// closed its connection with a code wanted within [`REACTION`].
pub async fn violations_close_the_connection(what: &str, violations: Vec<Violation>) {
    let (_one, siege) = siege().await;
    let failures = check_violations(siege.srv.addr, violations, REACTION).await;
    eprintln!("{what}: {failures:#?}");
    siege.end(what, RSS_LIMIT_KIB).await;
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}
