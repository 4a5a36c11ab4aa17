//! 0-RTT across the instances of a fleet through a shared session store (in process, aioquic):
//! a ticket from A carries early data to B, once only; replayed, on B or A, it resumes nothing
//! and the request is still answered.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod fleet;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use twinport_quinn::Http3;
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{peer_json, python};
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{init_tracing, Pki, TempDir};

use fleet::*;

/// aioquic asking `GET /info` of the endpoint on `port`: its JSON output and the info.
async fn aioquic_info(python: &Path, port: u16, extra: &[&str]) -> (Value, Value) {
    let mut args = vec!["--request", "GET", "/info"];
    args.extend_from_slice(extra);
    let out = peer_json(python, "h3_client.py", port, &args).await;
    assert!(out.get("error").is_none(), "{out}");
    let reply = &out["responses"][0];
    assert_eq!(reply["status"], 200, "{out}");
    let info = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    (out, info)
}

#[tokio::test]
async fn zero_rtt_through_a_shared_store_crosses_instances_once() {
    let Some(python) = python("aioquic") else {
        return;
    };
    init_tracing();
    let key = fleet_key(3);
    let store = Arc::new(SharedStore::default());
    let tls = Pki::get()
        .server_tls()
        .early_data(true)
        .fleet_key(&key)
        .session_store(store.clone());
    let instance = || {
        let endpoint = Http3::builder(&tls)
            .http3()
            .fleet_key(&key)
            .bind("127.0.0.1:0".parse().unwrap())
            .unwrap();
        serve_http3(endpoint)
    };
    let (a, b) = (instance(), instance());
    let dir = TempDir::new("fleet-0rtt");
    let ticket = dir.path("ticket");
    let save = ["--save-ticket", path_arg(&ticket)];
    let load = ["--load-ticket", path_arg(&ticket)];

    // A full handshake with A; its ticket allows early data.
    let (out, info) = aioquic_info(&python, a.addr.port(), &save).await;
    assert_eq!(out["ticket_max_early_data"], u32::MAX, "{out}");
    assert_eq!(info["early_data"], false, "{info}");
    assert!(store.stored() > 0, "A stored no session");

    // B resumes it from the shared store and takes the request as early data.
    let (out, info) = aioquic_info(&python, b.addr.port(), &load).await;
    assert_eq!(out["resumed"], true, "{out}");
    assert_eq!(out["early_data_accepted"], true, "{out}");
    assert_eq!(info["early_data"], true, "{info}");
    assert_eq!(info["local"], b.addr.to_string(), "{info}");
    assert_eq!(store.taken(), 1);

    // The same ticket again, on either instance: taken already, so no resumption and no
    // early data; the request is still answered, after a full handshake.
    for (name, again) in [("B", &b), ("A", &a)] {
        let (out, info) = aioquic_info(&python, again.addr.port(), &load).await;
        assert_eq!(out["resumed"], false, "replayed on {name}: {out}");
        assert_eq!(
            out["early_data_accepted"], false,
            "replayed on {name}: {out}"
        );
        assert_eq!(info["early_data"], false, "replayed on {name}: {info}");
    }
    assert_eq!(store.taken(), 1);

    a.stop(Duration::from_secs(1)).await;
    b.stop(Duration::from_secs(1)).await;
}
