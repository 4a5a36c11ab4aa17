//! The server's unit tests: transports that call the service once and record what it
//! answered.

use std::future::IntoFuture;
use std::sync::Arc;

use super::*;

/// What the server task returned, within 5 s.
async fn finished(
    task: tokio::task::JoinHandle<Result<DrainReport, TransportError>>,
) -> DrainReport {
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

/// A transport that calls the service once with a request of `version`, records the
/// response's alt-svc header, then waits for shutdown (or fails, if told to).
struct Probe {
    name: &'static str,
    h3_port: Option<u16>,
    version: http::Version,
    seen: Seen,
    fail: bool,
    plaintext: bool,
}

impl<S: crate::transport::HttpService<()>> Transport<S> for Probe {
    fn name(&self) -> &'static str {
        self.name
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn http3_port(&self) -> Option<u16> {
        self.h3_port
    }
    fn uses_tls(&self) -> Option<bool> {
        self.plaintext.then_some(false)
    }
    fn serve(
        self,
        mut service: S,
        ctx: TransportContext,
    ) -> BoxFuture<Result<DrainReport, BoxError>> {
        Box::pin(async move {
            let _guard = ctx.connections.guard();
            let mut req = http::Request::new(());
            *req.version_mut() = self.version;
            let res = service.call(req).await.map_err(|_| "service failed")?;
            let alt = res
                .headers()
                .get(http::header::ALT_SVC)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            self.seen.lock().unwrap().push((self.name, alt));
            if self.fail {
                return Err("bind failed: port taken".into());
            }
            ctx.shutdown.draining().await;
            Ok(DrainReport::new(1))
        })
    }
}

fn app() -> impl crate::transport::HttpService<()> {
    tower::service_fn(|_req: http::Request<()>| {
        std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(
            String::new(),
        )))
    })
}

type Seen = Arc<std::sync::Mutex<Vec<(&'static str, Option<String>)>>>;

fn probe(name: &'static str, h3: Option<u16>, seen: &Seen, fail: bool) -> Probe {
    let version = if h3.is_some() {
        http::Version::HTTP_3
    } else {
        http::Version::HTTP_2
    };
    Probe {
        name,
        h3_port: h3,
        version,
        seen: seen.clone(),
        fail,
        plaintext: false,
    }
}

#[tokio::test]
async fn alt_svc_advertises_the_http3_port_to_tcp_only() {
    let seen = Seen::default();
    let server = Server::new(app())
        .transport(probe("tcp", None, &seen, false))
        .transport(probe("quic", Some(7443), &seen, false));
    let handle = server.handle();
    let task = tokio::spawn(server.into_future());
    while seen.lock().unwrap().len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(handle.connections(), [("tcp", 1), ("quic", 1)]);
    handle.shutdown(Duration::from_secs(1));
    let report = finished(task).await;
    assert_eq!(report.cut, 2);
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("quic", None),
            ("tcp", Some("h3=\":7443\"; ma=86400".to_string()))
        ]
    );
}

#[tokio::test]
async fn alt_svc_off_and_overridden() {
    for (server_fn, want) in [
        (false, None),
        (true, Some("h3=\":443\"; ma=86400".to_string())),
    ] {
        let seen = Seen::default();
        let mut server = Server::new(app())
            .transport(probe("tcp", None, &seen, false))
            .transport(probe("quic", Some(7443), &seen, false));
        server = if server_fn {
            server.alt_svc_port(443)
        } else {
            server.alt_svc(false)
        };
        let handle = server.handle();
        let task = tokio::spawn(server.into_future());
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        handle.shutdown(Duration::ZERO);
        finished(task).await;
        let tcp = seen.lock().unwrap().iter().find(|s| s.0 == "tcp").cloned();
        assert_eq!(tcp, Some(("tcp", want)));
    }
}

#[tokio::test]
async fn a_failing_transport_stops_the_others_and_is_named() {
    let seen = Seen::default();
    let server = Server::new(app())
        .transport(probe("tcp", None, &seen, false))
        .transport(probe("quic", Some(1), &seen, true));
    let err = tokio::time::timeout(Duration::from_secs(5), server.into_future())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, TransportError::Transport { name: "quic", .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), "the quic transport failed");
    // The transport's own error is the source, printed once.
    twinport_testkit::errors::assert_cause_once(&err, "port taken");
}

#[tokio::test]
async fn plaintext_beside_http3_is_refused_unless_alt_svc_is_explicit() {
    let seen = Seen::default();
    let plain = |seen: &Seen| Probe {
        plaintext: true,
        ..probe("tcp", None, seen, false)
    };
    let server = Server::new(app()).transport(plain(&seen)).transport(probe(
        "quic",
        Some(7443),
        &seen,
        false,
    ));
    let err = tokio::time::timeout(Duration::from_secs(5), server.into_future())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, TransportError::PlaintextBesideHttp3 { name: "tcp" }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("https") && msg.contains("Http::tls"), "{msg}");
    assert!(seen.lock().unwrap().is_empty(), "nothing served");

    // Plaintext alone is fine, and so is an explicit port (a proxy terminates TLS).
    for server in [
        Server::new(app()).transport(plain(&seen)),
        Server::new(app())
            .transport(plain(&seen))
            .transport(probe("quic", Some(7443), &seen, false))
            .alt_svc_port(443),
    ] {
        let handle = server.handle();
        let task = tokio::spawn(server.into_future());
        tokio::time::sleep(Duration::from_millis(50)).await;
        handle.shutdown(Duration::ZERO);
        finished(task).await;
    }
}

#[tokio::test]
async fn graceful_shutdown_future_drains() {
    let seen = Seen::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(app()).transport(probe("tcp", None, &seen, false));
    let task = tokio::spawn(
        server
            .with_graceful_shutdown(async { rx.await.unwrap_or(()) })
            .grace_period(Duration::from_secs(1))
            .into_future(),
    );
    tx.send(()).unwrap();
    let report = finished(task).await;
    assert_eq!(report.cut, 1);
}

#[test]
fn a_failed_transport_names_itself_and_keeps_the_cause_as_source() {
    let e = TransportError::Transport {
        name: "h3",
        source: std::io::Error::other("socket gone").into(),
    };
    assert_eq!(e.to_string(), "the h3 transport failed");
    twinport_testkit::errors::assert_cause_once(&e, "socket gone");
}
