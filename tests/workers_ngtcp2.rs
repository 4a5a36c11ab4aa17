//! ngtcp2's client (`gtlsclient`) changes its address (`--change-local-addr`, with and
//! without `--nat-rebinding`) against the example with `--workers 4`, and its request after
//! the change is answered.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod fleet;

use serde_json::Value;
use twinport_testkit::peers::{require, run};
use twinport_testkit::servers::ExampleProcess;
use twinport_testkit::TempDir;

/// The address gtlsclient says it moved to ("Local address is now [127.0.0.1]:PORT").
fn moved_to(output: &str) -> Option<String> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("Local address is now "))?;
    Some(line.trim().replace(['[', ']'], ""))
}

#[tokio::test]
async fn ngtcp2_changing_its_address_mid_connection_is_answered_by_the_example_with_workers() {
    let Some(gtls) = require("gtlsclient") else {
        return;
    };
    let Some(example) = ExampleProcess::start(&["--workers", "4", "--server-id", "1"]).await else {
        return;
    };
    let port = example.addr.port().to_string();
    let url = format!("https://localhost:{port}/whoami");
    // gtlsclient has no option for a CA: it does not verify the dev certificate.
    for (mode, extra) in [
        ("a new port, validated", &[][..]),
        ("NAT rebinding", &["--nat-rebinding"][..]),
    ] {
        for trial in 0..5 {
            let dir = TempDir::new("fleet-gtls");
            let download = format!("--download={}", dir.dir().display());
            let mut args = vec![
                "--exit-on-all-streams-close",
                "--no-quic-dump",
                "--sni=localhost",
                "--timeout=10s",
                &download,
                // The address changes 100 ms after the handshake; the request goes at 500 ms.
                "--change-local-addr=100ms",
                "--delay-stream=500ms",
            ];
            args.extend_from_slice(extra);
            args.extend_from_slice(&["127.0.0.1", &port, &url]);
            let out = run(&gtls, &args).await;
            let all = format!("{}\n{}", out.stdout, out.stderr);
            assert!(
                out.success,
                "{mode}, trial {trial}: gtlsclient failed:\n{all}"
            );
            let new_addr = moved_to(&all)
                .unwrap_or_else(|| panic!("{mode}, trial {trial}: no address change:\n{all}"));
            let body = std::fs::read_to_string(dir.path("whoami")).unwrap_or_default();
            let whoami: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
                panic!("{mode}, trial {trial}: no /whoami JSON ({e}): {body:?}\n{all}")
            });
            assert_eq!(whoami["protocol"], "HTTP/3", "{whoami}");
            // The request came from the new address, on the connection made from the old one.
            assert_eq!(
                whoami["remote_addr"],
                new_addr.as_str(),
                "{mode}, trial {trial}"
            );
            let after = &all[all.find("Local address is now").unwrap()..];
            let client_validates = has_frame(after, "tx", "PATH_CHALLENGE");
            if extra.is_empty() {
                assert!(
                    client_validates,
                    "{mode}, trial {trial}: no PATH_CHALLENGE sent:\n{all}"
                );
            } else {
                // The client moved silently; the server validated the new path itself.
                assert!(!client_validates, "{mode}, trial {trial}:\n{all}");
                assert!(
                    has_frame(after, "rx", "PATH_CHALLENGE")
                        && has_frame(after, "tx", "PATH_RESPONSE"),
                    "{mode}, trial {trial}: the server did not validate the new path:\n{all}"
                );
            }
        }
    }
}

/// Whether ngtcp2's log has a `frame` frame received (`rx`) or sent (`tx`).
fn has_frame(log: &str, direction: &str, frame: &str) -> bool {
    log.lines()
        .any(|l| l.contains(&format!("frm {direction} ")) && l.contains(&format!(" {frame}(")))
}
