//! Raw QUIC protocols: [`QuicHandler`] and the [`QuicConnection`] it is given.

use std::fmt;
use std::future::Future;

use futures_util::future::BoxFuture;
use twinport::{transport::Shutdown, BoxError, ConnectionInfo};

/// An accepted QUIC connection whose ALPN protocol routes to a [`QuicHandler`].
pub struct QuicConnection {
    pub(crate) connection: quinn::Connection,
    pub(crate) info: ConnectionInfo,
    pub(crate) shutdown: Shutdown,
}

impl QuicConnection {
    /// The quinn connection: open and accept streams, send datagrams.
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// What the connection looks like: addresses, ALPN, SNI, the client's certificate. The
    /// same [`ConnectionInfo`] an HTTP request on the endpoint would carry.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The server's shutdown signal: when [`Shutdown::draining`] completes, finish up before
    /// the deadline it returns; the endpoint closes the connection then.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The connection, its info and the shutdown signal.
    pub fn into_parts(self) -> (quinn::Connection, ConnectionInfo, Shutdown) {
        (self.connection, self.info, self.shutdown)
    }
}

impl fmt::Debug for QuicConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuicConnection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Serves one raw QUIC protocol, picked by ALPN: JetStream's `QuicHandler`.
///
/// Each accepted connection is handed to [`handle`](Self::handle) in its own task. When the
/// returned future completes, the server drops its handle on the connection; quinn closes a
/// connection when every handle is gone, and closing discards unsent data. So before
/// returning, wait until your data is delivered: `SendStream::stopped()` on your last stream,
/// or `connection.closed()` when the client hangs up.
///
/// Any `Fn(QuicConnection) -> impl Future<Output = Result<(), BoxError>>` is a handler:
///
/// ```
/// use twinport_quinn::{QuicConnection, QuicHandler};
///
/// async fn echo(conn: QuicConnection) -> Result<(), twinport::BoxError> {
///     let conn = conn.connection();
///     while let Ok((mut send, mut recv)) = conn.accept_bi().await {
///         let data = recv.read_to_end(64 * 1024).await?;
///         send.write_all(&data).await?;
///         send.finish()?;
///     }
///     Ok(())
/// }
/// fn assert_handler(_: impl QuicHandler) {}
/// assert_handler(echo);
/// ```
pub trait QuicHandler: Send + Sync + 'static {
    /// Serves one connection until it is done. An error is logged with the connection.
    fn handle(&self, connection: QuicConnection) -> BoxFuture<'static, Result<(), BoxError>>;
}

impl<F, Fut> QuicHandler for F
where
    F: Fn(QuicConnection) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn handle(&self, connection: QuicConnection) -> BoxFuture<'static, Result<(), BoxError>> {
        Box::pin(self(connection))
    }
}
