//! [`FleetKey`]: the secret every instance of a fleet shares, and the keys derived from it.

use std::fmt;
use std::path::Path;

use super::primitives::{hkdf_sha256, KEY_LEN};
use super::FleetKeyError;

/// HKDF-Extract's salt for every key derived from a fleet secret: fixed, so that the same
/// secret gives the same keys on every instance, and twinport's own, so that a secret also
/// used elsewhere gives keys unrelated to that use.
const SALT: &[u8] = b"twinport fleet key v1";

/// The secret every instance of a fleet shares, so that what one instance issues another can
/// check: TLS session tickets ([`FleetTickets`](super::FleetTickets), set with
/// [`ServerTls::fleet_key`](crate::ServerTls::fleet_key)) and the HTTP/3 transport's
/// stateless resets and address-validation tokens.
///
/// Make it with `openssl rand -hex 32 > fleet.key` (then `chmod 600 fleet.key`), give every
/// instance the same file and load it with [`from_file`](Self::from_file).
///
/// # Rotation
///
/// Write a new secret as the file's first line and move the old one to the second line; once
/// every instance runs with that file and the old secret's tickets have expired (a day), drop
/// the second line. During the change, what the previous secret made is still accepted
/// ([`with_previous`](Self::with_previous), [`derive_previous`](Self::derive_previous)); what
/// is made uses the current secret.
///
/// # Derived keys
///
/// Nothing uses the secret itself: each use derives its own key with [`derive`](Self::derive)
/// and a label of its own, so that a key of one use is no key of another. The labels in use:
///
/// | label | context | key of |
/// | --- | --- | --- |
/// | `twinport tls ticket` | the ticket epoch, `u64` big-endian | TLS session tickets ([`FleetTickets`](super::FleetTickets)) |
/// | `twinport tls ticket name` | the ticket epoch, `u64` big-endian | the 8-byte name that says which key sealed a ticket |
/// | `twinport quic stateless reset` | server id ‖ worker | the HTTP/3 transport's stateless-reset key |
/// | `twinport quic token` | see the HTTP/3 transport | the HTTP/3 transport's Retry and NEW_TOKEN tokens |
///
/// A transport using the fleet key picks a label of its own (starting with `twinport ` and
/// the transport) and documents it here.
///
/// # Security
///
/// Whoever has the secret can decrypt every session ticket made with it while its sessions
/// last, and so the traffic of resumed sessions recorded in that time: keep it as you keep
/// the certificates' private keys, and rotate it. `Debug` prints an identifier of the secret
/// (a derived value, the same on every instance with the same secret), never the secret.
#[derive(Clone)]
pub struct FleetKey {
    current: Secret,
    previous: Option<Secret>,
}

/// A secret of at least [`FleetKey::MIN_LEN`] bytes.
#[derive(Clone)]
struct Secret(Box<[u8]>);

impl Secret {
    fn derive(&self, label: &str, context: &[u8]) -> [u8; KEY_LEN] {
        hkdf_sha256(SALT, &self.0, &[label.as_bytes(), &[0], context])
    }

    /// An identifier of the secret, for `Debug`: 8 derived bytes in hex.
    fn id(&self) -> String {
        self.derive("twinport fleet key id", &[])[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl FleetKey {
    /// The shortest secret accepted, in bytes (256 bits).
    pub const MIN_LEN: usize = 32;

    /// A fleet key with this secret (at least [`MIN_LEN`](Self::MIN_LEN) random bytes).
    pub fn from_bytes(secret: &[u8]) -> Result<Self, FleetKeyError> {
        if secret.len() < Self::MIN_LEN {
            return Err(FleetKeyError::TooShort {
                given: secret.len(),
            });
        }
        Ok(Self::new(secret))
    }

    /// A secret already checked for its length.
    pub(super) fn new(secret: &[u8]) -> Self {
        Self {
            current: Secret(secret.into()),
            previous: None,
        }
    }

    /// Reads the fleet key from a text file: the secret in hex on the first non-empty line (as
    /// `openssl rand -hex 32 > fleet.key` writes it) and, during a rotation, the previous
    /// secret on the second.
    ///
    /// On Unix, a file other users may read (mode `& 0o004`) or that anyone but its owner may
    /// change (mode `& 0o022`) is refused, with the `chmod` that fixes it; its group may read
    /// it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, FleetKeyError> {
        super::file::read(path.as_ref())
    }

    /// Also accepts what the current secret of `previous` made: during a rotation, the
    /// secret being replaced. What is made still uses this key's own secret. Only one
    /// previous secret is kept: `previous`'s own previous secret is dropped.
    pub fn with_previous(mut self, previous: FleetKey) -> Self {
        self.previous = Some(previous.current);
        self
    }

    /// The previous secret as a key of its own.
    pub(super) fn previous_key(&self) -> Option<FleetKey> {
        self.previous.clone().map(|current| FleetKey {
            current,
            previous: None,
        })
    }

    /// Whether a previous secret is accepted too.
    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }

    /// A 32-byte key for one use, derived from the current secret with HKDF-SHA256
    /// (RFC 5869): Extract with twinport's fixed salt, Expand with `label ‖ 0x00 ‖ context`.
    /// The same secret, label and context give the same key on every instance; another label
    /// or context gives an unrelated key. See the [labels in use](Self#derived-keys).
    pub fn derive(&self, label: &str, context: &[u8]) -> [u8; 32] {
        self.current.derive(label, context)
    }

    /// The same key derived from the previous secret, if there is one
    /// ([`with_previous`](Self::with_previous)): to accept what it made during a rotation.
    pub fn derive_previous(&self, label: &str, context: &[u8]) -> Option<[u8; 32]> {
        self.previous.as_ref().map(|p| p.derive(label, context))
    }
}

impl fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetKey")
            .field("id", &self.current.id())
            .field("previous", &self.previous.as_ref().map(Secret::id))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];

    fn key(byte: u8) -> FleetKey {
        FleetKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn derivation_is_deterministic_and_separated_by_label_and_context() {
        let a = FleetKey::from_bytes(&SECRET).unwrap();
        let b = FleetKey::from_bytes(&SECRET).unwrap();
        assert_eq!(
            a.derive("twinport test", b"ctx"),
            b.derive("twinport test", b"ctx")
        );
        let k = a.derive("twinport test", b"ctx");
        assert_ne!(k, a.derive("twinport other", b"ctx"));
        assert_ne!(k, a.derive("twinport test", b"ctx2"));
        // The 0x00 between label and context: moving a byte across it is another key.
        assert_ne!(a.derive("ab", b"c"), a.derive("a", b"bc"));
        assert_ne!(k, key(8).derive("twinport test", b"ctx"));
        assert_ne!(k, [0; 32]);
    }

    #[test]
    fn derivation_is_hkdf_sha256_with_the_fixed_salt() {
        // Computed apart from this code, with Python's hmac: PRK = HMAC(salt, secret),
        // OKM = HMAC(PRK, "l" 0x00 "c" 0x01).
        let k = FleetKey::from_bytes(&[0x0b; 32]).unwrap();
        let hex: String = k
            .derive("l", b"c")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "e2689c5447c7e5def944649b8f6d61ace97379fabd3c841b9af51fbffe851c8c"
        );
    }

    #[test]
    fn short_secrets_are_refused_saying_how_long_they_were() {
        let e = FleetKey::from_bytes(&[1; 31]).unwrap_err();
        assert!(matches!(e, FleetKeyError::TooShort { given: 31 }), "{e}");
        assert_eq!(
            e.to_string(),
            "a fleet secret needs at least 32 bytes, 31 given"
        );
        assert!(FleetKey::from_bytes(&[]).is_err());
        assert!(FleetKey::from_bytes(&[1; 64]).is_ok());
    }

    #[test]
    fn the_previous_secret_derives_its_own_keys() {
        let old = key(1);
        let new = key(2);
        assert!(new.derive_previous("l", b"").is_none());
        assert!(!new.has_previous());
        let rotating = new.clone().with_previous(old.clone());
        assert!(rotating.has_previous());
        assert_eq!(rotating.derive("l", b""), new.derive("l", b""));
        assert_eq!(
            rotating.derive_previous("l", b""),
            Some(old.derive("l", b""))
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let k = FleetKey::from_bytes(&SECRET).unwrap().with_previous(key(9));
        let debug = format!("{k:?}");
        assert!(debug.starts_with("FleetKey { id: \""), "{debug}");
        assert!(
            !debug.contains("07, 07") && !debug.contains("0707"),
            "{debug}"
        );
        assert!(!debug.contains("[7") && !debug.contains("0909"), "{debug}");
        // The same secret has the same id everywhere; another secret another id.
        assert_eq!(
            format!("{:?}", key(9)).len(),
            "FleetKey { id: \"0123456789abcdef\", previous: None }".len()
        );
        assert_ne!(format!("{:?}", key(1)), format!("{:?}", key(2)));
        assert_eq!(format!("{:?}", key(1)), format!("{:?}", key(1)));
    }
}
