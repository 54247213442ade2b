//! Parsing of query strings, path ids and JSON bodies into typed values,
//! with errors that name the offending field.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::HashMap;
use tocsin_store::{DEFAULT_PAGE, MAX_PAGE, cursor};

use crate::error::ApiError;

/// Largest JSON body any `/api/v1` call accepts.
pub const MAX_API_BODY: usize = 64 * 1024;

pub type RawParams = Result<Query<HashMap<String, String>>, QueryRejection>;

pub struct Params(HashMap<String, String>);

impl Params {
    pub fn from(raw: RawParams) -> Result<Self, ApiError> {
        raw.map(|Query(map)| Params(map)).map_err(|e| ApiError::validation("query", e.body_text()))
    }

    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) if v.contains('\0') => Err(ApiError::validation(name, "must not contain NUL characters")),
            Some(v) if v.chars().count() > max => Err(ApiError::validation(name, format!("at most {max} characters"))),
            Some(v) => Ok(Some(v.clone())),
        }
    }

    pub fn parsed<T>(
        &self,
        name: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        self.text(name, 256)?
            .map(|v| parse(&v).ok_or_else(|| ApiError::validation(name, format!("must be {expected}"))))
            .transpose()
    }

    pub fn timestamp(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.parsed(name, RFC3339_EXPECTED, parse_rfc3339)
    }

    /// `true` or `false`; absent means `false`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self
            .parsed(name, "true or false", |v| match v {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })?
            .unwrap_or(false))
    }

    pub fn cursor(&self) -> Result<Option<i64>, ApiError> {
        self.parsed("cursor", "a next_cursor value from a previous page", cursor::decode)
    }

    pub fn limit(&self) -> Result<i64, ApiError> {
        Ok(self
            .parsed("limit", &format!("an integer from 1 to {MAX_PAGE}"), |v| {
                v.parse::<i64>().ok().filter(|n| (1..=MAX_PAGE).contains(n))
            })?
            .unwrap_or(DEFAULT_PAGE))
    }
}

const RFC3339_EXPECTED: &str = "an RFC 3339 timestamp such as 2026-01-31T09:00:00Z";

fn parse_rfc3339(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v).ok().map(|t| t.with_timezone(&Utc))
}

/// Numeric ids in paths; anything else cannot name a resource.
pub fn id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::not_found(what))
}

/// Parses a JSON object body; the error names the body or the field.
pub fn json_object(bytes: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::validation("body", "must be a JSON object")),
        Err(e) => Err(ApiError::validation("body", format!("invalid JSON: {e}"))),
    }
}

/// A required string field of a JSON object, 1..=max characters.
pub fn required_text(
    map: &serde_json::Map<String, serde_json::Value>,
    field: &str,
    max: usize,
) -> Result<String, ApiError> {
    match map.get(field) {
        None | Some(serde_json::Value::Null) => Err(ApiError::validation(field, "is required")),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
            Err(ApiError::validation(field, "must not be empty"))
        }
        Some(serde_json::Value::String(s)) if s.chars().count() > max => {
            Err(ApiError::validation(field, format!("at most {max} characters")))
        }
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ApiError::validation(field, "must be a string")),
    }
}

/// An optional string field of a JSON object, 1..=max characters when set.
pub fn optional_text(
    map: &serde_json::Map<String, serde_json::Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match map.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(_) => required_text(map, field, max).map(Some),
    }
}

/// A required RFC 3339 timestamp field of a JSON object, at the precision the
/// store keeps (microseconds), so what a response shows is what a later read
/// returns.
pub fn required_timestamp(
    map: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<DateTime<Utc>, ApiError> {
    let text = required_text(map, field, 64)?;
    parse_rfc3339(text.trim())
        .map(|t| t.trunc_subsecs(6))
        .ok_or_else(|| ApiError::validation(field, format!("must be {RFC3339_EXPECTED}")))
}
