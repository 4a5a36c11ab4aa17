//! [`RoutableCids`]: connection IDs that carry the server ID in plaintext, as QUIC-LB
//! (draft-ietf-quic-load-balancers-21, §2 "First CID octet" and §4 "Server ID Encoding in
//! Connection IDs", without a key) lays them out:
//!
//! ```text
//! +--------------------+----------------------+-----------------+
//! | first octet        | server ID            | nonce           |
//! | CR (3) | len-1 (5) | 1 to 15 bytes        | 4 bytes or more |
//! +--------------------+----------------------+-----------------+
//!  at most 20 bytes in all
//! ```
//!
//! The first octet's top three bits are the config rotation codepoint (0 to 6; `0b111` marks
//! unroutable IDs and is refused here). Its low five bits self-describe the length: the
//! length of what follows the first octet, which is the connection ID's length minus one.
//! The nonce is random for every ID (the draft requires that, without a key, it have no
//! observable relationship to earlier IDs).

use quinn_proto::{ConnectionId, ConnectionIdGenerator, InvalidCid};
use rand::Rng;

use super::steer::CidLayout;

/// The longest server ID QUIC-LB allows, in bytes.
pub const MAX_SERVER_ID_LEN: usize = 15;
/// The shortest nonce QUIC-LB allows, in bytes.
pub const MIN_NONCE_LEN: usize = 4;
/// The longest connection ID QUIC version 1 allows, in bytes.
pub const MAX_CID_LEN: usize = 20;
/// The config rotation codepoint of unroutable connection IDs, which a configuration must not
/// use.
pub const UNROUTABLE_CONFIG_ROTATION: u8 = 0b111;

/// A connection ID layout [`RoutableCids::new`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidError {
    /// The config rotation codepoint does not fit in three bits, or is `0b111`, which marks
    /// unroutable connection IDs.
    #[error(
        "config rotation codepoint {0} is out of range: 0 to 6 (7 marks unroutable connection IDs)"
    )]
    ConfigRotation(u8),
    /// The server ID is empty or longer than 15 bytes.
    #[error("server ID of {0} bytes: it must have 1 to 15")]
    ServerIdLength(usize),
    /// The nonce is shorter than 4 bytes.
    #[error("nonce of {0} bytes: it must have at least 4")]
    NonceTooShort(usize),
    /// The first octet, server ID and nonce add up to more than 20 bytes.
    #[error(
        "connection ID of {len} bytes (1 + {server_id_len} of server ID + {nonce_len} of nonce): \
         QUIC allows at most 20"
    )]
    CidTooLong {
        /// The length the connection IDs would have.
        len: usize,
        /// The server ID's length.
        server_id_len: usize,
        /// The nonce's length.
        nonce_len: usize,
    },
}

/// Generates QUIC-LB plaintext connection IDs: the first octet, this server's ID, a random
/// nonce (see the [module](self) docs).
///
/// [`validate`](ConnectionIdGenerator::validate) accepts only IDs of this generator's length,
/// first octet and server ID, so quinn drops packets for connections of another server (or
/// worker) instead of answering them with a stateless reset.
#[derive(Debug, Clone)]
pub struct RoutableCids {
    config_rotation: u8,
    server_id: Box<[u8]>,
    cid_len: usize,
}

impl RoutableCids {
    /// Connection IDs with config rotation codepoint `config_rotation` (0 to 6), the server ID
    /// `server_id` (1 to 15 bytes) and `nonce_len` random bytes (at least 4), at most 20 bytes
    /// with the first octet.
    ///
    /// # Errors
    ///
    /// [`CidError`] says which of these limits is broken.
    pub fn new(config_rotation: u8, server_id: &[u8], nonce_len: usize) -> Result<Self, CidError> {
        if config_rotation >= UNROUTABLE_CONFIG_ROTATION {
            return Err(CidError::ConfigRotation(config_rotation));
        }
        if server_id.is_empty() || server_id.len() > MAX_SERVER_ID_LEN {
            return Err(CidError::ServerIdLength(server_id.len()));
        }
        if nonce_len < MIN_NONCE_LEN {
            return Err(CidError::NonceTooShort(nonce_len));
        }
        let len = nonce_len.saturating_add(1 + server_id.len());
        if len > MAX_CID_LEN {
            return Err(CidError::CidTooLong {
                len,
                server_id_len: server_id.len(),
                nonce_len,
            });
        }
        Ok(Self {
            config_rotation,
            server_id: server_id.into(),
            cid_len: len,
        })
    }

    /// The length of every connection ID generated, in bytes (6 to 20).
    pub fn cid_len(&self) -> usize {
        self.cid_len
    }

    /// The server ID written after the first octet.
    pub fn server_id(&self) -> &[u8] {
        &self.server_id
    }

    /// The config rotation codepoint: the first octet's top three bits.
    pub fn config_rotation(&self) -> u8 {
        self.config_rotation
    }

    /// Where a steering program finds the worker byte (the server ID's last) in these
    /// connection IDs.
    pub fn layout(&self) -> CidLayout {
        CidLayout::new(self.cid_len, self.server_id.len())
    }

    fn nonce_len(&self) -> usize {
        self.cid_len - 1 - self.server_id.len()
    }

    /// The first octet: the config rotation codepoint, then the length of the rest of the ID.
    fn first_octet(&self) -> u8 {
        // `new` keeps the rotation under 7 and the length under 21: both fit their bits.
        (self.config_rotation << 5) | (self.cid_len - 1) as u8
    }

    /// The connection ID with the given nonce, which must have this generator's nonce length
    /// (the draft's test vectors give it; [`generate_cid`](ConnectionIdGenerator::generate_cid)
    /// draws it at random).
    pub(crate) fn encode(&self, nonce: &[u8]) -> ConnectionId {
        debug_assert_eq!(nonce.len(), self.nonce_len());
        let mut bytes = [0; MAX_CID_LEN];
        bytes[0] = self.first_octet();
        let id_end = 1 + self.server_id.len();
        bytes[1..id_end].copy_from_slice(&self.server_id);
        bytes[id_end..self.cid_len].copy_from_slice(nonce);
        ConnectionId::new(&bytes[..self.cid_len])
    }
}

impl ConnectionIdGenerator for RoutableCids {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut nonce = [0; MAX_CID_LEN];
        let nonce = &mut nonce[..self.nonce_len()];
        // The thread's ChaCha generator, seeded and reseeded from the OS: a CSPRNG.
        rand::rng().fill_bytes(nonce);
        self.encode(nonce)
    }

    fn validate(&self, cid: &ConnectionId) -> Result<(), InvalidCid> {
        let ours = cid.len() == self.cid_len
            && cid[0] == self.first_octet()
            && cid[1..=self.server_id.len()] == *self.server_id;
        if ours {
            Ok(())
        } else {
            Err(InvalidCid)
        }
    }

    fn cid_len(&self) -> usize {
        self.cid_len
    }

    fn cid_lifetime(&self) -> Option<std::time::Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// draft-ietf-quic-load-balancers-21, Appendix "Load Balancer Test Vectors", "Unencrypted
    /// CIDs" (the server encodes the CID length in all of them).
    #[test]
    fn draft_plaintext_vectors() {
        // `0 c4605e 4504cc4f 07c4605e4504cc4f`: byte for byte.
        let cids = RoutableCids::new(0, &hex("c4605e"), 4).unwrap();
        assert_eq!(
            &cids.encode(&hex("4504cc4f"))[..],
            &hex("07c4605e4504cc4f")[..]
        );

        // `1 350d28b420 3487d970b 20a350d28b4203487d970b`: the draft prints this row's
        // numbers without their leading zeros: the nonce, 9 hex digits, is 0x03487d970b (5
        // bytes, which the CID's 11 bytes (22 digits) leave for it), and the first octet, "20a",
        // is the rotation 1 (0x20) then the length 10 (0xa) written apart: 0x2a. The digits
        // of the CID are those of the three fields one after the other.
        let cids = RoutableCids::new(1, &hex("350d28b420"), 5).unwrap();
        let cid = cids.encode(&hex("03487d970b"));
        assert_eq!(&cid[..], &hex("2a350d28b42003487d970b")[..]);
        assert_eq!(
            format!("{:x}{:x}{}{:x}", 1 << 5, 10, "350d28b420", 0x03487d970b_u64),
            "20a350d28b4203487d970b",
            "the draft's way of printing the row"
        );
    }

    #[test]
    fn first_octet_encodes_rotation_and_length_minus_one() {
        for rotation in 0..=6 {
            for (sid, nonce) in [(1, 4), (3, 4), (4, 8), (15, 4), (1, 18)] {
                let cids = RoutableCids::new(rotation, &vec![9; sid], nonce).unwrap();
                let cid = cids.clone().generate_cid();
                assert_eq!(cid.len(), 1 + sid + nonce);
                assert_eq!(cids.cid_len(), cid.len());
                assert_eq!(cid[0] >> 5, rotation);
                assert_eq!(usize::from(cid[0] & 0x1f), cid.len() - 1);
                assert_eq!(&cid[1..=sid], &vec![9; sid][..]);
            }
        }
        let cids = RoutableCids::new(3, &[1, 2], 4).unwrap();
        assert_eq!(cids.config_rotation(), 3);
        assert_eq!(cids.server_id(), &[1, 2]);
        assert_eq!(cids.cid_len(), 7);
        assert_eq!(cids.clone().generate_cid()[0], 0b011_00110);
        assert_eq!(cids.cid_lifetime(), None);
    }

    #[test]
    fn validate_accepts_own_and_rejects_foreign() {
        let mut ours = RoutableCids::new(2, &[0xab, 0xcd, 3], 6).unwrap();
        for _ in 0..100 {
            let cid = ours.generate_cid();
            assert!(ours.validate(&cid).is_ok());
        }
        let foreign = [
            // Another instance: another server ID, the same worker byte.
            RoutableCids::new(2, &[0xab, 0xce, 3], 6).unwrap(),
            // Another worker of this instance.
            RoutableCids::new(2, &[0xab, 0xcd, 4], 6).unwrap(),
            // Another config rotation.
            RoutableCids::new(1, &[0xab, 0xcd, 3], 6).unwrap(),
            // Another length: a longer nonce, or a shorter server ID. (A shorter server ID
            // with a longer nonce, at this length, is told apart only when its nonce does not
            // begin with our last server-ID byte: plaintext IDs cannot do better, so the
            // server IDs of one fleet have one length.)
            RoutableCids::new(2, &[0xab, 0xcd, 3], 7).unwrap(),
            RoutableCids::new(2, &[0xab, 0xcd], 6).unwrap(),
        ];
        for mut other in foreign {
            for _ in 0..20 {
                assert!(ours.validate(&other.generate_cid()).is_err(), "{other:?}");
            }
        }
        // The right bytes at another length, with the first octet's length bits ours.
        let cid = ours.generate_cid();
        assert!(ours.validate(&ConnectionId::new(&cid[..9])).is_err());
        let mut longer = cid.to_vec();
        longer.push(0);
        assert!(ours.validate(&ConnectionId::new(&longer)).is_err());
        // The length bits alone wrong.
        let mut bad = cid.to_vec();
        bad[0] ^= 1;
        assert!(ours.validate(&ConnectionId::new(&bad)).is_err());
        assert!(ours.validate(&ConnectionId::new(&[])).is_err());
    }

    #[test]
    fn errors() {
        assert_eq!(
            RoutableCids::new(7, &[1], 4).unwrap_err(),
            CidError::ConfigRotation(7)
        );
        assert_eq!(
            RoutableCids::new(255, &[1], 4).unwrap_err(),
            CidError::ConfigRotation(255)
        );
        assert_eq!(
            RoutableCids::new(0, &[], 4).unwrap_err(),
            CidError::ServerIdLength(0)
        );
        assert_eq!(
            RoutableCids::new(0, &[1; 16], 4).unwrap_err(),
            CidError::ServerIdLength(16)
        );
        assert_eq!(
            RoutableCids::new(0, &[1], 3).unwrap_err(),
            CidError::NonceTooShort(3)
        );
        assert_eq!(
            RoutableCids::new(0, &[1], 0).unwrap_err(),
            CidError::NonceTooShort(0)
        );
        assert_eq!(
            RoutableCids::new(0, &[1; 15], 5).unwrap_err(),
            CidError::CidTooLong {
                len: 21,
                server_id_len: 15,
                nonce_len: 5
            }
        );
        assert_eq!(
            RoutableCids::new(0, &[1], usize::MAX).unwrap_err(),
            CidError::CidTooLong {
                len: usize::MAX,
                server_id_len: 1,
                nonce_len: usize::MAX
            }
        );
        // The limits themselves are fine.
        assert!(RoutableCids::new(6, &[1; 15], 4).is_ok());
        assert!(RoutableCids::new(0, &[1], 18).is_ok());
        assert_eq!(
            RoutableCids::new(0, &[1; 15], 5).unwrap_err().to_string(),
            "connection ID of 21 bytes (1 + 15 of server ID + 5 of nonce): QUIC allows at most 20"
        );
        assert_eq!(
            RoutableCids::new(7, &[1], 4).unwrap_err().to_string(),
            "config rotation codepoint 7 is out of range: 0 to 6 (7 marks unroutable connection IDs)"
        );
    }

    #[test]
    fn generated_cids_differ() {
        let mut cids = RoutableCids::new(0, &[1, 2, 3], 8).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(cids.generate_cid()));
        }
    }
}
