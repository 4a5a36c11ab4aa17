//! A raw HTTP/3 client: a QUIC connection with ALPN h3 on which the test writes every stream
//! type and frame itself, the attacker of the HTTP/3 limit tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use twinport_quinn::quinn;

use crate::codes::code_name;
use crate::frames::{
    h3_frames, h3_request_frame, h3_settings, quic_varint, H3_CONTROL_STREAM, H3_DATA,
};
use crate::pki::Pki;
use crate::time::bounded;

/// A raw HTTP/3 connection.
pub struct RawH3 {
    /// The client's endpoint.
    pub endpoint: quinn::Endpoint,
    /// The QUIC connection.
    pub conn: quinn::Connection,
    /// The control stream [`RawH3::h3`] opened (kept open: its end is a connection error).
    pub control: Option<quinn::SendStream>,
}

/// How a stream or connection ended, as the raw client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The server closed the connection with this application error code.
    Closed(u64),
    /// The server reset the stream with this code.
    Reset(u64),
    /// The server stopped the stream (STOP_SENDING) with this code.
    Stopped(u64),
    /// The stream ended normally; what the server sent on it.
    Finished(Vec<u8>),
    /// Nothing of the above within the time allowed.
    Nothing(Duration),
    /// Something else (a transport-level close, a local error), described.
    Other(String),
}

impl RawH3 {
    /// A QUIC connection to `addr` with ALPN h3 and no HTTP/3 on it yet. Its send window is
    /// 2 MiB (the attacker's own buffers stay small next to what it makes the server hold) and
    /// it sends keep-alives, so a connection ends only when the server ends it.
    pub async fn connect(addr: SocketAddr) -> Self {
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        Self::connect_via(endpoint, addr).await
    }

    /// [`RawH3::connect`] from `endpoint` (one endpoint for many attackers: an endpoint's
    /// own buffers are a megabyte or so of this process's RSS).
    pub async fn connect_via(endpoint: quinn::Endpoint, addr: SocketAddr) -> Self {
        let tls = Pki::get().client_tls(&[b"h3"], None);
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(Duration::from_secs(20).try_into().unwrap()))
            .keep_alive_interval(Some(Duration::from_secs(1)))
            .send_window(2 * 1024 * 1024);
        config.transport_config(Arc::new(transport));
        let connecting = endpoint.connect_with(config, addr, "localhost").unwrap();
        let conn = bounded(30, "QUIC handshake", connecting).await.unwrap();
        Self {
            endpoint,
            conn,
            control: None,
        }
    }

    /// [`RawH3::connect`], then a control stream with an empty SETTINGS frame, as a minimal
    /// client opens, kept in [`RawH3::control`].
    pub async fn h3(addr: SocketAddr) -> Self {
        let mut raw = Self::connect(addr).await;
        raw.control = Some(raw.control_with_settings().await);
        raw
    }

    /// Opens a unidirectional stream of type `ty` and writes `bytes` on it.
    pub async fn uni(&self, ty: u64, bytes: &[u8]) -> quinn::SendStream {
        self.try_uni(ty, bytes).await.unwrap()
    }

    /// [`RawH3::uni`], or why not (the server may have closed the connection already).
    pub async fn try_uni(&self, ty: u64, bytes: &[u8]) -> Result<quinn::SendStream, String> {
        let mut head = Vec::new();
        quic_varint(ty, &mut head);
        head.extend_from_slice(bytes);
        let open = async {
            let mut send = self.conn.open_uni().await.map_err(|e| e.to_string())?;
            send.write_all(&head).await.map_err(|e| e.to_string())?;
            Ok(send)
        };
        bounded(10, "a unidirectional stream", open).await
    }

    /// Opens the control stream with `first` as its first bytes.
    pub async fn control(&self, first: &[u8]) -> quinn::SendStream {
        self.uni(H3_CONTROL_STREAM, first).await
    }

    /// Opens the control stream with an empty SETTINGS frame. Dropping the stream finishes
    /// it, which closes the connection (H3_CLOSED_CRITICAL_STREAM): keep it.
    pub async fn control_with_settings(&self) -> quinn::SendStream {
        self.control(&h3_settings(&[])).await
    }

    /// Opens a request stream and writes `bytes` on it.
    pub async fn bidi(&self, bytes: &[u8]) -> (quinn::SendStream, quinn::RecvStream) {
        self.try_bidi(bytes).await.unwrap()
    }

    /// [`RawH3::bidi`], or why not (the server may have closed the connection already).
    pub async fn try_bidi(
        &self,
        bytes: &[u8],
    ) -> Result<(quinn::SendStream, quinn::RecvStream), String> {
        let open = async {
            let (mut send, recv) = self.conn.open_bi().await.map_err(|e| e.to_string())?;
            send.write_all(bytes).await.map_err(|e| e.to_string())?;
            Ok((send, recv))
        };
        bounded(10, "a request stream", open).await
    }

    /// Sends `bytes` as a whole request and reads the whole response.
    pub async fn request(&self, bytes: &[u8]) -> Ended {
        let (mut send, mut recv) = self.bidi(bytes).await;
        let _ = send.finish();
        read_to_end(&mut recv, Duration::from_secs(10)).await
    }

    /// Asserts that a GET on this connection is still answered `200 ok`; `what` says when.
    pub async fn assert_serves(&self, what: &str) {
        let got = self.request(&h3_request_frame("GET", "/ok", &[])).await;
        match got {
            Ended::Finished(ref bytes) if is_200_with(bytes, b"ok") => {}
            other => panic!(
                "{what}: the connection no longer serves: {}",
                describe(&other)
            ),
        }
    }

    /// How the connection ended, waiting at most `wait`.
    pub async fn ended(&self, wait: Duration) -> Ended {
        match tokio::time::timeout(wait, self.conn.closed()).await {
            Err(_) => Ended::Nothing(wait),
            Ok(e) => connection_end(e),
        }
    }

    /// Closes the connection and waits (briefly) for the endpoint to go idle.
    ///
    /// After a flood the server's socket may have dropped the one CONNECTION_CLOSE packet;
    /// the endpoint is kept for a few seconds more (in a task of its own) so that the server's
    /// next packets are answered (by a CONNECTION_CLOSE or a stateless reset) and it does not
    /// wait out the idle timeout.
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        let endpoint = self.endpoint;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(endpoint);
        });
    }
}

fn connection_end(e: quinn::ConnectionError) -> Ended {
    match e {
        quinn::ConnectionError::ApplicationClosed(close) => {
            Ended::Closed(close.error_code.into_inner())
        }
        other => Ended::Other(other.to_string()),
    }
}

/// Reads `recv` to its end, waiting at most `wait` in all.
pub async fn read_to_end(recv: &mut quinn::RecvStream, wait: Duration) -> Ended {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let read = async {
        loop {
            match recv.read(&mut buf).await {
                Ok(Some(n)) => got.extend_from_slice(&buf[..n]),
                Ok(None) => return None,
                Err(quinn::ReadError::Reset(code)) => return Some(Ended::Reset(code.into_inner())),
                Err(quinn::ReadError::ConnectionLost(e)) => return Some(connection_end(e)),
                Err(e) => return Some(Ended::Other(e.to_string())),
            }
        }
    };
    match tokio::time::timeout(wait, read).await {
        Err(_) => Ended::Nothing(wait),
        Ok(Some(end)) => end,
        Ok(None) => Ended::Finished(got),
    }
}

/// Whether a response (the bytes of a request stream) is `200` with the body `body`: a
/// HEADERS frame carrying status 200 (QPACK static index 25, or the literal "200") and DATA
/// frames adding up to `body`.
pub fn is_200_with(response: &[u8], body: &[u8]) -> bool {
    let frames = h3_frames(response);
    let status_200 = frames.first().is_some_and(|(ty, block)| {
        *ty == crate::frames::H3_HEADERS
            && (block.contains(&0xd9) || block.windows(3).any(|w| w == b"200"))
    });
    let data: Vec<u8> = frames
        .iter()
        .filter(|(ty, _)| *ty == H3_DATA)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    status_200 && data == body
}

/// What [`pump`] did.
#[derive(Debug)]
pub struct Pumped {
    /// Bytes written.
    pub bytes: u64,
    /// How the writing ended before the time was up, if it did.
    pub ended: Option<Ended>,
    /// Whether the last chunk was written whole (the stream ends at a chunk's end, so a
    /// chunk of whole frames leaves it at a frame boundary).
    pub whole: bool,
}

/// How long [`pump`] waits, once the time is up, to finish the chunk it is in.
const FINISH_CHUNK: Duration = Duration::from_secs(10);

/// Writes `chunk` on `send` again and again as fast as flow control allows, for `time` (and
/// then to the end of the chunk it is in) or until the stream or the connection fails.
pub async fn pump(send: &mut quinn::SendStream, chunk: &[u8], time: Duration) -> Pumped {
    let end = Instant::now() + time;
    let mut bytes = 0;
    let mut offset = 0;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if offset == 0 && left.is_zero() {
            break;
        }
        let wait = if offset == 0 {
            left
        } else {
            left.max(FINISH_CHUNK)
        };
        match tokio::time::timeout(wait, send.write(&chunk[offset..])).await {
            Err(_) => break,
            Ok(Ok(n)) => {
                bytes += n as u64;
                offset = (offset + n) % chunk.len();
            }
            Ok(Err(e)) => {
                let ended = match e {
                    quinn::WriteError::Stopped(code) => Ended::Stopped(code.into_inner()),
                    quinn::WriteError::ConnectionLost(e) => connection_end(e),
                    other => Ended::Other(other.to_string()),
                };
                return Pumped {
                    bytes,
                    ended: Some(ended),
                    whole: offset == 0,
                };
            }
        }
    }
    Pumped {
        bytes,
        ended: None,
        whole: offset == 0,
    }
}

/// Whether `ended` is the connection closed with `code`, for an assertion message.
pub fn closed_with(ended: &Ended, code: u64) -> Result<(), String> {
    match ended {
        Ended::Closed(c) if *c == code => Ok(()),
        other => Err(format!(
            "expected the connection closed with {}, got {}",
            code_name(code),
            describe(other)
        )),
    }
}

/// `ended` in words, error codes by name.
pub fn describe(ended: &Ended) -> String {
    match ended {
        Ended::Closed(c) => format!("connection closed with {}", code_name(*c)),
        Ended::Reset(c) => format!("stream reset with {}", code_name(*c)),
        Ended::Stopped(c) => format!("stream stopped with {}", code_name(*c)),
        Ended::Finished(b) => format!("stream finished after {} bytes", b.len()),
        Ended::Nothing(d) => format!("nothing within {d:?}"),
        Ended::Other(s) => s.clone(),
    }
}

/// Whether the server stops `send` (STOP_SENDING), waiting at most `wait`.
pub async fn stopped_within(send: &quinn::SendStream, wait: Duration) -> Ended {
    match tokio::time::timeout(wait, send.stopped()).await {
        Err(_) => Ended::Nothing(wait),
        Ok(Ok(Some(code))) => Ended::Stopped(code.into_inner()),
        Ok(Ok(None)) => Ended::Finished(Vec::new()),
        Ok(Err(quinn::StoppedError::ConnectionLost(e))) => connection_end(e),
        Ok(Err(e)) => Ended::Other(e.to_string()),
    }
}
