//! One secret for a fleet of instances behind one address: what one instance issues, any
//! other can check.
//!
//! - [`FleetKey`]: the secret (from a file written by `openssl rand -hex 32`, with the
//!   previous secret during a rotation) and the keys derived from it, one per use
//!   ([`FleetKey::derive`]).
//! - [`FleetTickets`]: TLS session tickets any instance decrypts, so a client resumes its
//!   session on whichever instance it reaches next; [`ServerTls::fleet_key`] sets them on TCP
//!   and QUIC.
//!
//! ```no_run
//! use twinport::fleet::FleetKey;
//! use twinport::ServerTls;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = FleetKey::from_file("/etc/twinport/fleet.key")?;
//! let tls = ServerTls::from_pem_files("cert.pem", "key.pem")?.fleet_key(&key);
//! # let _ = tls;
//! # Ok(())
//! # }
//! ```
//!
//! Only with the `aws-lc-rs` or `ring` feature: the keys are derived and tickets sealed with
//! the crypto library of twinport's provider.
//!
//! [`ServerTls::fleet_key`]: crate::ServerTls::fleet_key

mod error;
mod file;
mod key;
mod primitives;
mod tickets;

pub use self::error::FleetKeyError;
pub use self::key::FleetKey;
pub use self::tickets::FleetTickets;
