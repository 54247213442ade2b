//! Who may call Tocsin: API tokens, and the per-user tokens of the calendar
//! feeds.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tocsin_core::auth::Role;

use crate::Result;

#[async_trait]
pub trait AccountStore: Send + Sync {
    // --- API tokens ---
    async fn create_token(&self, new: &NewToken, actor: &str, at: DateTime<Utc>) -> Result<TokenInfo>;
    async fn authenticate(&self, secret_hash: &str) -> Result<Option<TokenInfo>>;
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>>;
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
    pub secret_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
}
