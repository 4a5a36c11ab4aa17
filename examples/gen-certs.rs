//! Run with: `cargo run --example gen-certs [DIR]`
//!
//! Writes fresh development certificates to DIR (default: certs/ of this checkout): ca.pem,
//! server.pem/.key/.crt/.spki, client.pem/.key/.p12. See certs/README.md.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs"));
    match twinport::dev_certs::DevCerts::generate(&dir) {
        Ok(certs) => {
            println!("wrote development certificates to {}", certs.dir.display());
            match certs.spki() {
                Ok(spki) => println!("server SPKI sha256 (for Chromium): {spki}"),
                Err(e) => eprintln!("{e}"),
            }
            println!("client.p12 password: {}", twinport::dev_certs::P12_PASSWORD);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-certs: {e}");
            ExitCode::FAILURE
        }
    }
}
