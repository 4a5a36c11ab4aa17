//! What `ConnectionInfo` costs per request: stamping it on a request and reading it back.
//!
//! Run with: `cargo bench --manifest-path bench/Cargo.toml --bench connection_info`
//!
//! divan's allocation profiler counts the allocations of each benchmark: a clone and a read
//! allocate nothing; inserting into a request's extensions allocates what `http::Extensions`
//! always allocates for any extension (its map, on the first insert, and a box for the value).

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use divan::{black_box, AllocProfiler, Bencher};
use futures_util::FutureExt;
use http::Request;
use tower::{Layer, Service};
use twinport::{extract::AddConnectionInfoLayer, ConnectionInfo, ConnectionInfoExt, connection_info::TlsInfo, connection_info::TransportKind};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    divan::main();
}

fn info() -> ConnectionInfo {
    ConnectionInfo::builder(TransportKind::Tcp)
        .remote_addr("203.0.113.7:50000".parse().expect("an address"))
        .local_addr("127.0.0.1:4433".parse().expect("an address"))
        .alpn(b"h2".to_vec())
        .tls(TlsInfo::builder().server_name("localhost").build())
        .build()
}

/// The transports' per-request step, alone: one `Arc` increment (and its decrement).
#[divan::bench]
fn clone(b: Bencher) {
    let info = info();
    b.bench_local(|| black_box(&info).clone());
}

/// A request's extensions get the info: a clone plus `http::Extensions::insert` into an
/// empty map, as on a fresh hyper or h3 request.
#[divan::bench]
fn stamp_fresh_request(b: Bencher) {
    let info = info();
    b.with_inputs(|| Request::new(()))
        .bench_local_values(|mut req| {
            req.extensions_mut().insert(info.clone());
            req
        });
}

/// The same through the `AddConnectionInfo` tower middleware, around a service that does
/// nothing.
#[divan::bench]
fn stamp_with_layer(b: Bencher) {
    let mut svc = AddConnectionInfoLayer::new(info()).layer(Noop);
    b.with_inputs(|| Request::new(()))
        .bench_local_values(|req| svc.call(req).now_or_never());
}

/// A handler reading it: `req.connection_info()`, a map lookup.
#[divan::bench]
fn extract_ref(b: Bencher) {
    let mut req = Request::new(());
    req.extensions_mut().insert(info());
    b.bench_local(|| black_box(&req).connection_info().map(|i| i.id()));
}

/// The axum extractor: a lookup and a clone.
#[divan::bench]
fn extract_axum(b: Bencher) {
    let mut req = Request::new(());
    req.extensions_mut().insert(info());
    let (mut parts, ()) = req.into_parts();
    b.bench_local(|| {
        ConnectionInfo::from_request_parts(black_box(&mut parts), &())
            .now_or_never()
            .and_then(Result::ok)
    });
}

#[derive(Clone)]
struct Noop;

impl Service<Request<()>> for Noop {
    type Response = Request<()>;
    type Error = Infallible;
    type Future = Ready<Result<Request<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        ready(Ok(req))
    }
}
