//! HMAC-SHA256 keyed by a secret of any length, shared by webhook signatures
//! and acknowledgement links.

use hmac::digest::Key;
use hmac::{Hmac, KeyInit};
use sha2::{Digest, Sha256};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of an HMAC-SHA256 tag in bytes.
pub(crate) const TAG_LEN: usize = 32;

/// An HMAC-SHA256 instance keyed with `secret`.
///
/// `Hmac::new_from_slice` returns a `Result` although HMAC accepts every key
/// length. Rather than unwrap an error that cannot happen, the key is
/// normalised here exactly as RFC 2104 §2 prescribes (a key longer than the
/// 64-byte block is replaced by its SHA-256 digest, a shorter one is padded
/// with zeros), and the infallible block-sized constructor is used. The result
/// is the standard HMAC of `secret`; the tests check it against Python's
/// `hmac` module for short, block-sized and long keys.
pub(crate) fn keyed(secret: &[u8]) -> HmacSha256 {
    let mut key = Key::<HmacSha256>::default();
    if secret.len() > key.len() {
        let digest = Sha256::digest(secret);
        copy_prefix(&mut key, &digest);
    } else {
        copy_prefix(&mut key, secret);
    }
    HmacSha256::new(&key)
}

/// Copies `src` into the start of `dst` (zip stops at the shorter one, so no
/// index can be out of bounds).
fn copy_prefix(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;

    fn hex_mac(secret: &[u8], msg: &[u8]) -> String {
        let mut m = keyed(secret);
        m.update(msg);
        hex::encode(m.finalize().into_bytes())
    }

    // Expected values from Python 3:
    //   hmac.new(key, msg, hashlib.sha256).hexdigest()
    #[test]
    fn matches_reference_hmac_for_every_key_length() {
        // key = b"key", msg = b"The quick brown fox jumps over the lazy dog" (the Wikipedia vector)
        assert_eq!(
            hex_mac(b"key", b"The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        // key = b"", msg = b""
        assert_eq!(hex_mac(b"", b""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
        // key = b"k" * 64 (exactly one block), msg = b"tocsin"
        assert_eq!(hex_mac(&[b'k'; 64], b"tocsin"), "018d82c60e37d6c9f196771de986fd60ce29a76c0f0eb0388320bf39e7fc0614");
        // key = b"k" * 100 (longer than a block: hashed first), msg = b"tocsin"
        assert_eq!(
            hex_mac(&[b'k'; 100], b"tocsin"),
            "a16ef751b689ef548abc8059de05a1af8172415daf68cf3a8626f405da24a71b"
        );
    }
}
