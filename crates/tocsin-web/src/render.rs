//! Turning templates and application errors into answers.

use askama::Template;
use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tocsin_app::AppError;

use crate::assets;
use crate::session::Viewer;

/// What the frame around every signed-in page shows: who is signed in,
/// where they are, and the CSRF token forms and htmx send.
pub(crate) struct Chrome {
    pub user: String,
    pub csrf: String,
    /// The navigation entry to mark as current.
    pub section: &'static str,
    /// Whether the audit log is in the navigation (the application layer
    /// says whether this principal may read it).
    pub show_audit: bool,
}

impl Chrome {
    pub fn new(web: &crate::Web, viewer: &Viewer, section: &'static str) -> Self {
        use tocsin_core::access::{Action, Resource};
        Self {
            user: viewer.user_id().to_string(),
            csrf: viewer.csrf().to_string(),
            section,
            show_audit: web.app.can(viewer.principal(), Action::ReadAudit, Resource::All),
        }
    }

    pub fn asset(&self, name: &str) -> &'static str {
        assets::url(name)
    }

    /// `aria-current` for a navigation link.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section { "page" } else { "false" }
    }

    /// The JSON htmx sends as extra headers (the CSRF token).
    pub fn hx_headers(&self) -> String {
        format!("{{\"X-CSRF-Token\": \"{}\"}}", self.csrf)
    }
}

/// A rendered page, or the error page when rendering failed.
pub(crate) fn page(template: &impl Template) -> Response {
    page_with_status(StatusCode::OK, template)
}

pub(crate) fn page_with_status(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            (status, [(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot render a page");
            WebError::new(StatusCode::INTERNAL_SERVER_ERROR, "This page could not be shown.").into_response()
        }
    }
}

/// 303 to `to`: after a form, so reloading does not post it again.
pub(crate) fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error shown as a page: a status a browser and a person can act on.
#[derive(Debug)]
pub(crate) struct WebError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None }
    }
}

/// The status an application error is answered with (as [`WebError`] does),
/// for pages that show the error on the form that caused it.
pub(crate) fn status_of(err: &AppError) -> StatusCode {
    match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Invalid { .. } | AppError::InvalidConfig(_) => StatusCode::BAD_REQUEST,
        AppError::InvalidTransition(_) | AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<AppError> for WebError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Unauthenticated(m) => WebError::new(StatusCode::UNAUTHORIZED, m),
            AppError::Throttled { retry_after } => {
                let secs = retry_after.as_secs().max(1);
                WebError {
                    retry_after: Some(secs),
                    ..WebError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("Too many failed logins. Try again in {}.", crate::format::span(secs)),
                    )
                }
            }
            AppError::Forbidden(denied) => WebError::new(StatusCode::FORBIDDEN, denied.to_string()),
            e @ AppError::NotFound(_) => WebError::new(StatusCode::NOT_FOUND, capitalised(&e.to_string())),
            e @ AppError::Invalid { .. } => WebError::new(StatusCode::BAD_REQUEST, e.to_string()),
            AppError::InvalidTransition(m) | AppError::Conflict(m) => WebError::new(StatusCode::CONFLICT, m),
            e @ AppError::InvalidConfig(_) => WebError::new(StatusCode::BAD_REQUEST, e.to_string()),
            AppError::Unavailable(e) => {
                tracing::warn!(error = %e, "a page could not be served: storage unavailable");
                WebError {
                    retry_after: Some(5),
                    ..WebError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The database is unavailable. Try again in a moment.",
                    )
                }
            }
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
    css: &'static str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
            css: assets::url("tocsin.css"),
        };
        let mut response = match page.render() {
            Ok(html) => (self.status, [(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
                .into_response(),
            Err(_) => (self.status, self.message).into_response(),
        };
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
