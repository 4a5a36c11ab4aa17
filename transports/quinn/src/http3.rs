//! Serving one HTTP/3 connection: accept requests, run each in its own task, drain on
//! shutdown, and close only once every response has been acknowledged.

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_util::future::Shared;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use h3::error::Code;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;
use twinport::request::{request_span, RequestGuard};
use twinport::{ConnectionInfo, HttpService, Shutdown};

use crate::adapter::{self, WebTransportRouting};
use crate::body::RecvBody;
use crate::codes::H3_NO_ERROR;
use crate::config::Http3Config;
use crate::info;
use crate::webtransport::{self, CapsuleReader, CloseInfo, Registry, Routes, WebTransportSession};

type Resolver = h3::server::RequestResolver<adapter::Connection, Bytes>;
type SendHalf = h3::server::RequestStream<adapter::SendStream, Bytes>;
type RecvHalf = h3::server::RequestStream<adapter::RecvStream, Bytes>;

/// How long a connection whose client went away waits for its last acknowledgements.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// The end of a 0-RTT connection's handshake: until it completes, what the client sends may
/// be replayed early data.
#[derive(Clone)]
pub(crate) struct Handshake {
    connected: Shared<quinn::ZeroRttAccepted>,
    conn: quinn::Connection,
    deadline: Instant,
}

impl Handshake {
    pub(crate) fn new(
        connected: quinn::ZeroRttAccepted,
        conn: quinn::Connection,
        deadline: Instant,
    ) -> Self {
        Self {
            connected: connected.shared(),
            conn,
            deadline,
        }
    }

    /// Whether the handshake has completed (or failed) already. Polls quinn's signal itself
    /// rather than a flag set by another task, so a request sent after the handshake is never
    /// taken for early data.
    pub(crate) fn is_over(&self) -> bool {
        self.connected.clone().now_or_never().is_some()
    }

    /// Waits until the handshake completes: false if it failed or missed its deadline.
    pub(crate) async fn completed(&self) -> bool {
        // On a server quinn's value means nothing; it resolves on completion or loss.
        let over = tokio::time::timeout_at(self.deadline, self.connected.clone()).await;
        over.is_ok() && self.conn.close_reason().is_none()
    }
}

/// What a connection needs to serve WebTransport: the handlers and its live sessions.
#[derive(Clone)]
struct WebTransport {
    routes: Arc<Routes>,
    registry: Arc<Registry>,
    shutdown: Shutdown,
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve_connection<S>(
    conn: quinn::Connection,
    info: ConnectionInfo,
    service: S,
    config: Arc<Http3Config>,
    routes: Arc<Routes>,
    shutdown: Shutdown,
    handshake: Option<Handshake>,
    max_bidi_streams: u32,
) where
    S: HttpService<RecvBody>,
{
    // The stricter of the two limits: raising the QUIC one here would undo a user's
    // `QuicConfig::max_concurrent_bidi_streams` hardening.
    conn.set_max_concurrent_bi_streams(config.max_concurrent_requests.min(max_bidi_streams).into());
    let wt = (!routes.is_empty()).then(|| WebTransport {
        routes,
        registry: Arc::new(Registry::new(
            config.max_webtransport_sessions as usize,
            config.max_webtransport_streams as usize,
        )),
        shutdown: shutdown.clone(),
    });
    let routing = wt.as_ref().map(|wt| {
        Arc::new(WebTransportRouting {
            registry: wt.registry.clone(),
            header_timeout: config.request_header_timeout,
        })
    });
    let (quic, shared) =
        adapter::Connection::new(conn.clone(), routing, config.write_stall_timeout);
    let mut builder = h3::server::builder();
    builder
        .max_field_section_size(config.max_field_section_size)
        .send_grease(config.send_grease);
    let _datagrams = wt.as_ref().map(|wt| {
        // The draft-02 settings Chromium and aioquic look for: ENABLE_WEBTRANSPORT,
        // H3_DATAGRAM and ENABLE_CONNECT_PROTOCOL (and the QUIC datagram transport parameter,
        // which QuicConfig always sends).
        builder
            .enable_webtransport(true)
            .enable_extended_connect(true)
            .enable_datagram(true)
            .max_webtransport_sessions(config.max_webtransport_sessions.into());
        AbortOnDrop(tokio::spawn(webtransport::route_datagrams(
            conn.clone(),
            wt.registry.clone(),
        )))
    });
    let mut h3 = match builder.build::<_, Bytes>(quic).await {
        Ok(h3) => h3,
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/3 setup failed");
            return;
        }
    };

    // Request tasks are spawned, so each names its connection's span as its parent.
    let conn_span = tracing::Span::current();
    let mut requests = JoinSet::new();
    let mut draining = false;
    let mut accepting = true;
    // Made once: the signal is polled on every turn of the loop.
    let mut drain_signal = std::pin::pin!(shutdown.draining());
    'serve: loop {
        let mut send_goaway = false;
        while !((draining || !accepting) && requests.is_empty()) {
            tokio::select! {
                _ = &mut drain_signal, if !draining => {
                    draining = true;
                    send_goaway = true;
                    break;
                }
                accepted = h3.accept(), if accepting => match accepted {
                    Ok(Some(resolver)) => {
                        let task = request_task(
                            resolver,
                            conn_span.clone(),
                            shared.clone(),
                            conn.clone(),
                            info.clone(),
                            service.clone(),
                            config.clone(),
                            handshake.clone(),
                            wt.clone(),
                        );
                        // Boxed: the runtime moves a task's future several times per
                        // request (spawn, completion), and this one is kilobytes; a box
                        // is one allocation and one copy (see BENCHMARKS.md).
                        requests.spawn(Box::pin(task));
                    }
                    // The client sent GOAWAY and its requests are done.
                    Ok(None) => accepting = false,
                    Err(e) => {
                        if e.is_h3_no_error() {
                            tracing::debug!("connection closed by the client");
                        } else {
                            tracing::debug!(error = %e, "connection ended");
                        }
                        // The connection is gone: no response can be delivered any more.
                        requests.abort_all();
                        accepting = false;
                    }
                },
                Some(joined) = requests.join_next(), if !requests.is_empty() => joined_request(joined),
            }
        }
        if !send_goaway {
            break;
        }
        let goaway = shared.close_requests();
        tracing::debug!(goaway, in_flight = requests.len(), "sending GOAWAY");
        // The GOAWAY write is a branch of its own: a client that grants no credit on the
        // control stream must not stall the requests in flight or their acknowledgements.
        let mut sending = std::pin::pin!(h3.shutdown(1));
        loop {
            if requests.is_empty() {
                // Nothing left to wait for: one try at the GOAWAY, then close.
                if let Some(Err(e)) = sending.as_mut().now_or_never() {
                    tracing::debug!(error = %e, "could not send GOAWAY");
                }
                break 'serve;
            }
            tokio::select! {
                sent = &mut sending => {
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "could not send GOAWAY");
                    }
                    // Back to serving what is in flight (and accepting below the GOAWAY id).
                    continue 'serve;
                }
                Some(joined) = requests.join_next() => joined_request(joined),
            }
        }
    }

    // Never close before the last response is acknowledged: closing discards unsent data.
    let mut flushing: FuturesUnordered<_> = shared.take_unacked().into_iter().collect();
    let until = shutdown
        .deadline()
        .unwrap_or_else(|| Instant::now() + FLUSH_WAIT);
    let flushed =
        tokio::time::timeout_at(until, async { while flushing.next().await.is_some() {} }).await;
    if flushed.is_err() {
        tracing::debug!("closing with responses still unacknowledged");
    }
    // Dropping the h3 connection closes the QUIC connection with H3_NO_ERROR.
    drop(h3);
    conn.close(
        H3_NO_ERROR,
        if draining {
            b"server shutting down"
        } else {
            b""
        },
    );
}

fn joined_request(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            tracing::error!("request task panicked outside the handler");
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `name` is about one HTTP/1.1 connection, which makes a message malformed in
/// HTTP/3 (RFC 9114 §4.2).
fn is_connection_specific(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Checks what h3 0.0.8 does not: no connection-specific headers, no `te` other than
/// `trailers`, a usable `content-length`. Returns the content length, or why the request is
/// malformed. One pass over the (few) headers rather than a lookup per rule.
fn validate(headers: &HeaderMap) -> Result<Option<u64>, &'static str> {
    let mut has_length = false;
    for (name, value) in headers {
        if is_connection_specific(name) {
            return Err("connection-specific header");
        }
        if name == header::TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers") {
            return Err("te other than trailers");
        }
        has_length |= name == header::CONTENT_LENGTH;
    }
    if has_length {
        content_length(headers)
    } else {
        Ok(None)
    }
}

/// The request's `content-length`: every value (and list item) must be the same number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        let value = value.to_str().map_err(|_| "bad content-length")?;
        for item in value.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err("bad content-length");
            }
            let n: u64 = item.parse().map_err(|_| "bad content-length")?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length");
            }
            length = Some(n);
        }
    }
    Ok(length)
}

#[allow(clippy::too_many_arguments)]
async fn request_task<S>(
    resolver: Resolver,
    conn_span: tracing::Span,
    shared: Arc<adapter::Shared>,
    conn: quinn::Connection,
    info: ConnectionInfo,
    service: S,
    config: Arc<Http3Config>,
    handshake: Option<Handshake>,
    wt: Option<WebTransport>,
) where
    S: HttpService<RecvBody>,
{
    let resolved =
        tokio::time::timeout(config.request_header_timeout, resolver.resolve_request()).await;
    let (req, stream) = match resolved {
        Ok(Ok(resolved)) => resolved,
        Ok(Err(e)) => {
            tracing::debug!(parent: &conn_span, error = %e, "bad request stream");
            return;
        }
        Err(_) => {
            tracing::debug!(parent: &conn_span, "request headers did not arrive in time");
            return;
        }
    };
    let span = conn_span.in_scope(|| request_span(&req, Some(stream.id().into_inner())));
    drop(conn_span);
    // Taken before anything is sent, so this task owns the wait for the acknowledgement.
    let mut stopped = shared.take_stopped(stream.id().into_inner());
    async move {
        let finished = serve_request(
            req,
            stream,
            &mut stopped,
            conn,
            info,
            service,
            handshake,
            wt,
        )
        .await;
        // Never let the connection close before the client has the whole response: the
        // connection waits for the acknowledgement when it closes. Only for a finished
        // stream: quinn frees a reset one without a word, so its future could wait forever.
        if let (true, Some(stopped)) = (finished, stopped) {
            shared.awaiting_ack(stopped);
        }
    }
    .instrument(span)
    .await
}

/// Serves one request whose head has arrived. `stopped` is the stream's [`adapter::Stopped`]
/// future; it is left `None` once it has resolved. True if the response stream was finished
/// (not reset, not broken): only then is its acknowledgement worth waiting for.
#[allow(clippy::too_many_arguments)]
async fn serve_request<S>(
    req: Request<()>,
    stream: h3::server::RequestStream<adapter::BidiStream, Bytes>,
    stopped: &mut Option<adapter::Stopped>,
    conn: quinn::Connection,
    info: ConnectionInfo,
    service: S,
    handshake: Option<Handshake>,
    wt: Option<WebTransport>,
) -> bool
where
    S: HttpService<RecvBody>,
{
    let (mut send, recv) = stream.split();
    let length = match validate(req.headers()) {
        Ok(length) => length,
        Err(reason) => {
            tracing::debug!(reason, "malformed request");
            return respond_status(&mut send, StatusCode::BAD_REQUEST).await;
        }
    };
    let mut info = info::current(&info, &conn);
    if let Some(handshake) = handshake.filter(|h| !h.is_over()) {
        if is_safe(req.method()) {
            info = info.marked_early_data(true);
        } else if !Box::pin(handshake.completed()).await {
            // RFC 8470 §3 lets the server delay a request that is not safe to replay
            // until the handshake completes, which a replayed ClientHello cannot do.
            tracing::debug!("handshake failed under an early request");
            return false;
        }
    }
    if let Some(wt) = wt {
        if is_webtransport(&req) {
            // Boxed: a session's state would otherwise enlarge every request's task.
            return Box::pin(serve_session(req, send, recv, conn, info, wt)).await;
        }
    }
    let (parts, ()) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let req = Request::from_parts(parts, RecvBody::new(recv, length));
    let guard = RequestGuard::new(service, info);
    // One response future, pinned once: a second call site would reserve room for a second
    // one in this task's state, which is allocated (and copied) per request.
    let mut responding = std::pin::pin!(respond(guard, req, send, head));
    let Some(watch) = stopped.as_mut() else {
        return responding.await;
    };
    tokio::select! {
        // The response first: a handler that answers at once never registers the watch.
        biased;
        finished = &mut responding => finished,
        result = watch => {
            *stopped = None;
            match result {
                // Like hyper on RST_STREAM: a cancelled request drops its handler and body.
                Ok(Some(_)) => {
                    tracing::debug!("the client cancelled the request");
                    false
                }
                // The connection is lost: the handler's body reads and the response's
                // writes fail, so it sees the error (and the connection task aborts what
                // is left).
                Ok(None) | Err(_) => responding.await,
            }
        }
    }
}

fn is_webtransport(req: &Request<()>) -> bool {
    req.method() == Method::CONNECT
        && req.extensions().get::<h3::ext::Protocol>() == Some(&h3::ext::Protocol::WEB_TRANSPORT)
}

/// How long closing a session may wait for the client to take the close capsule.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Answers an extended CONNECT for WebTransport and runs the session until either side
/// closes it or the connection drops.
async fn serve_session(
    req: Request<()>,
    mut send: SendHalf,
    mut recv: RecvHalf,
    conn: quinn::Connection,
    info: ConnectionInfo,
    wt: WebTransport,
) -> bool {
    let path = req.uri().path();
    let Some(handler) = wt
        .routes
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, h)| h.clone())
    else {
        tracing::debug!(path, "no WebTransport handler on this path");
        return respond_status(&mut send, StatusCode::NOT_FOUND).await;
    };
    let id = send.send_id().into_inner();
    let Some((registration, inbox)) = wt.registry.register(id) else {
        tracing::debug!("WebTransport session limit reached");
        return respond_status(&mut send, StatusCode::TOO_MANY_REQUESTS).await;
    };
    let (mut parts, ()) = req.into_parts();
    parts.extensions.insert(info.clone());
    let (offered, structured) = webtransport::offered_protocols(&parts.headers);
    let protocol = if offered.is_empty() {
        None
    } else {
        handler
            .select_protocol(&parts, &offered)
            .filter(|p| offered.contains(p))
    };
    let mut head = Response::builder()
        .status(StatusCode::OK)
        // Chromium checks this header for draft-02 sessions.
        .header("sec-webtransport-http3-draft", "draft02");
    if let Some(p) = &protocol {
        head = if structured {
            let quoted = format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\""));
            head.header("wt-protocol", quoted)
        } else {
            head.header("sec-webtransport-protocol", p.as_str())
        };
    }
    let Ok(head) = head.body(()) else {
        tracing::debug!(
            ?protocol,
            "the picked sub-protocol is not a valid header value"
        );
        return respond_status(&mut send, StatusCode::BAD_REQUEST).await;
    };
    if let Err(e) = send.send_response(head).await {
        tracing::debug!(error = %e, "could not accept the WebTransport session");
        return false;
    }
    tracing::debug!(session = id, ?protocol, "WebTransport session open");

    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel();
    let session = WebTransportSession::new(
        id,
        conn,
        parts,
        info,
        protocol,
        wt.shutdown.clone(),
        inbox,
        close_tx,
    );
    let mut handled = AssertUnwindSafe(handler.handle(session)).catch_unwind();
    let mut capsules = CapsuleReader::default();
    let mut close_open = true;
    let mut drained = false;
    let close = loop {
        tokio::select! {
            // Drain first: a handler that ends because the server drains must not beat the
            // DRAIN capsule to the client.
            biased;
            _ = wt.shutdown.draining(), if !drained => {
                // The server is shutting down: ask the client to wrap up; the handler sees it
                // on its session's shutdown signal.
                drained = true;
                let _ = send.send_data(webtransport::drain_capsule()).await;
            }
            result = &mut handled => break match result {
                Ok(Ok(())) => Some(CloseInfo::default()),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "WebTransport handler failed");
                    Some(CloseInfo { code: 1, reason: "handler failed".into() })
                }
                Err(_) => {
                    tracing::error!("WebTransport handler panicked; closing the session");
                    Some(CloseInfo { code: 1, reason: "handler failed".into() })
                }
            },
            closed = &mut close_rx, if close_open => match closed {
                Ok(close) => break Some(close),
                Err(_) => close_open = false,
            },
            data = poll_fn(|cx| recv.poll_recv_data(cx)) => match data {
                Ok(Some(mut buf)) => {
                    let data = buf.copy_to_bytes(buf.remaining());
                    if let Some(close) = capsules.push(&data) {
                        tracing::debug!(code = close.code, reason = %close.reason, "client closed the session");
                        break None;
                    }
                }
                Ok(None) => {
                    tracing::debug!("client ended the session");
                    break None;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "session stream failed");
                    break None;
                }
            },
        }
    };
    // Mark the session gone first, so that dropping the handler resets its streams.
    drop(registration);
    drop(handled);
    let finished = tokio::time::timeout(CLOSE_WAIT, async {
        if let Some(close) = close {
            let _ = send.send_data(webtransport::close_capsule(&close)).await;
        }
        send.finish().await.is_ok()
    })
    .await
    .unwrap_or(false);
    tracing::debug!(session = id, "WebTransport session closed");
    finished
}

/// Answers with `status` and no body; true if the stream was finished.
async fn respond_status(send: &mut SendHalf, status: StatusCode) -> bool {
    let mut head = Response::new(());
    *head.status_mut() = status;
    send.send_response(head).await.is_ok() && finish(send).await
}

/// Calls the service through the core's guard (a `500` if it fails or panics) and sends its
/// response; true if the stream was finished, false if it was reset (the body failed or
/// panicked) or broke (the client went away).
async fn respond<S>(
    guard: RequestGuard<S>,
    req: Request<RecvBody>,
    mut send: SendHalf,
    head: bool,
) -> bool
where
    S: HttpService<RecvBody>,
{
    let response = match guard.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (mut parts, body) = response.into_parts();
    // Rare, so looked for before anything is removed.
    let not_for_http3 = |name: &HeaderName| is_connection_specific(name) || name == header::TE;
    if parts.headers.keys().any(not_for_http3) {
        let names: Vec<HeaderName> = parts
            .headers
            .keys()
            .filter(|n| not_for_http3(n))
            .cloned()
            .collect();
        for name in &names {
            parts.headers.remove(name);
        }
    }
    let status = parts.status;
    let bodiless_status = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless_status && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        if let Some(n) = body.size_hint().exact() {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    if let Err(e) = send.send_response(Response::from_parts(parts, ())).await {
        tracing::debug!(error = %e, "could not send the response head");
        return false;
    }
    if head || bodiless_status {
        // RFC 9110 §6.4.1: these responses have no content, whatever the handler made.
        drop(body);
        return finish(&mut send).await;
    }
    let mut body = std::pin::pin!(body);
    loop {
        let frame = match poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(_)) => {
                // The guard's body logged why (at error for a panic).
                send.stop_stream(Code::H3_INTERNAL_ERROR);
                return false;
            }
        };
        let sent = match frame.into_data() {
            Ok(mut data) => {
                if !data.has_remaining() {
                    continue;
                }
                send.send_data(data.copy_to_bytes(data.remaining())).await
            }
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => {
                    let sent = send.send_trailers(trailers).await;
                    if sent.is_ok() {
                        break;
                    }
                    sent
                }
                Err(_) => continue,
            },
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "client went away mid-response");
            return false;
        }
    }
    finish(&mut send).await
}

/// Finishes the response stream; true if that worked.
async fn finish(send: &mut SendHalf) -> bool {
    match send.finish().await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "could not finish the response");
            false
        }
    }
}
