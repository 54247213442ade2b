//! Browser sessions: the secret a cookie carries, the CSRF token derived
//! from it, and when a session ends by itself. The sessions themselves are
//! stored server-side (by the secret's SHA-256), so any node serves any.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// Prefix that makes a leaked session secret easy to find with scanners and
/// tells it apart from an API token (`tcs_`).
pub const SESSION_PREFIX: &str = "tcss_";
/// Prefix of one-time invitation tokens.
pub const INVITATION_PREFIX: &str = "tcsi_";

/// Renders 32 random bytes (supplied by the caller) as a session secret.
pub fn format_session_secret(random: &[u8; 32]) -> String {
    format!("{SESSION_PREFIX}{}", hex::encode(random))
}

/// Renders 32 random bytes (supplied by the caller) as an invitation token.
pub fn format_invitation_token(random: &[u8; 32]) -> String {
    format!("{INVITATION_PREFIX}{}", hex::encode(random))
}

/// Separates CSRF tokens from every other hash of the secret (the stored
/// one is its plain SHA-256).
const CSRF_DOMAIN: &str = "tocsin/csrf/v1\0";

/// The CSRF token of the session whose secret is `secret`: hex SHA-256 of a
/// domain-separated string. Stable for the session, different for every
/// other one, checkable by any node without storing anything, and telling
/// nothing about the secret.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(CSRF_DOMAIN.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// When a session ends unless ended before: `idle` after it was last seen,
/// and never later than its absolute expiry.
pub fn idle_expiry(last_seen_at: DateTime<Utc>, idle: Duration, expires_at: DateTime<Utc>) -> DateTime<Utc> {
    last_seen_at.checked_add_signed(idle).unwrap_or(expires_at).min(expires_at)
}

/// Whether a session not ended by hand is still valid at `now`: before both
/// its idle expiry and its absolute one.
pub fn is_live(last_seen_at: DateTime<Utc>, idle: Duration, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now < idle_expiry(last_seen_at, idle, expires_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn secrets_are_prefixed_hex() {
        let s = format_session_secret(&[0xab; 32]);
        assert!(s.starts_with("tcss_"));
        assert_eq!(s.len(), 5 + 64);
        assert!(s[5..].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(format_invitation_token(&[1; 32]).starts_with("tcsi_"));
    }

    #[test]
    fn csrf_tokens_are_stable_per_secret_and_not_the_stored_hash() {
        let a = format_session_secret(&[1; 32]);
        let b = format_session_secret(&[2; 32]);
        assert_eq!(csrf_token(&a), csrf_token(&a));
        assert_ne!(csrf_token(&a), csrf_token(&b));
        assert_ne!(csrf_token(&a), crate::auth::hash_secret(&a));
        assert_eq!(csrf_token(&a).len(), 64);
    }

    #[test]
    fn idle_and_absolute_expiry_end_exactly() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
        let idle = Duration::hours(1);
        let expires = t0 + Duration::hours(3);
        assert!(is_live(t0, idle, expires, t0 + Duration::minutes(59)));
        assert!(!is_live(t0, idle, expires, t0 + Duration::hours(1)), "idle expiry is exclusive");
        // Seen again: idle counts from then, but never past the absolute end.
        let seen = t0 + Duration::minutes(150);
        assert_eq!(idle_expiry(seen, idle, expires), expires);
        assert!(is_live(seen, idle, expires, expires - Duration::seconds(1)));
        assert!(!is_live(seen, idle, expires, expires));
    }
}
