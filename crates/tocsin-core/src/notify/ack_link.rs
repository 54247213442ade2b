//! One-click acknowledgement tokens: a page carries a link that acknowledges
//! one incident as one user without logging in, in the paging episode the
//! page belongs to, until it expires.
//!
//! # Wire format (version 2)
//!
//! ```text
//! v2.<incident id>.<hex(user id UTF-8)>.<episode>.<expiry unix seconds>.<hex HMAC-SHA256>
//! e.g. v2.42.616c696365.3.1767229200.e648…(64 hex digits)
//! ```
//!
//! The episode is the escalation's `episode` when the page was sent; it grows
//! whenever paging stops (acknowledged, resolved), so a link from before a
//! re-trigger names an earlier episode and the application layer refuses it
//! as out of date. The key is the server's `ack_link` secret: rotating it
//! refuses every link issued before. Version 1 tokens (no version prefix, no
//! episode) are malformed to this parser and so refused like any other bad
//! link.
//!
//! Every part uses only `[0-9a-f.-]`, so the token is safe in a URL path or
//! query without escaping and has no padding to lose. The user id is hex
//! rather than base64url because `hex` is already a dependency and hex has
//! exactly one spelling per value. The MAC covers the literal text before the
//! last `.`, prefixed by a fixed context string, so any change to any
//! character (including a different spelling of the same value) is rejected,
//! and a token cannot be confused with a MAC made for another purpose under
//! the same secret.
//!
//! The token is bound to its incident: the handler passes the incident id
//! from the URL path, and a token for another incident is rejected even if
//! its MAC is valid. Expiry has one-second resolution. Whether the user
//! still exists and the episode is still current are not this module's to
//! know; the application layer checks both.

use chrono::{DateTime, Utc};
use hmac::Mac;
use thiserror::Error;

use super::mac::{HmacSha256, TAG_LEN, keyed};

/// Domain separation for the MAC input; bump the version with the format.
const CONTEXT: &[u8] = b"tocsin ack link v2\n";
/// The first field of every token of this format.
const VERSION: &str = "v2";

/// Longest token [`verify`] looks at. Real tokens are about 100 characters
/// (user ids are short slugs); the cap bounds the work an anonymous request
/// can cause.
pub const MAX_TOKEN_LEN: usize = 1024;

/// What a valid token grants: acknowledging `incident_id` as `user_id`
/// while its paging is still in `episode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckClaim {
    pub incident_id: i64,
    pub user_id: String,
    pub episode: i64,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was rejected. Handlers should answer all of these the same
/// way to the anonymous caller; the variants exist for logs and tests.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AckLinkError {
    /// Not shaped like a token at all.
    #[error("malformed acknowledgement token")]
    Malformed,
    /// Well-formed, but the MAC does not match: altered or forged.
    #[error("acknowledgement token signature is invalid")]
    Tampered,
    /// Valid, but issued for a different incident than the one in the path.
    #[error("acknowledgement token is for incident {token}, not {path}")]
    WrongIncident { token: i64, path: i64 },
    /// Valid, but past its expiry.
    #[error("acknowledgement token expired at {expired_at}")]
    Expired { expired_at: DateTime<Utc> },
}

/// Issues a token letting `user_id` acknowledge `incident_id` while its
/// paging is in `episode`, until `expires_at` (truncated to whole seconds).
pub fn issue(secret: &[u8], incident_id: i64, user_id: &str, episode: i64, expires_at: DateTime<Utc>) -> String {
    let payload = format!("{VERSION}.{incident_id}.{}.{episode}.{}", hex::encode(user_id), expires_at.timestamp());
    let tag = hex::encode(mac(secret, &payload).finalize().into_bytes());
    format!("{payload}.{tag}")
}

/// Checks `token` for the incident named in the request path at `now`.
///
/// The checks run in this order: shape ([`AckLinkError::Malformed`]), MAC
/// (constant-time; [`AckLinkError::Tampered`]), incident, expiry (a token is
/// expired from `expires_at` on). Claims are only looked at after the MAC
/// has vouched for them. Never panics, whatever the string.
pub fn verify(
    secret: &[u8],
    token: &str,
    incident_id_from_path: i64,
    now: DateTime<Utc>,
) -> Result<AckClaim, AckLinkError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AckLinkError::Malformed);
    }
    let (payload, tag_hex) = token.rsplit_once('.').ok_or(AckLinkError::Malformed)?;
    let tag = hex::decode(tag_hex).map_err(|_| AckLinkError::Malformed)?;
    if tag.len() != TAG_LEN {
        return Err(AckLinkError::Malformed);
    }
    let claim = parse_payload(payload)?;
    mac(secret, payload).verify_slice(&tag).map_err(|_| AckLinkError::Tampered)?;
    if claim.incident_id != incident_id_from_path {
        return Err(AckLinkError::WrongIncident { token: claim.incident_id, path: incident_id_from_path });
    }
    if now >= claim.expires_at {
        return Err(AckLinkError::Expired { expired_at: claim.expires_at });
    }
    Ok(claim)
}

fn parse_payload(payload: &str) -> Result<AckClaim, AckLinkError> {
    let parts: Vec<&str> = payload.split('.').collect();
    let [VERSION, incident, user_hex, episode, expiry] = parts[..] else {
        return Err(AckLinkError::Malformed);
    };
    let incident_id = incident.parse::<i64>().map_err(|_| AckLinkError::Malformed)?;
    let user_bytes = hex::decode(user_hex).map_err(|_| AckLinkError::Malformed)?;
    let user_id = String::from_utf8(user_bytes).map_err(|_| AckLinkError::Malformed)?;
    let episode = episode.parse::<i64>().map_err(|_| AckLinkError::Malformed)?;
    let expiry = expiry.parse::<i64>().map_err(|_| AckLinkError::Malformed)?;
    let expires_at = DateTime::from_timestamp(expiry, 0).ok_or(AckLinkError::Malformed)?;
    Ok(AckClaim { incident_id, user_id, episode, expires_at })
}

fn mac(secret: &[u8], payload: &str) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(CONTEXT);
    mac.update(payload.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    const SECRET: &[u8] = b"ack-secret";

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).single().unwrap()
    }

    const EXP: i64 = 1_767_229_200; // 2026-01-01T01:00:00Z

    // Python 3:
    //   hmac.new(b"ack-secret", b"tocsin ack link v2\nv2.42.616c696365.3.1767229200",
    //            hashlib.sha256).hexdigest()
    const TOKEN: &str =
        "v2.42.616c696365.3.1767229200.e6484ffb4f8e0cb3238498979cc8273a5b7e6607612098a99720115d8a92cde4";
    /// The same claim in version 1, as links sent before carried it.
    const V1_TOKEN: &str = "42.616c696365.1767229200.9d2535c7475f2fa4266906d976a41122d0bde2350722789d0e49bb2442a65490";

    #[test]
    fn issue_matches_an_independent_implementation() {
        assert_eq!(issue(SECRET, 42, "alice", 3, at(EXP)), TOKEN);
    }

    #[test]
    fn round_trip_before_expiry() {
        let claim = verify(SECRET, TOKEN, 42, at(EXP - 1)).unwrap();
        assert_eq!(claim, AckClaim { incident_id: 42, user_id: "alice".into(), episode: 3, expires_at: at(EXP) });
    }

    #[test]
    fn expiry_is_exclusive_and_subsecond_expiry_truncates() {
        assert_eq!(verify(SECRET, TOKEN, 42, at(EXP)), Err(AckLinkError::Expired { expired_at: at(EXP) }));
        let t = issue(SECRET, 42, "alice", 3, at(EXP) + TimeDelta::milliseconds(999));
        assert_eq!(t, TOKEN);
    }

    #[test]
    fn rejects_another_incident_even_with_a_valid_mac() {
        assert_eq!(verify(SECRET, TOKEN, 43, at(EXP - 1)), Err(AckLinkError::WrongIncident { token: 42, path: 43 }));
    }

    #[test]
    fn rejects_edits_to_any_claim() {
        let tag = TOKEN.rsplit_once('.').unwrap().1;
        for forged in [
            format!("v2.43.616c696365.3.1767229200.{tag}"),  // other incident
            format!("v2.42.626f62.3.1767229200.{tag}"),      // user "bob"
            format!("v2.42.616c696365.4.1767229200.{tag}"),  // a later episode
            format!("v2.42.616c696365.3.1867229200.{tag}"),  // later expiry
            format!("v2.42.616C696365.3.1767229200.{tag}"),  // same user, other spelling
            format!("v2.+42.616c696365.3.1767229200.{tag}"), // same incident, other spelling
            format!("v2.42.616c696365.03.1767229200.{tag}"), // same episode, other spelling
        ] {
            let path = forged.split('.').nth(1).unwrap().parse::<i64>().unwrap();
            assert_eq!(verify(SECRET, &forged, path, at(EXP - 10)), Err(AckLinkError::Tampered), "{forged}");
        }
        assert_eq!(verify(b"other secret", TOKEN, 42, at(EXP - 1)), Err(AckLinkError::Tampered));
    }

    #[test]
    fn rejects_malformed_tokens() {
        let tag = TOKEN.rsplit_once('.').unwrap().1;
        for bad in [
            String::new(),
            "42".into(),
            "v2.42.616c696365.3.1767229200".into(),
            V1_TOKEN.into(),
            format!("v1.42.616c696365.3.1767229200.{tag}"),
            format!("42.616c696365.3.1767229200.{tag}"),
            format!("v2.42.616c696365.3.1767229200.{}", &tag[..62]),
            format!("v2.42.616c696365.3.1767229200.{tag}00"),
            format!("v2.x.616c696365.3.1767229200.{tag}"),
            format!("v2.42.zz.3.1767229200.{tag}"),
            format!("v2.42.ff.3.1767229200.{tag}"), // not UTF-8
            format!("v2.42.616c696365.x.1767229200.{tag}"),
            format!("v2.42.616c696365.3.9999999999999999.{tag}"),
            format!("v2.42.616c696365.3.1767229200.extra.{tag}"),
            format!("{}.{tag}", "1".repeat(MAX_TOKEN_LEN)),
        ] {
            assert_eq!(verify(SECRET, &bad, 42, at(EXP - 1)), Err(AckLinkError::Malformed), "{bad}");
        }
    }

    #[test]
    fn tokens_are_url_safe_for_any_user_id() {
        let t = issue(SECRET, -7, "ü/ser id?&=#.", 0, at(EXP));
        assert!(t.chars().all(|c| c.is_ascii_hexdigit() || c == '.' || c == '-' || c == 'v'), "{t}");
        assert_eq!(verify(SECRET, &t, -7, at(0)).unwrap().user_id, "ü/ser id?&=#.");
    }

    proptest! {
        #[test]
        fn round_trip(
            incident in any::<i64>(),
            user in "\\PC{0,40}",
            episode in 0i64..i64::MAX,
            exp in 0i64..4_000_000_000,
            before in 1i64..1_000_000,
        ) {
            let t = issue(SECRET, incident, &user, episode, at(exp));
            let claim = verify(SECRET, &t, incident, at(exp - before)).unwrap();
            prop_assert_eq!(
                claim,
                AckClaim { incident_id: incident, user_id: user.clone(), episode, expires_at: at(exp) }
            );
            prop_assert_eq!(
                verify(SECRET, &t, incident, at(exp)),
                Err(AckLinkError::Expired { expired_at: at(exp) })
            );
        }

        #[test]
        fn changing_any_character_is_rejected(user in "[a-z]{1,12}", pos in any::<prop::sample::Index>(), repl in "[0-9a-f.+-]") {
            let t = issue(SECRET, 42, &user, 0, at(EXP));
            let i = pos.index(t.len());
            let repl = repl.chars().next().unwrap();
            let changed: String =
                t.chars().enumerate().map(|(j, c)| if j == i { repl } else { c }).collect();
            prop_assume!(changed != t);
            prop_assert!(verify(SECRET, &changed, 42, at(EXP - 1)).is_err());
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".*", path in any::<i64>(), now in any::<i64>()) {
            let now = DateTime::from_timestamp(now % 100_000_000_000, 0).unwrap_or_default();
            let _ = verify(SECRET, &s, path, now);
        }

        #[test]
        fn token_shaped_noise_never_panics(s in "v2\\.-?[0-9]{0,20}\\.[0-9a-fA-F]{0,20}\\.[0-9]{0,20}\\.-?[0-9]{0,20}\\.[0-9a-f]{0,70}") {
            let _ = verify(SECRET, &s, 42, at(0));
        }
    }
}
