//! Alt-Svc values: `AltSvcLayer::with_value` must never panic, and what it accepts must be a
//! valid header value equal to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinport::AltSvcLayer;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(layer) = AltSvcLayer::with_value(s) {
            assert_eq!(layer.value().as_bytes(), s.as_bytes());
        }
    }
});
