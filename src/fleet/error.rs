//! [`FleetKeyError`]: why a fleet key could not be made, naming the file, the line and the fix.

use std::path::PathBuf;

/// Why a [`FleetKey`](super::FleetKey) could not be made.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum FleetKeyError {
    /// The secret is shorter than [`FleetKey::MIN_LEN`](super::FleetKey::MIN_LEN) bytes.
    #[error("a fleet secret needs at least 32 bytes, {given} given")]
    TooShort {
        /// How many bytes were given.
        given: usize,
    },
    /// The key file could not be opened or read.
    #[error("{}: cannot read the fleet key", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Users other than the owner (and its group) may read the key file, or others than the
    /// owner may change it.
    #[error(
        "{}: mode {mode:04o} lets other users {what} the fleet key; run `chmod 600 {}`",
        path.display(),
        path.display(),
        what = exposure(*mode)
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file has no secret.
    #[error(
        "{}: no fleet secret (expected a line of hex, as `openssl rand -hex 32` writes)",
        path.display()
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A line of the key file is not hex. The secret's characters are not repeated here.
    #[error("{}, line {line}: not hex ({detail})", path.display())]
    BadHex {
        /// The file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// What is wrong, without the secret's characters.
        detail: String,
    },
    /// A secret in the key file is shorter than [`FleetKey::MIN_LEN`](super::FleetKey::MIN_LEN)
    /// bytes.
    #[error(
        "{}, line {line}: the secret has {given} bytes, at least 32 needed (as `openssl rand -hex \
         32` writes)",
        path.display()
    )]
    ShortInFile {
        /// The file.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// How many bytes it has.
        given: usize,
    },
    /// The key file has more than two secrets.
    #[error(
        "{}, line {line}: a third secret; the file holds the current secret, then optionally the \
         previous one",
        path.display()
    )]
    TooManySecrets {
        /// The file.
        path: PathBuf,
        /// The line of the third secret (from 1).
        line: usize,
    },
}

crate::error_chain::debug_as_chain!(FleetKeyError);

fn exposure(mode: u32) -> &'static str {
    let read = mode & 0o004 != 0;
    let write = mode & 0o022 != 0;
    match (read, write) {
        (true, true) => "read and change",
        (false, true) => "change",
        _ => "read",
    }
}
