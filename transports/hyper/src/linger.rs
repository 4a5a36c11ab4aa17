//! Lingering close. A socket closed with bytes from the client still unread makes the kernel
//! answer with a reset, and the client's kernel then throws away the response bytes the
//! client had not read yet. So after hyper is done with a connection, its task shuts down the
//! write side (the rest of the response, then FIN) and reads and discards what the client
//! still sends until the client closes — bounded in quiet time, total time and bytes, as
//! nginx's `lingering_close`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::{timeout_at, Instant};

/// The bounds of one lingering close (see the `HttpConfig` setters).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Linger {
    /// The whole linger, from the end of HTTP to the close.
    pub(crate) time: Duration,
    /// The longest the client may stay silent while lingering.
    pub(crate) timeout: Duration,
    /// The most bytes read and discarded.
    pub(crate) max_bytes: u64,
}

/// Why a lingering close ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LingerEnd {
    /// The client closed its side: every byte it sent was read, nothing is reset.
    ClientClosed,
    /// The client stayed silent for the quiet timeout.
    Quiet,
    /// The total time ran out while the client kept sending.
    TimeLimit,
    /// The client sent more than the byte limit.
    ByteLimit,
    /// The connection failed (a reset, a TLS error).
    Failed,
}

impl Linger {
    /// Shuts down the write side of `io`, then reads and discards until the client closes or
    /// a bound is reached. Returns why it ended and how many bytes it discarded.
    pub(crate) async fn close<IO>(&self, mut io: IO) -> (LingerEnd, u64)
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let deadline = twinport::transport::deadline_after(self.time);
        // A write side that cannot be shut down in time (a client that reads nothing) still
        // gets its FIN when the socket is closed; the reads below go on regardless.
        let quiet = Instant::now() + self.timeout;
        let _ = timeout_at(quiet.min(deadline), io.shutdown()).await;
        let mut buf = [0u8; 4096];
        let mut discarded = 0u64;
        loop {
            let quiet = Instant::now() + self.timeout;
            let end = match timeout_at(quiet.min(deadline), io.read(&mut buf)).await {
                Ok(Ok(0)) => LingerEnd::ClientClosed,
                Ok(Ok(n)) => {
                    discarded += n as u64;
                    if discarded > self.max_bytes {
                        LingerEnd::ByteLimit
                    } else if Instant::now() >= deadline {
                        // A read that is always ready never lets the timeout fire.
                        LingerEnd::TimeLimit
                    } else {
                        continue;
                    }
                }
                Ok(Err(_)) => LingerEnd::Failed,
                Err(_) if Instant::now() >= deadline => LingerEnd::TimeLimit,
                Err(_) => LingerEnd::Quiet,
            };
            return (end, discarded);
        }
    }
}

/// The connection's stream lent to hyper: when hyper drops it, it comes back through the
/// receiver of [`Lent::new`], so that the connection's task can close it with a linger. A
/// stream hyper hands to an upgrade (a WebSocket) comes back only when that ends, too late
/// to matter: the task does not wait for it.
pub(crate) struct Lent<IO> {
    io: Option<IO>,
    back: Option<oneshot::Sender<IO>>,
}

impl<IO> Lent<IO> {
    pub(crate) fn new(io: IO) -> (Self, oneshot::Receiver<IO>) {
        let (tx, rx) = oneshot::channel();
        let lent = Self {
            io: Some(io),
            back: Some(tx),
        };
        (lent, rx)
    }

    fn io(&mut self) -> io::Result<Pin<&mut IO>>
    where
        IO: Unpin,
    {
        match self.io.as_mut() {
            Some(io) => Ok(Pin::new(io)),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl<IO> Drop for Lent<IO> {
    fn drop(&mut self) {
        if let (Some(io), Some(back)) = (self.io.take(), self.back.take()) {
            let _ = back.send(io);
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Lent<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Lent<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.io() {
            Ok(io) => io.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.io() {
            Ok(io) => io.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(|io| io.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linger() -> Linger {
        Linger {
            time: Duration::from_secs(2),
            timeout: Duration::from_millis(300),
            max_bytes: 64 * 1024,
        }
    }

    #[tokio::test]
    async fn lent_stream_comes_back_when_dropped() {
        let (a, _b) = tokio::io::duplex(64);
        let (lent, back) = Lent::new(a);
        drop(lent);
        assert!(back.await.is_ok());
    }

    #[tokio::test]
    async fn ends_when_the_client_closes_after_sending() {
        let (server, mut client) = tokio::io::duplex(1024);
        let reading = tokio::spawn(async move { linger().close(server).await });
        client.write_all(b"late bytes").await.unwrap();
        let mut rest = Vec::new();
        // The server's side is shut down: the client reads its end.
        client.read_to_end(&mut rest).await.unwrap();
        drop(client);
        assert_eq!(reading.await.unwrap(), (LingerEnd::ClientClosed, 10));
    }

    #[tokio::test]
    async fn a_silent_client_is_closed_after_the_quiet_timeout() {
        let (server, _client) = tokio::io::duplex(1024);
        assert_eq!(linger().close(server).await, (LingerEnd::Quiet, 0));
    }

    #[tokio::test]
    async fn a_flooding_client_is_cut_at_the_byte_limit() {
        let (server, mut client) = tokio::io::duplex(1024);
        let reading = tokio::spawn(async move { linger().close(server).await });
        let flood =
            tokio::spawn(async move { while client.write_all(&[0; 1024]).await.is_ok() {} });
        let (end, discarded) = reading.await.unwrap();
        assert_eq!(end, LingerEnd::ByteLimit);
        assert!(discarded > 64 * 1024 && discarded <= 64 * 1024 + 4096);
        flood.await.unwrap();
    }

    #[tokio::test]
    async fn a_flooding_client_is_cut_at_the_total_time() {
        let (server, mut client) = tokio::io::duplex(1024);
        let bounds = Linger {
            time: Duration::from_millis(200),
            max_bytes: u64::MAX,
            ..linger()
        };
        let reading = tokio::spawn(async move { bounds.close(server).await });
        let flood =
            tokio::spawn(async move { while client.write_all(&[0; 1024]).await.is_ok() {} });
        let (end, _) = reading.await.unwrap();
        assert_eq!(end, LingerEnd::TimeLimit);
        flood.await.unwrap();
    }
}
