#![allow(clippy::unwrap_used)]
//! The fuzz targets of `fuzz/` on stable Rust: the same properties, checked over the seed
//! corpus in `fuzz/corpus/` and a bounded number of mutations of it (bit flips, truncations,
//! splices, random bytes from a fixed-seed generator). `cargo fuzz` explores far more; this
//! keeps the properties in every `cargo test`.

use std::path::Path;

use futures_util::FutureExt;
use http::header::ALT_SVC;
use http::{Request, Response, Version};
use tower::{Layer, ServiceExt};
use twinport::AltSvcLayer;
use twinport_hyper::proxy::{parse_header, ParsedHeader};
use twinport_quinn::fuzzing;
use twinport_testkit::rng::Rng;

const ROUNDS: usize = 50_000;

fn proxy_header(data: &[u8]) {
    if let Ok(ParsedHeader::Header { len, .. }) = parse_header(data) {
        assert!(len <= data.len(), "{data:?}");
    }
}

/// The `alt-svc` header `layer` puts on a response to a request of `version`, whose handler
/// set `preset` (or nothing).
fn alt_svc_on_response(
    layer: &AltSvcLayer,
    version: Version,
    preset: Option<&'static str>,
) -> Option<Vec<u8>> {
    let svc = layer.layer(tower::service_fn(move |_req: Request<()>| async move {
        let mut res = Response::new(());
        if let Some(v) = preset {
            res.headers_mut().insert(ALT_SVC, v.parse().unwrap());
        }
        Ok::<_, std::convert::Infallible>(res)
    }));
    let mut req = Request::new(());
    *req.version_mut() = version;
    // The handler is ready at once, so the whole call is.
    let res = svc.oneshot(req).now_or_never().unwrap().unwrap();
    res.headers().get(ALT_SVC).map(|v| v.as_bytes().to_vec())
}

/// Returns whether `data` was accepted as an Alt-Svc value. An accepted value must reach
/// HTTP/1.1 and HTTP/2 responses byte for byte, stay off HTTP/3 responses, and not replace
/// the handler's own header.
fn alt_svc(data: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(layer) = AltSvcLayer::with_value(s) else {
        return false;
    };
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let sent = alt_svc_on_response(&layer, version, None);
        assert_eq!(sent.as_deref(), Some(data), "{version:?}: {s:?}");
        let kept = alt_svc_on_response(&layer, version, Some("h3=\":1\""));
        assert_eq!(
            kept.as_deref(),
            Some(&b"h3=\":1\""[..]),
            "{version:?}: {s:?}"
        );
    }
    assert_eq!(
        alt_svc_on_response(&layer, Version::HTTP_3, None),
        None,
        "{s:?}"
    );
    true
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds.sort();
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], dict: &[u8]) -> Vec<u8> {
    let mut d = seeds[rng.index(seeds.len())].clone();
    for _ in 0..1 + rng.index(4) {
        match rng.index(6) {
            0 if !d.is_empty() => {
                let i = rng.index(d.len());
                d[i] ^= 1 << rng.index(8);
            }
            1 => d.truncate(rng.index(d.len() + 1)),
            2 => {
                let i = rng.index(d.len() + 1);
                d.insert(i, dict[rng.index(dict.len())]);
            }
            3 => {
                let other = &seeds[rng.index(seeds.len())];
                let cut = rng.index(other.len() + 1);
                d.extend_from_slice(&other[cut..]);
            }
            4 if !d.is_empty() => {
                let i = rng.index(d.len());
                d[i] = rng.next_u64() as u8;
            }
            _ => d = (0..rng.index(64)).map(|_| rng.next_u64() as u8).collect(),
        }
    }
    d
}

#[test]
fn h3_frames_agree_whole_and_chunked() {
    let seeds = seeds("h3_frames");
    let mut rng = Rng::new(0x51_7cc1_b727_220a);
    for s in &seeds {
        let n = fuzzing::frames(false, s) + fuzzing::frames(true, s);
        assert!(n > 0, "a seed gave no frame: {s:02x?}");
    }
    let mut decoded = 0;
    for _ in 0..ROUNDS {
        let d = mutate(
            &mut rng,
            &seeds,
            b"\x00\x01\x03\x04\x07\x0d\x21\x40\x41\x80\xc0\xff",
        );
        decoded += usize::from(fuzzing::frames(false, &d) + fuzzing::frames(true, &d) > 1);
    }
    // Enough mutants are still streams of several frames for the agreement to mean something.
    assert!(decoded > ROUNDS / 20, "only {decoded} mutants decoded");
}

#[test]
fn h3_qpack_never_panics_and_trailers_round_trip() {
    let seeds = seeds("h3_qpack");
    let mut rng = Rng::new(0x2f69_6e64_6578_2e68);
    let accepted = seeds
        .iter()
        .filter(|s| fuzzing::field_section(s).request)
        .count();
    // get_static, ls_qpack_request, connect, extended_connect.
    assert_eq!(accepted, 4, "seed requests accepted");
    let (mut requests, mut trailers) = (0, 0);
    for _ in 0..ROUNDS {
        let d = fuzzing::field_section(&mutate(
            &mut rng,
            &seeds,
            b"\x00\x20\x3a\x50\x51\x5f\x80\xc0\xd1\xd7\xff/:abz",
        ));
        requests += usize::from(d.request);
        trailers += usize::from(d.trailers);
    }
    assert!(
        requests > ROUNDS / 100,
        "only {requests} mutants were requests"
    );
    assert!(
        trailers > ROUNDS / 100,
        "only {trailers} mutants were trailers"
    );
}

#[test]
fn proxy_header_never_panics() {
    let seeds = seeds("proxy_header");
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    for s in &seeds {
        proxy_header(s);
    }
    for _ in 0..ROUNDS {
        proxy_header(&mutate(
            &mut rng,
            &seeds,
            b"PROXY TCP46UNKNOW:.0123456789 \r\n\0\x21\x11",
        ));
    }
}

#[test]
fn alt_svc_never_panics_and_keeps_valid_values() {
    let seeds = seeds("alt_svc");
    let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
    for s in &seeds {
        assert!(
            alt_svc(s),
            "a seed was refused: {:?}",
            String::from_utf8_lossy(s)
        );
    }
    let mut accepted = 0;
    for _ in 0..ROUNDS {
        accepted += usize::from(alt_svc(&mutate(
            &mut rng,
            &seeds,
            b"h3=\":;, ma=persist0123456789\"\\\t%",
        )));
    }
    // Enough mutants are valid for the pass-through half to be exercised, not only the seeds.
    assert!(
        accepted > ROUNDS / 100,
        "only {accepted} mutants were valid"
    );
}
