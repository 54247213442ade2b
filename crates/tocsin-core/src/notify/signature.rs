//! Signatures on outgoing webhooks, so a receiver can check that a request
//! came from this Tocsin and is not a replay.
//!
//! # Wire format
//!
//! Each webhook carries one header:
//!
//! ```text
//! Tocsin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//! ```
//!
//! where the MAC is keyed with the contact method's secret and computed over
//! the bytes `"<unix seconds>.<raw request body>"`. This mirrors the scheme
//! of Stripe's and Slack's webhooks, so receivers can reuse their code: bind
//! the timestamp into the MAC, reject requests whose timestamp is outside a
//! tolerance (replays), and compare in constant time.
//!
//! Verification ignores entries with unknown keys and accepts the request if
//! any `v1` entry matches, so a sender may list two signatures while a secret
//! is being rotated, and a later `v2` can be added without breaking anyone.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::Mac;
use thiserror::Error;

use super::mac::{HmacSha256, TAG_LEN, keyed};

/// Name of the header that carries [`header_value`].
pub const HEADER: &str = "Tocsin-Signature";

/// The tolerance receivers should use unless they have a reason not to: five
/// minutes absorbs clock skew and retries in flight while keeping the replay
/// window short.
pub const DEFAULT_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Why a signature header was rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The header is not `t=<int>,v1=<64 hex digits>[,...]`.
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    /// No `v1` entry is the MAC of this body and timestamp under this secret.
    #[error("signature does not match the body")]
    Mismatch,
    /// The signature is valid but its timestamp is too far from now.
    #[error("signature timestamp {timestamp} is outside the allowed tolerance")]
    OutsideTolerance { timestamp: i64 },
}

/// The hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(signed_content(secret, timestamp, body).finalize().into_bytes())
}

/// The full header value, `t=<timestamp>,v1=<sign(...)>`.
pub fn header_value(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Checks `header_value` against `body`: some `v1` entry must be the MAC
/// (compared in constant time) and `t` must be within `tolerance` of `now`
/// in either direction. A negative tolerance counts as zero.
///
/// Never panics, whatever the header contains.
pub fn verify(
    secret: &[u8],
    header_value: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: TimeDelta,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header_value)?;
    let mac = signed_content(secret, parsed.timestamp, body);
    // Clone the keyed, fed state per candidate: each comparison then costs a
    // finalisation, not another pass over the body.
    if !parsed.candidates.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()) {
        return Err(SignatureError::Mismatch);
    }
    let skew = now.timestamp().abs_diff(parsed.timestamp);
    let allowed = u64::try_from(tolerance.num_seconds()).unwrap_or(0);
    if skew > allowed {
        return Err(SignatureError::OutsideTolerance { timestamp: parsed.timestamp });
    }
    Ok(())
}

struct Parsed {
    timestamp: i64,
    candidates: Vec<Vec<u8>>,
}

fn parse_header(value: &str) -> Result<Parsed, SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for entry in value.split(',') {
        let (key, val) = entry.trim().split_once('=').ok_or(SignatureError::Malformed("entry without '='"))?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("more than one t"));
                }
                let t = val.parse::<i64>().map_err(|_| SignatureError::Malformed("t is not an integer"))?;
                timestamp = Some(t);
            }
            "v1" => {
                let tag = hex::decode(val).map_err(|_| SignatureError::Malformed("v1 is not hex"))?;
                if tag.len() != TAG_LEN {
                    return Err(SignatureError::Malformed("v1 is not 64 hex digits"));
                }
                candidates.push(tag);
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("missing t"))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("missing v1"));
    }
    Ok(Parsed { timestamp, candidates })
}

fn signed_content(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"whsec_test";
    const BODY: &[u8] = br#"{"a":1}"#;
    const T: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).single().unwrap()
    }

    // Python 3:
    //   hmac.new(b"whsec_test", b'1767225600.{"a":1}', hashlib.sha256).hexdigest()
    const EXPECTED: &str = "6d204545ff126a339c00513d93603299c984074ce1331c3537c3f6c976b49019";

    #[test]
    fn sign_matches_an_independent_implementation() {
        assert_eq!(sign(SECRET, T, BODY), EXPECTED);
        assert_eq!(header_value(SECRET, T, BODY), format!("t=1767225600,v1={EXPECTED}"));
    }

    #[test]
    fn verify_accepts_a_fresh_signature() {
        let h = header_value(SECRET, T, BODY);
        assert_eq!(verify(SECRET, &h, BODY, at(T), DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify(SECRET, &h, BODY, at(T + 300), DEFAULT_TOLERANCE), Ok(()));
        assert_eq!(verify(SECRET, &h, BODY, at(T - 300), DEFAULT_TOLERANCE), Ok(()));
    }

    #[test]
    fn verify_rejects_replays_outside_the_tolerance() {
        let h = header_value(SECRET, T, BODY);
        assert_eq!(
            verify(SECRET, &h, BODY, at(T + 301), DEFAULT_TOLERANCE),
            Err(SignatureError::OutsideTolerance { timestamp: T })
        );
        assert_eq!(
            verify(SECRET, &h, BODY, at(T - 301), DEFAULT_TOLERANCE),
            Err(SignatureError::OutsideTolerance { timestamp: T })
        );
        assert_eq!(
            verify(SECRET, &h, BODY, at(T + 1), TimeDelta::seconds(-5)),
            Err(SignatureError::OutsideTolerance { timestamp: T })
        );
    }

    #[test]
    fn verify_rejects_a_changed_body_secret_or_timestamp() {
        let h = header_value(SECRET, T, BODY);
        assert_eq!(verify(SECRET, &h, br#"{"a":2}"#, at(T), DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", &h, BODY, at(T), DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
        let moved = format!("t={},v1={EXPECTED}", T + 1);
        assert_eq!(verify(SECRET, &moved, BODY, at(T), DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
    }

    #[test]
    fn any_v1_may_match_and_unknown_entries_are_ignored() {
        let other = sign(b"old secret", T, BODY);
        let h = format!("t={T},v1={other},v0=zz,v1={EXPECTED}");
        assert_eq!(verify(SECRET, &h, BODY, at(T), DEFAULT_TOLERANCE), Ok(()));
        let spaced = format!("t={T}, v1={EXPECTED}");
        assert_eq!(verify(SECRET, &spaced, BODY, at(T), DEFAULT_TOLERANCE), Ok(()));
    }

    #[test]
    fn malformed_headers_are_named() {
        let cases = [
            ("", "entry without '='"),
            (&format!("v1={EXPECTED}") as &str, "missing t"),
            ("t=1767225600", "missing v1"),
            ("t=abc,v1=00", "t is not an integer"),
            ("t=1,t=2,v1=00", "more than one t"),
            ("t=1,v1=xyz", "v1 is not hex"),
            ("t=1,v1=abcd", "v1 is not 64 hex digits"),
        ];
        for (header, why) in cases {
            assert_eq!(
                verify(SECRET, header, BODY, at(T), DEFAULT_TOLERANCE),
                Err(SignatureError::Malformed(why)),
                "{header}"
            );
        }
    }

    proptest! {
        #[test]
        fn verify_of_sign_is_ok(
            secret in proptest::collection::vec(any::<u8>(), 0..100),
            body in proptest::collection::vec(any::<u8>(), 0..300),
            t in -1_000_000_000_000i64..1_000_000_000_000,
        ) {
            let h = header_value(&secret, t, &body);
            prop_assert_eq!(verify(&secret, &h, &body, at(t), DEFAULT_TOLERANCE), Ok(()));
        }

        #[test]
        fn flipping_any_body_bit_is_a_mismatch(
            body in proptest::collection::vec(any::<u8>(), 1..200),
            pos in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let h = header_value(SECRET, T, &body);
            let mut tampered = body.clone();
            if let Some(b) = tampered.get_mut(pos.index(body.len())) {
                *b ^= 1 << bit;
            }
            prop_assert_eq!(verify(SECRET, &h, &tampered, at(T), DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
        }

        #[test]
        fn flipping_any_signature_digit_is_rejected(pos in 0usize..64) {
            let good = sign(SECRET, T, BODY);
            let bad: String = good
                .chars()
                .enumerate()
                .map(|(i, c)| if i == pos { if c == '0' { '1' } else { '0' } } else { c })
                .collect();
            let h = format!("t={T},v1={bad}");
            prop_assert_eq!(verify(SECRET, &h, BODY, at(T), DEFAULT_TOLERANCE), Err(SignatureError::Mismatch));
        }

        #[test]
        fn arbitrary_headers_never_panic(header in ".*", body in proptest::collection::vec(any::<u8>(), 0..50)) {
            let _ = verify(SECRET, &header, &body, at(T), DEFAULT_TOLERANCE);
        }

        #[test]
        fn header_shaped_noise_never_panics(header in "(t|v1|v0|x)=[-0-9a-fA-F]{0,70}(,(t|v1)=[-0-9a-f]{0,70}){0,3}") {
            let _ = verify(SECRET, &header, BODY, at(T), DEFAULT_TOLERANCE);
        }
    }
}
