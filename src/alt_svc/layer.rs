//! [`AltSvcLayer`]: the header value, built and checked once, and the layer that adds it.

use std::time::Duration;

use http::HeaderValue;
use tower_layer::Layer;

use super::value::{validate, InvalidAltSvc};
use super::AltSvc;

/// The default `ma` (max-age) of [`AltSvcLayer::new`]: 24 hours.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// Adds an `Alt-Svc` header advertising HTTP/3; see the [module docs](crate::alt_svc).
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
    /// sample of the later ones (see the [module docs](crate::alt_svc)). Default: `false`.
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
