//! HTTP/2 conformance: h2spec 2.6.0 (`../shared/tools/h2spec`, or `h2spec` on `PATH`) against
//! the example's app over TLS, on a path answered at once (`/`) and on one whose response
//! stays open (`/bytes/104857600`): every check passes, every run. Against an instant
//! response, a client's violation can arrive after the response has ended the stream; the
//! server must still answer it as RFC 9113 says.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use twinport_testkit::fs::workspace;
use twinport_testkit::peers::{find, missing, run};
use twinport_testkit::pki::Mtls;
use twinport_testkit::servers::start_example;

/// Runs per path: the instant path's misses depended on timing.
const RUNS: usize = 5;

fn h2spec() -> Option<PathBuf> {
    let shared = workspace().join("../shared/tools/h2spec");
    find("h2spec")
        .or_else(|| shared.is_file().then_some(shared))
        .or_else(|| missing("h2spec is not on PATH nor at ../shared/tools/h2spec"))
}

async fn conformance(path: &str) {
    let Some(h2spec) = h2spec() else { return };
    let example = start_example(Mtls::Off);
    let port = example.addr.port().to_string();
    for run_no in 1..=RUNS {
        let args = [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "-k",
            "-o",
            "3",
            "-P",
            path,
        ];
        let out = run(&h2spec, &args).await;
        let failed: Vec<&str> = out
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("Failures:"))
            .collect();
        assert!(
            out.stdout
                .contains("146 tests, 146 passed, 0 skipped, 0 failed"),
            "h2spec run {run_no} on {path}:\n{}\n{}",
            failed.join("\n"),
            out.stdout.lines().last().unwrap_or_default(),
        );
    }
    assert_eq!(example.stop().await.cut, 0);
}

#[tokio::test]
async fn h2spec_passes_on_a_path_answered_at_once() {
    conformance("/").await;
}

#[tokio::test]
async fn h2spec_passes_on_a_path_whose_response_stays_open() {
    conformance("/bytes/104857600").await;
}
