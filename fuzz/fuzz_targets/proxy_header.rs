//! PROXY protocol v1/v2 headers: `twinport_hyper::proxy::parse_header` must never panic, and a
//! header it accepts must lie within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinport_hyper::proxy::{parse_header, ParsedHeader};

fuzz_target!(|data: &[u8]| {
    if let Ok(ParsedHeader::Header { len, .. }) = parse_header(data) {
        assert!(len <= data.len());
    }
});
