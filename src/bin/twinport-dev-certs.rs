//! Run with: `cargo dev-certs [DIR]` in this checkout (an alias, .cargo/config.toml), or
//! `cargo install twinport-core --features dev-certs` and `twinport-dev-certs DIR`.
//!
//! Writes fresh development certificates to DIR (default: `certs/` in the current directory): ca.pem,
//! server.pem/.key/.crt/.spki, client.pem/.key/.p12 (private keys owner-only). See
//! certs/README.md. It builds only the core with `dev-certs` and `ring`, not the transports or
//! any dev-dependency.

use std::path::PathBuf;
use std::process::ExitCode;

use twinport_core::transport::ErrorChain;

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("certs"));
    match twinport_core::dev_certs::DevCerts::generate(&dir) {
        Ok(certs) => {
            println!("wrote development certificates to {}", certs.dir.display());
            match certs.spki() {
                Ok(spki) => println!("server SPKI sha256 (for Chromium): {spki}"),
                Err(e) => eprintln!("{}", ErrorChain::new(&e)),
            }
            println!(
                "client.p12 password: {}",
                twinport_core::dev_certs::P12_PASSWORD
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("twinport-dev-certs: {}", ErrorChain::new(&e));
            ExitCode::FAILURE
        }
    }
}
