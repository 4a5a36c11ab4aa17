//! [`AltSvcLayer`]: tell HTTP/1.1 and HTTP/2 clients where HTTP/3 is ([RFC 7838]).
//!
//! The header is added only to responses to requests that did not arrive over HTTP/3, and
//! only when the handler did not set an `alt-svc` header itself. The value is built and
//! validated once, when the layer is made.
//!
//! On a connection served by a twinport transport (a request that carries a
//! [`ConnectionInfo`]), it is sent on the connection's first [`FIRST_RESPONSES`] responses and
//! then on one in every [`RESPONSE_INTERVAL`], not on every response: a client caches an
//! advertisement per origin for `ma` seconds (RFC 7838 §3.1), so repeating it on each
//! response of a connection tells the client nothing new, and over HTTP/2 it cost about a
//! third of what twinport adds to a small response (BENCHMARKS.md, "Alt-Svc per
//! connection"). The later samples refresh the advertisement on long-lived connections and
//! reach origins a client coalesced onto the connection after its first requests. A
//! request without a `ConnectionInfo` (the layer on a server of another kind) gets it on every
//! response, as does the value `clear`; [`AltSvcLayer::on_every_response`] restores that for
//! all.
//!
//! On an axum `Router`:
//!
//! ```
//! use axum::{routing::get, Router};
//! use std::time::Duration;
//! use twinport::AltSvcLayer;
//!
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hi" }))
//!     .layer(AltSvcLayer::new(4433).max_age(Duration::from_secs(3600)));
//! ```
//!
//! On a bare tower service:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use twinport::AltSvcLayer;
//!
//! let svc = ServiceBuilder::new()
//!     .layer(AltSvcLayer::with_value(r#"h3=":443"; ma=3600, h3=":8443""#)?)
//!     .service(service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(()))
//!     }));
//! let res = svc.oneshot(http::Request::new(())).await?;
//! assert_eq!(res.headers()["alt-svc"], r#"h3=":443"; ma=3600, h3=":8443""#);
//! # Ok(())
//! # }
//! ```
//!
//! [RFC 7838]: https://www.rfc-editor.org/rfc/rfc7838

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::ALT_SVC;
use http::{HeaderValue, Request, Response, Version};

use crate::ConnectionInfo;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// The default `ma` (max-age) of [`AltSvcLayer::new`]: 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// How many of a connection's first responses carry the header (see the [module docs](self)).
/// More than one: the first request of a connection may be cancelled before its response, or
/// be one whose headers a client does not look at (a preflight, a prefetch).
pub const FIRST_RESPONSES: u32 = 8;

/// After the first [`FIRST_RESPONSES`], one response in this many carries the header.
pub const RESPONSE_INTERVAL: u32 = 64;

/// Whether the request numbered `turn` on its connection (0 for the first) gets the header.
fn is_advertised_turn(turn: u32) -> bool {
    turn < FIRST_RESPONSES || turn.is_multiple_of(RESPONSE_INTERVAL)
}

/// An `alt-svc` value that is not valid RFC 7838 syntax.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid alt-svc value {value:?}: {reason}")]
#[non_exhaustive]
pub struct InvalidAltSvc {
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Adds an `Alt-Svc` header advertising HTTP/3; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct AltSvcLayer {
    value: HeaderValue,
    port: Option<u16>,
    max_age: Duration,
    persist: bool,
    every_response: bool,
}

impl AltSvcLayer {
    /// Advertises HTTP/3 on UDP `port` of the same host: `h3=":PORT"; ma=86400`.
    pub fn new(port: u16) -> Self {
        let mut layer = Self {
            value: HeaderValue::from_static("clear"),
            port: Some(port),
            max_age: DEFAULT_MAX_AGE,
            persist: false,
            every_response: false,
        };
        layer.rebuild();
        layer
    }

    /// Sends `value` as it is, after checking that it is valid `Alt-Svc` syntax.
    /// [`max_age`](Self::max_age) and [`persist`](Self::persist) do not change such a value.
    pub fn with_value(value: &str) -> Result<Self, InvalidAltSvc> {
        validate(value).map_err(|reason| InvalidAltSvc {
            value: value.to_owned(),
            reason,
        })?;
        let header = HeaderValue::from_str(value).map_err(|e| InvalidAltSvc {
            value: value.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            value: header,
            port: None,
            max_age: DEFAULT_MAX_AGE,
            persist: false,
            every_response: false,
        })
    }

    /// Sends `Alt-Svc: clear`, telling clients to forget what was advertised: use it while
    /// draining HTTP/3 before taking it down.
    pub fn clear() -> Self {
        Self {
            value: HeaderValue::from_static("clear"),
            port: None,
            max_age: DEFAULT_MAX_AGE,
            persist: false,
            every_response: false,
        }
    }

    /// Sets how long clients may remember the advertisement (`ma`, whole seconds).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self.rebuild();
        self
    }

    /// Asks clients to keep the advertisement across network changes (`persist=1`).
    pub fn persist(mut self, persist: bool) -> Self {
        self.persist = persist;
        self.rebuild();
        self
    }

    /// Sends the header on every response, not only on each connection's first ones and a
    /// sample of the later ones (see the [module docs](self)). Default: `false`.
    pub fn on_every_response(mut self, every_response: bool) -> Self {
        self.every_response = every_response;
        self
    }

    /// The header value this layer sends.
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }

    fn rebuild(&mut self) {
        if let Some(port) = self.port {
            let mut v = format!("h3=\":{port}\"; ma={}", self.max_age.as_secs());
            if self.persist {
                v.push_str("; persist=1");
            }
            // Digits, quotes, colons, semicolons and spaces only: always a valid header value.
            if let Ok(value) = HeaderValue::from_str(&v) {
                self.value = value;
            }
        }
    }
}

impl<S> Layer<S> for AltSvcLayer {
    type Service = AltSvc<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut svc = AltSvc::new(inner, Some(self.value.clone()));
        svc.every_response |= self.every_response;
        svc
    }
}

/// The service made by [`AltSvcLayer`]; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct AltSvc<S> {
    inner: S,
    // Behind an `Arc`: the transports clone the service for every request, and most
    // requests do not send the header. 8 bytes in every request's future instead of 40.
    value: Option<Arc<HeaderValue>>,
    every_response: bool,
}

impl<S> AltSvc<S> {
    /// Wraps `inner`; with `None`, responses pass through untouched. The header goes on each
    /// connection's first responses and a sample of the later ones (see the
    /// [module docs](self)); a `clear` value on every response.
    pub fn new(inner: S, value: Option<HeaderValue>) -> Self {
        let every_response = value.as_ref().is_some_and(|v| v == "clear");
        Self {
            inner,
            value: value.map(Arc::new),
            every_response,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> AltSvc<S> {
    /// Whether this (non-HTTP/3) request's response gets the header.
    fn advertises<B>(&self, req: &Request<B>) -> bool {
        if self.every_response {
            return true;
        }
        match req.extensions().get::<ConnectionInfo>() {
            Some(info) => is_advertised_turn(info.next_alt_svc_turn()),
            None => true,
        }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for AltSvc<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let value = match &self.value {
            Some(value) if req.version() != Version::HTTP_3 && self.advertises(&req) => {
                Some(Arc::clone(value))
            }
            _ => None,
        };
        ResponseFuture {
            inner: self.inner.call(req),
            value,
        }
    }
}

pin_project! {
    /// The response future of [`AltSvc`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        value: Option<Arc<HeaderValue>>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = std::task::ready!(this.inner.poll(cx))?;
        if let Some(value) = this.value.take() {
            res.headers_mut()
                .entry(ALT_SVC)
                .or_insert_with(|| HeaderValue::clone(&value));
        }
        Poll::Ready(Ok(res))
    }
}

/// Checks `Alt-Svc` syntax (RFC 7838 §3): `clear`, or a comma-separated list of
/// `protocol-id="[host]:port"` entries, each with optional `; name=value` parameters.
pub(crate) fn validate(value: &str) -> Result<(), String> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err("it is empty".into());
    }
    if value == "clear" {
        return Ok(());
    }
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let (proto, after) = token(rest).ok_or("expected a protocol id such as h3")?;
        let after = after
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after protocol id {proto:?}"))?;
        let (authority, after) =
            quoted(after).ok_or("the authority must be a quoted string like \":443\"")?;
        let (_host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| format!("authority {authority:?} has no ':port'"))?;
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("authority {authority:?} has no valid port"));
        }
        if port.parse::<u32>().map_or(true, |p| p > 65_535) {
            return Err(format!("port {port} is out of range"));
        }
        rest = after;
        // Parameters.
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(p) = rest.strip_prefix(';') else {
                break;
            };
            let p = p.trim_start_matches([' ', '\t']);
            let (name, after) = token(p).ok_or("expected a parameter name after ';'")?;
            let after = after
                .strip_prefix('=')
                .ok_or_else(|| format!("parameter {name:?} has no value"))?;
            let (pvalue, after) = token(after)
                .or_else(|| quoted(after))
                .ok_or_else(|| format!("parameter {name:?} has no value"))?;
            if name.eq_ignore_ascii_case("ma") && pvalue.parse::<u64>().is_err() {
                return Err(format!("ma={pvalue} is not a number of seconds"));
            }
            rest = after;
        }
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Ok(());
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("unexpected text {rest:?}"))?;
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn token(s: &str) -> Option<(&str, &str)> {
    let end = s.bytes().position(|b| !is_tchar(b)).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

fn quoted(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('"')?;
    let end = inner.find('"')?;
    let content = &inner[..end];
    if content.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
        return None;
    }
    Some((content, &inner[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    async fn run(
        layer: AltSvcLayer,
        version: Version,
        preset: Option<&'static str>,
    ) -> Option<String> {
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
}
