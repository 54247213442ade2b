//! Logging in and out, and setting a first password from an invitation.
//!
//! Neither form has a session to tie a CSRF token to, so each carries a
//! random token that must equal the one in a cookie set with the form
//! (double submit): another site can make a browser post, but cannot read or
//! set that cookie.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tocsin_app::{Credentials, LoggedIn};

use crate::Web;
use crate::assets;
use crate::render::{WebError, page_with_status, see_other};
use crate::session::{COOKIE_NAME, LOGIN_COOKIE_NAME, Viewer, client_address, cookie, safe_next, same, set_cookie};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    heading: &'a str,
    action: String,
    csrf: String,
    username: String,
    next: Option<String>,
    error: Option<String>,
    info: Option<&'a str>,
    invite: bool,
    css: &'static str,
    favicon: &'static str,
}

impl LoginPage<'_> {
    fn new(csrf: String) -> Self {
        LoginPage {
            heading: "Log in",
            action: "/login".into(),
            csrf,
            username: String::new(),
            next: None,
            error: None,
            info: None,
            invite: false,
            css: assets::url("tocsin.css"),
            favicon: assets::url("favicon.svg"),
        }
    }
}

/// The form token: the login cookie's when it has one, so several tabs
/// share it, else a fresh one.
fn form_token(headers: &HeaderMap) -> String {
    cookie(headers, LOGIN_COOKIE_NAME).filter(|t| t.len() == 64).map_or_else(fresh_token, str::to_owned)
}

fn fresh_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness the form cannot be protected; an empty token
        // never matches (see `double_submit_ok`), so logins fail closed.
        return String::new();
    }
    hex::encode(bytes)
}

/// The form with its cookie; `status` is 200 on first show.
fn respond(web: &Web, status: StatusCode, page: &LoginPage<'_>) -> Response {
    let mut response = page_with_status(status, page);
    response.headers_mut().append(SET_COOKIE, set_cookie(web, LOGIN_COOKIE_NAME, &page.csrf, Some(3600)));
    response
}

fn double_submit_ok(headers: &HeaderMap, submitted: &str) -> bool {
    let cross_site = headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
    let cookie = cookie(headers, LOGIN_COOKIE_NAME).unwrap_or("");
    !cross_site && !submitted.is_empty() && same(cookie, submitted)
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

pub(crate) async fn form(State(web): State<Web>, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let mut page = LoginPage::new(form_token(&headers));
    page.next = q.next.as_deref().and_then(safe_next).map(str::to_owned);
    respond(&web, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub(crate) async fn submit(
    State(web): State<Web>,
    headers: HeaderMap,
    request_parts: axum::http::Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = form.next.as_deref().and_then(safe_next).map(str::to_owned);
    let mut page = LoginPage::new(fresh_token());
    page.username = form.username.chars().take(100).collect();
    page.next.clone_from(&next);
    if !double_submit_ok(&headers, &form.csrf) {
        page.error = Some("This login form expired. Please log in again.".into());
        return respond(&web, StatusCode::FORBIDDEN, &page);
    }
    let credentials = Credentials {
        user: form.username.trim(),
        password: &form.password,
        address: client_address(&request_parts),
        user_agent: headers.get("user-agent").and_then(|v| v.to_str().ok()),
    };
    match web.app.login(credentials).await {
        Ok(logged_in) => signed_in(&web, &logged_in, next.as_deref().unwrap_or("/")),
        Err(e) => {
            let err = WebError::from(e);
            page.error = Some(err.message.clone());
            let mut response = respond(&web, err.status, &page);
            if let Some(secs) = err.retry_after {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
            }
            response
        }
    }
}

/// Sets the session cookie (until the session's absolute expiry), drops the
/// login form's cookie and goes on to `to`.
fn signed_in(web: &Web, logged_in: &LoggedIn, to: &str) -> Response {
    let max_age = (logged_in.session.expires_at - web.app.now()).num_seconds().max(1);
    let mut response = see_other(to);
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, set_cookie(web, COOKIE_NAME, &logged_in.secret, Some(max_age)));
    headers.append(SET_COOKIE, set_cookie(web, LOGIN_COOKIE_NAME, "", None));
    response
}

/// Ends this session (everywhere: it is a database row) and forgets the
/// cookie.
pub(crate) async fn logout(State(web): State<Web>, _viewer: Viewer, headers: HeaderMap) -> Response {
    if let Some(secret) = cookie(&headers, COOKIE_NAME)
        && let Err(e) = web.app.logout(secret).await
    {
        return WebError::from(e).into_response();
    }
    let mut response = see_other("/login?logged_out=1");
    response.headers_mut().append(SET_COOKIE, set_cookie(&web, COOKIE_NAME, "", None));
    response
}

pub(crate) async fn invitation(State(web): State<Web>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    match web.app.invitation(&token).await {
        Ok(info) => {
            let page = invitation_page(form_token(&headers), &token, info.user_id);
            respond(&web, StatusCode::OK, &page)
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

fn invitation_page(csrf: String, token: &str, user: String) -> LoginPage<'static> {
    LoginPage {
        heading: "Set your password",
        action: format!("/invite/{}", crate::render::url_encode(token)),
        username: user,
        invite: true,
        ..LoginPage::new(csrf)
    }
}

#[derive(Deserialize)]
pub(crate) struct InvitationForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

pub(crate) async fn accept_invitation(
    State(web): State<Web>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Path(token): Path<String>,
    Form(form): Form<InvitationForm>,
) -> Response {
    let info = match web.app.invitation(&token).await {
        Ok(info) => info,
        Err(e) => return WebError::from(e).into_response(),
    };
    let mut page = invitation_page(fresh_token(), &token, info.user_id);
    if !double_submit_ok(&headers, &form.csrf) {
        page.error = Some("This form expired. Please try again.".into());
        return respond(&web, StatusCode::FORBIDDEN, &page);
    }
    if form.password != form.repeat {
        page.error = Some("The two passwords differ.".into());
        return respond(&web, StatusCode::BAD_REQUEST, &page);
    }
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok());
    match web.app.accept_invitation(&token, &form.password, client_address(&extensions), user_agent).await {
        Ok(logged_in) => signed_in(&web, &logged_in, "/"),
        Err(e) => {
            page.error = Some(e.to_string());
            let status = WebError::from(e).status;
            respond(&web, status, &page)
        }
    }
}
