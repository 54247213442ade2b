//! Roles and API token secrets.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do; each role includes the ones before it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    /// What a configured user is when config does not say.
    #[default]
    Responder,
    Manager,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub const ALL: [Role; 4] = [Role::Viewer, Role::Responder, Role::Manager, Role::Admin];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "viewer" => Role::Viewer,
            "responder" => Role::Responder,
            "manager" => Role::Manager,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    /// Whether this role may perform something that needs `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

/// Prefix that makes leaked tokens easy to find with secret scanners.
pub const TOKEN_PREFIX: &str = "tcs_";

/// Renders 32 random bytes (supplied by the caller) as a token secret.
pub fn format_token(random: &[u8; 32]) -> String {
    format!("{TOKEN_PREFIX}{}", hex::encode(random))
}

/// The stored form of a secret (API token or integration key): SHA-256 hex.
/// Secrets are high-entropy random strings, so a fast hash is sufficient and
/// keeps per-request lookup cheap.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Responder));
        assert!(Role::Responder.allows(Role::Responder));
        assert!(!Role::Viewer.allows(Role::Responder));
    }

    #[test]
    fn tokens_are_prefixed_and_hash_differs() {
        let t = format_token(&[7; 32]);
        assert!(t.starts_with("tcs_"));
        assert_eq!(t.len(), 4 + 64);
        assert_ne!(hash_secret(&t), t);
        assert_eq!(hash_secret(&t).len(), 64);
    }
}
