//! [`Violation`]: one breach of the HTTP/3 stream and frame rules, sent on a connection of its
//! own by [`check_violations`], which says whether the server closed it with the code wanted.

use std::net::SocketAddr;
use std::time::Duration;

use twinport_quinn::quinn;

use super::h3::{describe, pump, Ended, RawH3};
use crate::codes::code_name;
use crate::frames::{h3_settings, H3_CONTROL_STREAM};

/// One violation: unidirectional streams `(type, bytes)` opened in order (and kept open until
/// the verdict), then an optional request stream (finished); `flood` is written again and
/// again on the last stream opened until the connection ends (for at most the reaction time).
/// The server must close the connection with one of `codes`.
pub struct Violation {
    /// What it is, for the failure message.
    pub what: &'static str,
    /// The unidirectional streams.
    pub uni: Vec<(u64, Vec<u8>)>,
    /// The request stream's bytes, if any.
    pub request: Option<Vec<u8>>,
    /// What to flood the last stream with, if anything.
    pub flood: Option<Vec<u8>>,
    /// The codes the connection may be closed with.
    pub codes: &'static [u64],
}

impl Violation {
    /// A control stream starting with `bytes`, and nothing else.
    pub fn control(what: &'static str, bytes: Vec<u8>, codes: &'static [u64]) -> Self {
        Self {
            what,
            uni: vec![(H3_CONTROL_STREAM, bytes)],
            request: None,
            flood: None,
            codes,
        }
    }

    /// A control stream with an empty SETTINGS, then the unidirectional streams `uni`.
    pub fn streams(what: &'static str, uni: Vec<(u64, Vec<u8>)>, codes: &'static [u64]) -> Self {
        let mut all = vec![(H3_CONTROL_STREAM, h3_settings(&[]))];
        all.extend(uni);
        Self {
            what,
            uni: all,
            request: None,
            flood: None,
            codes,
        }
    }

    /// A control stream with an empty SETTINGS, then a request of `bytes`.
    pub fn request(what: &'static str, bytes: Vec<u8>, codes: &'static [u64]) -> Self {
        Self {
            request: Some(bytes),
            ..Self::streams(what, Vec::new(), codes)
        }
    }

    /// The same, with the last stream flooded with `chunk`.
    pub fn flooded(self, chunk: Vec<u8>) -> Self {
        Self {
            flood: Some(chunk),
            ..self
        }
    }
}

/// An empty SETTINGS frame followed by `rest`: a control stream's start.
pub fn after_settings(rest: &[u8]) -> Vec<u8> {
    let mut bytes = h3_settings(&[]);
    bytes.extend_from_slice(rest);
    bytes
}

/// Sends each violation to `addr` on a fresh connection (all from one client endpoint) and
/// waits at most `reaction` for the server to close it: the failures, described.
pub async fn check_violations(
    addr: SocketAddr,
    violations: Vec<Violation>,
    reaction: Duration,
) -> Vec<String> {
    let mut failures = Vec::new();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    for v in violations {
        let attacker = RawH3::connect_via(endpoint.clone(), addr).await;
        // Opening or writing may fail once the server has closed the connection: the
        // verdict below says how it was closed.
        let mut streams = Vec::new();
        for (ty, bytes) in &v.uni {
            match attacker.try_uni(*ty, bytes).await {
                Ok(send) => streams.push(send),
                Err(_) => break,
            }
        }
        let mut request = None;
        if let Some(bytes) = &v.request {
            if let Ok((mut send, recv)) = attacker.try_bidi(bytes).await {
                let _ = send.finish();
                request = Some((send, recv));
            }
        }
        if let Some(chunk) = &v.flood {
            let last = match request.as_mut() {
                Some((send, _)) => Some(send),
                None => streams.last_mut(),
            };
            if let Some(last) = last {
                pump(last, chunk, reaction).await;
            }
        }
        let ended = attacker.ended(reaction).await;
        if !matches!(ended, Ended::Closed(code) if v.codes.contains(&code)) {
            let wanted: Vec<String> = v.codes.iter().map(|c| code_name(*c)).collect();
            failures.push(format!(
                "{}: wanted {}, got {}",
                v.what,
                wanted.join(" or "),
                describe(&ended)
            ));
        }
        drop((streams, request));
        attacker.close().await;
    }
    failures
}
