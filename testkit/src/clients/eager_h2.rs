//! [`EagerH2`]: a raw HTTP/2 client over TLS that grants flow-control credit after every
//! DATA frame it reads (a WINDOW_UPDATE for the stream and one for the connection), with large
//! windows — legal, what several real clients do, and the client whose late bytes reach a
//! server after it has decided to close.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::clients::raw_h2::read_frame;
use crate::clients::tls::tls_connect;
use crate::frames::{h2_frame, hpack_literal, H2_HEADERS, H2_PREFACE, H2_SETTINGS};

const DATA: u8 = 0x0;
const RST_STREAM: u8 = 0x3;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const PADDED: u8 = 0x8;
const ACK: u8 = 0x1;
/// The stream window the client announces: responses of several MiB stay in flight.
const WINDOW: u32 = 8 * 1024 * 1024;

/// What became of one stream.
#[derive(Clone, Debug, Default)]
pub struct StreamEnd {
    /// The response head arrived.
    pub head: bool,
    /// Body bytes received.
    pub received: usize,
    /// SHA-256 (hex) of the body received.
    pub sha256: String,
    /// The response ended with END_STREAM.
    pub complete: bool,
    /// The server reset the stream with this code.
    pub reset: Option<u32>,
    /// The server's GOAWAY said this stream was never processed.
    pub refused: bool,
    /// How the connection ended, when it ended before this stream.
    pub error: Option<String>,
}

impl StreamEnd {
    /// Whether the stream ended as HTTP/2 ends one: complete, reset, or refused by GOAWAY.
    pub fn is_over(&self) -> bool {
        self.complete || self.reset.is_some() || self.refused
    }
}

/// A raw HTTP/2 connection sending GET requests and reading them eagerly.
pub struct EagerH2 {
    paths: Vec<String>,
}

impl EagerH2 {
    /// GET requests for `paths`, one stream each, all sent at once.
    pub fn get(paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
        }
    }

    /// Runs the requests on one connection to `addr` until every stream or the connection
    /// ended; sends on `heads` once per response head.
    pub async fn run(self, addr: SocketAddr, heads: mpsc::UnboundedSender<()>) -> Vec<StreamEnd> {
        let mut tls = tls_connect(addr, &[b"h2"], None).await.expect("tls");
        let mut hello = H2_PREFACE.to_vec();
        let mut settings = Vec::new();
        settings.extend_from_slice(&0x4u16.to_be_bytes());
        settings.extend_from_slice(&WINDOW.to_be_bytes());
        hello.extend(h2_frame(H2_SETTINGS, 0, 0, &settings));
        hello.extend(window_update(0, 4 * WINDOW));
        for (i, path) in self.paths.iter().enumerate() {
            hello.extend(h2_frame(
                H2_HEADERS,
                0x4 | END_STREAM,
                id(i),
                &get_block(path),
            ));
        }
        tls.write_all(&hello).await.expect("write");
        let mut streams: BTreeMap<u32, (StreamEnd, Sha256)> = (0..self.paths.len())
            .map(|i| (id(i), Default::default()))
            .collect();
        // A client keeps reading after a write fails: what the server sent may still arrive.
        let mut writable = true;
        let error = loop {
            let (ty, flags, stream, payload) = match read_frame(&mut tls).await {
                Ok(f) => (f.ty, f.flags, f.stream, f.payload),
                Err(e) => break e.to_string(),
            };
            let reply = match ty {
                H2_SETTINGS if flags & ACK == 0 => h2_frame(H2_SETTINGS, ACK, 0, &[]),
                PING if flags & ACK == 0 => h2_frame(PING, ACK, 0, &payload),
                GOAWAY => {
                    let last = u32::from_be_bytes(payload[..4].try_into().expect("4")) & !(1 << 31);
                    for (_, (end, _)) in streams.range_mut(last + 1..) {
                        end.refused = true;
                    }
                    Vec::new()
                }
                H2_HEADERS => {
                    if let Some((end, _)) = streams.get_mut(&stream) {
                        if !end.head {
                            end.head = true;
                            let _ = heads.send(());
                        }
                        end.complete |= flags & END_STREAM != 0;
                    }
                    Vec::new()
                }
                DATA => {
                    let body = unpadded(flags, &payload);
                    if let Some((end, sha)) = streams.get_mut(&stream) {
                        end.received += body.len();
                        sha.update(body);
                        end.complete |= flags & END_STREAM != 0;
                    }
                    credit(stream, flags, payload.len())
                }
                RST_STREAM => {
                    if let Some((end, _)) = streams.get_mut(&stream) {
                        end.reset = Some(u32::from_be_bytes(payload[..4].try_into().expect("4")));
                    }
                    Vec::new()
                }
                _ => Vec::new(),
            };
            if writable && !reply.is_empty() && tls.write_all(&reply).await.is_err() {
                writable = false;
            }
            if streams
                .values()
                .all(|(e, _)| e.complete || e.reset.is_some() || e.refused)
            {
                break String::new();
            }
        };
        streams
            .into_values()
            .map(|(mut end, sha)| {
                end.sha256 = crate::hex(&sha.finalize());
                if !end.is_over() && !error.is_empty() {
                    end.error = Some(error.clone());
                }
                end
            })
            .collect()
    }
}

fn id(i: usize) -> u32 {
    2 * u32::try_from(i).expect("few streams") + 1
}

fn get_block(path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", path),
    ] {
        hpack_literal(name, value.as_bytes(), &mut b);
    }
    b
}

fn window_update(stream: u32, n: u32) -> Vec<u8> {
    h2_frame(WINDOW_UPDATE, 0, stream, &n.to_be_bytes())
}

/// Credit for one DATA frame of `len` flow-controlled bytes: the connection's, and the
/// stream's while it is still open.
fn credit(stream: u32, flags: u8, len: usize) -> Vec<u8> {
    let Ok(n) = u32::try_from(len) else {
        return Vec::new();
    };
    if n == 0 {
        return Vec::new();
    }
    let mut out = window_update(0, n);
    if flags & END_STREAM == 0 {
        out.extend(window_update(stream, n));
    }
    out
}

fn unpadded(flags: u8, payload: &[u8]) -> &[u8] {
    if flags & PADDED == 0 {
        return payload;
    }
    let pad = usize::from(payload.first().copied().unwrap_or(0));
    payload
        .get(1..payload.len().saturating_sub(pad))
        .unwrap_or(&[])
}
