//! `/api/v1/escalation_policies`: the policies in config, and whom each
//! level would page at an instant.

use axum::Json;
use axum::extract::{Path, State};
use tocsin_api::{self as wire, AtQuery, Items};
use tocsin_core::directory::Directory;
use tocsin_core::duration::format_duration;
use tocsin_core::escalation::Policy;
use tocsin_core::oncall::level_responders;

use super::params::{Params, RawParams};
use super::services::responder;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::{BadRequest, NotFound, Unauthenticated};
use crate::state::AppState;

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The escalation policies declared in config, with the services using them.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/escalation_policies",
    operation_id = "list_escalation_policies",
    tag = "escalation policies",
    responses((status = 200, description = "Every policy", body = Items<wire::EscalationPolicy>), Unauthenticated)
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Items<wire::EscalationPolicy>>, ApiError> {
    let directory = state.app.read_directory(&caller)?;
    let items = directory.policies.iter().map(|p| policy(&directory, p)).collect();
    Ok(Json(Items { items }))
}

fn policy(directory: &Directory, p: &Policy) -> wire::EscalationPolicy {
    wire::EscalationPolicy {
        id: p.id.clone(),
        repeat: p.repeat,
        levels: p
            .levels
            .iter()
            .map(|l| wire::PolicyLevel {
                targets: l.targets.clone(),
                escalate_after: format_duration(l.escalate_after),
            })
            .collect(),
        services: directory
            .services
            .iter()
            .filter(|s| s.escalation_policy.as_deref() == Some(p.id.as_str()))
            .map(|s| s.id.clone())
            .collect(),
    }
}

/// One escalation policy declared in config, with the services using it.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/escalation_policies/{id}",
    operation_id = "get_escalation_policy",
    tag = "escalation policies",
    params(("id" = String, Path, description = "Escalation policy id")),
    responses((status = 200, description = "The policy", body = wire::EscalationPolicy), Unauthenticated, NotFound)
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::EscalationPolicy>, ApiError> {
    let directory = state.app.read_directory(&caller)?;
    let p = directory.policy(&id).ok_or_else(|| ApiError::not_found("escalation policy"))?;
    Ok(Json(policy(&directory, p)))
}

/// For every level of the policy, whom it would page at an instant.
///
/// Levels are numbered from 1.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/escalation_policies/{id}/oncall",
    operation_id = "escalation_policy_oncall",
    tag = "escalation policies",
    params(("id" = String, Path, description = "Escalation policy id"), AtQuery),
    responses(
        (status = 200, description = "Each level's responders", body = wire::PolicyOnCall),
        BadRequest,
        Unauthenticated,
        NotFound,
    )
)]
pub async fn oncall(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<wire::PolicyOnCall>, ApiError> {
    let at = Params::from(raw)?.timestamp("at")?.unwrap_or_else(|| state.now());
    let (directory, schedules) = state.app.schedules(&caller, at).await?;
    let policy = directory.policy(&id).ok_or_else(|| ApiError::not_found("escalation policy"))?;
    let levels = policy
        .levels
        .iter()
        .enumerate()
        .map(|(i, level)| wire::LevelOnCall {
            level: count(i + 1),
            escalate_after: format_duration(level.escalate_after),
            users: level_responders(level, &schedules, at).iter().map(responder).collect(),
        })
        .collect();
    Ok(Json(wire::PolicyOnCall { escalation_policy: policy.id.clone(), at, levels }))
}
