//! HTTP handlers for the compatible ingestion endpoints. Parsing lives in
//! [`crate::ingest`]; this module resolves integration keys, applies rate
//! limits, stores the events and answers in each format's own shape.
//!
//! A 2xx is only sent after the events are committed. Unknown, disabled and
//! wrong-kind keys all answer the same 404, so responses reveal nothing
//! about which keys exist.
//!
//! The key is checked before the body is parsed: a key in the path or in
//! a header before the body is even read, PagerDuty's `routing_key` (inside
//! the body) by a scan that builds nothing. An unknown key costs no parse.
//! Bodies are read through [`crate::error::read_body`], so the body limits
//! (413), the byte budget (503) and the body deadline (408) apply.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::time::Instant;
use tocsin_core::CoreError;
use tocsin_core::auth::hash_secret;
use tocsin_core::event::Event;
use tocsin_core::model::IntegrationKind;
use tocsin_store::{IngestBatch, IngestOutcome, IntakeNoise, IntegrationRef, StoreError};

use crate::error::ApiError;
use crate::ingest::{FieldError, alertmanager, generic, pagerduty, prometheus};
use crate::metrics as m;
use crate::state::{AppState, random_bytes};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/enqueue", post(pd_enqueue))
        .route("/v2/change/enqueue", post(pd_change))
        .route("/integrations/alertmanager/{key}", post(alertmanager_webhook))
        .route("/integrations/prometheus/{key}/api/v2/alerts", post(prometheus_push))
        .route("/api/v2/alerts", post(prometheus_push_bearer))
        .route("/integrations/generic/{key}", post(generic_webhook))
        // Each handler enforces its own format's limit while reading.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// Keys longer than this cannot exist, so they are not worth hashing.
pub(crate) const MAX_KEY_LEN: usize = 256;

/// The integration `key` names, if it is enabled and of `kind`. A store
/// that cannot answer is an error (503, retry), never "unknown key": a
/// sender treats a 4xx as final and would drop its alert.
async fn lookup(state: &AppState, key: &str, kind: IntegrationKind) -> Result<Option<IntegrationRef>, ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Ok(None);
    }
    match state.integration(&hash_secret(key)).await {
        Ok(Some(found)) if found.kind == kind => Ok(Some(found)),
        Ok(_) => Ok(None),
        Err(err) => Err(ApiError::from(err)),
    }
}

pub(crate) fn unknown_key() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "unknown_integration", "unknown or disabled integration key")
}

/// PagerDuty names the routing key as the offending field.
fn unknown_routing_key() -> ApiError {
    ApiError { field: Some("routing_key".into()), ..unknown_key() }
}

fn throttled() -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many events for this integration; retry later")
}

/// Stores a batch; `Err` carries the metrics reason and the error to answer.
async fn commit(
    state: &AppState,
    origin: IntegrationRef,
    events: Vec<Event>,
) -> Result<Vec<IngestOutcome>, (&'static str, ApiError)> {
    let noise = IntakeNoise { rules: state.app.directory().noise_rules(), route: origin.route.clone() };
    let batch = IngestBatch { origin, events, received_at: state.now(), noise };
    state.store().ingest(batch).await.map_err(refused)
}

/// A store refusal as metrics count it and as the sender is answered. Input
/// the store turns away (text PostgreSQL cannot hold, such as NUL) is
/// invalid input, answered 400 like a parse error; anything else is a
/// storage failure.
fn refused(err: StoreError) -> (&'static str, ApiError) {
    let reason = match err {
        StoreError::Domain(CoreError::Invalid { .. }) => "invalid",
        _ => "storage",
    };
    (reason, ApiError::from(err))
}

fn reject(source: &str, reason: &'static str, err: ApiError) -> Response {
    m::rejected(source, reason);
    err.into_response()
}

/// Reads the body, or answers why not (413, 503, 408).
async fn read_body(source: &str, body: Body, limit: usize) -> Result<axum::body::Bytes, Response> {
    crate::error::read_body(body, limit).await.map_err(|e| reject(source, unread_reason(&e), e))
}

/// The `reason` label for a body that was not read.
fn unread_reason(err: &ApiError) -> &'static str {
    match err.status {
        StatusCode::SERVICE_UNAVAILABLE => "overloaded",
        StatusCode::REQUEST_TIMEOUT => "body_timeout",
        _ => "too_large",
    }
}

// ---------------------------------------------------------------------------
// PagerDuty Events API v2

/// PagerDuty-shaped error response: `{"status","message","errors":[…]}`.
fn pd_error(status: StatusCode, message: &str, errors: &[FieldError]) -> Response {
    let mut body = pagerduty::invalid_body(errors);
    body["message"] = Value::String(message.to_string());
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    }
    response
}

fn pd_from_api(source: &str, reason: &'static str, err: ApiError) -> Response {
    m::rejected(source, reason);
    let message = match err.status {
        StatusCode::NOT_FOUND => "Invalid routing key",
        StatusCode::TOO_MANY_REQUESTS => "Requests for this service are arriving too quickly. Please retry later.",
        StatusCode::PAYLOAD_TOO_LARGE => "Request entity too large",
        StatusCode::REQUEST_TIMEOUT => "Request body timed out",
        _ => "Service unavailable, please retry",
    };
    pd_error(err.status, message, &[FieldError::new(err.field.as_deref().unwrap_or("request"), err.message)])
}

/// The integration a PagerDuty body's `routing_key` names, found before the
/// body is parsed. `Ok(None)` when the body has no well-formed key to scan
/// for (the parse then says what is wrong); `Err` answers 404 for a key that
/// names no PagerDuty integration.
async fn pd_origin(state: &AppState, source: &str, body: &[u8]) -> Result<Option<IntegrationRef>, Response> {
    let Some(key) = pagerduty::peek_routing_key(body) else { return Ok(None) };
    match lookup(state, &key, IntegrationKind::Pagerduty).await {
        Ok(Some(origin)) => Ok(Some(origin)),
        Ok(None) => Err(pd_from_api(source, "unknown_key", unknown_routing_key())),
        Err(e) => Err(pd_from_api(source, "storage", e)),
    }
}

async fn pd_enqueue(State(state): State<AppState>, body: Body) -> Response {
    const SRC: &str = "pagerduty";
    let started = Instant::now();
    let bytes = match crate::error::read_body(body, pagerduty::MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return pd_from_api(SRC, unread_reason(&e), e),
    };
    m::received(SRC, 1);
    let known = match pd_origin(&state, SRC, &bytes).await {
        Ok(known) => known,
        Err(response) => return response,
    };
    let mut parsed = match pagerduty::parse_event(&bytes, state.now()) {
        Ok(p) => p,
        Err(errors) => {
            m::rejected(SRC, "invalid");
            return pd_error(StatusCode::BAD_REQUEST, "Event object is invalid", &errors);
        }
    };
    let origin = match known {
        Some(origin) => origin,
        None => match lookup(&state, &parsed.routing_key, IntegrationKind::Pagerduty).await {
            Ok(Some(origin)) => origin,
            Ok(None) => return pd_from_api(SRC, "unknown_key", unknown_routing_key()),
            Err(e) => return pd_from_api(SRC, "storage", e),
        },
    };
    if !state.admit(&origin.id, 1) {
        return pd_from_api(SRC, "rate_limited", throttled());
    }
    if parsed.event.dedup_key.is_empty() {
        parsed.event.dedup_key = hex::encode(&random_bytes()[..16]);
    }
    let dedup_key = parsed.event.dedup_key.clone();
    match commit(&state, origin, vec![parsed.event]).await {
        Ok(_) => {
            m::accepted(SRC, 1, started);
            (StatusCode::ACCEPTED, Json(pagerduty::accepted_body(&dedup_key))).into_response()
        }
        Err((reason, e)) => pd_from_api(SRC, reason, e),
    }
}

async fn pd_change(State(state): State<AppState>, body: Body) -> Response {
    const SRC: &str = "pagerduty_change";
    let started = Instant::now();
    let bytes = match crate::error::read_body(body, pagerduty::MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return pd_from_api(SRC, unread_reason(&e), e),
    };
    m::received(SRC, 1);
    let known = match pd_origin(&state, SRC, &bytes).await {
        Ok(known) => known,
        Err(response) => return response,
    };
    let parsed = match pagerduty::parse_change(&bytes, state.now()) {
        Ok(p) => p,
        Err(errors) => {
            m::rejected(SRC, "invalid");
            return pd_error(StatusCode::BAD_REQUEST, "Event object is invalid", &errors);
        }
    };
    let origin = match known {
        Some(origin) => origin,
        None => match lookup(&state, &parsed.routing_key, IntegrationKind::Pagerduty).await {
            Ok(Some(origin)) => origin,
            Ok(None) => return pd_from_api(SRC, "unknown_key", unknown_routing_key()),
            Err(e) => return pd_from_api(SRC, "storage", e),
        },
    };
    if origin.route.is_some() {
        // A change belongs on one service's timeline; a routed key has none.
        let err = ApiError {
            field: Some("routing_key".into()),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "routed_integration",
                "change events need the key of an integration that belongs to a service",
            )
        };
        return pd_from_api(SRC, "invalid", err);
    }
    if !state.admit(&origin.id, 1) {
        return pd_from_api(SRC, "rate_limited", throttled());
    }
    match state.store().record_change(&origin, &parsed.change, state.now()).await {
        Ok(_) => {
            m::accepted(SRC, 1, started);
            (StatusCode::ACCEPTED, Json(pagerduty::change_accepted_body())).into_response()
        }
        Err(e) => {
            let (reason, e) = refused(e);
            pd_from_api(SRC, reason, e)
        }
    }
}

// ---------------------------------------------------------------------------
// Alertmanager webhook, Prometheus push, generic JSON

/// The shared path for formats whose errors use the API's error shape.
async fn ingest_many(
    state: &AppState,
    source: &'static str,
    kind: IntegrationKind,
    key: &str,
    body: Body,
    limit: usize,
    parse: impl FnOnce(&[u8], chrono::DateTime<chrono::Utc>) -> Result<Vec<Event>, FieldError>,
) -> Result<Vec<IngestOutcome>, Response> {
    let started = Instant::now();
    let origin = match lookup(state, key, kind).await {
        Ok(Some(origin)) => origin,
        Ok(None) => {
            m::received(source, 1);
            return Err(reject(source, "unknown_key", unknown_key()));
        }
        Err(e) => {
            m::received(source, 1);
            return Err(reject(source, "storage", e));
        }
    };
    let bytes = read_body(source, body, limit).await?;
    let events = match parse(&bytes, state.now()) {
        Ok(events) => events,
        Err(e) => {
            m::received(source, 1);
            return Err(reject(source, "invalid", ApiError::validation(e.field, e.message)));
        }
    };
    m::received(source, events.len());
    if !state.admit(&origin.id, events.len().max(1)) {
        return Err(reject(source, "rate_limited", throttled()));
    }
    let count = events.len();
    let outcomes = commit(state, origin, events).await.map_err(|(reason, e)| reject(source, reason, e))?;
    m::accepted(source, count, started);
    Ok(outcomes)
}

fn summary(outcomes: &[IngestOutcome]) -> Value {
    json!({"status": "success", "accepted": outcomes.len(), "outcomes": outcomes})
}

async fn alertmanager_webhook(State(state): State<AppState>, Path(key): Path<String>, body: Body) -> Response {
    match ingest_many(
        &state,
        "alertmanager",
        IntegrationKind::Alertmanager,
        &key,
        body,
        alertmanager::MAX_BODY,
        alertmanager::parse_webhook,
    )
    .await
    {
        Ok(outcomes) => (StatusCode::OK, Json(summary(&outcomes))).into_response(),
        Err(response) => response,
    }
}

/// Alertmanager's own API answers a push with an empty 200.
async fn prometheus_push(State(state): State<AppState>, Path(key): Path<String>, body: Body) -> Response {
    match ingest_many(
        &state,
        "prometheus",
        IntegrationKind::Prometheus,
        &key,
        body,
        prometheus::MAX_BODY,
        prometheus::parse_alerts,
    )
    .await
    {
        Ok(_) => StatusCode::OK.into_response(),
        Err(response) => response,
    }
}

/// Prometheus configured with `authorization: {credentials: <key>}` and no
/// path prefix.
async fn prometheus_push_bearer(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .to_string();
    match ingest_many(
        &state,
        "prometheus",
        IntegrationKind::Prometheus,
        &key,
        body,
        prometheus::MAX_BODY,
        prometheus::parse_alerts,
    )
    .await
    {
        Ok(_) => StatusCode::OK.into_response(),
        Err(response) => response,
    }
}

async fn generic_webhook(State(state): State<AppState>, Path(key): Path<String>, body: Body) -> Response {
    let parse = |bytes: &[u8], now| {
        generic::parse(bytes, now).map(|mut event| {
            if event.dedup_key.is_empty() {
                event.dedup_key = hex::encode(&random_bytes()[..16]);
            }
            vec![event]
        })
    };
    match ingest_many(&state, "generic", IntegrationKind::Generic, &key, body, generic::MAX_BODY, parse).await {
        Ok(outcomes) => {
            let first = outcomes.first();
            let body = json!({
                "status": "success",
                "dedup_key": first.map(|o| o.dedup_key.clone()),
                "effect": first.map(|o| o.effect),
                "alert_id": first.and_then(|o| o.alert_id),
                "incident_id": first.and_then(|o| o.incident_id),
            });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(response) => response,
    }
}
