//! The applications the suites serve: [`info`] (what the handler saw, bodies, trailers,
//! panics), [`attack`] (the hardening target, counting its live handlers), [`example`]
//! (the example server's own app) and [`browser`] (pages that report back, for the browser
//! suites).

pub mod attack;
pub mod browser;
pub mod example;
pub mod info;

use sha2::{Digest, Sha256};

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `data`, in hex.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data))
}
