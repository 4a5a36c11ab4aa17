//! The error every decoder of this module returns: which code to close or reset with, and
//! whether the connection or only the stream is lost.

use std::fmt;

use quinn::VarInt;

/// How far a [`ProtoError`] reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Close the connection with the code (RFC 9114 §8: a connection error).
    Connection,
    /// Reset (or answer) only the stream the error was found on (a stream error).
    Stream,
}

/// A protocol error found while decoding: the HTTP/3 or QPACK error code to close with, a
/// static reason for the log, and whether it ends the connection or only the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProtoError {
    /// The RFC 9114 §8.1 or RFC 9204 §6 code (`crate::codes`).
    pub code: VarInt,
    /// What was wrong, for the log (never sent to the peer).
    pub reason: &'static str,
    /// Connection or stream.
    pub scope: Scope,
}

impl ProtoError {
    /// A connection error.
    pub(crate) const fn connection(code: VarInt, reason: &'static str) -> Self {
        Self {
            code,
            reason,
            scope: Scope::Connection,
        }
    }

    /// A stream error.
    pub(crate) const fn stream(code: VarInt, reason: &'static str) -> Self {
        Self {
            code,
            reason,
            scope: Scope::Stream,
        }
    }

    /// Whether the whole connection must be closed.
    pub(crate) fn is_connection(&self) -> bool {
        self.scope == Scope::Connection
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            Scope::Connection => "connection",
            Scope::Stream => "stream",
        };
        write!(
            f,
            "{} ({scope} error {:#x})",
            self.reason,
            self.code.into_inner()
        )
    }
}

impl std::error::Error for ProtoError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::H3_FRAME_ERROR;

    #[test]
    fn says_what_where_and_which_code() {
        let e = ProtoError::connection(H3_FRAME_ERROR, "truncated GOAWAY");
        assert_eq!(e.to_string(), "truncated GOAWAY (connection error 0x106)");
        assert!(e.is_connection());
        assert!(!ProtoError::stream(crate::codes::H3_MESSAGE_ERROR, "x").is_connection());
    }
}
