//! Steering received datagrams to the worker that owns their connection: the worker index is
//! the last byte of the server ID in [`RoutableCids`](super::RoutableCids)' connection IDs,
//! and every QUIC packet starts with its destination connection ID in a place the QUIC
//! invariants (RFC 8999) fix:
//!
//! - short header (first bit 0): the DCID from byte 1, of a length the receiver knows;
//! - long header (first bit 1): byte 5 is the DCID's length, the DCID from byte 6.
//!
//! A client's Initial (and 0-RTT) packets carry a DCID the client chose, of any length, until
//! it learns the server's: those have no worker, and whoever steers them must leave them to
//! its default (the kernel's hash, say). [`worker_of`] reads the worker in Rust;
//! [`steering_program`] is the same reading as a classic BPF program for Linux's
//! `SO_ATTACH_REUSEPORT_CBPF`.

/// Where the worker byte is in a fleet's connection IDs: made by
/// [`RoutableCids::layout`](super::RoutableCids::layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidLayout {
    cid_len: usize,
    worker_offset: usize,
}

impl CidLayout {
    pub(crate) fn new(cid_len: usize, worker_offset: usize) -> Self {
        debug_assert!(worker_offset < cid_len);
        Self {
            cid_len,
            worker_offset,
        }
    }

    /// The length of the connection IDs, in bytes.
    pub fn cid_len(&self) -> usize {
        self.cid_len
    }

    /// The index of the worker byte inside a connection ID: the server ID's length, the first
    /// octet being byte 0.
    pub fn worker_offset(&self) -> usize {
        self.worker_offset
    }
}

/// The header form bit: set in long headers.
const LONG_HEADER: u8 = 0x80;
/// In a long header, the byte holding the DCID's length.
const LONG_DCID_LEN_AT: usize = 5;
/// In a long header, the first byte of the DCID.
pub(crate) const LONG_DCID_AT: usize = 6;
/// In a short header, the first byte of the DCID.
pub(crate) const SHORT_DCID_AT: usize = 1;

/// Whether `datagram` starts with a long-header packet (the first bit set). False for an
/// empty datagram.
pub fn is_long_header(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & LONG_HEADER != 0)
}

/// The worker byte of the connection ID `datagram` is addressed to, if its first packet
/// carries a connection ID of `layout`'s length whole: any short-header packet at least
/// `1 + cid_len` bytes long, or a long-header packet whose DCID length is `cid_len` and which
/// is at least `6 + cid_len` long. `None` for an Initial with the client's own DCID of another
/// length, or for a datagram too short.
///
/// A short header does not say its DCID's length: any datagram long enough gets a worker,
/// whether or not it is a QUIC packet of this fleet. The worker's endpoint drops it if the ID
/// is not one of its connections'.
pub fn worker_of(datagram: &[u8], layout: &CidLayout) -> Option<u8> {
    let dcid_at = if is_long_header(datagram) {
        if usize::from(*datagram.get(LONG_DCID_LEN_AT)?) != layout.cid_len {
            return None;
        }
        LONG_DCID_AT
    } else {
        SHORT_DCID_AT
    };
    let dcid = datagram.get(dcid_at..dcid_at + layout.cid_len)?;
    Some(dcid[layout.worker_offset])
}

/// The type of a long-header packet, in QUIC version 1 (RFC 9000 §17.2), whose encoding the
/// drafts quinn also speaks (29 to 34) share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongPacketType {
    /// A client's (or the server's) first flight: the client's own DCID, until it learns the
    /// server's.
    Initial,
    /// 0-RTT: a client's early data, with the same DCID as its Initial.
    ZeroRtt,
    /// The rest of the handshake: the server's connection ID.
    Handshake,
    /// A server's Retry.
    Retry,
}

impl LongPacketType {
    /// Initial and 0-RTT packets, which a client sends before it knows a connection ID of the
    /// server: their DCID says nothing of the worker, and a forwarder must not forward them by
    /// it.
    pub fn is_initial_or_0rtt(self) -> bool {
        matches!(self, Self::Initial | Self::ZeroRtt)
    }
}

/// QUIC version 1 and the drafts quinn accepts (0xff00001d to 0xff000022): their long-header
/// packet types are encoded alike.
fn has_v1_packet_types(version: u32) -> bool {
    version == 1 || (0xff00_001d..=0xff00_0022).contains(&version)
}

/// The type of the long-header packet `datagram` starts with: bits `0x30` of its first byte,
/// in a version whose packet types are version 1's. `None` for a short header, a datagram too
/// short to hold the version, a Version Negotiation packet (version 0) or another version; a
/// forwarder should refuse to forward these long headers as well.
pub fn long_packet_type(datagram: &[u8]) -> Option<LongPacketType> {
    if !is_long_header(datagram) {
        return None;
    }
    let version = u32::from_be_bytes(datagram.get(1..5)?.try_into().ok()?);
    if !has_v1_packet_types(version) {
        return None;
    }
    Some(match (datagram[0] & 0x30) >> 4 {
        0 => LongPacketType::Initial,
        1 => LongPacketType::ZeroRtt,
        2 => LongPacketType::Handshake,
        _ => LongPacketType::Retry,
    })
}

#[cfg(target_os = "linux")]
pub use self::cbpf::steering_program;

#[cfg(target_os = "linux")]
mod cbpf {
    use super::{CidLayout, LONG_DCID_AT, LONG_DCID_LEN_AT, LONG_HEADER, SHORT_DCID_AT};
    use libc::sock_filter;

    /// What the program returns when it has no worker: no socket has this index, so the
    /// kernel falls back to its hash of the 4-tuple.
    pub(super) const FALLBACK: u32 = u32::MAX;

    const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
    const LD_W_LEN: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_LEN) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const RET_A: u16 = (libc::BPF_RET | libc::BPF_A) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

    fn stmt(code: u16, k: u32) -> sock_filter {
        sock_filter {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump: `jt` and `jf` count the instructions skipped.
    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
        sock_filter { code, jt, jf, k }
    }

    fn k(n: usize) -> u32 {
        // A layout's offsets are under 30: a connection ID is at most 20 bytes.
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// [`worker_of`](super::worker_of) as a classic BPF program for
    /// `setsockopt(SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF)` on a group of UDP sockets sharing a
    /// port, the socket at index `i` being worker `i`'s.
    ///
    /// For UDP, the kernel runs the program on the datagram with its UDP header pulled off
    /// (`reuseport_select_sock(..., sizeof(struct udphdr))` in `net/ipv4/udp.c` and
    /// `net/ipv6/udp.c`): byte 0 is
    /// the QUIC packet's first. It returns the worker byte, or `0xffffffff` when it has none
    /// (a long header whose DCID is not this server's length, a datagram too short). A
    /// client's Initial and 0-RTT DCID of this server's length is read like any other: its
    /// packets all carry the same one, so they reach one worker either way. Any value not
    /// below the number of sockets in the group (the fallback, or a worker byte with no
    /// socket) makes the kernel choose by its hash of the 4-tuple instead. The kernel leaves
    /// the program out as soon as a socket of the group is connected (`connect(2)`).
    ///
    /// The datagram's length is checked before any byte is read: a load past the end would
    /// end a classic BPF program with 0, which would send the packet to socket 0.
    pub fn steering_program(layout: &CidLayout) -> Vec<sock_filter> {
        let short_min = k(SHORT_DCID_AT + layout.cid_len);
        let long_min = k(LONG_DCID_AT + layout.cid_len);
        let short_worker = k(SHORT_DCID_AT + layout.worker_offset);
        let long_worker = k(LONG_DCID_AT + layout.worker_offset);
        // The jump offsets below count the instructions between a jump and its target.
        vec![
            /* 0 */ stmt(LD_W_LEN, 0),
            /* 1 */ jump(JGE_K, short_min, 0, 10), // too short for any: 12
            /* 2 */ stmt(LD_B_ABS, 0),
            /* 3 */ jump(JSET_K, u32::from(LONG_HEADER), 2, 0), // long header: 6
            /* 4 */ stmt(LD_B_ABS, short_worker),
            /* 5 */ stmt(RET_A, 0),
            /* 6 */ stmt(LD_W_LEN, 0),
            /* 7 */ jump(JGE_K, long_min, 0, 4), // too short: 12
            /* 8 */ stmt(LD_B_ABS, k(LONG_DCID_LEN_AT)),
            /* 9 */ jump(JEQ_K, k(layout.cid_len), 0, 2), // the client's DCID: 12
            /* 10 */ stmt(LD_B_ABS, long_worker),
            /* 11 */ stmt(RET_A, 0),
            /* 12 */ stmt(RET_K, FALLBACK),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::RoutableCids;
    use quinn_proto::ConnectionIdGenerator;

    /// A fleet whose server ID is `[0x5a, 0xa5, worker]`, CIDs of 1 + 3 + 6 bytes.
    fn worker(index: u8) -> RoutableCids {
        RoutableCids::new(1, &[0x5a, 0xa5, index], 6).unwrap()
    }

    fn short_packet(cids: &mut RoutableCids) -> Vec<u8> {
        let mut packet = vec![0x40];
        packet.extend_from_slice(&cids.generate_cid());
        packet.extend_from_slice(&[0x11; 30]);
        packet
    }

    fn long_packet(first: u8, dcid: &[u8]) -> Vec<u8> {
        let mut packet = vec![first, 0, 0, 0, 1, dcid.len() as u8];
        packet.extend_from_slice(dcid);
        packet.push(8);
        packet.extend_from_slice(&[0x22; 8]);
        packet.extend_from_slice(&[0; 40]);
        packet
    }

    #[test]
    fn layout_of_routable_cids() {
        let layout = worker(0).layout();
        assert_eq!(layout.cid_len(), 10);
        assert_eq!(layout.worker_offset(), 3);
        let mut cids = RoutableCids::new(0, &[7], 4).unwrap();
        let layout = cids.layout();
        assert_eq!(cids.generate_cid()[layout.worker_offset()], 7);
    }

    #[test]
    fn worker_from_short_and_long_headers() {
        let layout = worker(0).layout();
        for index in 0..4 {
            let mut cids = worker(index);
            assert_eq!(worker_of(&short_packet(&mut cids), &layout), Some(index));
            let handshake = long_packet(0xe0, &cids.generate_cid());
            assert_eq!(
                long_packet_type(&handshake),
                Some(LongPacketType::Handshake)
            );
            assert_eq!(worker_of(&handshake, &layout), Some(index));
        }
        // A client's Initial with its own 8-byte DCID, and its 0-RTT.
        let initial = long_packet(0xc0, &[3; 8]);
        assert_eq!(worker_of(&initial, &layout), None);
        assert_eq!(long_packet_type(&initial), Some(LongPacketType::Initial));
        assert_eq!(
            long_packet_type(&long_packet(0xd0, &[3; 8])),
            Some(LongPacketType::ZeroRtt)
        );
        // Too short for anything, or for the DCID the long header announces.
        assert_eq!(worker_of(&[0x40, 1, 2], &layout), None);
        assert_eq!(worker_of(&[], &layout), None);
        let handshake = long_packet(0xe0, &worker(2).generate_cid());
        assert_eq!(worker_of(&handshake[..6 + 10], &layout), Some(2));
        assert_eq!(worker_of(&handshake[..6 + 9], &layout), None);
        assert_eq!(worker_of(&handshake[..5], &layout), None);
        let short = short_packet(&mut worker(3));
        assert_eq!(worker_of(&short[..11], &layout), Some(3));
        assert_eq!(worker_of(&short[..10], &layout), None);
    }

    #[test]
    fn long_packet_types() {
        let dcid = worker(0).generate_cid();
        let types = [
            (0xc3, LongPacketType::Initial, true),
            (0xd0, LongPacketType::ZeroRtt, true),
            (0xe1, LongPacketType::Handshake, false),
            (0xf0, LongPacketType::Retry, false),
        ];
        for (first, ty, first_flight) in types {
            let packet = long_packet(first, &dcid);
            assert_eq!(long_packet_type(&packet), Some(ty));
            assert_eq!(ty.is_initial_or_0rtt(), first_flight);
            assert!(is_long_header(&packet));
        }
        // A draft version quinn speaks: the same types.
        let mut draft = long_packet(0xc0, &dcid);
        draft[1..5].copy_from_slice(&0xff00_001d_u32.to_be_bytes());
        assert_eq!(long_packet_type(&draft), Some(LongPacketType::Initial));
        // Version Negotiation, another version (QUIC v2 encodes the types otherwise), a short
        // header, too short.
        for version in [0_u32, 0x6b33_43cf, 0x1a2a_3a4a] {
            let mut packet = long_packet(0xc0, &dcid);
            packet[1..5].copy_from_slice(&version.to_be_bytes());
            assert_eq!(long_packet_type(&packet), None, "{version:#x}");
        }
        assert_eq!(long_packet_type(&[0x40; 30]), None);
        assert!(!is_long_header(&[0x40; 30]));
        assert_eq!(long_packet_type(&[0xc0, 0, 0, 1]), None);
        assert!(!is_long_header(&[]));
    }

    #[cfg(target_os = "linux")]
    mod program {
        use super::super::cbpf::FALLBACK;
        use super::*;
        use libc::sock_filter;
        use rand::{Rng, RngExt, SeedableRng};

        /// A classic BPF interpreter for the instructions the program uses, run as the kernel
        /// runs a reuseport program: on the UDP payload; a load past the end returns 0.
        fn run(program: &[sock_filter], packet: &[u8]) -> u32 {
            let op = |parts: u32| parts as u16;
            let mut a: u32 = 0;
            let mut pc = 0;
            loop {
                let ins = program[pc];
                pc += 1;
                match ins.code {
                    c if c == op(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) => {
                        match packet.get(ins.k as usize) {
                            Some(&b) => a = u32::from(b),
                            None => return 0,
                        }
                    }
                    c if c == op(libc::BPF_LD | libc::BPF_W | libc::BPF_LEN) => {
                        a = packet.len() as u32;
                    }
                    c if c == op(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) => {
                        pc += usize::from(if a == ins.k { ins.jt } else { ins.jf });
                    }
                    c if c == op(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) => {
                        pc += usize::from(if a >= ins.k { ins.jt } else { ins.jf });
                    }
                    c if c == op(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) => {
                        pc += usize::from(if a & ins.k != 0 { ins.jt } else { ins.jf });
                    }
                    c if c == op(libc::BPF_RET | libc::BPF_A) => return a,
                    c if c == op(libc::BPF_RET | libc::BPF_K) => return ins.k,
                    c => panic!("opcode {c:#x} at {} is not interpreted", pc - 1),
                }
            }
        }

        /// What the program should return: the worker, or the fallback.
        fn expected(packet: &[u8], layout: &CidLayout) -> u32 {
            worker_of(packet, layout).map_or(FALLBACK, u32::from)
        }

        #[test]
        fn program_steers_as_worker_of() {
            let layout = worker(0).layout();
            let program = steering_program(&layout);
            for index in 0..4 {
                let mut cids = worker(index);
                assert_eq!(run(&program, &short_packet(&mut cids)), u32::from(index));
                let handshake = long_packet(0xe0, &cids.generate_cid());
                assert_eq!(run(&program, &handshake), u32::from(index));
            }
            assert_eq!(run(&program, &long_packet(0xc0, &[3; 8])), FALLBACK);
            assert_eq!(run(&program, &[0x40, 1, 2]), FALLBACK);
            assert_eq!(run(&program, &[]), FALLBACK);
            // The DCID length byte says ours, but the datagram ends inside the DCID.
            let handshake = long_packet(0xe0, &worker(2).generate_cid());
            assert_eq!(run(&program, &handshake[..6 + 9]), FALLBACK);
            assert_eq!(run(&program, &handshake[..6 + 10]), 2);
            // A short header one byte short of a whole DCID.
            let short = short_packet(&mut worker(3));
            assert_eq!(run(&program, &short[..10]), FALLBACK);
            assert_eq!(run(&program, &short[..11]), 3);
        }

        #[test]
        fn program_agrees_with_worker_of_on_random_datagrams() {
            let mut rng = rand::rngs::StdRng::seed_from_u64(0x7417_9027);
            let layouts = [
                worker(0).layout(),
                RoutableCids::new(0, &[1], 4).unwrap().layout(),
                RoutableCids::new(6, &[1; 15], 4).unwrap().layout(),
                RoutableCids::new(3, &[2, 9], 18 - 1).unwrap().layout(),
            ];
            for layout in layouts {
                let program = steering_program(&layout);
                let mut steered = 0;
                for _ in 0..2000 {
                    let len = rng.random_range(0..40);
                    let mut packet = vec![0; len];
                    rng.fill_bytes(&mut packet);
                    // Make our DCID length likely in long headers.
                    if len > 5 && rng.random_bool(0.5) {
                        packet[5] = layout.cid_len() as u8;
                    }
                    assert_eq!(
                        run(&program, &packet),
                        expected(&packet, &layout),
                        "{packet:02x?} {layout:?}"
                    );
                    steered += usize::from(worker_of(&packet, &layout).is_some());
                }
                // Both outcomes are tried often.
                assert!(
                    (300..1700).contains(&steered),
                    "{steered} of 2000 {layout:?}"
                );
            }
        }
    }
}
