#![allow(clippy::unwrap_used)]
//! Hardening against HTTP/2 floods on one connection: Rapid Reset and CONTINUATION.
//!
//! What every hardening test checks: `hardening/mod.rs`.

mod hardening;

use std::time::Duration;

use hardening::served_after;
use tokio::io::AsyncWriteExt;
use twinport_testkit::bounded;
use twinport_testkit::clients::tls_connect;
use twinport_testkit::frames::{
    h2_frame, h2_read, hpack_get_ok, hpack_literal, says_431, END_HEADERS, END_STREAM,
    H2_CONTINUATION, H2_GOAWAY, H2_HEADERS, H2_PREFACE, H2_RST_STREAM, H2_SETTINGS,
};
use twinport_testkit::servers::{start, Opts};
use twinport_testkit::sys::cpu_time;

/// Attack: HTTP/2 Rapid Reset — HEADERS immediately followed by RST_STREAM, thousands of
/// times on one connection. The server must answer with GOAWAY (ENHANCE_YOUR_CALM) or close
/// the connection long before the flood ends, using bounded CPU.
#[tokio::test]
async fn http2_rapid_reset_gets_goaway() {
    let srv = start(Opts::default());
    let tls = tls_connect(srv.addr, &[b"h2"], None).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let cpu_before = cpu_time();
    let reader = tokio::spawn(async move {
        let mut goaway = None;
        while let Some((ty, _, _, p)) = h2_read(&mut rd).await {
            if ty == H2_GOAWAY && p.len() >= 8 {
                let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
                let code = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                goaway = Some((code, last));
            }
        }
        goaway
    });
    wr.write_all(H2_PREFACE).await.unwrap();
    wr.write_all(&h2_frame(H2_SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    let block = hpack_get_ok();
    let mut sent = 0u32;
    let mut batch = Vec::new();
    let total: u32 = 100_000;
    for i in 0..total {
        let id = 1 + 2 * i;
        batch.extend(h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, id, &block));
        batch.extend(h2_frame(H2_RST_STREAM, 0, id, &8u32.to_be_bytes()));
        if batch.len() > 16 * 1024 {
            if wr.write_all(&batch).await.is_err() {
                break;
            }
            batch.clear();
        }
        sent = i + 1;
        if reader.is_finished() {
            break;
        }
    }
    let goaway = bounded(30, "the server ends the connection", reader)
        .await
        .unwrap();
    let cpu = cpu_time().saturating_sub(cpu_before);
    eprintln!("rapid reset: {sent} streams sent, GOAWAY {goaway:?}, CPU {cpu:?}");
    let (code, last) = goaway.expect("no GOAWAY");
    assert_eq!(code, 0xb, "expected GOAWAY ENHANCE_YOUR_CALM");
    // The client's writes land in socket buffers, so it may send them all; what matters is
    // how far the server went: the last stream it processed.
    assert!(
        last < total / 10,
        "the server processed streams up to {last}"
    );
    // A loose sanity bound: the flood must not turn into seconds of work per thousand frames.
    assert!(cpu < Duration::from_secs(30), "CPU {cpu:?}");
    served_after(srv, "rapid reset").await;
}

/// Attack: HTTP/2 CONTINUATION flood — a HEADERS frame without END_HEADERS followed by an
/// endless run of CONTINUATION frames. The server must end the stream or the connection
/// before it has buffered much: we stop counting at 64 MiB.
#[tokio::test]
async fn http2_continuation_flood_is_cut_off() {
    let srv = start(Opts::default());
    let tls = tls_connect(srv.addr, &[b"h2"], None).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some((ty, _, stream, payload)) = h2_read(&mut rd).await {
            seen.push((ty, stream, payload));
            if ty == H2_GOAWAY || ty == H2_RST_STREAM {
                break;
            }
        }
        seen
    });
    wr.write_all(H2_PREFACE).await.unwrap();
    wr.write_all(&h2_frame(H2_SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    wr.write_all(&h2_frame(H2_HEADERS, 0, 1, &hpack_get_ok()))
        .await
        .unwrap();
    let mut one = Vec::new();
    hpack_literal("x-flood", &[b'a'; 1000], &mut one);
    let frame = h2_frame(H2_CONTINUATION, 0, 1, &one);
    let mut sent = 0usize;
    while sent < 64 << 20 && !reader.is_finished() {
        let batch: Vec<u8> = frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * 16)
            .collect();
        if bounded(30, "writing CONTINUATION", wr.write_all(&batch))
            .await
            .is_err()
        {
            break;
        }
        sent += batch.len();
    }
    let seen = bounded(30, "the server reacts", reader).await.unwrap();
    let kinds: Vec<u8> = seen.iter().map(|s| s.0).collect();
    eprintln!("continuation flood: {sent} bytes sent, server frames {kinds:?}");
    assert!(
        sent < 64 << 20,
        "the server took 64 MiB of CONTINUATION frames"
    );
    assert!(
        kinds.contains(&H2_GOAWAY)
            || kinds.contains(&H2_RST_STREAM)
            || seen.iter().any(|s| s.0 == H2_HEADERS && says_431(&s.2)),
        "no GOAWAY, RST_STREAM or 431: {kinds:?}"
    );
    served_after(srv, "the CONTINUATION flood").await;
}
