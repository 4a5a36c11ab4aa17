//! An instance of a fleet restarted on its port after a crash (SIGKILL), with the same
//! `--server-id` and `--fleet-key`: a client of the old process is told at once, by a
//! stateless reset the new process can make, that its connection is gone — not after the
//! idle timeout. With another fleet key, the new process cannot make that reset.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod fleet;

use std::path::Path;
use std::time::{Duration, Instant};

use fleet::{example_ca, key_file};
use twinport_quinn::quinn;
use twinport_testkit::clients::{quic_client_trusting, H3};
use twinport_testkit::servers::ExampleProcess;
use twinport_testkit::{bounded, init_tracing, TempDir};

fn ca_pem() -> Vec<u8> {
    std::fs::read(example_ca()).unwrap()
}

/// Connects to an instance with `first_key`, kills it, starts another on the same port with
/// `second_key`, then asks again: how the connection ended, and when, if within 3 s.
async fn after_a_restart(
    first_key: &Path,
    second_key: &Path,
) -> Option<(quinn::ConnectionError, Duration)> {
    init_tracing();
    let key = first_key.to_str().unwrap();
    let mut first = ExampleProcess::start(&["--server-id", "1", "--fleet-key", key]).await?;
    let addr = first.addr;
    let mut h3 = H3::connect_with(addr, quic_client_trusting(&ca_pem()))
        .await
        .unwrap();
    assert_eq!(h3.get("/whoami").await.status, 200);

    first.child.kill().await.unwrap();
    let key = second_key.to_str().unwrap();
    let addr_arg = addr.to_string();
    let _second =
        ExampleProcess::start(&["--addr", &addr_arg, "--server-id", "1", "--fleet-key", key])
            .await?;
    let asked = Instant::now();
    let send = h3.send.clone();
    let request = tokio::spawn(async move {
        let mut send = send;
        let req = http::Request::get(twinport_testkit::clients::uri("/whoami"))
            .body(())
            .unwrap();
        let _ = send.send_request(req).await;
    });
    let closed = tokio::time::timeout(Duration::from_secs(3), h3.conn.closed()).await;
    request.abort();
    closed.ok().map(|reason| (reason, asked.elapsed()))
}

#[tokio::test]
async fn a_restarted_instance_resets_the_old_processs_connections_at_once() {
    let dir = TempDir::new("fleet-restart");
    let key = key_file(&dir, "fleet.key", 0x11);
    let Some((reason, after)) = bounded(60, "restart", after_a_restart(&key, &key)).await else {
        panic!("the connection was not closed within 3 s of the restart")
    };
    assert!(
        matches!(reason, quinn::ConnectionError::Reset),
        "closed by {reason:?}, not a stateless reset"
    );
    assert!(after < Duration::from_secs(1), "reset after {after:?}");
}

#[tokio::test]
async fn with_another_fleet_key_the_restarted_instance_cannot_reset_them() {
    let dir = TempDir::new("fleet-restart-other");
    let first = key_file(&dir, "a.key", 0x11);
    let second = key_file(&dir, "b.key", 0x22);
    if let Some((reason, after)) = bounded(60, "restart", after_a_restart(&first, &second)).await {
        panic!("closed by {reason:?} after {after:?}: a reset made with another key was accepted")
    }
}

/// The example run with `args`: its exit status and what it printed on stderr.
async fn refused(args: &[&str]) -> Option<(std::process::ExitStatus, String)> {
    let bin = twinport_testkit::servers::example_binary()?;
    let out = bounded(
        60,
        "the example refusing its settings",
        tokio::process::Command::new(bin)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    Some((
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn mistakes_in_the_fleet_settings_stop_the_example_with_a_clear_message() {
    let dir = TempDir::new("fleet-mistakes");
    let readable = key_file(&dir, "readable.key", 0x33);
    std::fs::set_permissions(
        &readable,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let short = dir.path("short.key");
    std::fs::write(&short, "abcd\n").unwrap();
    std::fs::set_permissions(&short, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let readable_arg = readable.to_str().unwrap().to_owned();
    let short_arg = short.to_str().unwrap().to_owned();
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--fleet-key", &readable_arg], &["0644", "chmod 600"]),
        (&["--fleet-key", &short_arg], &["2 bytes", "at least 32"]),
        (&["--workers", "0"], &["workers", "at least 1"]),
        (
            &["--server-id", "0x0102030405060708090a0b0c0d0e0f"],
            &["server_id", "15 bytes"],
        ),
    ];
    for (args, says) in cases {
        let Some((status, stderr)) = refused(args).await else {
            return;
        };
        assert!(!status.success(), "{args:?} was accepted");
        for what in says {
            assert!(stderr.contains(what), "{args:?}: {what:?} not in {stderr}");
        }
    }
}
