//! Parsing of query strings, path ids and JSON bodies into typed values,
//! with errors that name the offending field.

use axum::body::Body;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use tocsin_store::{DEFAULT_PAGE, MAX_PAGE, cursor};

use crate::error::{ApiError, read_body};

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

/// Reads a request body (at most [`MAX_API_BODY`]) into its wire type.
pub async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    parse_json(&read_body(body, MAX_API_BODY).await?)
}

/// Parses a JSON object into its wire type. An error names `body` when the
/// bytes are not a JSON object, else the field at fault as the caller spelled
/// it (`text`, `targets[0]`); the application names what breaks its rules.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        Ok(_) => return Err(ApiError::validation("body", "must be a JSON object")),
        Err(e) => return Err(ApiError::validation("body", format!("invalid JSON: {e}"))),
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing field is reported at its parent; name the field itself.
        let missing = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`'));
        match (missing, at.as_str()) {
            (Some(name), ".") => ApiError::validation(name, "is required"),
            (Some(name), parent) => ApiError::validation(format!("{parent}.{name}"), "is required"),
            (None, ".") => ApiError::validation("body", message),
            (None, field) => ApiError::validation(field, message),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_api::{NoteRequest, OverrideRequest, ReassignRequest, TokenRequest};

    fn field<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> Option<String> {
        parse_json::<T>(body.as_bytes()).unwrap_err().field
    }

    #[test]
    fn body_errors_name_the_field() {
        assert_eq!(field::<NoteRequest>("[1]").as_deref(), Some("body"));
        assert_eq!(field::<NoteRequest>("{").as_deref(), Some("body"));
        assert_eq!(field::<NoteRequest>("{}").as_deref(), Some("text"));
        assert_eq!(field::<NoteRequest>(r#"{"text": 5}"#).as_deref(), Some("text"));
        assert_eq!(field::<TokenRequest>(r#"{"name": "x", "role": "root"}"#).as_deref(), Some("role"));
        assert_eq!(field::<TokenRequest>(r#"{"name": "x", "role": "viewer", "user": 7}"#).as_deref(), Some("user"));
        let start = r#"{"user": "bob", "start": "friday", "end": "2026-03-03T18:00:00Z"}"#;
        assert_eq!(field::<OverrideRequest>(start).as_deref(), Some("start"));
        assert_eq!(field::<ReassignRequest>(r#"{"targets": "carol"}"#).as_deref(), Some("targets"));
        let both = r#"{"targets": [{"user": "carol"}, {"user": "a", "schedule": "b"}]}"#;
        assert_eq!(field::<ReassignRequest>(both).as_deref(), Some("targets[1]"));
        assert_eq!(field::<ReassignRequest>(r#"{"targets": [{"team": "x"}]}"#).as_deref(), Some("targets[0]"));
    }

    #[test]
    fn missing_fields_are_required() {
        let err = parse_json::<OverrideRequest>(br#"{"user": "bob", "end": "2026-03-03T18:00:00Z"}"#).unwrap_err();
        assert_eq!((err.field.as_deref(), err.message.as_str()), (Some("start"), "is required"));
        let ok: NoteRequest = parse_json(br#"{"text": "hi", "later": true}"#).unwrap();
        assert_eq!(ok.text, "hi", "unknown fields are ignored");
    }
}
