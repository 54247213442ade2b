//! Calendar feed tokens. Calendar apps cannot send a bearer token, so a feed
//! URL carries a per-user secret; it reads on-call shifts and nothing else.

use tocsin_core::access::{Action, Principal, Resource};
use tocsin_core::auth::{Role, format_token, hash_secret};

use crate::error::{AppError, Result};
use crate::{App, random_bytes};

/// A feed token, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFeedToken {
    pub user: String,
    pub token: String,
}

impl App {
    /// Issues (or replaces, invalidating the old link) `user`'s feed token.
    pub async fn rotate_feed_token(&self, who: &Principal, user: &str) -> Result<IssuedFeedToken> {
        self.allow(who, Action::RotateFeedToken, Resource::User(user))?;
        self.directory().user(user).ok_or(AppError::NotFound("user"))?;
        let token = format_token(&random_bytes());
        self.store.set_ical_token(user, &hash_secret(&token), &who.actor(), self.now()).await?;
        Ok(IssuedFeedToken { user: user.to_string(), token })
    }

    /// The reader a feed token stands for: its user, able to read and no
    /// more. A token outlives nobody: once its user is gone from config, it
    /// opens no feed.
    pub async fn feed_reader(&self, token: &str) -> Result<Principal> {
        let unknown = AppError::NotFound("calendar feed");
        let Some(user) = self.store.ical_token_user(&hash_secret(token)).await? else { return Err(unknown) };
        if self.directory().user(&user).is_none() {
            return Err(unknown);
        }
        Ok(Principal::user(user, Role::Viewer))
    }
}
