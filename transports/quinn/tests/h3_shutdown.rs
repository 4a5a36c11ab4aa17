//! HTTP/3 shutdown end to end: GOAWAY lets the requests in flight finish (and their
//! responses be delivered whole) and refuses new ones; the grace period cuts what does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::time::Duration;

use h3_kit::*;
use http::StatusCode;
use twinport_testkit::apps::info::pattern;
use twinport_testkit::bounded;

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let (server, client) = serve_info().await;

    let in_flight = tokio::spawn(get_on(client.send.clone(), "/sleep?ms=700"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let trigger = server.trigger.clone();
    trigger.shutdown(Duration::from_secs(5));

    let reply = bounded(10, "in-flight request", in_flight)
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "slept");

    // New requests after GOAWAY are refused.
    let late = bounded(
        10,
        "request after GOAWAY",
        get_on(client.send.clone(), "/info"),
    )
    .await;
    assert!(late.is_err(), "no new request after shutdown: {late:?}");

    let report = bounded(10, "server stop", server.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.cut, 0);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "drained before the deadline"
    );
    client.close().await;
}

#[tokio::test]
async fn the_grace_period_cuts_what_does_not_finish() {
    let (server, client) = serve_info().await;
    let stuck = tokio::spawn(get_on(client.send.clone(), "/sleep?ms=60000"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = server.stop(Duration::from_millis(300)).await;
    assert_eq!(report.cut, 1);
    let result = bounded(10, "cut request", stuck).await.unwrap();
    assert!(result.is_err());
    client.close().await;
}

#[tokio::test]
async fn shutdown_waits_for_a_large_response_to_be_delivered() {
    const SIZE: u64 = 16 * 1024 * 1024;
    let (server, client) = serve_info().await;
    let path = format!("/download?n={SIZE}");
    let download = tokio::spawn(get_on(client.send.clone(), &path));
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.trigger.shutdown(Duration::from_secs(30));
    let reply = bounded(60, "download across shutdown", download)
        .await
        .unwrap()
        .expect("the response in flight is delivered whole");
    assert_eq!(reply.body.len() as u64, SIZE);
    assert!(reply
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == pattern(i as u64)));
    let report = bounded(40, "server", server.task).await.unwrap().unwrap();
    assert_eq!(report.cut, 0);
    client.close().await;
}
