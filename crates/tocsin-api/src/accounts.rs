//! Logging in: passwords, invitations and one's own login sessions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /users/{id}/password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PasswordRequest {
    /// 10 to 256 bytes (UTF-8), not the username.
    #[schema(min_length = 10, max_length = 256)]
    pub password: String,
}

impl std::fmt::Debug for PasswordRequest {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRequest").field("password", &"<redacted>").finish()
    }
}

/// A one-time link with which a user sets their password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    /// Whom it is for.
    pub user: String,
    /// `{public_url}/invite/{token}`: shown this once.
    pub url: String,
    /// 24 hours after it was created; a newer invitation for the same user
    /// replaces it sooner.
    pub expires_at: DateTime<Utc>,
}

/// A login session (a browser), never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: i64,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    /// Recorded at most once a minute.
    pub last_seen_at: DateTime<Utc>,
    /// When it ends unless used before.
    pub idle_expires_at: DateTime<Utc>,
    /// When it ends however much it is used.
    pub expires_at: DateTime<Utc>,
    /// The address it logged in from.
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session asking (always false through the API,
    /// which is called with tokens).
    pub current: bool,
}
