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

pub use state::{AppState, IngestLimits, WebhookSecret};

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// The span of one request names its route template, never the URI as
/// sent: ingestion keys sit in paths and feed tokens in queries, and both
/// are secrets that must not reach a log at any level.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("(unmatched)", |m| m.as_str());
    tracing::debug_span!("request", method = %req.method(), route)
}

/// The whole HTTP surface for one server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(intake::routes())
        .merge(ack::routes())
        .nest("/api/v1", api::routes())
        .merge(health::routes())
        .fallback(error::not_found)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}
