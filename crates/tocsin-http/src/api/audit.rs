//! `/api/v1/audit`: the hash-chained audit log, admin only.

use axum::Json;
use axum::extract::State;
use tocsin_api::{self as wire, AuditQuery, Items};
use tocsin_core::audit::AuditRecord;
use tocsin_store::AuditEntry;

use super::item_list;
use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, Forbidden, Unauthenticated};
use crate::state::AppState;

fn entry(e: AuditEntry) -> wire::AuditEntry {
    let AuditEntry { id, record, prev_hash, hash } = e;
    let AuditRecord { at, actor, action, target, details } = record;
    wire::AuditEntry { id, record: wire::AuditRecord { at, actor, action, target, details }, prev_hash, hash }
}

/// The hash-chained audit log, oldest first.
///
/// `after` is the last id already seen. Requires role `admin`.
#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Entries after `after`", body = Items<wire::AuditEntry>),
        BadRequest,
        Unauthenticated,
        Forbidden,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    raw: RawParams,
) -> Result<Json<Items<wire::AuditEntry>>, ApiError> {
    let p = Params::from(raw)?;
    let after =
        p.parsed("after", "a non-negative integer", |v| v.parse::<i64>().ok().filter(|n| *n >= 0))?.unwrap_or(0);
    let entries = state.app.audit_log(&caller, after, p.limit()?).await?;
    Ok(Json(item_list(entries, entry)))
}
