//! QUIC workers against another QUIC stack: the example with `--workers 4` (four
//! SO_REUSEPORT sockets on one port, packets steered by connection ID in the kernel, or by
//! the forwarder with `--steering forwarder`), and aioquic clients
//! that migrate (tests/peers/rebind_client.py): each opens one HTTP/3 connection, asks
//! `/whoami`, moves to a new port with a new connection ID and asks again, then to another
//! address (127.0.0.2) with another connection ID and asks again. Every request must be
//! answered on its connection, and the server must see the client's new address.
//! (transports/quinn/tests/workers.rs does the same with quinn's client.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{peer_script, python, run};
use twinport_testkit::servers::ExampleProcess;
use twinport_testkit::{bounded, init_tracing};

/// Trials per run of the peer, and runs: 200 migrating connections (600 requests) in all,
/// about 25 s; each run within the kit's 60 s limit.
const TRIALS: usize = 50;
const RUNS: usize = 4;

fn addr(v: &Value) -> SocketAddr {
    v.as_str()
        .unwrap_or_else(|| panic!("not an address: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// The port of "*:PORT" or "HOST:PORT".
fn port(v: &Value) -> u16 {
    let s = v.as_str().unwrap_or_default();
    s.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aioquic_clients_changing_port_and_address_are_answered_with_kernel_steering() {
    migrating_clients("kernel").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aioquic_clients_changing_port_and_address_are_answered_with_the_forwarder() {
    migrating_clients("forwarder").await;
}

/// 200 migrating aioquic clients against the example with 4 workers and `steering`.
async fn migrating_clients(steering: &str) {
    init_tracing();
    let Some(python) = python("aioquic") else {
        return;
    };
    let Some(server) = ExampleProcess::start(&["--workers", "4", "--steering", steering]).await
    else {
        return;
    };
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/ca.pem");
    let script = peer_script("rebind_client.py");
    let (port_arg, trials_arg) = (server.addr.port().to_string(), TRIALS.to_string());
    let mut answered = 0;
    for r in 0..RUNS {
        let out = bounded(
            60,
            "a run of rebind_client.py",
            run(
                &python,
                &[
                    path_arg(&script),
                    "--port",
                    &port_arg,
                    "--ca",
                    path_arg(&ca),
                    "--trials",
                    &trials_arg,
                    "--timeout",
                    "5",
                ],
            ),
        )
        .await;
        let json: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "rebind_client.py printed no JSON ({e}): {}{}",
                out.stdout, out.stderr
            )
        });
        let trials = json["trials"]
            .as_array()
            .unwrap_or_else(|| panic!("{json}"));
        assert_eq!(trials.len(), TRIALS, "{json}");
        for (i, trial) in trials.iter().enumerate() {
            let t = r * TRIALS + i;
            assert!(trial.get("error").is_none(), "trial {t}: {trial}");
            let steps = trial["steps"].as_array().unwrap();
            let names: Vec<_> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
            assert_eq!(names, ["first", "port", "address"], "trial {t}: {trial}");
            for s in steps {
                assert_eq!(s["status"], 200, "trial {t}: {trial}");
            }
            // The first socket is aioquic's dual-stack "::": only its port is known.
            assert_eq!(
                port(&steps[0]["seen"]),
                port(&steps[0]["local"]),
                "trial {t}: {trial}"
            );
            for s in &steps[1..] {
                assert_eq!(
                    s["cid_changed"], true,
                    "trial {t}: no spare connection ID: {trial}"
                );
                assert_eq!(addr(&s["seen"]), addr(&s["local"]), "trial {t}: {trial}");
            }
            assert_ne!(
                port(&steps[1]["local"]),
                port(&steps[0]["local"]),
                "trial {t}"
            );
            assert_eq!(
                addr(&steps[2]["local"]).ip().to_string(),
                "127.0.0.2",
                "trial {t}"
            );
            answered += steps.len();
        }
    }
    assert_eq!(answered, 3 * TRIALS * RUNS);
    eprintln!(
        "{} aioquic connections, each moved twice: {answered} requests answered",
        TRIALS * RUNS
    );
    drop(server);
}
