//! Decoding a field section (RFC 9204 §4.5) with the static table only: we advertise a
//! dynamic table capacity of 0, so every dynamic reference is QPACK_DECOMPRESSION_FAILED.

use bytes::{Bytes, BytesMut};
use http::HeaderValue;

use super::huffman;
use super::int::{self, IntError};
use super::static_table::{self, Entry};
use crate::codes::QPACK_DECOMPRESSION_FAILED;
use crate::proto::error::ProtoError;

const fn failed(reason: &'static str) -> ProtoError {
    ProtoError::connection(QPACK_DECOMPRESSION_FAILED, reason)
}

fn int_error(e: IntError) -> ProtoError {
    match e {
        IntError::Truncated => failed("a field section cut inside an integer"),
        IntError::TooLarge => failed("an integer too large in a field section"),
    }
}

/// A field line's name.
#[derive(Debug, Clone)]
pub(crate) enum Name {
    /// A static table entry's name.
    Static(&'static Entry),
    /// A literal name (a zero-copy slice of the section, or Huffman-decoded), not yet checked.
    Literal(Bytes),
}

/// A field line's value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A static table entry's value.
    Static(&'static Entry),
    /// A literal value (a zero-copy slice of the section, or Huffman-decoded), not yet checked.
    Literal(Bytes),
}

impl Value {
    /// The value's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Static(e) => e.value.as_bytes(),
            Value::Literal(b) => b,
        }
    }

    /// The value as a header value (no copy), or `None` if it has bytes a header value may
    /// not have (RFC 9114 §4.2: NUL, CR, LF; `http` also refuses other controls but tab).
    pub(crate) fn into_header_value(self) -> Option<HeaderValue> {
        match self {
            Value::Static(e) => Some(e.value.clone()),
            Value::Literal(b) => HeaderValue::from_maybe_shared(b).ok(),
        }
    }
}

impl Name {
    /// The name's bytes (a pseudo-header's with its colon).
    pub(crate) fn len(&self) -> usize {
        match self {
            Name::Static(e) => match &e.name {
                static_table::StaticName::Header(h) => h.as_str().len(),
                static_table::StaticName::Pseudo(p) => p.as_str().len(),
            },
            Name::Literal(b) => b.len(),
        }
    }
}

/// One decoded field line.
#[derive(Debug, Clone)]
pub(crate) struct FieldLine {
    /// The name.
    pub name: Name,
    /// The value.
    pub value: Value,
    /// The N bit: intermediaries must not put this field in a dynamic table (RFC 9204
    /// §4.5.4); kept as [`HeaderValue::set_sensitive`].
    pub sensitive: bool,
}

impl FieldLine {
    /// The field's size as RFC 9114 §4.2.2 counts it against SETTINGS_MAX_FIELD_SECTION_SIZE:
    /// name and value lengths plus 32.
    pub(crate) fn size(&self) -> u64 {
        (self.name.len() + self.value.as_bytes().len() + 32) as u64
    }
}

/// Reads the field lines of one encoded field section, in order.
pub(crate) struct FieldDecoder<'a> {
    block: &'a Bytes,
    pos: usize,
    /// Room for every Huffman string of the section, reserved at the first one.
    huffman: BytesMut,
}

impl<'a> FieldDecoder<'a> {
    /// Starts on a field section: checks its prefix (RFC 9204 §4.5.1). A Required Insert
    /// Count other than 0 needs a dynamic table, so it is QPACK_DECOMPRESSION_FAILED; the
    /// Base means nothing without one and is skipped.
    pub(crate) fn new(block: &'a Bytes) -> Result<Self, ProtoError> {
        let mut pos = 0;
        let ric = int::decode(block, &mut pos, 8).map_err(int_error)?;
        if ric != 0 {
            return Err(failed("a field section that needs the dynamic table"));
        }
        int::decode(block, &mut pos, 7).map_err(int_error)?;
        Ok(Self {
            block,
            pos,
            huffman: BytesMut::new(),
        })
    }

    /// The next field line, or `None` at the end of the section.
    pub(crate) fn next_line(&mut self) -> Result<Option<FieldLine>, ProtoError> {
        let Some(&first) = self.block.get(self.pos) else {
            return Ok(None);
        };
        let line = if first & 0x80 != 0 {
            // Indexed field line: 1 T index(6).
            let entry = self.static_ref(first & 0x40, 6)?;
            FieldLine {
                name: Name::Static(entry),
                value: Value::Static(entry),
                sensitive: false,
            }
        } else if first & 0x40 != 0 {
            // Literal with name reference: 01 N T index(4), then the value.
            let entry = self.static_ref(first & 0x10, 4)?;
            FieldLine {
                name: Name::Static(entry),
                value: Value::Literal(self.string(7)?),
                sensitive: first & 0x20 != 0,
            }
        } else if first & 0x20 != 0 {
            // Literal with literal name: 001 N H len(3), the name, then the value.
            let name = self.string(3)?;
            FieldLine {
                name: Name::Literal(name),
                value: Value::Literal(self.string(7)?),
                sensitive: first & 0x10 != 0,
            }
        } else {
            // 0001: indexed with post-base index; 0000: literal with post-base name reference.
            return Err(failed("a post-base reference to the dynamic table"));
        };
        Ok(Some(line))
    }

    /// A static table reference with the `static_bit` (T) and an index in `prefix` bits.
    fn static_ref(&mut self, static_bit: u8, prefix: u32) -> Result<&'static Entry, ProtoError> {
        if static_bit == 0 {
            return Err(failed("a reference to the dynamic table"));
        }
        let index = int::decode(self.block, &mut self.pos, prefix).map_err(int_error)?;
        static_table::get(index).ok_or(failed("a static table index past its end"))
    }

    /// A string literal whose H bit sits just above a `prefix`-bit length.
    fn string(&mut self, prefix: u32) -> Result<Bytes, ProtoError> {
        let first = *self
            .block
            .get(self.pos)
            .ok_or(failed("a field section cut before a string"))?;
        let huffman = first & (1 << prefix) != 0;
        let len = int::decode(self.block, &mut self.pos, prefix).map_err(int_error)?;
        let rest = self.block.len() - self.pos;
        let len = match usize::try_from(len) {
            Ok(len) if len <= rest => len,
            _ => return Err(failed("a string longer than its field section")),
        };
        let raw = &self.block[self.pos..self.pos + len];
        let out = if huffman {
            if self.huffman.capacity() == 0 {
                self.huffman.reserve(huffman::max_decoded_len(rest));
            }
            huffman::decode(raw, &mut self.huffman)
                .map_err(|_| failed("a string with an invalid Huffman code"))?;
            self.huffman.split().freeze()
        } else {
            self.block.slice(self.pos..self.pos + len)
        };
        self.pos += len;
        Ok(out)
    }
}

#[cfg(test)]
#[path = "field_tests.rs"]
mod tests;
