//! The Alt-Svc layer's unit tests: which responses carry the header, and the syntax check.

use std::convert::Infallible;
use std::time::Duration;

use http::header::ALT_SVC;
use http::{HeaderValue, Request, Response, Version};
use tower::{service_fn, ServiceExt};
use tower_layer::Layer;
use tower_service::Service;

use super::service::is_advertised_turn;
use super::*;
use crate::ConnectionInfo;

async fn run(layer: AltSvcLayer, version: Version, preset: Option<&'static str>) -> Option<String> {
    let svc = layer.layer(service_fn(move |_req: Request<()>| async move {
        let mut res = Response::new(());
        if let Some(v) = preset {
            res.headers_mut()
                .insert(ALT_SVC, HeaderValue::from_static(v));
        }
        Ok::<_, Infallible>(res)
    }));
    let mut req = Request::new(());
    *req.version_mut() = version;
    let res = svc.oneshot(req).await.unwrap_or_else(|e| match e {});
    res.headers()
        .get(ALT_SVC)
        .map(|v| v.to_str().unwrap_or_default().to_owned())
}

/// The `alt-svc` header of each of `n` responses through one `AltSvc`, the requests
/// carrying `info` (one connection's) when given.
async fn per_request(
    layer: &AltSvcLayer,
    version: Version,
    info: Option<&ConnectionInfo>,
    n: usize,
) -> Vec<bool> {
    let svc = layer.layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let mut seen = Vec::new();
    for _ in 0..n {
        let mut req = Request::new(());
        *req.version_mut() = version;
        if let Some(info) = info {
            req.extensions_mut().insert(info.clone());
        }
        // A clone per request, as the transports make: the count is the connection's.
        let res = svc
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        seen.push(res.headers().contains_key(ALT_SVC));
    }
    seen
}

#[tokio::test]
async fn sent_on_a_connections_first_responses_then_one_in_an_interval() {
    let layer = AltSvcLayer::new(4433);
    let n = (2 * RESPONSE_INTERVAL + 1) as usize;
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let conn = ConnectionInfo::builder(crate::connection_info::TransportKind::Tcp).build();
        let seen = per_request(&layer, version, Some(&conn), n).await;
        let want: Vec<bool> = (0..n as u32).map(is_advertised_turn).collect();
        assert_eq!(seen, want, "{version:?}");
        assert!(seen[..FIRST_RESPONSES as usize].iter().all(|&s| s));
        assert!(!seen[FIRST_RESPONSES as usize]);
        assert!(seen[RESPONSE_INTERVAL as usize] && seen[2 * RESPONSE_INTERVAL as usize]);
        assert_eq!(
            seen.iter().filter(|&&s| s).count(),
            FIRST_RESPONSES as usize + 2,
            "{version:?}"
        );
        // A new connection starts over.
        let other = ConnectionInfo::builder(crate::connection_info::TransportKind::Tcp).build();
        assert_eq!(per_request(&layer, version, Some(&other), 1).await, [true]);
    }
}

#[tokio::test]
async fn sent_on_every_response_without_a_connection_or_when_asked_or_clear() {
    let n = 3 * FIRST_RESPONSES as usize;
    let all = vec![true; n];
    let conn = ConnectionInfo::builder(crate::connection_info::TransportKind::Tcp).build();
    let layer = AltSvcLayer::new(4433);
    assert_eq!(per_request(&layer, Version::HTTP_2, None, n).await, all);
    let every = AltSvcLayer::new(4433).on_every_response(true);
    assert_eq!(
        per_request(&every, Version::HTTP_2, Some(&conn), n).await,
        all
    );
    let clear = AltSvcLayer::clear();
    assert_eq!(
        per_request(&clear, Version::HTTP_11, Some(&conn), n).await,
        all
    );
    let mut svc = AltSvc::new(
        service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }),
        Some(HeaderValue::from_static("clear")),
    );
    for _ in 0..n {
        let mut req = Request::new(());
        req.extensions_mut().insert(conn.clone());
        let res = svc.call(req).await.unwrap_or_else(|e| match e {});
        assert_eq!(res.headers()[ALT_SVC], "clear");
    }
    // HTTP/3 never, and it does not use up a connection's turns.
    let h3 = ConnectionInfo::builder(crate::connection_info::TransportKind::Quic).build();
    assert_eq!(
        per_request(&layer, Version::HTTP_3, Some(&h3), n).await,
        vec![false; n]
    );
    assert_eq!(h3.next_alt_svc_turn(), 0);
}

#[tokio::test]
async fn added_on_http1_and_http2_not_on_http3() {
    let l = AltSvcLayer::new(4433);
    assert_eq!(
        run(l.clone(), Version::HTTP_11, None).await.as_deref(),
        Some("h3=\":4433\"; ma=86400")
    );
    assert_eq!(
        run(l.clone(), Version::HTTP_2, None).await.as_deref(),
        Some("h3=\":4433\"; ma=86400")
    );
    assert_eq!(run(l, Version::HTTP_3, None).await, None);
}

#[tokio::test]
async fn the_handlers_own_value_is_kept() {
    let got = run(AltSvcLayer::new(1), Version::HTTP_2, Some("h3=\":9\"")).await;
    assert_eq!(got.as_deref(), Some("h3=\":9\""));
}

#[tokio::test]
async fn max_age_persist_and_clear() {
    let l = AltSvcLayer::new(443)
        .max_age(Duration::from_secs(60))
        .persist(true);
    assert_eq!(l.value(), "h3=\":443\"; ma=60; persist=1");
    assert_eq!(
        run(AltSvcLayer::clear(), Version::HTTP_11, None)
            .await
            .as_deref(),
        Some("clear")
    );
}

#[test]
fn valid_values_are_accepted() {
    for v in [
        "clear",
        "h3=\":443\"",
        "h3=\":443\"; ma=3600, h3-29=\":443\"",
        "h3=\"alt.example:8443\"; ma=60; persist=1",
        "h2=\"[::1]:443\"",
    ] {
        assert!(AltSvcLayer::with_value(v).is_ok(), "{v}");
    }
}

#[test]
fn invalid_values_are_refused_with_a_reason() {
    for (v, why) in [
        ("", "empty"),
        ("h3", "'='"),
        ("h3=:443", "quoted"),
        ("h3=\"localhost\"", "':port'"),
        ("h3=\":99999\"", "range"),
        ("h3=\":443\"; ma=soon", "seconds"),
        ("h3=\":443\" junk", "unexpected"),
        ("h3=\":443\",", "protocol id"),
        ("h3=\":44\r\n3\"", "quoted"),
    ] {
        let err = AltSvcLayer::with_value(v).expect_err(v);
        assert!(err.to_string().contains(why), "{v}: {err}");
    }
}
