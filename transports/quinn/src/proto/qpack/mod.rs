//! QPACK (RFC 9204) as a server that advertises a dynamic table capacity of 0 and 0 blocked
//! streams: field sections with the static table and literals (Huffman-coded or not), the
//! peer's encoder and decoder streams, and our own sections with static references.

pub(crate) mod encode;
pub(crate) mod field;
pub(crate) mod huffman;
pub(crate) mod int;
pub(crate) mod static_table;
pub(crate) mod streams;

pub(crate) use streams::{DecoderStreamReader, EncoderStreamReader};
