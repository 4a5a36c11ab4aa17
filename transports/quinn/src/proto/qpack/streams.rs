//! The peer's QPACK encoder and decoder streams (RFC 9204 §4.3, §4.4). We advertise a dynamic
//! table capacity of 0 and never reference the dynamic table, so almost every instruction
//! is an error; what is allowed needs no state beyond a partial integer.

use crate::codes::{QPACK_DECODER_STREAM_ERROR, QPACK_ENCODER_STREAM_ERROR};
use crate::proto::error::ProtoError;

/// The peer's encoder stream: the only instruction allowed is Set Dynamic Table Capacity 0;
/// anything else (capacity > 0, any insert, duplicate) is QPACK_ENCODER_STREAM_ERROR.
///
/// Set Dynamic Table Capacity is `001` and a 5-bit prefix integer, so capacity 0 is exactly
/// the byte 0x20 and any other first byte is an error at once: no state at all.
#[derive(Debug, Default)]
pub(crate) struct EncoderStreamReader {
    failed: bool,
}

impl EncoderStreamReader {
    /// A reader at the start of the stream (after its type).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Reads the next bytes of the stream; never allocates.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<(), ProtoError> {
        if self.failed || bytes.iter().any(|&b| b != 0x20) {
            self.failed = true;
            return Err(ProtoError::connection(
                QPACK_ENCODER_STREAM_ERROR,
                "an encoder instruction other than Set Dynamic Table Capacity 0",
            ));
        }
        Ok(())
    }
}

/// Where the decoder stream reader is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Decoding {
    /// At the start of an instruction.
    #[default]
    Start,
    /// Inside the continuation bytes of a Stream Cancellation's stream id: this many read.
    Cancellation(u8),
    /// An error was returned.
    Failed,
}

/// The peer's decoder stream: Stream Cancellation (`01` and a 6-bit prefix stream id) is fine;
/// Section Acknowledgment (`1`) and Insert Count Increment (`00`) are
/// QPACK_DECODER_STREAM_ERROR, since we never send dynamic references.
#[derive(Debug, Default)]
pub(crate) struct DecoderStreamReader {
    state: Decoding,
}

/// A stream id is a QUIC varint: 62 bits, at most 9 continuation bytes after the 6-bit prefix.
const MAX_CONTINUATION: u8 = 9;

impl DecoderStreamReader {
    /// A reader at the start of the stream (after its type).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Reads the next bytes of the stream; never allocates.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<(), ProtoError> {
        for &b in bytes {
            self.state = match self.state {
                Decoding::Failed => break,
                Decoding::Start if b & 0x80 != 0 => {
                    return self
                        .fail("a Section Acknowledgment, but we never reference the dynamic table")
                }
                Decoding::Start if b & 0x40 == 0 => {
                    return self.fail("an Insert Count Increment, but we never insert")
                }
                // A Stream Cancellation; an all-ones prefix means continuation bytes follow.
                Decoding::Start if b & 0x3f == 0x3f => Decoding::Cancellation(0),
                Decoding::Start => Decoding::Start,
                Decoding::Cancellation(n) if n == MAX_CONTINUATION => {
                    return self.fail("a stream id longer than a varint")
                }
                Decoding::Cancellation(n) if b & 0x80 != 0 => Decoding::Cancellation(n + 1),
                Decoding::Cancellation(_) => Decoding::Start,
            };
        }
        if self.state == Decoding::Failed {
            return self.fail("the decoder stream failed before");
        }
        Ok(())
    }

    fn fail(&mut self, reason: &'static str) -> Result<(), ProtoError> {
        self.state = Decoding::Failed;
        Err(ProtoError::connection(QPACK_DECODER_STREAM_ERROR, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_stream_may_only_set_capacity_zero() {
        let mut r = EncoderStreamReader::new();
        r.feed(&[]).unwrap();
        r.feed(&[0x20, 0x20]).unwrap();
        r.feed(&[0x20]).unwrap();
        // Capacity 1, capacity 31 + n, an insert with a static name reference, with a
        // literal name, a duplicate.
        for bad in [0x21, 0x3f, 0xc0 | 17, 0x80, 0x40, 0x60, 0x00, 0x1f] {
            let mut r = EncoderStreamReader::new();
            let e = r.feed(&[0x20, bad]).unwrap_err();
            assert_eq!(e.code, QPACK_ENCODER_STREAM_ERROR, "{bad:#x}");
            assert!(e.is_connection());
            // It stays failed.
            assert!(r.feed(&[0x20]).is_err());
        }
    }

    #[test]
    fn the_decoder_stream_may_only_cancel_streams() {
        let mut r = DecoderStreamReader::new();
        // Cancel stream 4; stream 1000 (63 + 937: 0xa9 0x07) split across feeds.
        r.feed(&[0x44, 0x7f, 0xa9]).unwrap();
        r.feed(&[0x07, 0x40]).unwrap();
        r.feed(&[]).unwrap();
        // The longest stream id, then another cancellation.
        let mut longest = vec![0x7f];
        longest.extend([0xff; 8]);
        longest.extend([0x00, 0x41]);
        r.feed(&longest).unwrap();
        for bad in [&[0x84][..], &[0x80], &[0x01], &[0x00], &[0x3f, 0x01]] {
            let mut r = DecoderStreamReader::new();
            let e = r.feed(bad).unwrap_err();
            assert_eq!(e.code, QPACK_DECODER_STREAM_ERROR, "{bad:?}");
            assert!(r.feed(&[0x40]).is_err());
        }
        let mut endless = vec![0x7f];
        endless.extend([0x80; 10]);
        assert!(DecoderStreamReader::new().feed(&endless).is_err());
    }
}
