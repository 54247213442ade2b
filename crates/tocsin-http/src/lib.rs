//! The HTTP edge: REST API under `/api/v1`, compatible ingestion endpoints,
//! health and metrics. This is the only crate that knows JSON wire types;
//! everything it hands inward is a domain type.

// The OpenAPI document is one large `json!` literal, deeper than the default limit.
#![recursion_limit = "512"]

mod ack;
pub mod api;
mod auth;
pub mod error;
mod health;
pub mod ingest;
mod intake;
pub mod metrics;
mod openapi;
mod state;

pub use state::{AppState, IngestLimits};

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// The whole HTTP surface for one server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(intake::routes())
        .merge(ack::routes())
        .nest("/api/v1", api::routes())
        .merge(health::routes())
        .fallback(error::not_found)
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}
