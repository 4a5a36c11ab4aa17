//! The fixture of the RFC error tests: a server with a well-behaved client served on a
//! connection of its own throughout, and the check that an offender's connection is closed
//! with the code wanted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use tokio::task::JoinHandle;
use tower::ServiceExt;
use twinport_quinn::webtransport::WebTransportSession;
use twinport_quinn::{Http3, Http3Config, RecvBody};
use twinport_testkit::clients::served_h3_meanwhile;
use twinport_testkit::raw::{closed_with, RawH3};
use twinport_testkit::servers::{serve_http3_with, Http3Server};
use twinport_testkit::{bounded, Pki};

/// How long the server has to react to a violation.
pub const REACTION: Duration = Duration::from_secs(3);

/// A server of the info app, plus `/ok` (what [`RawH3::assert_serves`] and the well-behaved
/// client ask for), with a well-behaved HTTP/3 client served on a connection of its
/// own all along.
pub struct Watched {
    server: Http3Server,
    stop: Arc<AtomicBool>,
    good: JoinHandle<usize>,
}

impl Watched {
    pub async fn start(config: Http3Config, webtransport: bool) -> Self {
        let builder = Http3::builder(&Pki::get().server_tls())
            .http3()
            .http3_config(config);
        let builder = if webtransport {
            builder.webtransport("/wt", idle_session)
        } else {
            builder
        };
        let endpoint = builder.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let info = twinport_testkit::apps::info::router();
        let service = tower::service_fn(move |req: Request<RecvBody>| {
            let info = info.clone();
            async move {
                if req.uri().path() == "/ok" {
                    let ok = Full::new(Bytes::from_static(b"ok")).map_err(|e| match e {});
                    return Ok(Response::new(UnsyncBoxBody::new(ok)));
                }
                let response = info.oneshot(req).await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|b| b.map_err(twinport::BoxError::from).boxed_unsync()),
                )
            }
        });
        let server = serve_http3_with(endpoint, service);
        let stop = Arc::new(AtomicBool::new(false));
        let good = served_h3_meanwhile(server.addr, stop.clone());
        Self { server, stop, good }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// The well-behaved client must have been served; then the server stops.
    pub async fn end(self, what: &str) {
        self.stop.store(true, Ordering::SeqCst);
        let rounds = bounded(30, "the well-behaved client to finish", self.good)
            .await
            .unwrap_or_else(|e| panic!("{what}: the well-behaved client failed: {e}"));
        assert!(
            rounds > 0,
            "{what}: the well-behaved client was never served"
        );
        self.server.stop(Duration::from_secs(2)).await;
    }
}

/// A WebTransport session that waits for the client to end it.
async fn idle_session(session: WebTransportSession) -> Result<(), twinport::BoxError> {
    while session.accept_bi().await.is_some() {}
    Ok(())
}

/// Asserts that `attacker`'s connection is closed with `code` within [`REACTION`].
pub async fn assert_closed(attacker: RawH3, code: u64, what: &str) {
    let ended = attacker.ended(REACTION).await;
    if let Err(e) = closed_with(&ended, code) {
        panic!("{what}: {e}");
    }
    attacker.close().await;
}
