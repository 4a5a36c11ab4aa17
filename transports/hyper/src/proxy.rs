//! [`ProxyProtocolAcceptor`]: the PROXY protocol, versions 1 and 2, over any inner
//! [`Acceptor`].
//!
//! A load balancer working at layer 4 (HAProxy, AWS NLB, ...) opens its own TCP connection to
//! the server and, first thing, sends a header saying who the real client is. With this
//! acceptor the [`ConnectionInfo::remote_addr`](twinport::ConnectionInfo::remote_addr) becomes
//! that client and [`ConnectionInfo::proxy`](twinport::ConnectionInfo::proxy) keeps the
//! balancer's address and the reported destination. Headers are parsed with the `ppp` crate.
//!
//! The header comes before anything else, TLS included, so this acceptor runs inside
//! [`TlsAcceptor`](crate::TlsAcceptor):
//!
//! ```no_run
//! # async fn run(tls: twinport::ServerTls) -> Result<(), Box<dyn std::error::Error>> {
//! use twinport_hyper::{Http, ProxyMode, ProxyProtocolAcceptor, TlsAcceptor};
//!
//! let acceptor = TlsAcceptor::from_server_tls(&tls)?
//!     .acceptor(ProxyProtocolAcceptor::new(ProxyMode::Required));
//! let listener = tokio::net::TcpListener::bind("10.0.0.5:8443").await?;
//! Http::new(listener).acceptor(acceptor).serve(axum::Router::new()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Only put this on a port that your balancers alone can reach: whoever sends the header
//! chooses the address your handlers see.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use twinport::{connection_info::ConnectionInfoBuilder, connection_info::ProxyInfo, BoxError};

use crate::accept::{AcceptError, AcceptFuture, Acceptor, DefaultAcceptor};

/// The default time a balancer has to send the whole header: 5 seconds.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

const V1_PREFIX: &[u8] = b"PROXY ";
const V1_MAX_LEN: usize = 107;
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED_LEN: usize = 16;

/// Whether a PROXY header must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyMode {
    /// Every connection must start with a valid header; others are closed with a warning.
    Required,
    /// A connection may start with a header; without one, it is served as it is. Meant for
    /// moving a port behind a balancer: anyone can claim any address while this is on.
    Optional,
}

/// Why a PROXY header was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The connection did not start with a PROXY header, and one is required.
    #[error("no PROXY protocol header, and one is required (is the client bypassing the load balancer?)")]
    Missing,
    /// The peer closed the connection before the header was complete.
    #[error("connection closed before the PROXY protocol header was complete")]
    Closed,
    /// A version 1 header did not end within 107 bytes.
    #[error("PROXY protocol v1 header longer than 107 bytes")]
    TooLong,
    /// The header could not be parsed.
    #[error("invalid PROXY protocol v{version} header")]
    Invalid {
        /// 1 or 2.
        version: u8,
        /// The parser's error (the `ppp` crate's).
        #[source]
        source: BoxError,
    },
}

/// Reads a PROXY protocol header after the inner acceptor `A`; see the [module docs](self).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is used"]
pub struct ProxyProtocolAcceptor<A = DefaultAcceptor> {
    inner: A,
    mode: ProxyMode,
    header_timeout: Duration,
}

impl ProxyProtocolAcceptor {
    /// Reads PROXY headers in this mode, with the [default](DEFAULT_HEADER_TIMEOUT) timeout.
    pub fn new(mode: ProxyMode) -> Self {
        Self {
            inner: DefaultAcceptor,
            mode,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
        }
    }
}

impl<A> ProxyProtocolAcceptor<A> {
    /// Runs `inner` before reading the header.
    pub fn acceptor<B>(self, inner: B) -> ProxyProtocolAcceptor<B> {
        ProxyProtocolAcceptor {
            inner,
            mode: self.mode,
            header_timeout: self.header_timeout,
        }
    }

    /// How long the balancer has to send the whole header (5 seconds by default).
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// The mode.
    pub fn mode(&self) -> ProxyMode {
        self.mode
    }

    /// The acceptor that runs before the header is read (the stream's first step).
    pub fn get_ref(&self) -> &A {
        &self.inner
    }
}

/// Reads the header after the inner steps, so that it comes off the client's own bytes.
impl<A: Acceptor<I>, I: Send + 'static> Acceptor<I> for ProxyProtocolAcceptor<A> {
    type Io = ProxyStream<A::Io>;
    type Future = AcceptFuture<Self::Io>;

    fn uses_tls(&self) -> Option<bool> {
        self.inner.uses_tls()
    }

    fn accept(&self, io: I, info: ConnectionInfoBuilder) -> Self::Future {
        let inner = self.inner.accept(io, info);
        let (mode, timeout) = (self.mode, self.header_timeout);
        Box::pin(async move {
            let (mut io, info) = inner.await?;
            let mut buf = BytesMut::with_capacity(256);
            let header = tokio::time::timeout(timeout, read_header(&mut io, &mut buf))
                .await
                .map_err(|_| AcceptError::Timeout {
                    stage: "PROXY header",
                    after: timeout,
                })??;
            let info = match header {
                Some((len, report)) => {
                    buf.advance(len);
                    let peer = info.remote_addr_ref();
                    match report {
                        Some((source, destination)) => {
                            info.proxy(ProxyInfo::new(peer, Some(source), Some(destination)))
                        }
                        // LOCAL command or UNKNOWN/unix addresses: the balancer speaks for
                        // itself (health checks), so the peer stays the remote.
                        None => info.proxy(ProxyInfo::new(peer, None, None)),
                    }
                }
                None if mode == ProxyMode::Optional => info,
                None => return Err(ProxyError::Missing.into()),
            };
            Ok((ProxyStream::new(io, buf), info))
        })
    }
}

type Report = Option<(SocketAddr, SocketAddr)>;

/// What [`parse_header`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParsedHeader {
    /// The buffer starts like a PROXY header but ends before it does: read more.
    Incomplete,
    /// The buffer does not start with a PROXY header.
    NotProxy,
    /// A whole header of `len` bytes; the connection's bytes go on after it.
    Header {
        /// The header's length in bytes.
        len: usize,
        /// The reported (source, destination), or `None` for a LOCAL / UNKNOWN header.
        addresses: Option<(SocketAddr, SocketAddr)>,
    },
}

/// Parses a PROXY protocol (v1 or v2) header at the start of `buf`, exactly as
/// [`ProxyProtocolAcceptor`] does on each connection. Public for tests and fuzzing
/// (`fuzz/fuzz_targets/proxy_header.rs`); it never panics, whatever the bytes.
///
/// ```
/// use twinport_hyper::proxy::{parse_header, ParsedHeader};
///
/// let got = parse_header(b"PROXY TCP4 192.0.2.1 192.0.2.2 5555 443\r\nGET /").unwrap();
/// assert!(matches!(got, ParsedHeader::Header { len: 41, addresses: Some(_) }));
/// assert_eq!(parse_header(b"GET / HTTP/1.1").unwrap(), ParsedHeader::NotProxy);
/// ```
pub fn parse_header(buf: &[u8]) -> Result<ParsedHeader, ProxyError> {
    Ok(match frame(buf)? {
        Frame::NeedMore => ParsedHeader::Incomplete,
        Frame::NotProxy => ParsedHeader::NotProxy,
        Frame::Header(len, addresses) => ParsedHeader::Header { len, addresses },
    })
}

/// Reads until a whole header is in `buf`: `Some((header length, addresses))`, or `None` when
/// the stream does not start with a header (the bytes read stay in `buf`).
async fn read_header<IO>(
    io: &mut IO,
    buf: &mut BytesMut,
) -> Result<Option<(usize, Report)>, AcceptError>
where
    IO: AsyncRead + Unpin,
{
    loop {
        match frame(buf)? {
            Frame::Header(len, report) => return Ok(Some((len, report))),
            Frame::NotProxy => return Ok(None),
            Frame::NeedMore => {}
        }
        if io.read_buf(buf).await? == 0 {
            return Err(ProxyError::Closed.into());
        }
    }
}

enum Frame {
    NeedMore,
    NotProxy,
    Header(usize, Report),
}

fn starts_like(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

fn frame(buf: &[u8]) -> Result<Frame, ProxyError> {
    if buf.is_empty() {
        return Ok(Frame::NeedMore);
    }
    if starts_like(buf, V2_SIGNATURE) {
        if buf.len() < V2_FIXED_LEN {
            return Ok(Frame::NeedMore);
        }
        let len = V2_FIXED_LEN + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if buf.len() < len {
            return Ok(Frame::NeedMore);
        }
        return parse_v2(&buf[..len]).map(|r| Frame::Header(len, r));
    }
    if starts_like(buf, V1_PREFIX) {
        let window = &buf[..buf.len().min(V1_MAX_LEN)];
        return match window.windows(2).position(|w| w == b"\r\n") {
            Some(end) => parse_v1(&buf[..end + 2]).map(|r| Frame::Header(end + 2, r)),
            None if buf.len() >= V1_MAX_LEN => Err(ProxyError::TooLong),
            None => Ok(Frame::NeedMore),
        };
    }
    Ok(Frame::NotProxy)
}

fn parse_v1(bytes: &[u8]) -> Result<Report, ProxyError> {
    use ppp::v1::{Addresses, Header};
    let header = Header::try_from(bytes).map_err(|e| ProxyError::Invalid {
        version: 1,
        source: e.into(),
    })?;
    Ok(match header.addresses {
        Addresses::Tcp4(a) => Some((
            SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V4(a.destination_address), a.destination_port),
        )),
        Addresses::Tcp6(a) => Some((
            SocketAddr::new(IpAddr::V6(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V6(a.destination_address), a.destination_port),
        )),
        Addresses::Unknown => None,
    })
}

fn parse_v2(bytes: &[u8]) -> Result<Report, ProxyError> {
    use ppp::v2::{Addresses, Command, Header};
    let header = Header::try_from(bytes).map_err(|e| ProxyError::Invalid {
        version: 2,
        source: e.into(),
    })?;
    if header.command == Command::Local {
        return Ok(None);
    }
    Ok(match header.addresses {
        Addresses::IPv4(a) => Some((
            SocketAddr::new(IpAddr::V4(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V4(a.destination_address), a.destination_port),
        )),
        Addresses::IPv6(a) => Some((
            SocketAddr::new(IpAddr::V6(a.source_address), a.source_port),
            SocketAddr::new(IpAddr::V6(a.destination_address), a.destination_port),
        )),
        Addresses::Unspecified | Addresses::Unix(_) => None,
    })
}

/// A stream after its PROXY header: bytes read past the header are replayed first.
#[derive(Debug)]
pub struct ProxyStream<IO> {
    inner: IO,
    buffered: BytesMut,
}

impl<IO> ProxyStream<IO> {
    fn new(inner: IO, buffered: BytesMut) -> Self {
        Self { inner, buffered }
    }

    /// The underlying stream. Bytes already read from it but not yet consumed are held here,
    /// so read through the `ProxyStream`, not this.
    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ProxyStream<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.buffered.is_empty() {
            let n = self.buffered.len().min(buf.remaining());
            buf.put_slice(&self.buffered[..n]);
            self.buffered.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ProxyStream<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8]) -> (usize, Report) {
        match frame(bytes) {
            Ok(Frame::Header(len, report)) => (len, report),
            _ => panic!("no header in {bytes:?}"),
        }
    }

    #[test]
    fn v1_with_trailing_bytes() {
        let input = b"PROXY TCP4 198.51.100.1 10.0.0.1 5555 443\r\nGET / HTTP/1.1\r\n";
        let (len, report) = header(input);
        assert_eq!(&input[len..], b"GET / HTTP/1.1\r\n");
        let (src, dst) = report.unwrap();
        assert_eq!(src, "198.51.100.1:5555".parse().unwrap());
        assert_eq!(dst, "10.0.0.1:443".parse().unwrap());
        assert!(matches!(frame(b"PROXY TCP4 1.2"), Ok(Frame::NeedMore)));
        assert!(matches!(frame(b"PRO"), Ok(Frame::NeedMore)));
        assert!(matches!(
            frame(b"PROXY UNKNOWN\r\n"),
            Ok(Frame::Header(15, None))
        ));
    }

    #[test]
    fn v2_ipv6_and_local() {
        let addrs: (SocketAddr, SocketAddr) = (
            "[2001:db8::1]:4000".parse().unwrap(),
            "[2001:db8::2]:443".parse().unwrap(),
        );
        let mut bytes = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            addrs,
        )
        .build()
        .unwrap();
        let header_len = bytes.len();
        assert!(matches!(frame(&bytes[..10]), Ok(Frame::NeedMore)));
        assert!(matches!(frame(&bytes[..20]), Ok(Frame::NeedMore)));
        bytes.extend_from_slice(b"\x16\x03\x01");
        let (len, report) = header(&bytes);
        assert_eq!(len, header_len);
        assert_eq!(report, Some(addrs));

        let local = ppp::v2::Builder::new(
            ppp::v2::Version::Two | ppp::v2::Command::Local,
            ppp::v2::AddressFamily::Unspecified | ppp::v2::Protocol::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(header(&local), (16, None));
    }

    #[test]
    fn garbage_and_plain_requests() {
        assert!(matches!(frame(b"GET / HTTP/1.1\r\n"), Ok(Frame::NotProxy)));
        assert!(matches!(frame(b"\x16\x03\x01"), Ok(Frame::NotProxy)));
        match frame(b"PROXY TCP4 nonsense here 1 2\r\n") {
            Err(e @ ProxyError::Invalid { version: 1, .. }) => {
                twinport_testkit::errors::assert_typed_cause::<ppp::v1::BinaryParseError>(&e);
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a broken v1 header was accepted"),
        }
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
        assert!(matches!(frame(&long), Err(ProxyError::TooLong)));
    }
}
