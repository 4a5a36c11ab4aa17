#![allow(clippy::unwrap_used)]
//! The request contract, the same on every protocol: one `req` span per request under its
//! connection's `conn` span, and a response body that panics ends that response alone (an
//! HTTP/2 or HTTP/3 stream reset, an HTTP/1.1 connection closed) while the server goes on.
//!
//! Run: `cargo test --test request_contract`.

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use twinport_testkit::clients::{empty, served, tls_connect, Hyper, Proto, ALL, H3};
use twinport_testkit::logs::Logs;
use twinport_testkit::servers::{start, Opts};
use twinport_testkit::{bounded, eventually};

/// The lines logged inside a request: those under a `req` span.
fn request_lines(logs: &Logs) -> Vec<String> {
    logs.text()
        .lines()
        .filter(|l| l.contains(":req{"))
        .map(str::to_owned)
        .collect()
}

/// One `GET /ok` on each protocol: every line logged for it names the connection (its span
/// `conn` with the client's address, id, transport and protocol) and the request (`req`
/// with method and path, and the stream id on HTTP/3), with the same span names whatever the
/// protocol; none of the old names (`connection`, `request`, `quic_connection`,
/// `http3_request`) is left, so tower-http's `TraceLayer` span (`request`) does not clash.
#[tokio::test]
async fn every_protocol_logs_the_same_spans_with_the_client_address() {
    let logs = Logs::capture();
    let srv = start(Opts::default());
    for proto in ALL {
        logs.clear();
        let client = match proto {
            Proto::H1 | Proto::H2 => {
                let alpn: &[&[u8]] = if proto == Proto::H2 {
                    &[b"h2"]
                } else {
                    &[b"http/1.1"]
                };
                let tls = tls_connect(srv.addr, alpn, None).await.unwrap();
                let client = tls.get_ref().0.local_addr().unwrap();
                let (mut c, task) = Hyper::handshake(tls, proto).await.unwrap();
                let res = bounded(30, "GET /ok", c.send(c.request("GET", "/ok", empty())))
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                let _ = res.into_body().collect().await;
                task.abort();
                client
            }
            Proto::H3 => {
                let mut c = H3::connect(srv.addr, None).await.unwrap();
                let client = c.endpoint.local_addr().unwrap();
                let (status, _) = c.request("GET", "/ok", Bytes::new()).await.unwrap();
                assert_eq!(status, 200);
                c.close().await;
                client
            }
        };
        let (transport, protocol) = match proto {
            Proto::H1 => ("tcp", "http/1.1"),
            Proto::H2 => ("tcp", "h2"),
            Proto::H3 => ("quic", "h3"),
        };
        let lines = request_lines(&logs);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("response") && l.contains("status=200")),
            "{proto:?}: no response line in a request span:\n{}",
            logs.text()
        );
        for line in &lines {
            let conn = line
                .split_once("conn{")
                .map(|(_, rest)| rest.split_once("}:req{").unwrap().0)
                .unwrap_or_else(|| panic!("{proto:?}: a request line outside `conn`: {line}"));
            assert!(
                conn.contains(&format!("remote={client}")),
                "{proto:?}: {line}"
            );
            assert!(
                conn.contains(&format!("transport=\"{transport}\"")),
                "{proto:?}: {line}"
            );
            assert!(
                conn.contains(&format!("protocol=\"{protocol}\"")),
                "{proto:?}: {line}"
            );
            assert!(conn.contains("id="), "{proto:?}: {line}");
            let req = line.split_once("}:req{").unwrap().1;
            assert!(req.starts_with("method=GET path=/ok"), "{proto:?}: {line}");
            assert_eq!(
                req.contains("stream="),
                proto == Proto::H3,
                "{proto:?}: {line}"
            );
        }
        let text = logs.text();
        for old in [
            "connection{",
            ":request{",
            "quic_connection{",
            "http3_request{",
        ] {
            assert!(
                !text.contains(old),
                "{proto:?}: old span name {old}:\n{text}"
            );
        }
    }
    srv.stop().await;
}

/// Fault: a response body that panics after its first chunk, on each protocol. The head and
/// first chunk go out, then the response ends the way a failing body ends it: HTTP/2 resets
/// the stream and the connection serves the next request, HTTP/1.1 closes the connection,
/// HTTP/3 resets the stream and the connection serves the next request. Each panic is logged
/// at ERROR inside its request's span, and the server serves well-behaved clients after.
#[tokio::test]
async fn a_panicking_body_ends_its_response_alone_on_every_protocol() {
    let logs = Logs::capture();
    let srv = start(Opts::default());

    // HTTP/2: the stream is reset (hyper may drop the queued head with it), the connection
    // lives on.
    // Killable: hyper's client keeps an HTTP/2 connection with a reset stream open after its
    // handles are gone.
    let (mut c, task, kill) = Hyper::connect_killable(srv.addr, Proto::H2).await;
    let err = broken_response(&mut c).await;
    assert!(
        format!("{err:?}").contains("Reset"),
        "h2: not a stream reset: {err:?}"
    );
    let res = bounded(30, "h2 after", c.send(c.request("GET", "/ok", empty())))
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "h2: the connection died with the body");
    let _ = kill.shutdown(std::net::Shutdown::Both);
    task.abort();
    drop(c);
    eventually("h2 connection closed", || srv.tcp() == 0).await;

    // HTTP/1.1: the connection is closed mid-response.
    let (mut c, task) = Hyper::connect(srv.addr, Proto::H1, None).await.unwrap();
    broken_response(&mut c).await;
    bounded(30, "h1 connection closed", task).await.unwrap();
    assert!(
        bounded(30, "h1 after", c.send(c.request("GET", "/ok", empty())))
            .await
            .is_err(),
        "h1: the connection outlived a broken body"
    );
    drop(c);
    eventually("h1 connection closed by the server", || srv.tcp() == 0).await;

    // HTTP/3: the stream is reset, the connection lives on.
    let mut c = H3::connect(srv.addr, None).await.unwrap();
    let broken = bounded(30, "h3 panic-body", async {
        let req = http::Request::get("https://localhost/panic-body")
            .body(())
            .unwrap();
        let mut stream = c.send.send_request(req).await.unwrap();
        stream.finish().await.unwrap();
        match stream.recv_response().await {
            Ok(head) => assert_eq!(head.status(), 200),
            Err(e) => return Some(e.to_string()),
        }
        loop {
            match stream.recv_data().await {
                Ok(Some(mut chunk)) => chunk.advance(chunk.remaining()),
                Ok(None) => return None,
                Err(e) => return Some(e.to_string()),
            }
        }
    })
    .await;
    let reason = broken.expect("h3: the body ended as if complete");
    assert!(
        reason.contains("H3_INTERNAL_ERROR"),
        "h3: not a stream reset: {reason}"
    );
    let (status, body) = c.request("GET", "/ok", Bytes::new()).await.unwrap();
    assert_eq!(
        (status, &body[..]),
        (200, &b"ok"[..]),
        "h3: the connection died with the body"
    );
    c.close().await;

    served(srv.addr, "after panicking bodies").await;
    let panics: Vec<_> = logs
        .lines_at("ERROR")
        .into_iter()
        .filter(|l| l.contains("response body panicked"))
        .collect();
    assert_eq!(panics.len(), 3, "one ERROR per panic:\n{}", logs.text());
    for (line, protocol) in panics.iter().zip(["h2", "http/1.1", "h3"]) {
        assert!(line.contains(&format!("protocol=\"{protocol}\"")), "{line}");
        assert!(line.contains(":req{method=GET path=/panic-body"), "{line}");
    }
    srv.settles("panicking-body connections closed").await;
    srv.stop().await;
}

/// `GET /panic-body` on `c`: the error that ended it, whether it came before the head (the
/// reset overtook it) or in the body; a `200` head, if one came.
async fn broken_response(c: &mut Hyper) -> hyper::Error {
    let sent = bounded(
        30,
        "panic-body",
        c.send(c.request("GET", "/panic-body", empty())),
    )
    .await;
    match sent {
        Err(e) => e,
        Ok(res) => {
            assert_eq!(res.status(), 200);
            bounded(30, "panic-body body", res.into_body().collect())
                .await
                .expect_err("the body ended as if complete")
        }
    }
}
