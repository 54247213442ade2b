//! API tokens. Each acts as one user with at most that user's role; its
//! secret is shown once, when it is issued.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_core::auth::Role;
use utoipa::{IntoParams, ToSchema};

/// An API token, never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Token {
    pub id: i64,
    pub name: String,
    /// The most this token may do; its owner's role may limit it further.
    pub role: Role,
    /// The account the token acts as.
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Recorded at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token just issued, with its secret: shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    #[serde(flatten)]
    pub info: Token,
    /// The bearer secret (`tcs_…`).
    pub token: String,
}

/// `POST /tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// At most the owner's role.
    pub role: Role,
    /// Whose token (admins only); the caller's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A lifetime such as `30d` or `12h`, at most 3650 days; without it the
    /// token lasts until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
}

/// Options of `GET /tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokensQuery {
    /// Only this user's tokens. Without it: everyone's for an admin, one's
    /// own for everybody else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}
