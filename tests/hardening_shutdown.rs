#![allow(clippy::unwrap_used)]
//! Hardening of the graceful shutdown: under load on every protocol, each request completes or
//! is refused cleanly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use twinport_testkit::bounded;
use twinport_testkit::clients::{empty, uri, Hyper, Proto, ALL, H3};
use twinport_testkit::servers::{start, Opts};

/// Fault: graceful shutdown in the middle of a load run on all three protocols. Every request
/// must either complete with 200 or be refused cleanly (connection refused, GOAWAY, request
/// rejected, a closed idle keep-alive connection); none may hang or be cut mid-response.
#[tokio::test]
async fn graceful_shutdown_under_load_completes_or_refuses_every_request() {
    let srv = start(Opts::default());
    let addr = srv.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..12 {
        let proto = ALL[w % 3];
        let stop = stop.clone();
        workers.push(tokio::spawn(
            async move { load_worker(addr, proto, stop).await },
        ));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    srv.handle.shutdown(Duration::from_secs(20));
    let report = bounded(60, "server drained", srv.task)
        .await
        .unwrap()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut ok = 0;
    let mut refused = Vec::new();
    for w in workers {
        let (n, r) = bounded(60, "load worker ends", w).await.unwrap();
        ok += n;
        refused.extend(r);
    }
    eprintln!("shutdown under load: {ok} completed; refusals: {refused:?}");
    assert!(ok > 0);
    assert_eq!(report.cut, 0, "connections had to be cut at the deadline");
}

/// Requests `/slow?ms=50` in a loop on one connection, reconnecting after a refusal, until
/// connecting is refused. Returns completed count and the refusals seen; panics on an
/// unclean failure.
async fn load_worker(
    addr: std::net::SocketAddr,
    proto: Proto,
    stop: Arc<AtomicBool>,
) -> (usize, Vec<String>) {
    let mut ok = 0;
    let mut refusals = Vec::new();
    loop {
        if stop.load(Ordering::SeqCst) && !refusals.is_empty() {
            return (ok, refusals);
        }
        match proto {
            Proto::H1 | Proto::H2 => {
                let (mut c, task) = match Hyper::connect(addr, proto, None).await {
                    Ok(c) => c,
                    Err(e) => {
                        refusals.push(format!("{proto:?} connect: {e}"));
                        return (ok, refusals);
                    }
                };
                loop {
                    if let Err(e) = bounded(30, "ready", c.ready()).await {
                        refusals.push(format!("{proto:?} closed: {e}"));
                        break;
                    }
                    let req = c.request("GET", "/slow?ms=50", empty());
                    match bounded(30, "a request under shutdown", c.send(req)).await {
                        Ok(res) => {
                            assert_eq!(res.status(), 200);
                            let body = bounded(30, "body", res.into_body().collect()).await;
                            assert_eq!(body.expect("a response cut mid-body").to_bytes(), "slow");
                            ok += 1;
                        }
                        // Not sent, or sent on a keep-alive connection the server was closing
                        // as idle (nothing of a response arrived; the client may retry).
                        Err(e) if e.is_canceled() || e.is_incomplete_message() || e.is_closed() => {
                            refusals.push(format!("{proto:?} request: {e}"));
                            break;
                        }
                        Err(e) => {
                            let text = format!("{e:?}");
                            assert!(
                                text.contains("GoAway")
                                    || text.contains("REFUSED_STREAM")
                                    || text.contains("NO_ERROR"),
                                "{proto:?}: an unclean failure: {text}"
                            );
                            refusals.push(format!("{proto:?} request: {text}"));
                            break;
                        }
                    }
                }
                task.abort();
            }
            Proto::H3 => {
                let mut c = match H3::connect(addr, None).await {
                    Ok(c) => c,
                    Err(e) => {
                        refusals.push(format!("H3 connect: {e}"));
                        return (ok, refusals);
                    }
                };
                loop {
                    let req = http::Request::get(uri("/slow?ms=50")).body(()).unwrap();
                    match bounded(
                        30,
                        "an HTTP/3 request under shutdown",
                        c.send(req, Bytes::new(), None),
                    )
                    .await
                    {
                        Ok(r) if r.status == 200 && r.body == b"slow" => ok += 1,
                        Ok(r) => panic!("H3: {} {:?}", r.status, r.text()),
                        Err(e) => {
                            assert!(clean_h3_refusal(&e), "H3: an unclean failure: {e:?}");
                            refusals.push(format!("H3: {e}"));
                            break;
                        }
                    }
                }
                c.close().await;
            }
        }
    }
}

/// How a request on a draining HTTP/3 connection may fail, as the h3 client reports it:
/// refused before it is sent because the server's GOAWAY has arrived (`RemoteClosing`), the
/// connection closed by the server with H3_NO_ERROR once drained, or (RFC 9114 §5.2, when the
/// request crossed the GOAWAY) reset with H3_REQUEST_REJECTED.
fn clean_h3_refusal(e: &h3::error::StreamError) -> bool {
    use h3::error::{Code, StreamError};
    match e {
        StreamError::RemoteClosing { .. } => true,
        StreamError::RemoteTerminate { code, .. } => *code == Code::H3_REQUEST_REJECTED,
        StreamError::ConnectionError { .. } => e.is_h3_no_error(),
        _ => false,
    }
}
