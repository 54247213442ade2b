//! Encryption at rest for the server secrets Tocsin keeps in its database
//! (the keys that sign acknowledge links and webhooks), under a key the
//! operator keeps outside the database.
//!
//! # Stored format
//!
//! ```text
//! sealed.v1.<hex 24-byte nonce>.<hex ciphertext with its 16-byte tag>
//! ```
//!
//! XChaCha20-Poly1305 (an AEAD: a wrong key or any changed byte fails to
//! open, never yields garbage) with the secret's name in the associated data,
//! so a value copied to another name does not open either. The 24-byte nonce
//! is random; at that size random nonces never repeat in practice, whatever
//! the number of rotations. Values stored before a key was configured are
//! plain text (generated secrets are hex), which never starts with `sealed.`.
//!
//! The caller supplies the nonce (from the OS CSPRNG), so this module stays
//! pure.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Prefix of every sealed value.
const PREFIX: &str = "sealed.v1.";
/// Domain separation for the associated data; bump with the format.
const CONTEXT: &str = "tocsin server secret v1\n";
/// Bytes in a nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes in a key.
pub const KEY_LEN: usize = 32;

/// The key secrets are sealed with: 32 bytes, written as 64 hex digits
/// (`openssl rand -hex 32`). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_LEN]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

/// Why a key or a sealed value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    #[error("a secret key must be 64 hex digits (32 random bytes, e.g. from `openssl rand -hex 32`)")]
    BadKey,
    #[error("not a sealed value")]
    Malformed,
    /// The key is not the one the value was sealed with (or the value, or
    /// the name it is stored under, was changed).
    #[error("the key does not open this value")]
    WrongKey,
}

impl SecretKey {
    /// Reads 64 hex digits; surrounding whitespace (a key file's trailing
    /// newline) is ignored.
    pub fn parse(text: &str) -> Result<SecretKey, SecretBoxError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SecretBoxError::BadKey)?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SecretBoxError::BadKey)?;
        Ok(SecretKey(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

/// Whether `stored` is a sealed value rather than plain text.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

fn aad(name: &str) -> String {
    format!("{CONTEXT}{name}")
}

/// Seals `plaintext`, stored under `name`, with `key` and a fresh random
/// `nonce`. Fails only for a message longer than ChaCha20's 256 GiB
/// keystream ([`SecretBoxError::Malformed`]); secrets are a few dozen bytes.
pub fn seal(key: &SecretKey, name: &str, nonce: [u8; NONCE_LEN], plaintext: &str) -> Result<String, SecretBoxError> {
    let aad = aad(name);
    let payload = Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() };
    let sealed = key.cipher().encrypt(&XNonce::from(nonce), payload).map_err(|_| SecretBoxError::Malformed)?;
    Ok(format!("{PREFIX}{}.{}", hex::encode(nonce), hex::encode(sealed)))
}

/// Opens a value [`seal`]ed under `name` with `key`.
pub fn open(key: &SecretKey, name: &str, stored: &str) -> Result<String, SecretBoxError> {
    let rest = stored.strip_prefix(PREFIX).ok_or(SecretBoxError::Malformed)?;
    let (nonce, sealed) = rest.split_once('.').ok_or(SecretBoxError::Malformed)?;
    let nonce: [u8; NONCE_LEN] =
        hex::decode(nonce).ok().and_then(|n| n.try_into().ok()).ok_or(SecretBoxError::Malformed)?;
    let sealed = hex::decode(sealed).map_err(|_| SecretBoxError::Malformed)?;
    let aad = aad(name);
    let payload = Payload { msg: &sealed, aad: aad.as_bytes() };
    let plain = key.cipher().decrypt(&XNonce::from(nonce), payload).map_err(|_| SecretBoxError::WrongKey)?;
    String::from_utf8(plain).map_err(|_| SecretBoxError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key() -> SecretKey {
        SecretKey::parse(KEY).unwrap()
    }

    #[test]
    fn keys_are_64_hex_digits_and_never_printed() {
        assert_eq!(SecretKey::parse(&format!("  {KEY}\n")).unwrap(), key());
        for bad in ["", "00", &KEY[..62], &format!("{KEY}00"), &KEY.replace('0', "g"), "correct horse battery staple"] {
            assert_eq!(SecretKey::parse(bad), Err(SecretBoxError::BadKey), "{bad}");
        }
        assert_eq!(format!("{:?}", key()), "SecretKey(…)");
    }

    #[test]
    fn sealed_values_hide_the_secret_and_open_with_the_key() {
        let secret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let sealed = seal(&key(), "ack_link", [7; NONCE_LEN], secret).unwrap();
        assert!(is_sealed(&sealed) && !is_sealed(secret), "{sealed}");
        assert!(sealed.starts_with(&format!("sealed.v1.{}.", "07".repeat(NONCE_LEN))), "{sealed}");
        assert!(!sealed.contains(secret) && !sealed.contains(&secret[..16]), "{sealed}");
        assert_eq!(open(&key(), "ack_link", &sealed).unwrap(), secret);
        // A fresh nonce gives a different value for the same secret.
        assert_ne!(seal(&key(), "ack_link", [8; NONCE_LEN], secret).unwrap(), sealed);
    }

    #[test]
    fn a_wrong_key_a_moved_value_or_a_changed_byte_does_not_open() {
        let sealed = seal(&key(), "ack_link", [1; NONCE_LEN], "secret").unwrap();
        let other = SecretKey::parse(&"ab".repeat(KEY_LEN)).unwrap();
        assert_eq!(open(&other, "ack_link", &sealed), Err(SecretBoxError::WrongKey));
        assert_eq!(open(&key(), "webhook_signing", &sealed), Err(SecretBoxError::WrongKey));
        let last = sealed.chars().last().unwrap();
        let flipped = format!("{}{}", &sealed[..sealed.len() - 1], if last == '0' { '1' } else { '0' });
        assert_eq!(open(&key(), "ack_link", &flipped), Err(SecretBoxError::WrongKey));
        for bad in ["secret", "sealed.v1.", "sealed.v1.00.00", "sealed.v1.zz.00", "sealed.v2.00.00"] {
            assert_eq!(open(&key(), "ack_link", bad), Err(SecretBoxError::Malformed), "{bad}");
        }
    }
}
