//! [`FleetSetup`]: how many workers an endpoint has, its server ID and fleet key, as the
//! builder collects them; [`Routing`]: the connection IDs they make, checked.

use std::fmt;

use twinport::fleet::FleetKey;

use super::workers::Steering;
use crate::error::Error;
use crate::fleet::RoutableCids;

/// The most workers: the worker index is one byte of the connection ID.
const MAX_WORKERS: usize = 256;
/// The longest instance part of a server ID: QUIC-LB allows 15 bytes, the worker takes one.
const MAX_INSTANCE_ID: usize = 14;

#[derive(Clone)]
pub(super) struct FleetSetup {
    pub(super) workers: usize,
    pub(super) steering: Steering,
    pub(super) instance_id: Option<Vec<u8>>,
    pub(super) nonce_len: usize,
    pub(super) key: Option<FleetKey>,
}

impl Default for FleetSetup {
    fn default() -> Self {
        Self {
            workers: 1,
            steering: Steering::default(),
            instance_id: None,
            nonce_len: 8,
            key: None,
        }
    }
}

impl fmt::Debug for FleetSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetSetup")
            .field("workers", &self.workers)
            .field("steering", &self.steering)
            .field("instance_id", &self.instance_id)
            .field("nonce_len", &self.nonce_len)
            .field("key", &self.key.as_ref().map(|_| "[set]"))
            .finish()
    }
}

/// The connection IDs of an endpoint whose workers or instance must be told apart.
#[derive(Clone, Debug)]
pub(super) struct Routing {
    instance_id: Vec<u8>,
    /// Whether the application named this instance ([`Builder::server_id`]); without it, the
    /// instance part is 0, which every instance would share.
    ///
    /// [`Builder::server_id`]: super::Builder::server_id
    pub(super) named: bool,
    nonce_len: usize,
    pub(super) steering: Steering,
}

fn config(name: &'static str, reason: String) -> Error {
    Error::Config { name, reason }
}

impl FleetSetup {
    /// Checks the settings; `None` when connection IDs may stay random (one worker, no
    /// server ID).
    pub(super) fn routing(&self) -> Result<Option<Routing>, Error> {
        if self.workers == 0 {
            return Err(config("workers", "must be at least 1".into()));
        }
        if self.workers > MAX_WORKERS {
            return Err(config(
                "workers",
                format!("{} is more than {MAX_WORKERS}", self.workers),
            ));
        }
        if self.workers == 1 && self.instance_id.is_none() {
            return Ok(None);
        }
        let instance_id = self.instance_id.clone().unwrap_or_else(|| vec![0]);
        if instance_id.is_empty() || instance_id.len() > MAX_INSTANCE_ID {
            return Err(config(
                "server_id",
                format!(
                    "{} bytes given; it must be 1 to {MAX_INSTANCE_ID} bytes (the worker takes the 15th)",
                    instance_id.len()
                ),
            ));
        }
        let routing = Routing {
            named: self.instance_id.is_some(),
            instance_id,
            nonce_len: self.nonce_len,
            steering: self.steering,
        };
        // Every worker's generator is made the same way: checking the first checks all.
        routing.cids(0)?;
        Ok(Some(routing))
    }
}

impl Routing {
    /// The QUIC-LB server ID of `worker`: the instance's bytes, then the worker's.
    pub(super) fn server_id(&self, worker: u8) -> Vec<u8> {
        let mut id = self.instance_id.clone();
        id.push(worker);
        id
    }

    /// The connection-ID generator of `worker`.
    pub(super) fn cids(&self, worker: u8) -> Result<RoutableCids, Error> {
        RoutableCids::new(0, &self.server_id(worker), self.nonce_len).map_err(Error::from)
    }
}
