//! `POST|GET /integrations/heartbeat/{key}`: a job's ping. Like ingestion
//! (`crate::intake`), it acts for a key, not a person, and follows its
//! rules: the key is looked up (by hash, through a short cache) before the
//! body is read, unknown keys answer the same 404 as unknown integrations,
//! each key has a rate limit, and a store that cannot answer is a 503 the
//! job should retry. The body is ignored, but read (up to [`MAX_BODY`]) so
//! a job that posts its log gets an answer and not a reset.
//!
//! The ping is committed before the 2xx, together with the resolve of the
//! monitor's open alert when it has one (see `tocsin_store::HeartbeatStore`).

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_core::auth::hash_secret;
use tocsin_store::{HeartbeatRef, StoreError};

use crate::error::ApiError;
use crate::intake::{MAX_KEY_LEN, unknown_key};
use crate::metrics as m;
use crate::state::AppState;

/// The label ingestion's metrics give refused pings.
const SOURCE: &str = "heartbeat";

/// Largest body read (and dropped): room for a job's short log.
pub const MAX_BODY: usize = 64 * 1024;

/// How long a key lookup is reused; a new config version empties the cache
/// at once, as for integration keys. Unknown keys are cached too, so
/// guessing costs no queries.
const KEY_TTL: Duration = Duration::from_secs(10);
/// Bound on cached lookups, so random keys cannot grow memory without limit.
const MAX_CACHED_KEYS: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/integrations/heartbeat/{key}", get(ping).post(ping))
        // The handler enforces its own limit while reading.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// A key lookup result (including "no such key"), when it was made, and
/// the config version in force then.
type CachedKey = (Option<HeartbeatRef>, Instant, i64);

/// Key lookups by hash.
#[derive(Clone, Default)]
pub(crate) struct HeartbeatKeys(Arc<Mutex<HashMap<String, CachedKey>>>);

impl HeartbeatKeys {
    async fn lookup(&self, state: &AppState, key_hash: &str) -> Result<Option<HeartbeatRef>, StoreError> {
        let version = state.app.directory().version;
        if let Some((found, at, seen_in)) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key_hash)
            && at.elapsed() < KEY_TTL
            && *seen_in == version
        {
            return Ok(found.clone());
        }
        let found = state.store().find_heartbeat(key_hash).await?;
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(key_hash.to_string(), (found.clone(), Instant::now(), version));
        Ok(found)
    }
}

/// The answer to a ping.
#[derive(Debug, Serialize)]
struct Pinged {
    heartbeat: String,
    /// When the monitor is overdue without another ping.
    next_deadline: DateTime<Utc>,
    /// The incident this ping resolved (the monitor's missed deadline).
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_incident: Option<i64>,
}

fn reject(reason: &'static str, err: ApiError) -> Response {
    m::rejected(SOURCE, reason);
    err.into_response()
}

fn throttled() -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many pings for this heartbeat; retry later")
}

async fn ping(State(state): State<AppState>, Path(key): Path<String>, body: Body) -> Response {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return reject("unknown_key", unknown_key());
    }
    let monitor = match state.heartbeat_keys.lookup(&state, &hash_secret(&key)).await {
        Ok(Some(monitor)) => monitor,
        Ok(None) => return reject("unknown_key", unknown_key()),
        Err(err) => return reject("storage", ApiError::from(err)),
    };
    if let Err(err) = crate::error::read_body(body, MAX_BODY).await {
        let reason = match err.status {
            StatusCode::SERVICE_UNAVAILABLE => "overloaded",
            StatusCode::REQUEST_TIMEOUT => "body_timeout",
            _ => "too_large",
        };
        return reject(reason, err);
    }
    // Buckets are named apart from integrations', whose ids may be the same.
    if !state.admit(&format!("heartbeat:{}", monitor.id), 1) {
        return reject("rate_limited", throttled());
    }
    match state.store().ping_heartbeat(&monitor.id, state.now()).await {
        Ok(Some(ping)) => {
            metrics::counter!("tocsin_heartbeat_pings_total", "heartbeat" => ping.heartbeat.clone()).increment(1);
            let answer = Pinged {
                heartbeat: ping.heartbeat,
                next_deadline: ping.deadline,
                resolved_incident: ping.resolved_incident,
            };
            (StatusCode::OK, Json(answer)).into_response()
        }
        // Config removed the monitor since its key was looked up.
        Ok(None) => reject("unknown_key", unknown_key()),
        Err(err) => reject("storage", ApiError::from(err)),
    }
}
