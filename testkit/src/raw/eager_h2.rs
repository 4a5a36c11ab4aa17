//! [`EagerH2`]: a raw HTTP/2 client over TLS that grants flow-control credit after every
//! DATA frame it reads (a WINDOW_UPDATE for the stream and one for the connection), with large
//! windows — legal, what several real clients do, and the client whose late bytes reach a
//! server after it has decided to close. It uploads as fast as the server's windows allow.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::h2::{read_frame, H2Frame};
use crate::apps::info::pattern_bytes;
use crate::clients::tls_connect;
use crate::frames::{
    h2_frame, hpack_literal, ACK, END_HEADERS, END_STREAM, H2_DATA as DATA, H2_GOAWAY as GOAWAY,
    H2_HEADERS, H2_PING as PING, H2_PREFACE, H2_RST_STREAM as RST_STREAM, H2_SETTINGS,
    H2_WINDOW_UPDATE as WINDOW_UPDATE, PADDED,
};

const INITIAL_WINDOW_SIZE: u16 = 0x4;
/// The stream window the client announces: responses of several MiB stay in flight.
const WINDOW: u32 = 8 * 1024 * 1024;
/// HTTP/2's initial window, until the server's SETTINGS say otherwise.
const DEFAULT_WINDOW: i64 = 65_535;
const FRAME: usize = 16 * 1024;

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

/// The requests of one raw HTTP/2 connection, each on its own stream, all sent at once.
pub struct EagerH2 {
    requests: Vec<(&'static str, String, usize)>,
}

impl EagerH2 {
    /// GET requests for `paths`.
    pub fn get(paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            requests: paths.into_iter().map(|p| ("GET", p.into(), 0)).collect(),
        }
    }

    /// `count` POST requests to `path`, each uploading `len` bytes of the kit's pattern.
    pub fn post(path: &str, len: usize, count: usize) -> Self {
        Self {
            requests: (0..count).map(|_| ("POST", path.to_owned(), len)).collect(),
        }
    }

    /// Runs the requests on one connection to `addr` until every stream or the connection
    /// ended; sends on `heads` once per response head.
    pub async fn run(self, addr: SocketAddr, heads: mpsc::UnboundedSender<()>) -> Vec<StreamEnd> {
        let mut tls = tls_connect(addr, &[b"h2"], None).await.expect("tls");
        let mut conn = Conn::new(heads);
        let mut hello = H2_PREFACE.to_vec();
        let mut settings = INITIAL_WINDOW_SIZE.to_be_bytes().to_vec();
        settings.extend_from_slice(&WINDOW.to_be_bytes());
        hello.extend(h2_frame(H2_SETTINGS, 0, 0, &settings));
        hello.extend(window_update(0, 4 * WINDOW));
        for (i, (method, path, upload)) in self.requests.iter().enumerate() {
            let id = 2 * u32::try_from(i).expect("few streams") + 1;
            let flags = if *upload == 0 {
                END_HEADERS | END_STREAM
            } else {
                END_HEADERS
            };
            hello.extend(h2_frame(H2_HEADERS, flags, id, &head(method, path)));
            conn.streams.insert(id, Stream::new(*upload));
        }
        hello.extend(conn.upload());
        tls.write_all(&hello).await.expect("write");
        // A client keeps reading after a write fails: what the server sent may still arrive.
        let mut writable = true;
        let error = loop {
            let frame = match read_frame(&mut tls).await {
                Ok(f) => f,
                Err(e) => break e.to_string(),
            };
            let mut reply = conn.on_frame(frame);
            reply.extend(conn.upload());
            if writable && !reply.is_empty() && tls.write_all(&reply).await.is_err() {
                writable = false;
            }
            if conn.streams.values().all(|s| s.end.is_over()) {
                break String::new();
            }
        };
        conn.streams
            .into_values()
            .map(|s| s.finish(&error))
            .collect()
    }
}

/// One stream: what it received, and what is left of its upload.
struct Stream {
    end: StreamEnd,
    sha: Sha256,
    upload: usize,
    sent: usize,
    window: i64,
}

impl Stream {
    fn new(upload: usize) -> Self {
        Self {
            end: StreamEnd::default(),
            sha: Sha256::new(),
            upload,
            sent: 0,
            window: DEFAULT_WINDOW,
        }
    }

    fn finish(mut self, error: &str) -> StreamEnd {
        self.end.sha256 = crate::apps::hex(&self.sha.finalize());
        if !self.end.is_over() && !error.is_empty() {
            self.end.error = Some(error.to_owned());
        }
        self.end
    }
}

/// The client's side of the connection: streams and the server's connection window.
struct Conn {
    streams: BTreeMap<u32, Stream>,
    window: i64,
    heads: mpsc::UnboundedSender<()>,
}

impl Conn {
    fn new(heads: mpsc::UnboundedSender<()>) -> Self {
        Self {
            streams: BTreeMap::new(),
            window: DEFAULT_WINDOW,
            heads,
        }
    }

    /// Takes one frame from the server; returns what to answer.
    fn on_frame(&mut self, f: H2Frame) -> Vec<u8> {
        match f.ty {
            H2_SETTINGS if f.flags & ACK == 0 => {
                for pair in f.payload.chunks_exact(6) {
                    if u16::from_be_bytes([pair[0], pair[1]]) == INITIAL_WINDOW_SIZE {
                        let new =
                            i64::from(u32::from_be_bytes([pair[2], pair[3], pair[4], pair[5]]));
                        for s in self.streams.values_mut() {
                            s.window += new - DEFAULT_WINDOW;
                        }
                    }
                }
                return h2_frame(H2_SETTINGS, ACK, 0, &[]);
            }
            PING if f.flags & ACK == 0 => return h2_frame(PING, ACK, 0, &f.payload),
            WINDOW_UPDATE => {
                let n = i64::from(u32_at(&f.payload, 0) & !(1 << 31));
                match self.streams.get_mut(&f.stream) {
                    _ if f.stream == 0 => self.window += n,
                    Some(s) => s.window += n,
                    None => {}
                }
            }
            GOAWAY => {
                let last = u32_at(&f.payload, 0) & !(1 << 31);
                for s in self.streams.range_mut(last + 1..).map(|(_, s)| s) {
                    s.end.refused = true;
                }
            }
            RST_STREAM => {
                if let Some(s) = self.streams.get_mut(&f.stream) {
                    s.end.reset = f.error_code();
                }
            }
            H2_HEADERS => {
                if let Some(s) = self.streams.get_mut(&f.stream) {
                    if !s.end.head {
                        s.end.head = true;
                        let _ = self.heads.send(());
                    }
                    s.end.complete |= f.flags & END_STREAM != 0;
                }
            }
            DATA => {
                let body = unpadded(f.flags, &f.payload);
                if let Some(s) = self.streams.get_mut(&f.stream) {
                    s.end.received += body.len();
                    s.sha.update(body);
                    s.end.complete |= f.flags & END_STREAM != 0;
                }
                return credit(f.stream, f.flags, f.payload.len());
            }
            _ => {}
        }
        Vec::new()
    }

    /// DATA frames for every upload, as far as the server's windows allow.
    fn upload(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for (&id, s) in self.streams.iter_mut() {
            while s.sent < s.upload && !s.end.is_over() {
                let room = s.window.min(self.window).max(0);
                let n = (s.upload - s.sent).min(FRAME).min(room as usize);
                if n == 0 {
                    break;
                }
                let last = s.sent + n == s.upload;
                let chunk = pattern_bytes(s.sent as u64, n);
                out.extend(h2_frame(
                    DATA,
                    if last { END_STREAM } else { 0 },
                    id,
                    &chunk,
                ));
                s.sent += n;
                s.window -= n as i64;
                self.window -= n as i64;
            }
        }
        out
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn head(method: &str, path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in [
        (":method", method),
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
