//! What the fleet tests share (`tests/fleet_*.rs`): fleet key files, the example's CA, two
//! example processes as instances A and B of a fleet, reading their JSON, and a session store
//! shared by a fleet.

// Each test binary uses its own share of these.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rustls::server::StoresServerSessions;
use serde_json::Value;
use twinport::fleet::FleetKey;
use twinport_testkit::fs::path_arg;
use twinport_testkit::servers::ExampleProcess;
use twinport_testkit::TempDir;

/// Resumption attempts per case, and how many of them must resume (95%).
pub const TRIES: usize = 20;
pub const RESUMED_AT_LEAST: usize = 19;

/// A fleet key file, readable by its owner only.
pub fn key_file(dir: &TempDir, name: &str, byte: u8) -> PathBuf {
    let path = dir.path(name);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    writeln!(file, "{}", format!("{byte:02x}").repeat(32)).unwrap();
    path
}

/// The example's development CA (it writes certs/ when it starts).
pub fn example_ca() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/ca.pem")
}

/// Instances A and B of the example, `--server-id 1` and `2`; B with A's fleet key or
/// another.
pub struct Fleet {
    pub instances: [ExampleProcess; 2],
}

impl Fleet {
    pub async fn start(dir: &TempDir, same_key: bool) -> Option<Self> {
        let a_key = key_file(dir, "a.key", 0x11);
        let b_key = if same_key {
            a_key.clone()
        } else {
            key_file(dir, "b.key", 0x22)
        };
        let a =
            ExampleProcess::start(&["--server-id", "1", "--fleet-key", path_arg(&a_key)]).await?;
        let b =
            ExampleProcess::start(&["--server-id", "2", "--fleet-key", path_arg(&b_key)]).await?;
        Some(Self { instances: [a, b] })
    }

    pub fn addrs(&self) -> [SocketAddr; 2] {
        [self.instances[0].addr, self.instances[1].addr]
    }

    /// Which instance (0 for A, 1 for B) has the address `/whoami` reported as its own.
    pub fn which(&self, whoami: &Value) -> usize {
        let local: SocketAddr = whoami["local_addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no local_addr in {whoami}"));
        self.addrs()
            .iter()
            .position(|a| *a == local)
            .unwrap_or_else(|| panic!("{local} is neither instance {:?}", self.addrs()))
    }
}

/// The first JSON object in `text`, from its first `{`.
pub fn first_json(text: &str) -> Option<Value> {
    let start = text.find('{')?;
    serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()?
        .ok()
}

/// A fleet key from 32 equal bytes.
pub fn fleet_key(byte: u8) -> FleetKey {
    FleetKey::from_bytes(&[byte; 32]).unwrap()
}

/// A session store shared by the fleet: a map whose `take` removes, under one lock.
#[derive(Debug, Default)]
pub struct SharedStore {
    sessions: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    taken: AtomicUsize,
}

impl StoresServerSessions for SharedStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.sessions.lock().unwrap().insert(key, value);
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions.lock().unwrap().get(key).cloned()
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let taken = self.sessions.lock().unwrap().remove(key);
        if taken.is_some() {
            self.taken.fetch_add(1, Ordering::SeqCst);
        }
        taken
    }

    fn can_cache(&self) -> bool {
        true
    }
}

impl SharedStore {
    /// How many sessions it holds.
    pub fn stored(&self) -> usize {
        self.sessions.lock().unwrap().len()
    }

    /// How many sessions `take` gave out.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }
}
