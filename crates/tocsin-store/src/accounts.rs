//! Who may call Tocsin: API tokens, each acting as one user account, and
//! the per-user tokens of the calendar feeds.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tocsin_core::auth::Role;

use crate::Result;

#[async_trait]
pub trait AccountStore: Send + Sync {
    // --- API tokens ---
    async fn create_token(&self, new: &NewToken, actor: &str, at: DateTime<Utc>) -> Result<TokenInfo>;
    /// The unrevoked, unexpired token whose secret hashes to `secret_hash`,
    /// if its account is still declared; with the account's role.
    async fn authenticate(&self, secret_hash: &str, now: DateTime<Utc>) -> Result<Option<TokenAuth>>;
    /// Records that the token was used at `at` (not audited: not a change).
    async fn touch_token(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
    async fn get_token(&self, id: i64) -> Result<Option<TokenInfo>>;
    /// The token whose secret hashes to `secret_hash`, whatever its state
    /// (revoked and expired ones included).
    async fn token_by_secret(&self, secret_hash: &str) -> Result<Option<TokenInfo>>;
    /// Tokens of `user_id` (everyone's with `None`), revoked ones included, by id.
    async fn list_tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>>;
    /// Returns false when no active token has this id.
    async fn revoke_token(&self, id: i64, actor: &str, at: DateTime<Utc>) -> Result<bool>;
    async fn active_token_count(&self) -> Result<i64>;

    // --- iCalendar feed tokens ---
    /// Sets the user's feed token (its SHA-256), replacing any previous one,
    /// so rotating invalidates the old link. Audited as `user.ical_token.rotate`.
    async fn set_ical_token(&self, user_id: &str, token_hash: &str, actor: &str, at: DateTime<Utc>) -> Result<()>;
    /// The user whose feed token hashes to `token_hash`.
    async fn ical_token_user(&self, token_hash: &str) -> Result<Option<String>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// The account the token acts as.
    pub user_id: String,
    pub secret_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
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
    /// Recorded at most once a minute per token.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A live token and the current role of the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAuth {
    pub token: TokenInfo,
    pub user_role: Role,
}
