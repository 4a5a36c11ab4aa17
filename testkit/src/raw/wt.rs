//! WebTransport sessions on a [`RawH3`] connection: the client's SETTINGS as the test chooses
//! them (which pick the draft), the extended CONNECT, and the response read frame by frame.

use std::net::SocketAddr;
use std::time::Duration;

use twinport_quinn::quinn;

use super::h3::{read_to_end, Ended, RawH3};
use crate::frames::{h3_frames, h3_request_frame, h3_settings, read_quic_varint, H3_HEADERS};
use crate::time::bounded;

/// The SETTINGS of a draft-02 WebTransport client (aioquic's, Firefox's, less QPACK).
pub const WT_DRAFT02: &[(u64, u64)] = &[(0x8, 1), (0x33, 1), (0x2b60_3742, 1)];
/// The SETTINGS of a client that speaks draft-02 and draft-07 (the wtransport crate's).
pub const WT_DRAFT07: &[(u64, u64)] = &[(0x8, 1), (0x33, 1), (0x2b60_3742, 1), (0xc671_706a, 1)];

/// The stream of a raw extended CONNECT (a WebTransport session, a WebSocket), its response
/// head read.
pub struct RawSession {
    /// The stream's sending half.
    pub send: quinn::SendStream,
    /// Its receiving half, past the response head.
    pub recv: quinn::RecvStream,
    /// The session id (the stream id).
    pub id: u64,
    /// The response's field section (QPACK; the server encodes literals without Huffman).
    pub head: Vec<u8>,
    /// What came after the head in the same reads.
    pub rest: Vec<u8>,
}

impl RawH3 {
    /// [`RawH3::connect`], then a control stream with SETTINGS `settings`.
    pub async fn with_settings(addr: SocketAddr, settings: &[(u64, u64)]) -> Self {
        let mut raw = Self::connect(addr).await;
        raw.control = Some(raw.control(&h3_settings(settings)).await);
        raw
    }

    /// Sends a WebTransport extended CONNECT to `path` (with draft-02's request header) and
    /// reads the response head.
    pub async fn wt_connect(&self, path: &str) -> RawSession {
        self.extended_connect(
            path,
            &[
                (":protocol", b"webtransport"),
                ("sec-webtransport-http3-draft02", b"1"),
            ],
        )
        .await
    }

    /// Sends an extended CONNECT to `path` with `fields` (`:protocol` among them) and reads
    /// the response head.
    pub async fn extended_connect(&self, path: &str, fields: &[(&str, &[u8])]) -> RawSession {
        let frame = h3_request_frame("CONNECT", path, fields);
        let (send, mut recv) = self.bidi(&frame).await;
        let id = u64::from(send.id());
        let mut buf = Vec::new();
        let head = bounded(30, "the CONNECT response", async {
            loop {
                if let Some((ty, payload)) = h3_frames(&buf).into_iter().next() {
                    assert_eq!(ty, H3_HEADERS, "the response starts with HEADERS");
                    return payload;
                }
                let chunk = recv.read_chunk(usize::MAX, true).await.unwrap();
                buf.extend_from_slice(&chunk.expect("the response head").bytes);
            }
        })
        .await;
        let used = frame_len(&buf);
        RawSession {
            send,
            recv,
            id,
            head,
            rest: buf[used..].to_vec(),
        }
    }
}

/// The length of the first frame of `buf`, header included.
fn frame_len(buf: &[u8]) -> usize {
    let (_, a) = read_quic_varint(buf).unwrap();
    let (len, b) = read_quic_varint(&buf[a..]).unwrap();
    a + b + len as usize
}

/// A QPACK prefix integer with an `n`-bit prefix at the front of `buf`: the value and its
/// length.
fn prefix_int(buf: &[u8], n: u32) -> (usize, usize) {
    let max = (1usize << n) - 1;
    let mut v = usize::from(buf[0]) & max;
    if v < max {
        return (v, 1);
    }
    let mut shift = 0;
    let mut i = 1;
    loop {
        let b = buf[i];
        v += usize::from(b & 0x7f) << shift;
        shift += 7;
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
    }
}

impl RawSession {
    /// The response's `:status` (the first field line: a static entry, or a literal with a
    /// static name reference).
    pub fn status(&self) -> u16 {
        let line = &self.head[2..];
        if line[0] & 0xc0 == 0xc0 {
            let (index, _) = prefix_int(line, 6);
            return match index {
                24 => 103,
                25 => 200,
                26 => 304,
                27 => 404,
                28 => 503,
                63 => 100,
                64 => 204,
                65 => 206,
                66 => 302,
                67 => 400,
                68 => 403,
                69 => 421,
                70 => 425,
                71 => 500,
                other => panic!("static entry {other} is no :status"),
            };
        }
        assert_eq!(line[0] & 0xc0, 0x40, "a literal with a name reference");
        let (_, n) = prefix_int(line, 4);
        let (len, m) = prefix_int(&line[n..], 7);
        let value = &line[n + m..n + m + len];
        std::str::from_utf8(value).unwrap().parse().unwrap()
    }

    /// Whether the response head has a field `name` with `value` (both as literals).
    pub fn has_field(&self, name: &str, value: &str) -> bool {
        let has = |needle: &[u8]| self.head.windows(needle.len()).any(|w| w == needle);
        has(name.as_bytes()) && has(value.as_bytes())
    }

    /// Whether the response head names the field `name`.
    pub fn names(&self, name: &str) -> bool {
        self.head.windows(name.len()).any(|w| w == name.as_bytes())
    }

    /// Reads the rest of the CONNECT stream to its end (at most `wait`): the data after the
    /// head, as frames.
    pub async fn read_rest(&mut self, wait: Duration) -> Result<Vec<(u64, Vec<u8>)>, Ended> {
        match read_to_end(&mut self.recv, wait).await {
            Ended::Finished(bytes) => {
                let mut all = std::mem::take(&mut self.rest);
                all.extend_from_slice(&bytes);
                Ok(h3_frames(&all))
            }
            other => Err(other),
        }
    }
}
