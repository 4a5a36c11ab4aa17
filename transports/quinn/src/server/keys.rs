//! The endpoint's keys made from a fleet key: the stateless-reset key of each (server ID,
//! worker), and the key of Retry and NEW_TOKEN tokens, which every instance of the fleet
//! shares. quinn's traits are implemented here for twinport's own types, so they do not
//! depend on which crypto features quinn was built with.

use std::sync::Arc;

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs as provider;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use ring as provider;

use provider::{aead, hkdf, hmac};
use quinn_proto::crypto::{AeadKey, CryptoError, HandshakeTokenKey, HmacKey};
use twinport::fleet::FleetKey;

/// The label of the stateless-reset keys; the context is the server ID, worker byte included.
const RESET_LABEL: &str = "twinport quic stateless reset";
/// The label of the token key (Retry and NEW_TOKEN), one for the fleet.
const TOKEN_LABEL: &str = "twinport quic token";

/// The stateless-reset key of the worker whose server ID is `server_id`.
pub(super) fn reset_key(fleet: &FleetKey, server_id: &[u8]) -> Arc<dyn HmacKey> {
    Arc::new(ResetKey(hmac::Key::new(
        hmac::HMAC_SHA256,
        &fleet.derive(RESET_LABEL, server_id),
    )))
}

/// The fleet's token key.
pub(super) fn token_key(fleet: &FleetKey) -> Arc<dyn HandshakeTokenKey> {
    let secret = fleet.derive(TOKEN_LABEL, b"");
    Arc::new(TokenKey(
        hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(&secret),
    ))
}

struct ResetKey(hmac::Key);

impl HmacKey for ResetKey {
    fn sign(&self, data: &[u8], signature_out: &mut [u8]) {
        let tag = hmac::sign(&self.0, data);
        let tag = tag.as_ref();
        let n = signature_out.len().min(tag.len());
        signature_out[..n].copy_from_slice(&tag[..n]);
    }

    fn signature_len(&self) -> usize {
        32
    }

    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        hmac::verify(&self.0, data, signature).map_err(|_| CryptoError)
    }
}

struct TokenKey(hkdf::Prk);

/// The length of the key one token is sealed with.
struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        32
    }
}

impl HandshakeTokenKey for TokenKey {
    fn aead_from_hkdf(&self, random_bytes: &[u8]) -> Box<dyn AeadKey> {
        // Each token has its own random bytes, hence its own key, used once.
        let mut key = [0u8; 32];
        let info = [random_bytes];
        let filled = self
            .0
            .expand(&info, KeyLen)
            .and_then(|okm| okm.fill(&mut key));
        let sealing = filled
            .ok()
            .and_then(|()| aead::UnboundKey::new(&aead::AES_256_GCM, &key).ok())
            .map(aead::LessSafeKey::new);
        Box::new(TokenSeal(sealing))
    }
}

/// One token's key; `None` if it could not be made (then nothing seals or opens).
struct TokenSeal(Option<aead::LessSafeKey>);

impl AeadKey for TokenSeal {
    fn seal(&self, data: &mut Vec<u8>, additional_data: &[u8]) -> Result<(), CryptoError> {
        let key = self.0.as_ref().ok_or(CryptoError)?;
        let nonce = aead::Nonce::assume_unique_for_key([0u8; 12]);
        key.seal_in_place_append_tag(nonce, aead::Aad::from(additional_data), data)
            .map_err(|_| CryptoError)
    }

    fn open<'a>(
        &self,
        data: &'a mut [u8],
        additional_data: &[u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        let key = self.0.as_ref().ok_or(CryptoError)?;
        let nonce = aead::Nonce::assume_unique_for_key([0u8; 12]);
        key.open_in_place(nonce, aead::Aad::from(additional_data), data)
            .map_err(|_| CryptoError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(byte: u8) -> FleetKey {
        FleetKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn reset_keys_differ_by_server_id_and_fleet() {
        let sign = |key: &Arc<dyn HmacKey>| {
            let mut out = [0u8; 32];
            key.sign(b"a connection id", &mut out);
            out
        };
        let a = sign(&reset_key(&fleet(1), &[1, 0]));
        assert_eq!(a, sign(&reset_key(&fleet(1), &[1, 0])));
        assert_ne!(a, sign(&reset_key(&fleet(1), &[1, 1])));
        assert_ne!(a, sign(&reset_key(&fleet(2), &[1, 0])));
    }

    #[test]
    fn a_token_sealed_by_one_instance_opens_on_another_of_the_fleet_only() {
        let random = [7u8; 32];
        let mut token = b"an address".to_vec();
        token_key(&fleet(1))
            .aead_from_hkdf(&random)
            .seal(&mut token, b"aad")
            .unwrap();
        let mut copy = token.clone();
        let opened = token_key(&fleet(1))
            .aead_from_hkdf(&random)
            .open(&mut copy, b"aad")
            .unwrap();
        assert_eq!(opened, b"an address");
        let mut copy = token.clone();
        assert!(token_key(&fleet(2))
            .aead_from_hkdf(&random)
            .open(&mut copy, b"aad")
            .is_err());
    }
}
