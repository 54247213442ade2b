//! API tokens: each belongs to a user and acts as that user, with at most
//! that user's role. The secret is shown once; only its hash is stored.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::auth::{Role, format_token, hash_secret};
use tocsin_core::model::ADMIN_USER;
use tocsin_store::{NewToken, TokenInfo};

use crate::error::{AppError, Result};
use crate::{App, random_bytes};

pub const MAX_TOKEN_NAME_CHARS: usize = 100;
/// Longest lifetime a token may be given; longer-lived ones simply omit
/// `expires_in` and are revoked by hand.
const MAX_TOKEN_LIFETIME: Duration = Duration::days(3650);
/// A token's `last_used_at` is written at most this often, so busy scripts
/// do not turn every read into a write.
const USAGE_RESOLUTION: Duration = Duration::seconds(60);

/// What a caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub name: String,
    pub role: Role,
    /// Whose token; `None` means the caller's own.
    pub user: Option<String>,
    pub expires_in: Option<Duration>,
}

/// A new token and its secret, which is never shown again.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub info: TokenInfo,
    pub secret: String,
}

/// When each token was last recorded as used, so the write happens at most
/// once per [`USAGE_RESOLUTION`] per token on this node.
#[derive(Default)]
pub(crate) struct UsageTracker(Mutex<HashMap<i64, DateTime<Utc>>>);

impl UsageTracker {
    /// Whether a use at `now` should be written.
    fn due(&self, token: &TokenInfo, now: DateTime<Utc>) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let last = seen.get(&token.id).copied().max(token.last_used_at);
        if last.is_some_and(|last| now - last < USAGE_RESOLUTION) {
            return false;
        }
        if seen.len() > 100_000 {
            seen.clear();
        }
        seen.insert(token.id, now);
        true
    }
}

impl App {
    /// The person a bearer secret acts for. Revoked and expired tokens, and
    /// tokens of accounts no longer declared, are refused alike.
    pub async fn authenticate(&self, secret: &str) -> Result<Principal> {
        let now = self.now();
        let found = self.store.authenticate(&hash_secret(secret), now).await?;
        let Some(auth) = found else {
            return Err(AppError::Unauthenticated("invalid, expired or revoked token"));
        };
        // At most once a minute per token; a failed write only loses a
        // timestamp, so it does not fail the request.
        if self.usage.due(&auth.token, now)
            && let Err(e) = self.store.touch_token(auth.token.id, now).await
        {
            tracing::warn!(error = %e, token = auth.token.id, "cannot record token use");
        }
        Ok(Principal::user(auth.token.user_id.clone(), auth.token.role.min(auth.user_role)))
    }

    /// Issues a token to `request.user` (default: the caller).
    pub async fn create_token(&self, who: &Principal, request: TokenRequest) -> Result<IssuedToken> {
        let owner = match (&request.user, who.user_id()) {
            (Some(user), _) => user.clone(),
            (None, Some(me)) => me.to_string(),
            (None, None) => ADMIN_USER.to_string(),
        };
        self.allow(who, Action::CreateToken { role: request.role }, Resource::User(&owner))?;
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME_CHARS {
            return Err(AppError::invalid("name", format!("1 to {MAX_TOKEN_NAME_CHARS} characters")));
        }
        let directory = self.directory();
        let owner_role = match directory.user(&owner) {
            Some(user) => user.role,
            None if owner == ADMIN_USER => Role::Admin,
            None => return Err(AppError::invalid("user", format!("no such user `{owner}`"))),
        };
        if !owner_role.allows(request.role) {
            return Err(AppError::invalid(
                "role",
                format!("`{owner}` is a {}; a token cannot carry more than its owner's role", owner_role.as_str()),
            ));
        }
        let now = self.now();
        let expires_at = match request.expires_in {
            None => None,
            Some(d) if d <= Duration::zero() || d > MAX_TOKEN_LIFETIME => {
                return Err(AppError::invalid("expires_in", "must be positive and at most 3650 days"));
            }
            Some(d) => Some(now + d),
        };
        let secret = format_token(&random_bytes());
        let new = NewToken {
            name: name.to_string(),
            role: request.role,
            user_id: owner,
            secret_hash: hash_secret(&secret),
            expires_at,
        };
        let info = self.store.create_token(&new, &who.actor(), now).await?;
        Ok(IssuedToken { info, secret })
    }

    /// Tokens of `user`, or with `None` everyone's for an admin and one's
    /// own for everybody else.
    pub async fn list_tokens(&self, who: &Principal, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        let owner = match user {
            Some(u) => Some(u),
            None if who.role() == Role::Admin => None,
            None => who.user_id(),
        };
        self.allow(who, Action::ListTokens, owner.map_or(Resource::All, Resource::User))?;
        Ok(self.store.list_tokens(owner).await?)
    }

    pub async fn revoke_token(&self, who: &Principal, id: i64) -> Result<()> {
        // Someone else's token is "not found" to those who may not see it.
        let token = self.store.get_token(id).await?.filter(|t| t.revoked_at.is_none());
        let token = token.ok_or(AppError::NotFound("token"))?;
        if who.role() != Role::Admin && who.user_id() != Some(token.user_id.as_str()) {
            return Err(AppError::NotFound("token"));
        }
        self.allow(who, Action::RevokeToken, Resource::User(&token.user_id))?;
        if self.store.revoke_token(id, &who.actor(), self.now()).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("token"))
        }
    }
}
