//! The web pages responders use: server-rendered HTML (askama templates,
//! escaped by default) over the application layer, enhanced by htmx when
//! JavaScript runs and complete without it.
//!
//! Every page and form goes through [`tocsin_app::App`], which decides who
//! may do what; pages only show what the application layer says is allowed
//! ([`tocsin_app::App::incident_actions`], [`tocsin_app::App::can`]).
//!
//! - `session`: the session cookie, the signed-in viewer, CSRF checks.
//! - `security`: the headers every answer carries (CSP without inline
//!   scripts, no framing).
//! - `assets`: htmx, the style sheet and a small script, served from the
//!   binary.
//! - `render`: turning templates and application errors into answers.
//! - `pages/`: one module per area.

mod assets;
mod format;
mod pages;
mod render;
mod security;
mod session;
mod timeline;

#[cfg(test)]
mod tests;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tocsin_app::App;

/// Largest form a page accepts; a note of the longest allowed length, URL
/// encoded, fits.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// What the pages need: the application layer and how cookies are set.
#[derive(Clone)]
pub struct Web {
    pub(crate) app: App,
    /// Mark cookies `Secure` (the server is behind TLS, directly or through a
    /// proxy that terminates it).
    pub(crate) secure_cookies: bool,
}

impl Web {
    pub fn new(app: App) -> Self {
        Self { app, secure_cookies: false }
    }

    /// Cookies carry `Secure`: set when serving HTTPS or when `public_url`
    /// is `https://`.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }
}

/// Every page, form and asset, ready to merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>(web: Web) -> Router<S> {
    let signed_in =
        pages::signed_in_routes().route_layer(middleware::from_fn_with_state(web.clone(), session::require_session));
    Router::new()
        .merge(signed_in)
        .merge(pages::public_routes())
        .merge(assets::routes())
        .layer(middleware::from_fn(security::headers))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(web)
}
