//! The session cookie and the signed-in viewer.
//!
//! The cookie holds only a random secret; the session itself (who, since
//! when, until when) is a database row the application layer reads, so any
//! node serves any session and logging out ends it everywhere.
//!
//! CSRF: every state-changing request of a signed-in page must carry the
//! session's token, as the `_csrf` form field or the `X-CSRF-Token` header
//! (htmx), and must not come from another site (`Sec-Fetch-Site`). The
//! token is derived from the session secret by the application layer, so
//! nothing extra is stored and a stolen page cannot be replayed by another
//! session.

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use tocsin_app::{ActiveSession, AppError};
use tocsin_core::access::Principal;

use crate::render::{self, WebError};
use crate::{MAX_FORM_BYTES, Web};

/// The session cookie's name.
pub(crate) const COOKIE_NAME: &str = "tocsin_session";
/// The login form's own CSRF cookie (double submit): there is no session
/// yet to tie a token to.
pub(crate) const LOGIN_COOKIE_NAME: &str = "tocsin_login";
/// The form field and header that carry the CSRF token.
pub(crate) const CSRF_FIELD: &str = "_csrf";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The person a page is rendered for, with the session they came in on.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    pub session: ActiveSession,
}

impl Viewer {
    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }

    pub fn user_id(&self) -> &str {
        self.session.principal.user_id().unwrap_or("system")
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Viewer>().cloned().ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// The value of cookie `name`, if the request sent it.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for `name`: HttpOnly, SameSite=Lax, path `/`, `Secure` when
/// serving over TLS; `max_age` `None` deletes it.
pub(crate) fn set_cookie(web: &Web, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    let age = max_age.unwrap_or(0);
    let value = if max_age.is_some() { value } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={age}{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("tocsin_invalid=; Max-Age=0"))
}

/// The client's address as the connection shows it (for login throttling).
pub(crate) fn client_address(parts_extensions: &axum::http::Extensions) -> Option<IpAddr> {
    parts_extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Whether `next` is a path on this server (not `//host`, not a URL), so
/// a login link cannot send anyone elsewhere afterwards.
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

/// Where to send someone who is not signed in: the login page, then back.
fn to_login(request: &Request, clear_cookie: Option<HeaderValue>) -> Response {
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let target = if request.method() == Method::GET && path_and_query != "/" {
        format!("/login?next={}", render::url_encode(path_and_query))
    } else {
        "/login".to_string()
    };
    let mut response = if request.headers().contains_key("hx-request") {
        // htmx would swap the login page into a fragment; make it navigate.
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(LOCATION, v);
        }
        r
    };
    if let Some(clear) = clear_cookie {
        response.headers_mut().append(SET_COOKIE, clear);
    }
    response
}

/// Signs the request in from its session cookie (or sends it to the login
/// page) and, for anything but GET and HEAD, checks its CSRF token.
pub(crate) async fn require_session(State(web): State<Web>, request: Request, next: Next) -> Response {
    let secret = cookie(request.headers(), COOKIE_NAME).map(str::to_owned);
    let Some(secret) = secret else { return to_login(&request, None) };
    let session = match web.app.session(&secret).await {
        Ok(session) => session,
        Err(AppError::Unauthenticated(_)) => {
            return to_login(&request, Some(set_cookie(&web, COOKIE_NAME, "", None)));
        }
        Err(e) => return WebError::from(e).into_response(),
    };
    let request = if is_safe(request.method()) {
        request
    } else {
        match checked(request, &session.csrf_token).await {
            Ok(request) => request,
            Err(response) => return response,
        }
    };
    let mut request = request;
    request.extensions_mut().insert(Viewer { session });
    next.run(request).await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The request, its body put back, when it carries `expected` and comes
/// from this site; a 403 page otherwise.
pub(crate) async fn checked(request: Request, expected: &str) -> Result<Request, Response> {
    if request.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site") {
        return Err(forbidden("This request came from another site and was refused."));
    }
    if let Some(token) = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if same(token, expected) { Ok(request) } else { Err(forbidden(STALE)) };
    }
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(forbidden(STALE));
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return Err(WebError::new(StatusCode::PAYLOAD_TOO_LARGE, "That form is too large.").into_response());
    };
    if !form_token(&bytes).is_some_and(|token| same(&token, expected)) {
        return Err(forbidden(STALE));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

const STALE: &str =
    "This form is missing its security token or it has expired. Go back, reload the page and try again.";

fn forbidden(message: &str) -> Response {
    WebError::new(StatusCode::FORBIDDEN, message).into_response()
}

/// The `_csrf` field of a URL-encoded form.
pub(crate) fn form_token(body: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v)
}

/// Compares in time independent of where the first difference is.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
