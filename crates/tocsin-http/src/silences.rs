//! Alertmanager's silences API v2 (`/api/v2/silences`, `/api/v2/silence/{id}`),
//! in Alertmanager's own wire format, so `amtool silence add|query|expire`
//! and other Alertmanager clients work against Tocsin unchanged. Requests
//! carry the same bearer tokens as `/api/v1`; the application layer decides.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use tocsin_api::{GettableSilence, PostableSilence, SilenceCreated, SilenceMatcher, SilenceStatus};
use tocsin_core::matchers::{MatchOp, Matcher, Matchers};
use tocsin_core::silence::{Silence, SilenceDraft};

use crate::auth::Caller;
use crate::error::{ApiError, read_body};
use crate::state::AppState;

/// Largest silence body accepted: matchers (bounded in number and size by
/// the domain), a comment and a few instants.
pub const MAX_BODY: usize = 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/silences", get(list).post(create))
        .route("/api/v2/silence/{id}", get(show).delete(expire))
}

fn gettable(s: Silence, now: DateTime<Utc>) -> GettableSilence {
    GettableSilence {
        status: SilenceStatus { state: s.state(now).as_str().to_string() },
        matchers: s
            .matchers
            .iter()
            .map(|m| SilenceMatcher {
                name: m.name().to_string(),
                value: m.value().to_string(),
                is_regex: matches!(m.op(), MatchOp::Re | MatchOp::NotRe),
                is_equal: matches!(m.op(), MatchOp::Eq | MatchOp::Re),
            })
            .collect(),
        id: s.id,
        updated_at: s.updated_at,
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
    }
}

fn op(m: &SilenceMatcher) -> MatchOp {
    match (m.is_regex, m.is_equal) {
        (false, true) => MatchOp::Eq,
        (false, false) => MatchOp::NotEq,
        (true, true) => MatchOp::Re,
        (true, false) => MatchOp::NotRe,
    }
}

fn matchers(wire: &[SilenceMatcher]) -> Result<Matchers, ApiError> {
    let list = wire
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Matcher::new(&m.name, op(m), &m.value)
                .map_err(|e| ApiError::validation(format!("matchers[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Matchers::new(list).map_err(|e| ApiError::validation("matchers", e.to_string()))
}

async fn create(State(state): State<AppState>, caller: Caller, request: Request<Body>) -> Result<Response, ApiError> {
    let bytes = read_body(request.into_body(), MAX_BODY).await?;
    let body: PostableSilence =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::validation("body", format!("not a silence: {e}")))?;
    let draft = SilenceDraft {
        matchers: matchers(&body.matchers)?,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        created_by: body.created_by,
        comment: body.comment,
    };
    let id = state.app.put_silence(&caller, body.id.as_deref(), draft).await?;
    Ok(Json(SilenceCreated { silence_id: id }).into_response())
}

/// `?filter=` matchers, as Alertmanager applies them to a silence: each
/// filter is tested against the value the silence's matcher of that name
/// has (a filter on a name the silence does not match on, with an empty
/// value, is no constraint).
fn passes(filters: &[Matcher], s: &Silence) -> bool {
    filters.iter().all(|f| {
        let own = s.matchers.iter().find(|m| m.name() == f.name()).map(|m| m.value());
        let negative = matches!(f.op(), MatchOp::NotEq | MatchOp::NotRe);
        match own {
            Some(_) if negative && f.value().is_empty() => true,
            None if !negative && f.value().is_empty() => true,
            value => f.matches_value(value.unwrap_or("")),
        }
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::validation("filter", e.to_string()))?;
    let filters = pairs
        .iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| Matcher::parse(v).map_err(|e| ApiError::validation("filter", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let now = state.app.now();
    let found = state.app.silences(&caller).await?;
    let items: Vec<GettableSilence> =
        found.into_iter().filter(|s| passes(&filters, s)).map(|s| gettable(s, now)).collect();
    Ok(Json(items).into_response())
}

async fn show(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let s = state.app.silence(&caller, &id).await?;
    Ok(Json(gettable(s, state.app.now())).into_response())
}

async fn expire(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    state.app.expire_silence(&caller, &id).await?;
    Ok(StatusCode::OK.into_response())
}

/// Keeps the state names Alertmanager uses in `status.state`.
#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_core::silence::SilenceState;

    #[test]
    fn states_read_as_alertmanagers() {
        assert_eq!(SilenceState::Pending.as_str(), "pending");
        assert_eq!(SilenceState::Active.as_str(), "active");
        assert_eq!(SilenceState::Expired.as_str(), "expired");
    }

    #[test]
    fn wire_matchers_map_to_all_four_operators() {
        let wire = |is_regex, is_equal| SilenceMatcher { name: "a".into(), value: "b".into(), is_regex, is_equal };
        assert_eq!(op(&wire(false, true)), MatchOp::Eq);
        assert_eq!(op(&wire(false, false)), MatchOp::NotEq);
        assert_eq!(op(&wire(true, true)), MatchOp::Re);
        assert_eq!(op(&wire(true, false)), MatchOp::NotRe);
        let parsed: SilenceMatcher = serde_json::from_str(r#"{"name":"a","value":"b","isRegex":false}"#).unwrap();
        assert!(parsed.is_equal, "isEqual defaults to true, as in Alertmanager");
    }
}
