//! Browsers as test peers, without a browser driver: headless [`Firefox`] and [`Chromium`],
//! each in a fresh profile, one browser at a time per test process (two on a 2-core machine
//! starve each other's pages). The kit's pages ([`browser`](crate::apps::browser)), and the
//! example's own page opened with `?report=/kit/report`, POST what they saw to the server;
//! [`BrowserRun::report`] waits for that, and the browser's whole process group is killed on
//! every path.
//!
//! - Firefox trusts the test CA through its profile's NSS database (`certutil`, from
//!   libnss3-tools), its `user.js` turns off everything that would reach for the internet
//!   (first-run pages, telemetry, updates, safe browsing, captive portal detection, remote
//!   settings...), and nothing forces QUIC: it moves to HTTP/3 through Alt-Svc on its own.
//! - Chromium trusts the server by its key (`--ignore-certificate-errors-spki-list`); it can
//!   also hand back the page's DOM ([`Chromium::dom`], [`shown`]).

mod chromium;
mod firefox;
mod run;

pub use chromium::{shown, Chromium};
pub use firefox::Firefox;
pub use run::BrowserRun;

use tokio::sync::Mutex;

/// Asserts that the example page's report (`?wt=1&report=...`) says its WebTransport echo
/// worked over HTTP/3: the page itself and `/whoami` over HTTP/3, every echo back.
pub fn assert_page_webtransport_echo(report: &serde_json::Value) {
    assert_eq!(report["next_hop"], "h3", "{report}");
    assert_eq!(report["whoami_protocol"], "HTTP/3", "{report}");
    let wt = &report["wt"];
    assert_eq!(wt["status"], "done", "{report}");
    assert!(wt["error"].is_null(), "{report}");
    assert_eq!(wt["bidi"], "hello bidi", "{report}");
    assert_eq!(wt["uni"], "hello uni", "{report}");
    assert_eq!(wt["datagram"], "hello datagram", "{report}");
}

/// Held while a browser runs: one at a time per test process.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());
