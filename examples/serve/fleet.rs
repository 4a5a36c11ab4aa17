//! `--workers N`, `--server-id ID` and `--fleet-key FILE`: HTTP/3 on N cores, and what an
//! instance of a fleet behind a load balancer shares with the others.
//!
//! - `--workers N` serves QUIC with N sockets on the one port, each with its own endpoint
//!   (packets steered by connection ID in the kernel; `--steering forwarder` hands them
//!   between workers instead).
//! - `--server-id ID` (a number from 0 to 255, or `0x` and up to 14 bytes of hex) puts this
//!   instance's ID in its connection IDs: give every instance its own.
//! - `--fleet-key FILE` (hex, as `openssl rand -hex 32` writes; a second line is the previous
//!   key, still accepted) derives the session-ticket, token and stateless-reset keys, so a
//!   client resumes its TLS session on any instance, and an instance restarted with the same
//!   ID resets its old connections at once. The file must not be readable by others.

use std::path::PathBuf;

use twinport::fleet::FleetKey;
use twinport::quic::{Builder, Steering};
use twinport::ServerTls;

#[derive(Default)]
pub struct FleetArgs {
    workers: Option<usize>,
    steering: Option<Steering>,
    server_id: Option<Vec<u8>>,
    key_file: Option<PathBuf>,
}

/// What the flags make: the fleet key (read once), and the settings for the endpoint.
#[derive(Clone)]
pub struct Fleet {
    workers: Option<usize>,
    steering: Option<Steering>,
    server_id: Option<Vec<u8>>,
    key: Option<FleetKey>,
}

impl FleetArgs {
    /// Takes `arg` (and its value from `rest`) if it is one of these flags.
    pub fn parse(
        &mut self,
        arg: &str,
        rest: &mut impl Iterator<Item = String>,
    ) -> Result<bool, String> {
        let mut value = |what: &str| rest.next().ok_or(format!("{arg} needs {what}"));
        match arg {
            "--workers" => {
                let v = value("a number of workers")?;
                let n = v
                    .parse()
                    .map_err(|e| format!("--workers {v:?} is not a number: {e}"))?;
                self.workers = Some(n);
            }
            "--steering" => {
                self.steering = Some(match value("kernel or forwarder")?.as_str() {
                    "kernel" => Steering::Kernel,
                    "forwarder" => Steering::Forwarder,
                    other => return Err(format!("--steering {other:?}: kernel or forwarder")),
                })
            }
            "--server-id" => self.server_id = Some(server_id(&value("an ID")?)?),
            "--fleet-key" => self.key_file = Some(PathBuf::from(value("a key file")?)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Reads the key file.
    pub fn load(self) -> Result<Fleet, Box<dyn std::error::Error>> {
        let key = match &self.key_file {
            Some(path) => Some(FleetKey::from_file(path)?),
            None => None,
        };
        Ok(Fleet {
            workers: self.workers,
            steering: self.steering,
            server_id: self.server_id,
            key,
        })
    }
}

fn server_id(v: &str) -> Result<Vec<u8>, String> {
    let bad = |why: String| format!("--server-id {v:?}: {why}");
    match v.strip_prefix("0x") {
        Some(hex) if hex.len() % 2 == 0 && !hex.is_empty() => (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| bad(e.to_string())))
            .collect(),
        Some(_) => Err(bad("hex needs an even number of digits".into())),
        None => v
            .parse::<u8>()
            .map(|b| vec![b])
            .map_err(|e| bad(format!("not a number from 0 to 255 ({e})"))),
    }
}

impl Fleet {
    /// Session tickets any instance of the fleet can decrypt.
    pub fn tls(&self, tls: ServerTls) -> ServerTls {
        match &self.key {
            Some(key) => tls.fleet_key(key),
            None => tls,
        }
    }

    /// Workers, server ID and keys of the HTTP/3 endpoint.
    pub fn http3(&self, mut h3: Builder) -> Builder {
        if let Some(n) = self.workers {
            h3 = h3.workers(n);
        }
        if let Some(steering) = self.steering {
            h3 = h3.steering(steering);
        }
        if let Some(id) = &self.server_id {
            h3 = h3.server_id(id);
        }
        if let Some(key) = &self.key {
            h3 = h3.fleet_key(key);
        }
        h3
    }
}
