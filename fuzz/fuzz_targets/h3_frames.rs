//! HTTP/3 frames: twinport-quinn's `FrameDecoder` must never panic, on a control stream or a
//! request stream, and must give the same frames and error whether the stream comes whole or
//! in chunks (the first input byte picks the chunk sizes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    twinport_quinn::fuzzing::frames(true, data);
    twinport_quinn::fuzzing::frames(false, data);
});
