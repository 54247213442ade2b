//! Bearer-token authentication and role checks for `/api/v1`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tocsin_core::auth::{Role, hash_secret};
use tocsin_core::timeline::actor;
use tocsin_store::TokenInfo;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of an API request.
pub struct Caller(pub TokenInfo);

impl Caller {
    /// Fails with 403 unless the caller's role includes `role`.
    pub fn require(&self, role: Role, action: &str) -> Result<(), ApiError> {
        if self.0.role.allows(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role {} cannot {action}; it needs {}",
                self.0.role.as_str(),
                role.as_str()
            )))
        }
    }

    /// How this caller appears in timelines and the audit log.
    pub fn actor(&self) -> String {
        actor::token(&self.0.name)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <token> header"))?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| ApiError::unauthenticated("Authorization header must be `Bearer <token>`"))?;
        match state.store.authenticate(&hash_secret(secret)).await? {
            Some(token) => Ok(Caller(token)),
            None => Err(ApiError::unauthenticated("invalid or revoked token")),
        }
    }
}
