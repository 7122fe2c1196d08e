//! Secrets at rest and secrets we hand out.
//!
//! - Bot tokens are sealed with XChaCha20-Poly1305 under `GATEHOUSE_ENCRYPTION_KEY`
//!   (a random 24-byte nonce per seal, stored as `nonce || ciphertext`).
//! - API keys and webhook secrets are random, shown or sent once, and stored as
//!   SHA-256 digests; checks compare digests in constant time.

use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

/// A sealed value could not be opened (wrong key, or tampered).
#[derive(Debug, thiserror::Error)]
#[error("the sealed value cannot be opened with GATEHOUSE_ENCRYPTION_KEY (wrong key or damaged data)")]
pub struct OpenError;

/// Seals `plaintext` under `key`.
pub fn seal(key: &Secret<[u8; 32]>, plaintext: &str) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext =
        cipher.encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes()).expect("encrypting in memory cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    out
}

/// Opens a value sealed by [`seal`].
pub fn open(key: &Secret<[u8; 32]>, sealed: &[u8]) -> Result<Secret<String>, OpenError> {
    if sealed.len() < 24 {
        return Err(OpenError);
    }
    let (nonce, ciphertext) = sealed.split_at(24);
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let plaintext = cipher.decrypt(XNonce::from_slice(nonce), ciphertext).map_err(|_| OpenError)?;
    String::from_utf8(plaintext).map(Secret::new).map_err(|_| OpenError)
}

/// A new random secret: `bytes` random bytes, URL-safe base64 without padding.
pub fn random_secret(bytes: usize) -> Secret<String> {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// SHA-256 of a secret, as stored.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `given` hashes to `stored`, compared in constant time.
pub fn matches_digest(given: &[u8], stored: &[u8]) -> bool {
    let digest = Sha256::digest(given);
    digest.as_slice().ct_eq(stored).into()
}

/// Compares two secrets in constant time (for the admin token).
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    // Hash first so that lengths do not leak either.
    Sha256::digest(a).ct_eq(&Sha256::digest(b)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Secret<[u8; 32]> {
        Secret::new([byte; 32])
    }

    #[test]
    fn a_sealed_token_opens_with_its_key_only() {
        let sealed = seal(&key(1), "123456:AAE-token");
        assert!(!sealed.windows(6).any(|w| w == b"123456"), "the token is not stored in clear");
        assert_eq!(open(&key(1), &sealed).unwrap().expose(), "123456:AAE-token");
        assert!(open(&key(2), &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open(&key(1), &tampered).is_err());
    }

    #[test]
    fn two_seals_of_one_token_differ() {
        assert_ne!(seal(&key(1), "t"), seal(&key(1), "t"));
    }

    #[test]
    fn digests_match_in_constant_time() {
        let stored = digest("s3cret");
        assert!(matches_digest(b"s3cret", &stored));
        assert!(!matches_digest(b"s3creT", &stored));
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
