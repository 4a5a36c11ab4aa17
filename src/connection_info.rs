//! [`ConnectionInfo`]: what a request's connection looked like, whatever protocol carried it.
//!
//! Every twinport transport builds one `ConnectionInfo` per connection and inserts a clone of it
//! into the extensions of every request it serves. A clone is one reference-count increment.
//!
//! ```
//! use twinport::{ConnectionInfo, connection_info::TransportKind};
//!
//! let info = ConnectionInfo::builder(TransportKind::Tcp)
//!     .remote_addr("203.0.113.7:50000".parse().unwrap())
//!     .local_addr("127.0.0.1:4433".parse().unwrap())
//!     .alpn(b"h2".to_vec())
//!     .build();
//!
//! assert_eq!(info.transport(), TransportKind::Tcp);
//! assert_eq!(info.alpn_str(), Some("h2"));
//! assert!(info.tls().is_none());
//! assert!(info.client_certificate().is_none());
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use crate::peer_certificate::{CertificateError, PeerCertificate, SubjectAltName};
pub use crate::tls_info::{TlsInfo, TlsInfoBuilder};

/// `::ffff:a.b.c.d` becomes `a.b.c.d`, so that a client has one address whichever socket
/// (IPv4, or dual-stack IPv6) it reached.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// A process-unique number for one connection, assigned when its [`ConnectionInfo`] is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConnectionId(u64);

impl ConnectionId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What carried the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum TransportKind {
    /// TCP (HTTP/1.1 and HTTP/2, with or without TLS).
    Tcp,
    /// QUIC over UDP (HTTP/3 and raw QUIC protocols).
    Quic,
    /// A Unix domain socket.
    Unix,
    /// Anything else: a transport written by the user.
    Other,
}

impl TransportKind {
    /// A short lowercase name: `tcp`, `quic`, `unix` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Quic => "quic",
            Self::Unix => "unix",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a load balancer reported through the PROXY protocol.
///
/// When a connection carried a PROXY header, [`ConnectionInfo::remote_addr`] is the client
/// the balancer reported; this keeps the balancer's own address and the address the client
/// connected to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProxyInfo {
    /// The address of the balancer itself: the TCP peer of this connection.
    pub peer_addr: Option<SocketAddr>,
    /// The client's address as the balancer reported it.
    pub source: Option<SocketAddr>,
    /// The address the client connected to, as the balancer reported it.
    pub destination: Option<SocketAddr>,
}

impl ProxyInfo {
    /// A report from the balancer at `peer_addr`.
    pub fn new(
        peer_addr: Option<SocketAddr>,
        source: Option<SocketAddr>,
        destination: Option<SocketAddr>,
    ) -> Self {
        Self {
            peer_addr,
            source,
            destination,
        }
    }
}

/// The connection a request arrived on: addresses, ALPN, TLS and the client's certificate.
///
/// Built once per connection by the transport (or by your own acceptor through
/// [`ConnectionInfo::builder`]) and cloned into every request's extensions; a clone is one
/// `Arc` increment. Read it with [`ConnectionInfoExt`](crate::ConnectionInfoExt) on a plain
/// `http::Request`, or as an axum extractor.
#[derive(Clone)]
pub struct ConnectionInfo {
    inner: Arc<Inner>,
    // What can change from one request to the next lives outside the Arc, so that a QUIC
    // connection that migrated (or a 0-RTT request) still costs one Arc increment per request.
    remote_addr: Option<SocketAddr>,
    early_data: bool,
}

#[derive(Clone)]
struct Inner {
    id: ConnectionId,
    transport: TransportKind,
    local_addr: Option<SocketAddr>,
    remote_addr: Option<SocketAddr>,
    alpn: Option<Vec<u8>>,
    tls: Option<TlsInfo>,
    early_data: bool,
    proxy: Option<ProxyInfo>,
    alt_svc: AltSvcTurns,
}

/// How many requests of this connection [`AltSvc`](crate::alt_svc::AltSvc) has seen, so that it can
/// advertise HTTP/3 on a connection's first responses (and a sample of the later ones)
/// rather than on every one. A clone starts at zero: a cloned builder describes another
/// connection.
#[derive(Default)]
struct AltSvcTurns(std::sync::atomic::AtomicU32);

impl Clone for AltSvcTurns {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl ConnectionInfo {
    /// Counts one more request on this connection for [`AltSvc`](crate::alt_svc::AltSvc) and returns
    /// how many it had seen before (0 for the first; wraps after `u32::MAX`).
    pub(crate) fn next_alt_svc_turn(&self) -> u32 {
        self.inner.alt_svc.0.fetch_add(1, Ordering::Relaxed)
    }
}

impl ConnectionInfo {
    /// Starts describing a connection carried by `transport`.
    pub fn builder(transport: TransportKind) -> ConnectionInfoBuilder {
        ConnectionInfoBuilder {
            inner: Inner {
                id: ConnectionId(0),
                transport,
                local_addr: None,
                remote_addr: None,
                alpn: None,
                tls: None,
                early_data: false,
                proxy: None,
                alt_svc: AltSvcTurns::default(),
            },
        }
    }

    /// The process-unique id of the connection.
    pub fn id(&self) -> ConnectionId {
        self.inner.id
    }

    /// What carried the connection.
    pub fn transport(&self) -> TransportKind {
        self.inner.transport
    }

    /// The server's address of the connection; `None` on a Unix socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    /// The client's address: with the PROXY protocol, the client the balancer reported; on QUIC,
    /// the client's address as of this request (QUIC connections can migrate).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The protocol negotiated with ALPN (`h2`, `http/1.1`, `h3`, ...), if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.inner.alpn.as_deref()
    }

    /// [`alpn`](Self::alpn) as text, when it is UTF-8.
    pub fn alpn_str(&self) -> Option<&str> {
        self.alpn().and_then(|a| std::str::from_utf8(a).ok())
    }

    /// The TLS session, when the connection used TLS (always, on QUIC).
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.inner.tls.as_ref()
    }

    /// The client's verified certificate, when it presented one.
    pub fn client_certificate(&self) -> Option<&PeerCertificate> {
        self.tls().and_then(TlsInfo::peer_certificate)
    }

    /// Whether this request arrived in TLS 1.3 / QUIC 0-RTT early data (replayable).
    pub fn is_early_data(&self) -> bool {
        self.early_data
    }

    /// What a load balancer reported with the PROXY protocol, if it did.
    pub fn proxy(&self) -> Option<&ProxyInfo> {
        self.inner.proxy.as_ref()
    }

    /// This connection as seen from a different client address, keeping the id and
    /// everything else: QUIC transports use it when a connection migrates. As cheap as a
    /// clone.
    #[must_use]
    pub fn migrated_to(&self, remote_addr: SocketAddr) -> Self {
        Self {
            remote_addr: Some(canonical(remote_addr)),
            ..self.clone()
        }
    }

    /// This connection, marked as carrying 0-RTT early data (or not). As cheap as a clone.
    #[must_use]
    pub fn marked_early_data(&self, early_data: bool) -> Self {
        Self {
            early_data,
            ..self.clone()
        }
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("ConnectionInfo");
        d.field("id", &i.id)
            .field("transport", &i.transport)
            .field("local_addr", &i.local_addr)
            .field("remote_addr", &self.remote_addr)
            .field("alpn", &self.alpn_str())
            .field("tls", &i.tls)
            .field("early_data", &self.early_data)
            .field("proxy", &i.proxy);
        d.finish()
    }
}

/// Fills in a [`ConnectionInfo`]. Transports and acceptors pass it along, each adding what it
/// knows, and the transport builds it once the connection is ready.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is used"]
pub struct ConnectionInfoBuilder {
    inner: Inner,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("transport", &self.transport)
            .field("local_addr", &self.local_addr)
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

impl ConnectionInfoBuilder {
    /// Sets the server's address of the connection. An IPv4-mapped IPv6 address (what a
    /// dual-stack `[::]` socket reports for IPv4 peers) is stored as the plain IPv4 address.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.inner.local_addr = Some(canonical(addr));
        self
    }

    /// Sets the client's address, as [`local_addr`](Self::local_addr) does.
    pub fn remote_addr(mut self, addr: SocketAddr) -> Self {
        self.inner.remote_addr = Some(canonical(addr));
        self
    }

    /// Sets the protocol negotiated with ALPN.
    pub fn alpn(mut self, alpn: impl Into<Vec<u8>>) -> Self {
        self.inner.alpn = Some(alpn.into());
        self
    }

    /// Sets the TLS session.
    pub fn tls(mut self, tls: TlsInfo) -> Self {
        self.inner.tls = Some(tls);
        self
    }

    /// Marks the connection's requests as 0-RTT early data.
    pub fn early_data(mut self, early_data: bool) -> Self {
        self.inner.early_data = early_data;
        self
    }

    /// Records a PROXY protocol report: the remote address becomes the reported source (when
    /// there is one), and the report, with the balancer's address, is kept in
    /// [`ConnectionInfo::proxy`].
    pub fn proxy(mut self, mut proxy: ProxyInfo) -> Self {
        proxy.peer_addr = proxy.peer_addr.map(canonical);
        proxy.source = proxy.source.map(canonical);
        proxy.destination = proxy.destination.map(canonical);
        if let Some(source) = proxy.source {
            self.inner.remote_addr = Some(source);
        }
        self.inner.proxy = Some(proxy);
        self
    }

    /// The transport set so far.
    pub fn transport_kind(&self) -> TransportKind {
        self.inner.transport
    }

    /// The client address set so far.
    pub fn remote_addr_ref(&self) -> Option<SocketAddr> {
        self.inner.remote_addr
    }

    /// The server address set so far.
    pub fn local_addr_ref(&self) -> Option<SocketAddr> {
        self.inner.local_addr
    }

    /// The ALPN protocol set so far.
    pub fn alpn_ref(&self) -> Option<&[u8]> {
        self.inner.alpn.as_deref()
    }

    /// The TLS session set so far.
    pub fn tls_ref(&self) -> Option<&TlsInfo> {
        self.inner.tls.as_ref()
    }

    /// Assigns the connection id and freezes the description.
    pub fn build(mut self) -> ConnectionInfo {
        self.inner.id = ConnectionId::next();
        ConnectionInfo {
            remote_addr: self.inner.remote_addr,
            early_data: self.inner.early_data,
            inner: Arc::new(self.inner),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for ConnectionInfo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("ConnectionInfo", 8)?;
        s.serialize_field("id", &self.id())?;
        s.serialize_field("transport", &self.transport())?;
        s.serialize_field("local_addr", &self.local_addr())?;
        s.serialize_field("remote_addr", &self.remote_addr())?;
        s.serialize_field("alpn", &self.alpn_str())?;
        s.serialize_field("tls", &self.tls())?;
        s.serialize_field("early_data", &self.is_early_data())?;
        s.serialize_field("proxy", &self.proxy())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_clones_share_them() {
        let a = ConnectionInfo::builder(TransportKind::Tcp).build();
        let b = ConnectionInfo::builder(TransportKind::Tcp).build();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.clone().id(), a.id());
        assert!(Arc::ptr_eq(&a.inner, &a.clone().inner));
    }

    #[test]
    fn proxy_report_replaces_the_remote_and_keeps_the_balancer() {
        let balancer: SocketAddr = "10.0.0.2:40000".parse().unwrap();
        let client: SocketAddr = "198.51.100.9:5555".parse().unwrap();
        let info = ConnectionInfo::builder(TransportKind::Tcp)
            .remote_addr(balancer)
            .proxy(ProxyInfo::new(Some(balancer), Some(client), None))
            .build();
        assert_eq!(info.remote_addr(), Some(client));
        assert_eq!(info.proxy().and_then(|p| p.peer_addr), Some(balancer));
    }

    #[test]
    fn ipv4_mapped_addresses_are_stored_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:192.0.2.5]:4000".parse().unwrap();
        let info = ConnectionInfo::builder(TransportKind::Tcp)
            .remote_addr(mapped)
            .local_addr("[::ffff:127.0.0.1]:443".parse().unwrap())
            .build();
        assert_eq!(info.remote_addr(), Some("192.0.2.5:4000".parse().unwrap()));
        assert_eq!(info.local_addr(), Some("127.0.0.1:443".parse().unwrap()));
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(info.migrated_to(v6).remote_addr(), Some(v6));
    }

    #[test]
    fn migration_keeps_the_id() {
        let info = ConnectionInfo::builder(TransportKind::Quic)
            .remote_addr("127.0.0.1:1000".parse().unwrap())
            .build();
        let moved = info.migrated_to("127.0.0.1:2000".parse().unwrap());
        assert_eq!(moved.id(), info.id());
        assert_eq!(moved.remote_addr().map(|a| a.port()), Some(2000));
        assert_eq!(info.remote_addr().map(|a| a.port()), Some(1000));
    }
}
