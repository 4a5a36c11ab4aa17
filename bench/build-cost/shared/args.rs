//! `CERT KEY ADDR` from the command line, the same for every build-cost app (each includes this
//! file with `#[path]`).

/// The certificate file, the key file and the address to serve on.
pub fn args() -> Result<[String; 3], String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.try_into()
        .map_err(|_| format!("usage: {} CERT KEY ADDR", env!("CARGO_BIN_NAME")))
}
