#![allow(clippy::unwrap_used)]
//! Headless Chromium against the example's app on the kit's server, running the kit's
//! WebTransport page (`testkit/src/app/browser.rs`) and the example's own page (with
//! `?report=/kit/report`), which POST what they saw back to the server. (Chromium against the
//! example binary: tests/interop.rs.) A missing Chromium is skipped with a printed reason,
//! unless TWINPORT_REQUIRE_PEERS=1.

use http::Version;
use serde_json::Value;
use twinport_testkit::apps::browser::versions_of;
use twinport_testkit::browsers::{assert_page_webtransport_echo, Chromium};
use twinport_testkit::pki::Mtls;
use twinport_testkit::servers::start_example;
use twinport_testkit::Pki;

/// The example's own page over HTTP/3 (QUIC forced: Chromium does not follow Alt-Svc to a
/// private CA's certificate), running its WebTransport echo on load (`?wt=1`) and POSTing what
/// it saw (`?report=/kit/report`) — in real time, nothing read from a DOM dump.
#[tokio::test]
async fn chromium_loads_the_examples_page_over_http3_and_runs_its_webtransport_echo() {
    let Some(chromium) = Chromium::require() else {
        return;
    };
    let server = start_example(Mtls::Off);
    let addr = server.addr;
    let url = format!("https://{addr}/?wt=1&report=/kit/report");
    let forced = format!("--origin-to-force-quic-on={addr}");
    let flags = ["--enable-quic", forced.as_str()];
    let mut run = chromium.open(&url, &Pki::get().server_spki(), &flags).await;
    let report = run.report(&server.reports, "index").await;
    run.close().await;

    assert_page_webtransport_echo(&report);
    // The server served the page over HTTP/3, the only time it was asked for.
    let served = server.reports.served();
    let pages = versions_of(&served, "/");
    assert_eq!(pages, [Version::HTTP_3], "{served:?}");
    server.stop().await;
}

/// The kit's WebTransport page in Chromium with `extra` flags: the page's report, and the
/// WebTransport draft Chromium's net-log says it negotiated.
async fn webtransport_report(chromium: &Chromium, extra: &[&str]) -> (Value, Option<String>) {
    let server = start_example(Mtls::Off);
    let addr = server.addr;
    let url = format!("https://{addr}/kit/wt.html");
    let forced = format!("--origin-to-force-quic-on={addr}");
    let mut flags = vec!["--enable-quic", forced.as_str()];
    flags.extend_from_slice(extra);
    let mut run = chromium.open(&url, &Pki::get().server_spki(), &flags).await;
    let report = run.report(&server.reports, "wt").await;
    let netlog = std::fs::read_to_string(run.profile_path("netlog.json")).unwrap_or_default();
    run.close().await;
    server.stop().await;
    (report, negotiated_draft(&netlog))
}

/// The `webtransport_http3_version` of the net-log's QUIC_SESSION_WEBTRANSPORT_SESSION_READY.
fn negotiated_draft(netlog: &str) -> Option<String> {
    let key = "\"webtransport_http3_version\":\"";
    let start = netlog.find(key)? + key.len();
    let end = netlog[start..].find('"')?;
    Some(netlog[start..start + end].to_owned())
}

fn assert_echoes(report: &Value) {
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["bidi"], "hello bidi", "{report}");
    assert_eq!(report["uni"], "hello uni", "{report}");
    assert_eq!(report["datagram"], "hello datagram", "{report}");
    assert_eq!(report["whoami"]["protocol"], "HTTP/3", "{report}");
    assert_eq!(report["whoami"]["transport"], "quic", "{report}");
}

#[tokio::test]
async fn chromium_runs_a_draft02_session_against_the_example() {
    let Some(chromium) = Chromium::require() else {
        return;
    };
    let (report, draft) = webtransport_report(&chromium, &[]).await;
    assert_echoes(&report);
    assert_eq!(draft.as_deref(), Some("draft-02"), "{report}");
    assert_eq!(
        report["whoami"]["webtransport_draft"], "draft-02",
        "{report}"
    );
}

#[tokio::test]
async fn chromium_sees_the_servers_close_code_and_reason() {
    let Some(chromium) = Chromium::require() else {
        return;
    };
    let (report, _) = webtransport_report(&chromium, &[]).await;
    // The server closed the session with code 4242; the page saw the code and the reason.
    assert_eq!(report["closed"]["closeCode"], 4242, "{report}");
    assert_eq!(report["closed"]["reason"], "closed on request", "{report}");
}

#[tokio::test]
async fn chromium_negotiates_draft07_when_the_server_offers_it() {
    let Some(chromium) = Chromium::require() else {
        return;
    };
    let flag = "--enable-features=EnableWebTransportDraft07";
    let (report, draft) = webtransport_report(&chromium, &[flag]).await;
    assert_echoes(&report);
    assert_eq!(draft.as_deref(), Some("draft-07"), "{report}");
    // The server's session says so too.
    assert_eq!(
        report["whoami"]["webtransport_draft"], "draft-07",
        "{report}"
    );
}

/// The example's page reports its WebSocket echo too (`?ws=1&report=/kit/report`): Chromium
/// opens the socket on the page's HTTP/2 connection (RFC 8441), as the server's first message
/// says.
#[tokio::test]
async fn chromium_reports_the_examples_websocket_echo_over_http2() {
    let Some(chromium) = Chromium::require() else {
        return;
    };
    let server = start_example(Mtls::Off);
    let url = format!("https://{}/?ws=1&report=/kit/report", server.addr);
    let mut run = chromium.open(&url, &Pki::get().server_spki(), &[]).await;
    let report = run.report(&server.reports, "index").await;
    run.close().await;

    assert_eq!(report["next_hop"], "h2", "{report}");
    assert_eq!(report["whoami_protocol"], "HTTP/2", "{report}");
    let ws = &report["ws"];
    assert_eq!(ws["status"], "done", "{report}");
    assert_eq!(ws["protocol"], "HTTP/2", "{report}");
    assert_eq!(ws["echo"], "hello websocket", "{report}");
    assert_eq!(ws["closed"]["clean"], true, "{report}");
    assert_eq!(ws["closed"]["code"], 1000, "{report}");
    assert!(report["wt"].is_null(), "{report}");
    server.stop().await;
}

/// The example's page in Chromium over HTTP/2, then over HTTP/3 (QUIC forced): twinport's
/// `/whoami` and Chromium's own net-log both name the post-quantum hybrid group X25519MLKEM768
/// (0x11ec): for TLS the `key_exchange_group` of its SSL_CONNECT, for QUIC the key share of
/// the ServerHello it received (its CRYPTO frames are logged as bytes).
#[tokio::test]
async fn chromium_and_twinport_agree_on_x25519mlkem768_over_http2_and_http3() {
    let Some(chromium) = Chromium::require() else {
        return;
    };
    let server = start_example(Mtls::Off);
    let addr = server.addr;
    let url = format!("https://{addr}/?report=/kit/report");
    let forced = format!("--origin-to-force-quic-on={addr}");
    for (protocol, flags) in [
        ("HTTP/2", vec!["--disable-quic"]),
        ("HTTP/3", vec!["--enable-quic", forced.as_str()]),
    ] {
        let mut run = chromium.open(&url, &Pki::get().server_spki(), &flags).await;
        let report = run.report(&server.reports, "index").await;
        let netlog = std::fs::read_to_string(run.profile_path("netlog.json")).unwrap_or_default();
        run.close().await;
        let whoami = &report["whoami"];
        assert_eq!(whoami["protocol"], protocol, "{report}");
        assert_eq!(whoami["key_exchange_group"], "X25519MLKEM768", "{report}");
        let mut groups = netlog_groups(&netlog);
        groups.extend(server_hello_groups(&netlog));
        assert!(
            !groups.is_empty(),
            "{protocol}: no key exchange in the net-log"
        );
        assert!(
            groups.iter().all(|g| *g == 0x11ec),
            "{protocol}: {groups:x?}"
        );
    }
    server.stop().await;
}

/// Every `key_exchange_group` Chromium's net-log records (one per TLS or QUIC handshake).
fn netlog_groups(netlog: &str) -> Vec<u64> {
    let key = "\"key_exchange_group\":";
    netlog
        .match_indices(key)
        .filter_map(|(i, _)| {
            let rest = &netlog[i + key.len()..];
            let end = rest.find(|c: char| !c.is_ascii_digit())?;
            rest[..end].parse().ok()
        })
        .collect()
}

/// The key-share group of every ServerHello in the net-log's QUIC CRYPTO frames.
fn server_hello_groups(netlog: &str) -> Vec<u64> {
    use base64::Engine;
    let key = "\"bytes\":\"";
    netlog
        .match_indices(key)
        .filter_map(|(i, _)| {
            let rest = &netlog[i + key.len()..];
            let b64 = &rest[..rest.find('"')?];
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            server_hello_key_share(&bytes)
        })
        .collect()
}

/// The group of a TLS 1.3 ServerHello's key_share extension (RFC 8446 §4.1.3, §4.2.8).
fn server_hello_key_share(msg: &[u8]) -> Option<u64> {
    if *msg.first()? != 2 {
        return None;
    }
    // type, length, legacy_version, random
    let sid_len = usize::from(*msg.get(38)?);
    let mut at = 39 + sid_len + 3; // session id, cipher suite, compression
    let ext_end = at + 2 + usize::from(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]));
    at += 2;
    while at + 4 <= ext_end {
        let ty = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
        let len = usize::from(u16::from_be_bytes([*msg.get(at + 2)?, *msg.get(at + 3)?]));
        if ty == 0x0033 {
            return Some(u64::from(u16::from_be_bytes([
                *msg.get(at + 4)?,
                *msg.get(at + 5)?,
            ])));
        }
        at += 4 + len;
    }
    None
}
