//! `/api/v1/audit`: the hash-chained audit log, admin only.

use axum::Json;
use axum::extract::State;
use tocsin_api::{self as wire, AuditQuery, Items};
use tocsin_core::audit::{AuditRecord, Break};
use tocsin_store::{AuditEntry, AuditVerification, ShardCheck};

use super::item_list;
use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, Forbidden, Unauthenticated};
use crate::state::AppState;

fn entry(e: AuditEntry) -> wire::AuditEntry {
    let AuditEntry { id, shard, record, prev_hash, hash } = e;
    let AuditRecord { at, actor, action, target, details } = record;
    wire::AuditEntry { id, shard, record: wire::AuditRecord { at, actor, action, target, details }, prev_hash, hash }
}

fn broken_link(shard: i32, b: &Break) -> wire::AuditBrokenLink {
    let Break { id, field, expected, found } = b;
    wire::AuditBrokenLink {
        shard,
        id: *id,
        field: (*field).to_string(),
        expected: expected.clone(),
        found: found.clone(),
    }
}

fn verification(v: AuditVerification) -> wire::AuditVerification {
    let first_broken = v.first_break().map(|(shard, b)| broken_link(shard, b));
    let AuditVerification { shards } = v;
    let shards = shards
        .into_iter()
        .map(|s| {
            let ShardCheck { shard, checked, broken } = s;
            wire::AuditShardCheck { shard, checked, broken: broken.is_some() }
        })
        .collect();
    wire::AuditVerification { ok: first_broken.is_none(), shards, first_broken }
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

/// Checks the audit log's hash chains.
///
/// Walks every shard's chain in one snapshot: each entry must link to the
/// one before it and hash to its stored hash, and each shard's head must
/// name its last entry. Answers 200 either way; `ok` says which, and
/// `first_broken` names the first broken link. Requires role `admin`.
#[utoipa::path(
    get,
    path = "/audit/verify",
    operation_id = "verify_audit",
    tag = "audit",
    responses(
        (status = 200, description = "What the check found", body = wire::AuditVerification),
        Unauthenticated,
        Forbidden,
    )
)]
pub async fn verify(State(state): State<AppState>, caller: Caller) -> Result<Json<wire::AuditVerification>, ApiError> {
    Ok(Json(verification(state.app.verify_audit(&caller).await?)))
}
