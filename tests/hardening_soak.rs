#![allow(clippy::unwrap_used)]
//! Soak: mixed HTTP/2 and HTTP/3 load with random client aborts; the ten-minute one is ignored
//! by default: `TWINPORT_SOAK_SECS=600 cargo test --release --test hardening_soak -- --ignored soak_long`.

use std::time::{Duration, Instant};

use twinport_testkit::bounded;
use twinport_testkit::clients::{fetch, Proto};
use twinport_testkit::rng::Rng;
use twinport_testkit::servers::{start, Opts};
use twinport_testkit::sys::rss_kib;

/// Soak: mixed HTTP/2 and HTTP/3 load with random client aborts for `secs`, RSS sampled after
/// a warm-up and at the end. No error responses besides the aborted requests; connections
/// and handlers back to zero; with `strict`, RSS flat within 10%.
async fn soak(secs: u64, strict: bool) {
    let srv = start(Opts::default());
    let addr = srv.addr;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let warm = Instant::now() + Duration::from_secs(secs / 5);
    let mut workers = Vec::new();
    for w in 0..8u64 {
        workers.push(tokio::spawn(async move {
            let mut rng = Rng::new(0xabcd + w);
            let mut done = 0u64;
            let mut aborted = 0u64;
            while Instant::now() < deadline {
                let path = match rng.below(3) {
                    0 => "/ok",
                    1 => "/slow?ms=20",
                    _ => "/download",
                };
                let abort = path == "/download" || rng.below(10) == 0;
                let proto = if w % 2 == 0 { Proto::H2 } else { Proto::H3 };
                if abort {
                    // Start the request and drop it partway.
                    let f = fetch(addr, proto, "GET", path, None);
                    let _ = tokio::time::timeout(Duration::from_millis(rng.below(50) + 5), f).await;
                    aborted += 1;
                } else {
                    let got = fetch(addr, proto, "GET", path, None).await;
                    assert_eq!(got.map(|g| g.0), Ok(200), "{proto:?} {path}");
                    done += 1;
                }
            }
            (done, aborted)
        }));
    }
    while Instant::now() < warm {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_warm = rss_kib();
    let (mut done, mut aborted) = (0, 0);
    for w in workers {
        let (d, a) = bounded(secs + 120, "soak worker", w).await.unwrap();
        done += d;
        aborted += a;
    }
    srv.settles("soak connections and handlers gone").await;
    let rss_end = rss_kib();
    eprintln!("soak {secs}s: {done} ok, {aborted} aborted, RSS {rss_warm} -> {rss_end} KiB");
    assert!(done > 0);
    if strict {
        assert!(
            (rss_end as f64) <= rss_warm as f64 * 1.10,
            "RSS grew more than 10%: {rss_warm} -> {rss_end} KiB"
        );
    }
    srv.stop().await;
}

/// The short soak that runs with every `cargo test`: 20 seconds, no RSS bound (too short
/// for the allocator to settle), everything else as in the long one.
#[tokio::test]
async fn soak_short() {
    soak(20, false).await;
}

/// The long soak: `TWINPORT_SOAK_SECS=600 cargo test --release --test hardening_soak -- --ignored soak_long`.
#[tokio::test]
#[ignore = "ten minutes; run with --ignored"]
async fn soak_long() {
    let secs = std::env::var("TWINPORT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    soak(secs, true).await;
}
