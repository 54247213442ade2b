//! The API's error shape: `{"error":{"code","message","field"}}` with a
//! status a client can act on.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tocsin_api::{ErrorBody, ErrorDetail, Problem};
use tocsin_app::AppError;
use tocsin_core::CoreError;
use tocsin_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Itemised problems where one message is not enough (every error in
    /// a config file); shown as `error.details`.
    pub details: Option<Vec<Problem>>,
    /// Seconds for `Retry-After` (429 and 503 answer 1 without it).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, details: None, retry_after: None }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: Some(field.into()), ..Self::new(StatusCode::BAD_REQUEST, "validation_failed", message) }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn unauthenticated(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// Shed by an overload limit; the client should retry shortly.
    pub fn overloaded() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the server is busy; retry later")
    }

    pub fn body_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", "the request body did not arrive in time")
    }

    /// Too many failed logins; `retry_after` rounded up to whole seconds.
    pub fn throttled(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self {
            retry_after: Some(secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                format!("too many failed logins; try again in {} s", secs.max(1)),
            )
        }
    }

    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage is unavailable; retry later")
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Domain(CoreError::InvalidTransition { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", err.to_string())
            }
            StoreError::Domain(CoreError::Invalid { field, message }) => ApiError::validation(field, message),
            StoreError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            other => {
                tracing::error!(error = %other, "storage error");
                metrics::counter!("tocsin_database_errors_total", "op" => "request").increment(1);
                ApiError::unavailable()
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Unauthenticated(message) => ApiError::unauthenticated(message),
            AppError::Throttled { retry_after } => ApiError::throttled(retry_after),
            AppError::Forbidden(denied) => ApiError::forbidden(denied.0),
            AppError::NotFound(what) => ApiError::not_found(what),
            AppError::Invalid { field, message } => ApiError::validation(field, message),
            AppError::InvalidTransition(message) => ApiError::new(StatusCode::CONFLICT, "invalid_transition", message),
            AppError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            AppError::InvalidConfig(errors) => {
                let items: Vec<Problem> = errors
                    .0
                    .into_iter()
                    .map(|e| Problem { file: e.file, line: e.line, column: e.column, path: e.path, message: e.message })
                    .collect();
                let message = format!("the config does not validate ({} problems); nothing was changed", items.len());
                ApiError {
                    details: Some(items),
                    ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", message)
                }
            }
            AppError::Unavailable(store) => store.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (details, retry_after) = (self.details, self.retry_after);
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message, field: self.field, details },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE || self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// A panic in a handler is a bug; answer 500 in the API's shape rather than
/// dropping the connection.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
}

/// Reads a request body up to `limit` bytes: larger bodies are a 413 (one
/// that declares a larger length, before anything is read), a body the
/// byte budget cannot hold a 503, one that arrives too slowly a 408 (see
/// [`crate::overload`]).
pub async fn read_body(mut body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    use axum::body::HttpBody;
    let hint = body.size_hint();
    if hint.lower() > limit as u64 {
        return Err(ApiError::too_large(limit));
    }
    // The declared length is at most `limit`, so reserving it is bounded.
    let mut bytes = Vec::with_capacity(hint.exact().unwrap_or(0) as usize);
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| match crate::overload::BodyRefused::find(&e) {
            Some(crate::overload::BodyRefused::Budget) => ApiError::overloaded(),
            Some(crate::overload::BodyRefused::Timeout) => ApiError::body_timeout(),
            // The client went away or sent a broken body; nobody reads this.
            None => ApiError::too_large(limit),
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(ApiError::too_large(limit));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn throttled_logins_are_429_with_retry_after_in_whole_seconds() {
        let response =
            ApiError::from(AppError::Throttled { retry_after: Duration::from_millis(29_001) }).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "30");
        let response = ApiError::from(AppError::Throttled { retry_after: Duration::from_secs(900) }).into_response();
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "900");
        let response = ApiError::unavailable().into_response();
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "1");
    }
}
