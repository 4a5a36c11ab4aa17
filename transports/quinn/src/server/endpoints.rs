//! The quinn endpoints of an [`Http3`](super::Http3): one per worker socket, each with the
//! connection IDs, reset key and steering of its worker.

use std::net::UdpSocket;
use std::sync::Arc;

use quinn::{AsyncUdpSocket, Runtime};
use twinport::fleet::FleetKey;

use super::fleet_setup::Routing;
use super::steer::Steer;
use super::worker_socket::{Inbox, Inboxes, WorkerSocket};
use super::workers::{self, Steering};
use super::{keys, WorkerStats};
use crate::error::Error;

/// What the endpoints are made of.
pub(super) struct Start<'a> {
    pub(super) sockets: Vec<UdpSocket>,
    pub(super) server_config: &'a quinn::ServerConfig,
    pub(super) routing: Option<&'a Routing>,
    pub(super) fleet_key: Option<&'a FleetKey>,
    pub(super) stats: &'a WorkerStats,
}

/// Starts one endpoint per socket, in worker order.
pub(super) fn start(start: Start<'_>) -> Result<Vec<quinn::Endpoint>, Error> {
    let runtime = Arc::new(super::runtime::Batching);
    let count = start.sockets.len();
    let inboxes: Inboxes = (0..count).map(|_| Inbox::default()).collect();
    if let (Some(routing), true) = (start.routing, count > 1) {
        steer_in_kernel(&start.sockets[0], routing)?;
    }
    let mut endpoints = Vec::with_capacity(count);
    for (index, socket) in start.sockets.into_iter().enumerate() {
        // At most 256 workers (checked by the builder).
        let worker = u8::try_from(index).unwrap_or(u8::MAX);
        let socket = runtime.wrap_udp_socket(socket).map_err(Error::Endpoint)?;
        let (config, socket) = match start.routing {
            None => (quinn::EndpointConfig::default(), socket),
            Some(routing) => {
                let cids = routing.cids(worker)?;
                let steer = Steer::new(&cids);
                let server_id = routing.server_id(worker);
                // Reset keys come from the fleet's secret only for a named instance: two
                // instances left unnamed would share them, and could forge each other's.
                let fleet_key = start.fleet_key.filter(|_| routing.named);
                let mut config = endpoint_config(fleet_key, &server_id);
                config.cid_generator(move || Box::new(cids.clone()));
                let socket: Arc<dyn AsyncUdpSocket> = Arc::new(WorkerSocket::new(
                    socket,
                    worker,
                    steer,
                    inboxes.clone(),
                    start.stats.clone(),
                ));
                (config, socket)
            }
        };
        let endpoint = quinn::Endpoint::new_with_abstract_socket(
            config,
            Some(start.server_config.clone()),
            socket,
            runtime.clone(),
        )
        .map_err(Error::Endpoint)?;
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}

/// quinn's endpoint settings: the reset key of this server ID when the fleet has a key, a
/// random one otherwise.
fn endpoint_config(fleet: Option<&FleetKey>, server_id: &[u8]) -> quinn::EndpointConfig {
    match fleet {
        Some(key) => quinn::EndpointConfig::new(keys::reset_key(key, server_id)),
        None => quinn::EndpointConfig::default(),
    }
}

/// Attaches the kernel's steering when asked; otherwise (or when it cannot be attached) the
/// workers hand each other what they get.
fn steer_in_kernel(first: &UdpSocket, routing: &Routing) -> Result<(), Error> {
    if routing.steering != Steering::Kernel {
        tracing::info!("QUIC workers: packets steered by forwarding between workers");
        return Ok(());
    }
    let layout = routing.cids(0)?.layout();
    match workers::attach_steering(first, &layout) {
        Ok(()) => tracing::info!("QUIC workers: packets steered in the kernel by connection ID"),
        Err(error) => tracing::warn!(
            %error,
            "QUIC workers: cannot steer packets in the kernel; forwarding between workers instead"
        ),
    }
    Ok(())
}

/// The next connection of any endpoint, with its worker index; `None` once they are closed.
pub(super) async fn accept(endpoints: &[quinn::Endpoint]) -> Option<(u8, quinn::Incoming)> {
    if let [only] = endpoints {
        return only.accept().await.map(|incoming| (0, incoming));
    }
    let accepts = endpoints.iter().map(|e| Box::pin(e.accept()));
    let (incoming, index, _) = futures_util::future::select_all(accepts).await;
    Some((u8::try_from(index).unwrap_or(u8::MAX), incoming?))
}
