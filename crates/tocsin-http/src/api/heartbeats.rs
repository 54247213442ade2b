//! `/api/v1/heartbeats`: the heartbeat monitors config declares, with
//! their last ping, deadline and state.

use axum::Json;
use axum::extract::State;
use tocsin_api::{self as wire, Items};
use tocsin_app::HeartbeatView;
use tocsin_core::duration::format_duration;
use tocsin_store::HeartbeatRow;

use super::item_list;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::errors::Unauthenticated;
use crate::state::AppState;

fn heartbeat(view: HeartbeatView) -> wire::Heartbeat {
    let HeartbeatView { row, deadline, status } = view;
    let HeartbeatRow { heartbeat, state, key_hint, missed_at: _, open_incident } = row;
    wire::Heartbeat {
        id: heartbeat.id,
        service: heartbeat.service,
        interval: format_duration(heartbeat.interval),
        grace: format_duration(heartbeat.grace),
        key_hint,
        last_ping_at: state.last_ping,
        deadline,
        state: status,
        open_incident,
    }
}

/// The heartbeat monitors, by id.
///
/// Each with its last ping, its deadline and how it stands: `waiting` for a
/// first ping, `up`, or `overdue`; an overdue monitor has opened an incident
/// on its service, which its next ping resolves. Requires role `viewer` or
/// higher.
#[utoipa::path(
    get,
    path = "/heartbeats",
    operation_id = "list_heartbeats",
    tag = "heartbeats",
    responses(
        (status = 200, description = "Every heartbeat monitor", body = Items<wire::Heartbeat>),
        Unauthenticated,
    )
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Items<wire::Heartbeat>>, ApiError> {
    Ok(Json(item_list(state.app.heartbeats(&caller).await?, heartbeat)))
}
