//! Liveness, readiness and metrics endpoints (unauthenticated, as scrapers
//! and orchestrators expect).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is up and serving.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store().ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "ready", "database": state.store().backend()}))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "database": state.store().backend()})),
            )
        }
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
    metrics::gauge!("tocsin_database_up", "backend" => state.store().backend())
        .set(if state.store().ping().await.is_ok() { 1.0 } else { 0.0 });
    state.overload.export();
    let body = crate::metrics::handle().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
