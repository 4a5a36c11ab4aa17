//! [`RawH2`]: raw HTTP/2 over TLS, frame by frame, for tests that must send a frame at a
//! chosen moment (after the response, say) and read exactly what the server answers.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::clients::tls_connect;
use crate::frames::{h2_frame, H2_PREFACE, H2_SETTINGS};

/// One frame: type, flags, stream id and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Frame {
    /// The frame type.
    pub ty: u8,
    /// Its flags.
    pub flags: u8,
    /// Its stream.
    pub stream: u32,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl H2Frame {
    /// The error code of a RST_STREAM (0x3) or GOAWAY (0x7) frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.ty {
            0x3 => 0,
            0x7 => 4,
            _ => return None,
        };
        let bytes = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    }
}

/// A raw HTTP/2 connection (ALPN `h2`) to a test server, as `localhost`.
pub struct RawH2 {
    tls: TlsStream<TcpStream>,
}

impl RawH2 {
    /// Connects, sends the preface and an empty SETTINGS frame, and acknowledges the
    /// server's SETTINGS (so its windows apply).
    pub async fn connect(addr: SocketAddr) -> Self {
        let mut tls = tls_connect(addr, &[b"h2"], None).await.expect("tls");
        let mut hello = H2_PREFACE.to_vec();
        hello.extend(h2_frame(H2_SETTINGS, 0, 0, &[]));
        tls.write_all(&hello).await.expect("preface");
        let mut client = Self { tls };
        let mut seen = Vec::new();
        let settings = client
            .until(Duration::from_secs(10), &mut seen, |f| {
                f.ty == H2_SETTINGS && f.flags == 0
            })
            .await;
        assert!(settings.is_some(), "no SETTINGS from the server: {seen:?}");
        client.send(&h2_frame(H2_SETTINGS, 0x1, 0, &[])).await;
        client
    }

    /// Sends raw bytes (frames).
    pub async fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).await.expect("write");
    }

    /// The next frame, or `None` when the connection ended or `wait` passed first.
    pub async fn next(&mut self, wait: Duration) -> Option<H2Frame> {
        tokio::time::timeout(wait, read_frame(&mut self.tls))
            .await
            .ok()?
            .ok()
    }

    /// Reads frames until one matches `want` (returned) or `wait` passes (`None`); every
    /// frame read is kept in `seen`.
    pub async fn until(
        &mut self,
        wait: Duration,
        seen: &mut Vec<H2Frame>,
        want: impl Fn(&H2Frame) -> bool,
    ) -> Option<H2Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next(left).await?;
            seen.push(frame.clone());
            if want(&frame) {
                return Some(frame);
            }
        }
    }
}

/// Reads one HTTP/2 frame.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<H2Frame> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & !(1 << 31);
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await?;
    Ok(H2Frame {
        ty: head[3],
        flags: head[4],
        stream,
        payload,
    })
}
