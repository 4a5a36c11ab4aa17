//! HTTP-01 (RFC 8555 §8.3): [`Http01Service`] answers `GET /.well-known/acme-challenge/TOKEN`
//! with the key authorization while a validation is pending, and redirects every other
//! request to `https://` (what a port-80 listener of an HTTPS site does).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use tower_service::Service;

/// The path prefix of HTTP-01 challenges.
pub const CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// Tokens being validated and their key authorizations.
#[derive(Clone, Debug, Default)]
pub(super) struct Tokens(Arc<RwLock<HashMap<String, String>>>);

impl Tokens {
    pub(super) fn set(&self, token: &str, key_authorization: Option<String>) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match key_authorization {
            Some(k) => map.insert(token.to_owned(), k),
            None => map.remove(token),
        };
    }

    fn get(&self, token: &str) -> Option<String> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(token).cloned()
    }
}

/// The port-80 side of ACME HTTP-01: challenge answers, and a redirect to `https://` (to
/// `https_port` when it is not 443) for everything else. Serve it on port 80 with any HTTP
/// server, twinport-hyper's `Http` for one. Made by [`Acme::http01_service`](super::Acme::http01_service).
#[derive(Clone, Debug)]
pub struct Http01Service {
    tokens: Tokens,
    https_port: u16,
}

impl Http01Service {
    pub(super) fn new(tokens: Tokens, https_port: u16) -> Self {
        Self { tokens, https_port }
    }

    fn respond<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        if let Some(token) = req.uri().path().strip_prefix(CHALLENGE_PATH) {
            return match self.tokens.get(token) {
                Some(key_auth) => {
                    tracing::info!(token, "ACME HTTP-01 challenge answered");
                    plain(StatusCode::OK, key_auth)
                }
                None => plain(StatusCode::NOT_FOUND, "no such ACME challenge\n".into()),
            };
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().host())
            .map(|h| {
                h.rsplit_once(':').map_or(h, |(name, port)| {
                    if port.bytes().all(|b| b.is_ascii_digit()) {
                        name
                    } else {
                        h
                    }
                })
            });
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return plain(StatusCode::BAD_REQUEST, "a Host header is needed\n".into());
        };
        let port = if self.https_port == 443 {
            String::new()
        } else {
            format!(":{}", self.https_port)
        };
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let location = format!("https://{host}{port}{path}");
        let mut resp = plain(StatusCode::PERMANENT_REDIRECT, format!("{location}\n"));
        match http::HeaderValue::try_from(location) {
            Ok(v) => {
                resp.headers_mut().insert(header::LOCATION, v);
                resp
            }
            Err(_) => plain(StatusCode::BAD_REQUEST, "bad Host header\n".into()),
        }
    }
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

impl<B> Service<Request<B>> for Http01Service {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&req)))
    }
}
