//! Liveness, readiness and metrics endpoints (unauthenticated, as scrapers
//! and orchestrators expect).
//!
//! `/healthz` says the process serves. `/readyz` says whether it can do its
//! work, part by part, and answers 503 naming what fails:
//! `{"status":"unavailable","database":"sqlite","checks":{"database_read":{"ok":true},
//! "database_write":{"ok":false,"error":"database or disk is full"},"ingest_writer":{"ok":true},
//! "engine":{"ok":true}}}`. Each check answers within a few seconds and the
//! write probe runs at most about once a second, so both stay cheap.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};
use tocsin_store::health::Check;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is up and serving.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Every part's check, in a stable order.
async fn checks(state: &AppState) -> Vec<(&'static str, Check)> {
    let store = state.store().readiness().await;
    let mut checks = vec![
        ("database_read", store.database_read),
        ("database_write", store.database_write),
        ("ingest_writer", store.ingest_writer),
    ];
    checks.extend(
        state.tasks().into_iter().map(|(name, status)| (name, status.problem().map_or_else(Check::ok, Check::failed))),
    );
    checks
}

/// Ready when every part works: the database reads and commits, and the
/// supervised tasks run.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let checks = checks(&state).await;
    let ready = checks.iter().all(|(_, c)| c.ok);
    let mut shown = Map::new();
    for (name, check) in &checks {
        let mut entry = json!({"ok": check.ok});
        if let Some(error) = &check.error {
            entry["error"] = Value::String(error.clone());
        }
        shown.insert((*name).to_string(), entry);
    }
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": state.store().backend(),
        "checks": shown,
    });
    if ready {
        (StatusCode::OK, axum::Json(body))
    } else {
        let failing: Vec<&str> = checks.iter().filter(|(_, c)| !c.ok).map(|(n, _)| *n).collect();
        tracing::warn!(?failing, "readiness check failed");
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match state.store().open_incident_count().await {
        Ok(open) => metrics::gauge!("tocsin_open_incidents").set(open as f64),
        Err(err) => tracing::warn!(error = %err, "could not count open incidents"),
    }
    match state.store().dead_letter_count().await {
        Ok(dead) => metrics::gauge!("tocsin_outbox_dead_letters").set(dead as f64),
        Err(err) => tracing::warn!(error = %err, "could not count dead letters"),
    }
    // Sets `tocsin_component_up` for the database's parts as a side effect.
    let store = state.store().readiness().await;
    let up = store.database_read.ok && store.database_write.ok;
    metrics::gauge!("tocsin_database_up", "backend" => state.store().backend()).set(if up { 1.0 } else { 0.0 });
    state.overload.export();
    let body = crate::metrics::handle().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
