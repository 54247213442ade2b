//! The HTTP edge: REST API under `/api/v1`, compatible ingestion endpoints,
//! health and metrics. It converts between the application's values and the
//! `/api/v1` wire types of `tocsin-api`; everything it hands inward is a
//! domain type.

mod ack;
pub mod api;
mod auth;
pub mod error;
mod health;
mod heartbeat;
pub mod ingest;
mod intake;
pub mod metrics;
mod openapi;
pub mod overload;
mod silences;
mod state;

pub use overload::OverloadLimits;
pub use state::{AppState, IngestLimits};

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

/// The whole HTTP surface for one server. Everything but health, readiness
/// and metrics passes the overload guard ([`overload`]), so those three
/// answer even when every request slot is taken.
pub fn router(state: AppState) -> Router {
    guarded_routes(&state)
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), overload::guard))
        .merge(health::routes())
        .fallback(error::not_found)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}

/// `/healthz`, `/readyz` and `/metrics` alone, for a listener of their own.
pub fn health_router(state: AppState) -> Router {
    health::routes()
        .fallback(error::not_found)
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .with_state(state)
}

/// Every route the server answers, before state and the outer layers.
#[cfg(test)]
pub(crate) fn routes() -> Router<AppState> {
    let (api, _document) = api::routes().split_for_parts();
    Router::new()
        .merge(intake::routes())
        .merge(heartbeat::routes())
        .merge(ack::routes())
        .nest("/api/v1", api)
        .merge(health::routes())
        .fallback(error::not_found)
}

/// The routes that count against the overload limits: ingestion, the
/// acknowledge links, the API and the web pages.
fn guarded_routes(state: &AppState) -> Router<AppState> {
    let (api, _document) = api::routes().split_for_parts();
    let web = tocsin_web::Web::new(state.app.clone()).secure_cookies(state.secure_cookies);
    Router::new()
        .merge(intake::routes())
        .merge(heartbeat::routes())
        .merge(ack::routes())
        .merge(silences::routes())
        .nest("/api/v1", api)
        .merge(tocsin_web::router(web))
}
