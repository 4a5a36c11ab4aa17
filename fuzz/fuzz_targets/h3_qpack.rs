//! QPACK field sections and streams: decoding a request or trailers, the encoder and decoder
//! stream readers and the Huffman decoder must never panic; trailers that decode must
//! encode and decode back unchanged, a Huffman string must re-encode to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    twinport_quinn::fuzzing::field_section(data);
});
