#![allow(clippy::unwrap_used)]
//! Headless Firefox against the example's app (the kit's server, with the pages of
//! `testkit/src/app/browser.rs`): it trusts the test CA through its profile, nothing forces
//! QUIC, and the pages — the kit's and the example's own, with `?report=/kit/report` — POST
//! what they saw back to the server. A missing Firefox or certutil is
//! skipped with a printed reason, unless TWINPORT_REQUIRE_PEERS=1 (as .ci/run sets).

use http::Version;
use serde_json::Value;
use twinport_testkit::apps::browser::{versions_of, Served};
use twinport_testkit::browsers::{assert_page_webtransport_echo, Firefox};
use twinport_testkit::pki::Mtls;
use twinport_testkit::servers::start_example;
use twinport_testkit::Pki;

/// What one page run left: the page's report (with the server's address added as
/// `server_addr`) and every request the server served.
struct PageRun {
    report: Value,
    served: Vec<Served>,
}

/// Opens `path` of the example's app (the kit's server) in Firefox and waits for the report
/// of the page named `page`; the server is stopped after.
async fn firefox_run(firefox: &Firefox, path: &str, page: &str) -> PageRun {
    let files = Pki::get().write_files();
    let server = start_example(Mtls::Off);
    let url = format!("https://localhost:{}{path}", server.addr.port());
    let mut run = firefox.open(&url, &files.ca()).await;
    let mut report = run.report(&server.reports, page).await;
    run.close().await;
    report["server_addr"] = server.addr.to_string().into();
    let served = server.reports.served();
    server.stop().await;
    PageRun { report, served }
}

#[tokio::test]
async fn firefox_starts_on_http2_and_moves_to_http3_through_alt_svc() {
    let Some(firefox) = Firefox::require() else {
        return;
    };
    let PageRun { report, served } = firefox_run(&firefox, "/kit/altsvc.html", "altsvc").await;

    assert!(report["error"].is_null(), "{report}");
    let seen = report["seen"].as_array().unwrap();
    let said: Vec<&str> = seen
        .iter()
        .map(|s| s["server_saw"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        said.last().copied(),
        Some("HTTP/3"),
        "never HTTP/3: {report}"
    );
    // The browser agrees: the page came over HTTP/2, the last fetch over HTTP/3.
    assert_eq!(report["page_next_hop"], "h2", "{report}");
    let hops = report["fetch_next_hop"].as_array().unwrap();
    assert_eq!(hops.last().and_then(Value::as_str), Some("h3"), "{report}");
    // What the server saw: the first request (the page) on HTTP/2 (its answer carries the
    // Alt-Svc that the curl tests of tests/interop.rs check)...
    assert_eq!(served[0].path, "/kit/altsvc.html", "{served:?}");
    assert_eq!(served[0].version, Version::HTTP_2, "{served:?}");
    // ...and the later ones on HTTP/3: the fetch that ended the loop, and the report.
    let fetched = versions_of(&served, "/whoami");
    assert_eq!(fetched.last(), Some(&Version::HTTP_3), "{served:?}");
    let posted = versions_of(&served, "/kit/report");
    assert_eq!(posted.first(), Some(&Version::HTTP_3), "{served:?}");
}

/// The example's own page, as a user would open it, with `?h3=1`: Firefox loads it over
/// HTTP/2, learns of HTTP/3 from its Alt-Svc, and once its fetches come over QUIC the page
/// loads itself again, now over HTTP/3, runs its WebTransport echo (`?wt=1`) and POSTs what it
/// saw (`?report=/kit/report`).
#[tokio::test]
async fn firefox_loads_the_examples_page_over_http3_and_runs_its_webtransport_echo() {
    let Some(firefox) = Firefox::require() else {
        return;
    };
    let page = "/?h3=1&wt=1&report=/kit/report";
    let PageRun { report, served } = firefox_run(&firefox, page, "index").await;

    // The browser says the page that ran came over HTTP/3, on its second load, and its
    // WebTransport echo worked.
    assert_eq!(
        report["url"], "/?h3=2&wt=1&report=%2Fkit%2Freport",
        "{report}"
    );
    assert_page_webtransport_echo(&report);
    assert!(report["ws"].is_null(), "{report}");
    // The server saw the page asked for over HTTP/2 first (its answer carries the Alt-Svc),
    // then over HTTP/3, and the report came over HTTP/3.
    let pages = versions_of(&served, "/");
    assert_eq!(pages, [Version::HTTP_2, Version::HTTP_3], "{served:?}");
    assert_eq!(served[0].path, "/", "{served:?}");
    let posted = versions_of(&served, "/kit/report");
    assert_eq!(posted.first(), Some(&Version::HTTP_3), "{served:?}");
}

#[tokio::test]
async fn firefox_runs_a_webtransport_session_against_the_example() {
    let Some(firefox) = Firefox::require() else {
        return;
    };
    let report = firefox_run(&firefox, "/kit/wt.html", "wt").await.report;
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["bidi"], "hello bidi", "{report}");
    assert_eq!(report["uni"], "hello uni", "{report}");
    assert_eq!(report["datagram"], "hello datagram", "{report}");
    // The session's ConnectionInfo, as the handler saw it.
    let whoami = &report["whoami"];
    assert_eq!(whoami["protocol"], "HTTP/3", "{report}");
    assert_eq!(whoami["alpn"], "h3", "{report}");
    assert_eq!(whoami["transport"], "quic", "{report}");
    assert_eq!(whoami["sni"], "localhost", "{report}");
    assert_eq!(whoami["tls_version"], "TLSv1.3", "{report}");
    assert_eq!(whoami["local_addr"], report["server_addr"], "{report}");
    assert_eq!(whoami["webtransport_draft"], "draft-02", "{report}");
    // The session ended when the server closed it (how cleanly: the next test).
    assert!(!report["closed"].is_string(), "{report}");
}

#[tokio::test]
async fn firefox_sees_the_servers_close_code_and_reason() {
    let Some(firefox) = Firefox::require() else {
        return;
    };
    let report = firefox_run(&firefox, "/kit/wt.html", "wt").await.report;
    // The server closed the session with code 4242; the page saw the code and the reason.
    assert_eq!(report["closed"]["closeCode"], 4242, "{report}");
    assert_eq!(report["closed"]["reason"], "closed on request", "{report}");
}
