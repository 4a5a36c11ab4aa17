//! [`Steer`]: which worker a received datagram belongs to, read from the connection ID the
//! server chose (QUIC-LB: the server ID's last byte is the worker), with the check that the
//! ID is this server's at all.

use crate::fleet::steer::{
    is_long_header, long_packet_type, worker_of, LONG_DCID_AT, SHORT_DCID_AT,
};
use crate::fleet::{CidLayout, RoutableCids};

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dest {
    /// To this worker's endpoint, whatever it holds: a client's Initial or 0-RTT packet
    /// (never forwarded: the worker that got it answers it), or a long-header packet quinn
    /// should judge (another version, another connection-ID length).
    Here,
    /// To this worker.
    Worker(u8),
    /// Nowhere: it names another server, or it is too short to be QUIC.
    Foreign,
}

/// The shape of this server's connection IDs, and the bytes before the worker byte (the
/// first octet and the instance's part of the server ID).
#[derive(Clone, Debug)]
pub(super) struct Steer {
    layout: CidLayout,
    prefix: Vec<u8>,
}

impl Steer {
    pub(super) fn new(cids: &RoutableCids) -> Self {
        let layout = cids.layout();
        let mut sample = cids.clone();
        let cid = quinn_proto::ConnectionIdGenerator::generate_cid(&mut sample);
        Self {
            prefix: cid[..layout.worker_offset()].to_vec(),
            layout,
        }
    }

    /// The worker of the connection ID at `at`, when the ID is this server's.
    fn worker(&self, datagram: &[u8], at: usize) -> Option<u8> {
        let worker = worker_of(datagram, &self.layout)?;
        datagram
            .get(at..at + self.prefix.len())
            .is_some_and(|p| p == self.prefix)
            .then_some(worker)
    }

    pub(super) fn dest(&self, datagram: &[u8]) -> Dest {
        if datagram.is_empty() {
            return Dest::Foreign;
        }
        if !is_long_header(datagram) {
            return match self.worker(datagram, SHORT_DCID_AT) {
                Some(w) => Dest::Worker(w),
                None => Dest::Foreign,
            };
        }
        match long_packet_type(datagram) {
            Some(t) if !t.is_initial_or_0rtt() => match self.worker(datagram, LONG_DCID_AT) {
                Some(w) => Dest::Worker(w),
                None => Dest::Here,
            },
            // Initial, 0-RTT, another version: quinn answers them where they arrived.
            _ => Dest::Here,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steer(server_id: &[u8]) -> Steer {
        Steer::new(&RoutableCids::new(0, server_id, 8).unwrap())
    }

    fn short(cid: &[u8]) -> Vec<u8> {
        [&[0x40][..], cid, b"payload"].concat()
    }

    fn long(first: u8, cid: &[u8]) -> Vec<u8> {
        [&[first, 0, 0, 0, 1, cid.len() as u8][..], cid, &[0; 20]].concat()
    }

    #[test]
    fn own_workers_foreign_servers_and_initials() {
        let steer = steer(&[7, 2]);
        let mut worker3 = RoutableCids::new(0, &[7, 3], 8).unwrap();
        let mut other = RoutableCids::new(0, &[8, 2], 8).unwrap();
        let mine = quinn_proto::ConnectionIdGenerator::generate_cid(&mut worker3);
        let theirs = quinn_proto::ConnectionIdGenerator::generate_cid(&mut other);
        assert_eq!(steer.dest(&short(&mine)), Dest::Worker(3));
        assert_eq!(steer.dest(&short(&theirs)), Dest::Foreign);
        assert_eq!(steer.dest(&[0x40, 1, 2]), Dest::Foreign);
        assert_eq!(steer.dest(&[]), Dest::Foreign);
        // Handshake (type 2) with our ID: steered; Initial (0) and 0-RTT (1): never.
        assert_eq!(steer.dest(&long(0xe0, &mine)), Dest::Worker(3));
        assert_eq!(steer.dest(&long(0xc0, &mine)), Dest::Here);
        assert_eq!(steer.dest(&long(0xd0, &mine)), Dest::Here);
        assert_eq!(steer.dest(&long(0xe0, &theirs)), Dest::Here);
    }
}
