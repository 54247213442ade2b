//! `/api/v1/escalation_policies`: the policies in config, and whom each
//! level would page at an instant.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tocsin_core::duration::format_duration;
use tocsin_core::escalation::Target;
use tocsin_core::oncall::level_responders;

use super::params::{Params, RawParams};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

fn target_json(t: &Target) -> Value {
    match t {
        Target::User(id) => json!({"user": id}),
        Target::Schedule(id) => json!({"schedule": id}),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let directory = state.app.read_directory(&caller)?;
    let items: Vec<Value> = directory
        .policies
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "repeat": p.repeat,
                "levels": p.levels.iter().map(|l| json!({
                    "targets": l.targets.iter().map(target_json).collect::<Vec<_>>(),
                    "escalate_after": format_duration(l.escalate_after),
                })).collect::<Vec<_>>(),
                "services": directory.services.iter()
                    .filter(|s| s.escalation_policy.as_deref() == Some(p.id.as_str()))
                    .map(|s| s.id.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `?at=` (default now): for every level (numbered from 1), the people it
/// would page.
pub async fn oncall(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    raw: RawParams,
) -> Result<Json<Value>, ApiError> {
    let at = Params::from(raw)?.timestamp("at")?.unwrap_or_else(|| state.now());
    let (directory, schedules) = state.app.schedules(&caller, at).await?;
    let policy = directory.policy(&id).ok_or_else(|| ApiError::not_found("escalation policy"))?;
    let levels: Vec<Value> = policy
        .levels
        .iter()
        .enumerate()
        .map(|(i, level)| {
            let users: Vec<Value> = level_responders(level, &schedules, at)
                .iter()
                .map(|r| json!({"user": r.user, "via_schedule": r.via_schedule}))
                .collect();
            json!({"level": i + 1, "escalate_after": format_duration(level.escalate_after), "users": users})
        })
        .collect();
    Ok(Json(json!({ "escalation_policy": policy.id, "at": at, "levels": levels })))
}
