//! twinport-quinn's own HTTP/3 codec, sans IO: bytes in, values out. Frames (RFC 9114 §7),
//! settings, stream types, QPACK with the static table only (RFC 9204) and the mapping of
//! field sections to HTTP messages (RFC 9114 §4). Everything a peer can make large is bounded
//! by a limit the caller gives; nothing panics on any input (see `crate::fuzzing`).

pub(crate) mod error;
pub(crate) mod frame;
mod frame_encode;
pub(crate) mod message;
pub(crate) mod qpack;
pub(crate) mod settings;
pub(crate) mod stream_type;
pub(crate) mod varint;

pub(crate) use error::ProtoError;

#[cfg(test)]
mod interop_tests;
