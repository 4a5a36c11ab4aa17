//! Routable QUIC connection IDs, for a fleet of endpoints (or of worker sockets) behind one
//! address.
//!
//! QUIC connections survive address changes because packets are addressed by connection ID,
//! not by the 4-tuple. Whoever spreads packets over several endpoints — a load balancer in
//! front of servers, or the kernel in front of worker sockets sharing a port with
//! `SO_REUSEPORT` — must then read the destination connection ID to find the endpoint that
//! owns the connection. These modules make connection IDs that can be read so:
//!
//! - [`cid`]: [`RoutableCids`], a [`quinn_proto::ConnectionIdGenerator`] that writes
//!   connection IDs in the plaintext format of QUIC-LB (draft-ietf-quic-load-balancers-21):
//!   a first octet (config rotation and length), the server ID, a random nonce.
//! - [`steer`]: reading the worker back out of a received datagram ([`steer::worker_of`]),
//!   and the same as a classic BPF program for Linux's `SO_ATTACH_REUSEPORT_CBPF`
//!   ([`steer::steering_program`]), so the kernel hands each packet to the worker socket whose
//!   endpoint owns the connection.
//!
//! The convention between the two: the last byte of the server ID is the worker index.
//!
//! Plaintext connection IDs show the server ID to anyone on the path: every ID a server
//! issues carries the same one, so an observer can tell which server (and worker) a
//! connection is on, which the draft warns makes address migration more linkable. Only the
//! nonce is random.

pub mod cid;
pub mod steer;

pub use self::cid::{CidError, RoutableCids};
pub use self::steer::CidLayout;
