//! The fixture of the hardening tests (`tests/hardening_*.rs`): the server keeps serving
//! well-behaved clients while others misbehave.
//!
//! Each test names the attack, what the server must do, and checks that a well-behaved client
//! (`GET /ok` on HTTP/1.1, HTTP/2 and HTTP/3, see `twinport_testkit::clients::served`) is answered during
//! and after. Servers run with short timeouts so that attacks end in seconds; every wait is
//! bounded.

// Each test binary uses its own share of these.
#![allow(dead_code)]

use std::net::{Shutdown, TcpStream};

use tokio::task::JoinHandle;
use twinport_testkit::clients::served;
use twinport_testkit::servers::Srv;

/// The end of an attack: a well-behaved client is served after it, the attack's connections
/// and handlers are gone, and the server stops.
pub async fn served_after(srv: Srv, attack: &str) {
    served(srv.addr, &format!("after {attack}")).await;
    srv.settles(&format!("{attack}: connections closed")).await;
    srv.stop().await;
}

/// Kills the socket of a [`Hyper::connect_killable`] client and its connection task, as a
/// client that vanishes would: the server sees the connection die, not a polite close.
pub fn kill(socket: TcpStream, task: JoinHandle<()>) {
    socket.shutdown(Shutdown::Both).unwrap();
    task.abort();
}
