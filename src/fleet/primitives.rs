//! The few primitives the fleet module uses, from the crypto library of twinport's provider:
//! aws-lc-rs with the `aws-lc-rs` feature, else ring. Their `hkdf`, `aead` and `rand` modules
//! have the same API.

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs as p;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use ring as p;

use p::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use p::hkdf;
use p::rand::{SecureRandom, SystemRandom};

/// The length of a derived key, of an AEAD key and of HKDF-SHA256's output.
pub(super) const KEY_LEN: usize = 32;
/// The AEAD nonce length.
pub(super) const NONCE_LEN: usize = 12;
/// The AEAD tag length.
pub(super) const TAG_LEN: usize = 16;

/// HKDF-SHA256 (RFC 5869): Extract `secret` with `salt`, then Expand with the concatenation of
/// `info` to 32 bytes.
pub(super) fn hkdf_sha256(salt: &[u8], secret: &[u8], info: &[&[u8]]) -> [u8; KEY_LEN] {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(secret);
    let mut out = [0u8; KEY_LEN];
    // HKDF_SHA256 as the length asks for 32 bytes, far under HKDF's limit (255 * 32), and
    // `out` has exactly that length: neither call can fail.
    prk.expand(info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA256 expands to 32 bytes");
    out
}

/// Fills `buf` from the system's secure random generator.
pub(super) fn random(buf: &mut [u8]) -> Option<()> {
    SystemRandom::new().fill(buf).ok()
}

/// A ChaCha20-Poly1305 key.
pub(super) struct AeadKey(LessSafeKey);

impl AeadKey {
    pub(super) fn new(key: &[u8; KEY_LEN]) -> Self {
        // ChaCha20-Poly1305 keys are 32 bytes, as `key` is: this cannot fail.
        let key = UnboundKey::new(&aead::CHACHA20_POLY1305, key)
            .expect("a ChaCha20-Poly1305 key is 32 bytes");
        Self(LessSafeKey::new(key))
    }

    /// Encrypts `out[start..]` in place with `aad` and appends the tag to `out`.
    pub(super) fn seal(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        out: &mut Vec<u8>,
        start: usize,
    ) -> Option<()> {
        let nonce = Nonce::assume_unique_for_key(nonce);
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce, Aad::from(aad), out.get_mut(start..)?)
            .ok()?;
        out.extend_from_slice(tag.as_ref());
        Some(())
    }

    /// Checks and decrypts `in_out` (ciphertext and tag) in place; the plaintext's length, or
    /// `None` when it is not authentic.
    pub(super) fn open(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Option<usize> {
        let nonce = Nonce::assume_unique_for_key(nonce);
        self.0
            .open_in_place(nonce, Aad::from(aad), in_out)
            .ok()
            .map(|plain| plain.len())
    }
}
