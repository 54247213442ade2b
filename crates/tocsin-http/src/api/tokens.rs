//! `/api/v1/tokens`: API tokens. Each belongs to a user and acts as that
//! user with at most its role; admins issue tokens for anyone, everybody
//! else for themselves. The secret is shown once, on creation.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tocsin_api::{self as wire, Page, TokenRequest, TokensQuery};
use tocsin_core::duration::parse_positive_duration;
use tocsin_store::TokenInfo;

use super::one_page;
use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;

fn token(t: TokenInfo) -> wire::Token {
    let TokenInfo { id, name, role, user_id, created_at, created_by, revoked_at, expires_at, last_used_at } = t;
    wire::Token { id, name, role, user_id, created_at, created_by, revoked_at, expires_at, last_used_at }
}

/// Issue an API token; its secret is in this answer only.
///
/// Requires role `responder` for one's own tokens (at most one's own role),
/// `admin` for anyone's.
#[utoipa::path(
    post,
    path = "/tokens",
    operation_id = "create_token",
    tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, description = "The token and its secret", body = wire::IssuedToken),
        BadRequest,
        Unauthenticated,
        Forbidden,
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<wire::IssuedToken>), ApiError> {
    let TokenRequest { name, role, user, expires_in } = params::json_body(body).await?;
    let expires_in = expires_in
        .map(|text| parse_positive_duration(&text).map_err(|e| ApiError::validation("expires_in", e.to_string())))
        .transpose()?;
    let request = tocsin_app::TokenRequest { name, role, user, expires_in };
    let issued = state.app.create_token(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(wire::IssuedToken { info: token(issued.info), token: issued.secret })))
}

/// API tokens, never their secrets.
///
/// Requires role `viewer` for one's own tokens, `admin` for anyone else's.
#[utoipa::path(
    get,
    path = "/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    params(TokensQuery),
    responses(
        (status = 200, description = "The tokens, revoked ones included", body = Page<wire::Token>),
        BadRequest,
        Unauthenticated,
        Forbidden,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Page<wire::Token>>, ApiError> {
    let user = Params::from(raw)?.text("user", 64)?;
    Ok(Json(one_page(state.app.list_tokens(&caller, user.as_deref()).await?, token)))
}

/// Revoke a token.
///
/// Requires role `viewer` for one's own tokens, `admin` for anyone else's;
/// others' tokens are not found.
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    operation_id = "revoke_token",
    tag = "tokens",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), Unauthenticated, NotFound)
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = params::id(&id, "token")?;
    state.app.revoke_token(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
