//! [`Ctx`]: what every stream of one HTTP/3 connection needs, made once per connection and
//! shared by its tasks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};
use twinport::transport::Event;
use twinport::{transport::Shutdown, ConnectionInfo};

use super::acks::Acks;
use super::malformed::Malformed;
use super::rate::Rate;
use crate::codes::H3_EXCESSIVE_LOAD;
use crate::config::Http3Config;
use crate::handshake::Handshake;
use crate::proto::error::ProtoError;
use crate::proto::frame::{FrameDecoder, FrameLimits, StreamKind};
use crate::proto::settings::Settings;
use crate::webtransport::registry::Registry;
use crate::webtransport::Routes;

/// The WebTransport side of a connection: the handlers by path and the live sessions.
pub(crate) struct WebTransport {
    pub(crate) routes: Arc<Routes>,
    pub(crate) registry: Arc<Registry>,
}

/// The per-connection context.
pub(crate) struct Ctx {
    pub(crate) quic: quinn::Connection,
    pub(crate) info: ConnectionInfo,
    pub(crate) config: Arc<Http3Config>,
    pub(crate) handshake: Option<Handshake>,
    pub(crate) wt: Option<WebTransport>,
    pub(crate) shutdown: Shutdown,
    /// Finished responses the connection waits for before it closes.
    pub(crate) acks: Acks,
    /// Request streams found malformed while their handlers run.
    pub(crate) malformed: Malformed,
    /// The connection's span: request spans are its children.
    pub(crate) span: tracing::Span,
    pub(crate) peer: Peer,
    /// Streams that end without a request being served: cancelled, refused, unknown.
    churn: Rate,
}

/// What the client has set up on the connection.
pub(crate) struct Peer {
    /// Its control stream, QPACK encoder and decoder streams: one each (RFC 9114 §6.2.1,
    /// RFC 9204 §4.2).
    pub(crate) control: AtomicBool,
    pub(crate) encoder: AtomicBool,
    pub(crate) decoder: AtomicBool,
    /// The last GOAWAY id it sent (`u64::MAX`: none yet).
    pub(crate) goaway: AtomicU64,
    /// Woken when it sends GOAWAY: no new requests are accepted.
    pub(crate) going_away: Notify,
    /// Its SETTINGS, once they have come (WebTransport waits for them).
    pub(crate) settings: watch::Sender<Option<Settings>>,
}

/// What [`Ctx::new`] is made from.
pub(crate) struct Setup {
    pub(crate) conn: quinn::Connection,
    pub(crate) info: ConnectionInfo,
    pub(crate) config: Arc<Http3Config>,
    pub(crate) routes: Arc<Routes>,
    pub(crate) shutdown: Shutdown,
    pub(crate) handshake: Option<Handshake>,
    pub(crate) max_bidi_streams: u32,
}

impl Ctx {
    pub(crate) fn new(setup: Setup) -> Self {
        let config = setup.config;
        let wt = (!setup.routes.is_empty()).then(|| WebTransport {
            routes: setup.routes,
            registry: Arc::new(Registry::new(
                config.max_webtransport_sessions as usize,
                config.max_webtransport_streams as usize,
            )),
        });
        Self {
            quic: setup.conn,
            info: setup.info,
            churn: Rate::new(config.stream_churn_rate),
            config,
            handshake: setup.handshake,
            wt,
            shutdown: setup.shutdown,
            acks: Acks::new(),
            malformed: Malformed::default(),
            span: tracing::Span::current(),
            peer: Peer {
                control: AtomicBool::new(false),
                encoder: AtomicBool::new(false),
                decoder: AtomicBool::new(false),
                goaway: AtomicU64::new(u64::MAX),
                going_away: Notify::new(),
                settings: watch::Sender::new(None),
            },
        }
    }

    /// The per-frame limits of this connection's decoders.
    pub(crate) fn limits(&self) -> FrameLimits {
        FrameLimits {
            max_field_section: self.config.max_field_section_size,
            max_settings: self.config.max_settings_size,
            webtransport: self.wt.is_some(),
        }
    }

    /// A frame decoder for one of the client's streams.
    pub(crate) fn decoder(&self, kind: StreamKind) -> FrameDecoder {
        FrameDecoder::new(kind, self.limits())
    }

    /// Ends the connection for a protocol error of the client's.
    pub(crate) fn fail(&self, e: &ProtoError) {
        tracing::debug!(parent: &self.span, code = e.code.into_inner(), reason = e.reason, "HTTP/3 connection error");
        self.quic.close(e.code, e.reason.as_bytes());
        Event::Closed {
            transport: "quic",
            reason: crate::codes::name(e.code),
        }
        .record();
    }

    /// Counts a stream that ended without serving a request; false (and the connection
    /// closed with H3_EXCESSIVE_LOAD) once they come faster than
    /// [`Http3Config::stream_churn_rate`].
    pub(crate) fn churned(&self) -> bool {
        if self.churn.allow() {
            return true;
        }
        self.fail(&ProtoError::connection(
            H3_EXCESSIVE_LOAD,
            "streams opened and dropped too fast",
        ));
        false
    }

    /// The client's SETTINGS, waited for at most `wait`; `None` if they did not come.
    pub(crate) async fn client_settings(&self, wait: std::time::Duration) -> Option<Settings> {
        let mut settings = self.peer.settings.subscribe();
        let arrived = tokio::time::timeout(wait, settings.wait_for(Option::is_some)).await;
        match arrived {
            Ok(Ok(current)) => current.clone(),
            _ => None,
        }
    }

    /// Claims one of the client's singleton streams; false if it had one already.
    pub(crate) fn claim(flag: &AtomicBool) -> bool {
        !flag.swap(true, Ordering::AcqRel)
    }
}
