//! In process, two `twinport_quinn::Http3` endpoints of one fleet that send a Retry to every
//! client without a token: a NEW_TOKEN from A spares the Retry on B (quinn's client with its
//! token store); a token of another fleet does not.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod fleet;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use twinport::fleet::FleetKey;
use twinport_quinn::{quinn, AddressValidation, Http3, QuicConfig, WorkerStats};
use twinport_testkit::servers::{serve_http3, Http3Server};
use twinport_testkit::{bounded, init_tracing, Pki};

use fleet::*;

/// An HTTP/3 endpoint on 127.0.0.1 of the fleet `key` that sends a Retry to every client
/// without a token, serving the kit's info app; its counters.
fn validating_instance(key: &FleetKey) -> (Http3Server, WorkerStats) {
    init_tracing();
    let tls = Pki::get().server_tls().fleet_key(key);
    let endpoint = Http3::builder(&tls)
        .http3()
        .quic_config(QuicConfig::default().address_validation(AddressValidation::Always))
        .fleet_key(key)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let stats = endpoint.worker_stats();
    (serve_http3(endpoint), stats)
}

/// quinn's own token store, counting the NEW_TOKEN frames it was given and the tokens it
/// offered.
#[derive(Default)]
struct CountingTokens {
    cache: quinn::TokenMemoryCache,
    received: AtomicUsize,
    offered: AtomicUsize,
}

impl quinn::TokenStore for CountingTokens {
    fn insert(&self, server_name: &str, token: Bytes) {
        self.received.fetch_add(1, Ordering::SeqCst);
        self.cache.insert(server_name, token);
    }

    fn take(&self, server_name: &str) -> Option<Bytes> {
        let token = self.cache.take(server_name);
        if token.is_some() {
            self.offered.fetch_add(1, Ordering::SeqCst);
        }
        token
    }
}

/// A QUIC client of the kit's CA with `tokens` as its token store.
fn client_with(tokens: &Arc<CountingTokens>) -> quinn::ClientConfig {
    let mut config = Pki::get().quic_client(None);
    config.token_store(tokens.clone());
    config
}

/// A handshake with `addr` as `localhost` from a new client socket; closed at once.
async fn handshake(config: &quinn::ClientConfig, addr: SocketAddr) -> quinn::Connection {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connecting = endpoint
        .connect_with(config.clone(), addr, "localhost")
        .unwrap();
    bounded(10, "the QUIC handshake", connecting).await.unwrap()
}

/// Connects to A and waits for its NEW_TOKEN; the client's config, holding it.
async fn token_from(a: &Http3Server) -> (quinn::ClientConfig, Arc<CountingTokens>) {
    let tokens = Arc::new(CountingTokens::default());
    let config = client_with(&tokens);
    let conn = handshake(&config, a.addr).await;
    bounded(10, "A's NEW_TOKEN", async {
        while tokens.received.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    conn.close(0u32.into(), b"");
    (config, tokens)
}

fn retries(stats: &WorkerStats) -> u64 {
    stats.snapshot().iter().map(|s| s.retries).sum()
}

fn connections(stats: &WorkerStats) -> u64 {
    stats.snapshot().iter().map(|s| s.connections).sum()
}

#[tokio::test]
async fn a_new_token_from_one_instance_spares_the_retry_on_another() {
    let key = fleet_key(1);
    let (a, a_stats) = validating_instance(&key);
    let (b, b_stats) = validating_instance(&key);

    let (config, tokens) = token_from(&a).await;
    // A validated the fresh client's address with a Retry.
    assert_eq!(retries(&a_stats), 1, "{:?}", a_stats.snapshot());
    assert_eq!(connections(&a_stats), 1, "{:?}", a_stats.snapshot());
    assert_eq!(tokens.offered.load(Ordering::SeqCst), 0);

    // B takes A's token as proof of the address: no Retry.
    let conn = handshake(&config, b.addr).await;
    conn.close(0u32.into(), b"");
    assert_eq!(tokens.offered.load(Ordering::SeqCst), 1);
    assert_eq!(retries(&b_stats), 0, "{:?}", b_stats.snapshot());
    assert_eq!(connections(&b_stats), 1, "{:?}", b_stats.snapshot());

    // A client without a token is sent a Retry by B.
    let fresh = client_with(&Arc::default());
    let conn = handshake(&fresh, b.addr).await;
    conn.close(0u32.into(), b"");
    assert_eq!(retries(&b_stats), 1, "{:?}", b_stats.snapshot());
    assert_eq!(connections(&b_stats), 2, "{:?}", b_stats.snapshot());

    a.stop(Duration::from_secs(1)).await;
    b.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_new_token_of_another_fleet_key_does_not_spare_the_retry() {
    let (a, a_stats) = validating_instance(&fleet_key(1));
    let (b, b_stats) = validating_instance(&fleet_key(2));
    let (config, tokens) = token_from(&a).await;
    assert_eq!(retries(&a_stats), 1, "{:?}", a_stats.snapshot());
    let conn = handshake(&config, b.addr).await;
    conn.close(0u32.into(), b"");
    // The client offered A's token, and B sent a Retry anyway.
    assert_eq!(tokens.offered.load(Ordering::SeqCst), 1);
    assert_eq!(retries(&b_stats), 1, "{:?}", b_stats.snapshot());
    assert_eq!(connections(&b_stats), 1, "{:?}", b_stats.snapshot());
    a.stop(Duration::from_secs(1)).await;
    b.stop(Duration::from_secs(1)).await;
}
