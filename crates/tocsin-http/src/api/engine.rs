//! `/api/v1/engine/dead-letters`: work the engine gave up on after too many
//! failures, for admins to look at and put back.

use axum::Json;
use axum::extract::{Path, State};
use tocsin_api::{self as wire, DeadLettersQuery, Page};
use tocsin_store::DeadLetter;

use super::page;
use super::params::{self, Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, Forbidden, NotFound, Unauthenticated};
use crate::state::AppState;

fn dead_letter(d: DeadLetter) -> wire::DeadLetter {
    let DeadLetter { id, kind, lane, payload, attempts, last_error, created_at, dead_at } = d;
    wire::DeadLetter { id, kind, lane, payload, attempts, last_error, queued_at: created_at, dead_at }
}

/// List dead letters, newest first.
///
/// Work whose handler failed too often; it is not tried again until put
/// back. Requires role `admin`.
#[utoipa::path(
    get,
    path = "/engine/dead-letters",
    operation_id = "list_dead_letters",
    tag = "engine",
    params(DeadLettersQuery),
    responses(
        (status = 200, description = "One page of dead letters", body = Page<wire::DeadLetter>),
        BadRequest,
        Unauthenticated,
        Forbidden,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Page<wire::DeadLetter>>, ApiError> {
    let p = Params::from(raw)?;
    let letters = state.app.dead_letters(&caller, p.cursor()?, p.limit()?).await?;
    Ok(Json(page(letters, dead_letter)))
}

/// Put a dead letter back, due now with its attempts reset.
///
/// Requires role `admin`; audited as `outbox.retry`.
#[utoipa::path(
    post,
    path = "/engine/dead-letters/{id}/retry",
    operation_id = "retry_dead_letter",
    tag = "engine",
    params(("id" = i64, Path, description = "Dead letter id")),
    responses(
        (status = 200, description = "The item, due again", body = wire::DeadLetter),
        Unauthenticated,
        Forbidden,
        NotFound,
    )
)]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::DeadLetter>, ApiError> {
    let id = params::id(&id, "dead letter")?;
    Ok(Json(dead_letter(state.app.retry_dead_letter(&caller, id).await?)))
}
