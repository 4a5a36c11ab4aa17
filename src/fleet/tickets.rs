//! [`FleetTickets`]: TLS session tickets any instance of a fleet can decrypt.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::server::ProducesTickets;

use super::primitives::{random, AeadKey, NONCE_LEN, TAG_LEN};
use super::FleetKey;

/// The label of the ticket keys.
const KEY_LABEL: &str = "twinport tls ticket";
/// The label of the ticket key names.
const NAME_LABEL: &str = "twinport tls ticket name";
/// The length of a key name, the first bytes of a ticket.
const NAME_LEN: usize = 8;

/// TLS session tickets (TLS 1.3 and 1.2) sealed with keys derived from a [`FleetKey`], so that
/// a client given a ticket by one instance resumes its session on any other instance with the
/// same key. A rustls [`ProducesTickets`]: set it with
/// [`ServerTls::fleet_key`](crate::ServerTls::fleet_key), or as the `ticketer` of a rustls
/// `ServerConfig` of your own.
///
/// Time is cut into epochs of [`ROTATION`](Self::ROTATION) (12 hours) since the Unix epoch,
/// the same on every instance whose clock is right. Epoch `e`'s key is
/// `derive("twinport tls ticket", e as u64 big-endian)`. A ticket is the key's name (8 bytes
/// of `derive("twinport tls ticket name", e)`), a random 12-byte nonce and the session
/// sealed with ChaCha20-Poly1305 (the name is the associated data).
///
/// Tickets are sealed with the current epoch's key and opened with the key their name names,
/// among: the previous, current and next epochs of the current secret (the next one for an
/// instance whose clock is a little behind the one that issued it) and the current and
/// previous epochs of the previous secret ([`FleetKey::with_previous`]). A ticket is thus
/// accepted for 12 to 24 hours, and clients are told 12 ([`lifetime`](Self::lifetime)). A
/// ticket of another key, of an older epoch, cut short or changed is not opened: the client
/// gets a full handshake, never an error.
///
/// All instances share one key per epoch, and nonces are random: keep the fleet under about
/// 2³² tickets per 12 hours (some 100,000 tickets a second) for nonces not to repeat.
///
/// Stateless tickets allow no 0-RTT: anyone who recorded a client's early data could replay
/// it to another instance, which cannot know the ticket was used. rustls accepts early data
/// only with stateful resumption, and [`ServerTls`](crate::ServerTls) turns it off with a
/// fleet key unless a shared [`session_store`](crate::ServerTls::session_store) is set.
pub struct FleetTickets {
    key: FleetKey,
    /// The keys of the epoch in use, remade when the epoch changes.
    keys: Mutex<Option<Arc<EpochKeys>>>,
}

/// The keys of one epoch: the one that seals, and those that open.
struct EpochKeys {
    epoch: u64,
    /// The current secret's key of `epoch`.
    seal: NamedKey,
    /// The others that open: the current secret's previous and next epochs, the previous
    /// secret's current and previous epochs.
    open: Vec<NamedKey>,
}

struct NamedKey {
    name: [u8; NAME_LEN],
    key: AeadKey,
}

impl NamedKey {
    /// The key of `epoch` derived from `key`'s current secret, and its name.
    fn of(key: &FleetKey, epoch: u64) -> Self {
        let context = epoch.to_be_bytes();
        let full_name = key.derive(NAME_LABEL, &context);
        let mut name = [0u8; NAME_LEN];
        name.copy_from_slice(&full_name[..NAME_LEN]);
        Self {
            name,
            key: AeadKey::new(&key.derive(KEY_LABEL, &context)),
        }
    }
}

impl EpochKeys {
    fn new(key: &FleetKey, epoch: u64) -> Self {
        let before = epoch.checked_sub(1);
        let after = epoch.checked_add(1);
        let mut open: Vec<NamedKey> = before
            .into_iter()
            .chain(after)
            .map(|e| NamedKey::of(key, e))
            .collect();
        if let Some(previous) = key.previous_key() {
            open.extend(
                std::iter::once(epoch)
                    .chain(before)
                    .map(|e| NamedKey::of(&previous, e)),
            );
        }
        Self {
            epoch,
            seal: NamedKey::of(key, epoch),
            open,
        }
    }

    /// The key named `name`.
    fn opener(&self, name: &[u8]) -> Option<&NamedKey> {
        std::iter::once(&self.seal)
            .chain(&self.open)
            .find(|k| k.name == name)
    }
}

impl FleetTickets {
    /// How often the ticket key changes. Every instance must use the same.
    pub const ROTATION: Duration = Duration::from_secs(12 * 60 * 60);

    /// Tickets sealed with keys derived from `key`.
    pub fn new(key: &FleetKey) -> Self {
        Self {
            key: key.clone(),
            keys: Mutex::new(None),
        }
    }

    /// The epoch of `time`; 0 before 1970.
    fn epoch_at(time: SystemTime) -> u64 {
        time.duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() / Self::ROTATION.as_secs())
    }

    fn keys(&self, epoch: u64) -> Arc<EpochKeys> {
        // A panic elsewhere while holding the lock leaves a whole `Option`: still usable.
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        match &*keys {
            Some(k) if k.epoch == epoch => k.clone(),
            _ => {
                let k = Arc::new(EpochKeys::new(&self.key, epoch));
                *keys = Some(k.clone());
                k
            }
        }
    }

    /// Seals `plain` with the key of `epoch`.
    fn seal(&self, epoch: u64, plain: &[u8]) -> Option<Vec<u8>> {
        let keys = self.keys(epoch);
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let start = NAME_LEN + NONCE_LEN;
        let mut ticket = Vec::with_capacity(start + plain.len() + TAG_LEN);
        ticket.extend_from_slice(&keys.seal.name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(plain);
        keys.seal
            .key
            .seal(nonce, &keys.seal.name, &mut ticket, start)?;
        Some(ticket)
    }

    /// Opens `ticket` with a key accepted in `epoch`; `None` for anything else.
    fn open(&self, epoch: u64, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() < NAME_LEN + NONCE_LEN + TAG_LEN {
            return None;
        }
        let (name, rest) = ticket.split_at(NAME_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let keys = self.keys(epoch);
        let opener = keys.opener(name)?;
        let mut plain = sealed.to_vec();
        let len = opener.key.open(nonce, name, &mut plain)?;
        plain.truncate(len);
        Some(plain)
    }
}

impl ProducesTickets for FleetTickets {
    fn enabled(&self) -> bool {
        true
    }

    /// [`ROTATION`](Self::ROTATION) in seconds: a ticket is accepted at least that long.
    fn lifetime(&self) -> u32 {
        // 43,200: fits.
        Self::ROTATION.as_secs() as u32
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.seal(Self::epoch_at(SystemTime::now()), plain)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        self.open(Self::epoch_at(SystemTime::now()), ticket)
    }
}

impl fmt::Debug for FleetTickets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetTickets")
            .field("key", &self.key)
            .field("rotation", &Self::ROTATION)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: u64 = 40_000;
    const SESSION: &[u8] = b"a resumable session, encoded by rustls";

    fn key(byte: u8) -> FleetKey {
        FleetKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn another_instance_with_the_same_key_opens_the_ticket() {
        let a = FleetTickets::new(&key(1));
        let b = FleetTickets::new(&key(1));
        let t = a.seal(E, SESSION).unwrap();
        assert_eq!(t.len(), NAME_LEN + NONCE_LEN + SESSION.len() + TAG_LEN);
        assert_eq!(b.open(E, &t).as_deref(), Some(SESSION));
        // Random nonces: the same session gives another ticket.
        assert_ne!(a.seal(E, SESSION).unwrap(), t);
        assert!(a.enabled());
        assert_eq!(a.lifetime(), 12 * 60 * 60);
        // Through the trait, at the real time.
        let now = a.encrypt(SESSION).unwrap();
        assert_eq!(b.decrypt(&now).as_deref(), Some(SESSION));
        assert_eq!(
            b.encrypt(b"").and_then(|t| a.decrypt(&t)).as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn a_ticket_opens_in_its_epoch_and_the_next_not_later() {
        let a = FleetTickets::new(&key(1));
        let b = FleetTickets::new(&key(1));
        let t = a.seal(E, SESSION).unwrap();
        assert_eq!(b.open(E + 1, &t).as_deref(), Some(SESSION));
        assert_eq!(b.open(E + 2, &t), None);
        assert_eq!(b.open(E + 1000, &t), None);
        // An instance whose clock is still in the epoch before opens it too; not two before.
        assert_eq!(b.open(E - 1, &t).as_deref(), Some(SESSION));
        assert_eq!(b.open(E - 2, &t), None);
        // Back in its epoch, after the cache moved on.
        assert_eq!(b.open(E, &t).as_deref(), Some(SESSION));
        // The key changes with the epoch: a ticket names its epoch's key.
        assert_ne!(a.seal(E + 1, SESSION).unwrap()[..NAME_LEN], t[..NAME_LEN]);
        // Epoch 0 has no epoch before it.
        let zero = a.seal(0, SESSION).unwrap();
        assert_eq!(b.open(0, &zero).as_deref(), Some(SESSION));
        assert_eq!(b.open(1, &zero).as_deref(), Some(SESSION));
        assert_eq!(
            b.open(u64::MAX, &a.seal(u64::MAX, SESSION).unwrap())
                .as_deref(),
            Some(SESSION)
        );
    }

    #[test]
    fn a_ticket_of_another_secret_is_not_opened() {
        let t = FleetTickets::new(&key(1)).seal(E, SESSION).unwrap();
        let other = FleetTickets::new(&key(2));
        for epoch in [E - 1, E, E + 1] {
            assert_eq!(other.open(epoch, &t), None);
        }
        // A forged name of the right epoch: the AEAD still refuses it.
        let mut forged = other.seal(E, SESSION).unwrap();
        forged[..NAME_LEN].copy_from_slice(&t[..NAME_LEN]);
        assert_eq!(FleetTickets::new(&key(1)).open(E, &forged), None);
    }

    #[test]
    fn the_previous_secret_opens_for_two_epochs_but_does_not_seal() {
        let old = FleetTickets::new(&key(1));
        let rotated = FleetTickets::new(&key(2).with_previous(key(1)));
        let t = old.seal(E, SESSION).unwrap();
        assert_eq!(rotated.open(E, &t).as_deref(), Some(SESSION));
        assert_eq!(rotated.open(E + 1, &t).as_deref(), Some(SESSION));
        assert_eq!(rotated.open(E + 2, &t), None);
        // Without the previous secret, the old ticket is a full handshake.
        assert_eq!(FleetTickets::new(&key(2)).open(E, &t), None);
        // New tickets are the new secret's: instances not yet rotated do not open them, the
        // rotated ones do.
        let new = rotated.seal(E, SESSION).unwrap();
        assert_eq!(old.open(E, &new), None);
        assert_eq!(
            FleetTickets::new(&key(2)).open(E, &new).as_deref(),
            Some(SESSION)
        );
    }

    #[test]
    fn cut_or_changed_tickets_are_none_never_a_panic() {
        let a = FleetTickets::new(&key(1));
        let t = a.seal(E, SESSION).unwrap();
        for len in 0..t.len() {
            assert_eq!(a.open(E, &t[..len]), None, "cut to {len}");
        }
        for i in 0..t.len() {
            let mut changed = t.clone();
            changed[i] ^= 0x40;
            assert_eq!(a.open(E, &changed), None, "byte {i} changed");
        }
        let mut longer = t.clone();
        longer.push(0);
        assert_eq!(a.open(E, &longer), None);
        assert_eq!(a.decrypt(&[0xff; 4096]), None);
        assert_eq!(
            a.open(E, &a.seal(E, b"").unwrap()).as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn debug_shows_the_key_id_not_the_keys() {
        let debug = format!("{:?}", FleetTickets::new(&key(3)));
        assert!(
            debug.starts_with("FleetTickets { key: FleetKey { id: "),
            "{debug}"
        );
        assert!(debug.contains("rotation: 43200s"), "{debug}");
    }
}
