#![allow(clippy::unwrap_used)]
//! The fuzz targets of `fuzz/` on stable Rust: the same properties, checked over the seed
//! corpus in `fuzz/corpus/` and a bounded number of mutations of it (bit flips, truncations,
//! splices, random bytes from a fixed-seed generator). `cargo fuzz` explores far more; this
//! keeps the properties in every `cargo test`.

use std::path::Path;

use twinport::AltSvcLayer;
use twinport_hyper::proxy::{parse_header, ParsedHeader};

const ROUNDS: usize = 50_000;

fn proxy_header(data: &[u8]) {
    if let Ok(ParsedHeader::Header { len, .. }) = parse_header(data) {
        assert!(len <= data.len(), "{data:?}");
    }
}

fn alt_svc(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(layer) = AltSvcLayer::with_value(s) {
            assert_eq!(layer.value().as_bytes(), s.as_bytes());
        }
    }
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

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], dict: &[u8]) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.truncate(rng.below(d.len() + 1)),
            2 => {
                let i = rng.below(d.len() + 1);
                d.insert(i, dict[rng.below(dict.len())]);
            }
            3 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                d.extend_from_slice(&other[cut..]);
            }
            4 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] = rng.next() as u8;
            }
            _ => d = (0..rng.below(64)).map(|_| rng.next() as u8).collect(),
        }
    }
    d
}

#[test]
fn proxy_header_never_panics() {
    let seeds = seeds("proxy_header");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
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
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for s in &seeds {
        alt_svc(s);
        assert!(AltSvcLayer::with_value(std::str::from_utf8(s).unwrap()).is_ok());
    }
    for _ in 0..ROUNDS {
        alt_svc(&mutate(
            &mut rng,
            &seeds,
            b"h3=\":;, ma=persist0123456789\"\\\t%",
        ));
    }
}
