//! Static files compiled into the binary: no CDN, no build step. Each is
//! served under a name that carries its content hash, so it can be cached
//! for a year and a new release is fetched at once.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    // htmx 2.0.11 (0BSD), from the npm package `htmx.org`.
    Asset { name: "htmx.min.js", content_type: "text/javascript", body: include_bytes!("../static/htmx.min.js") },
    Asset { name: "tocsin.js", content_type: "text/javascript", body: include_bytes!("../static/tocsin.js") },
    Asset { name: "tocsin.css", content_type: "text/css", body: include_bytes!("../static/tocsin.css") },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", body: include_bytes!("../static/favicon.svg") },
];

/// `name` → `/static/<first 12 hex of sha256>/name`.
static URLS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = hex::encode(Sha256::digest(a.body));
            (a.name, format!("/static/{}/{}", &digest[..12], a.name))
        })
        .collect()
});

/// The versioned address of a static file, for templates.
pub(crate) fn url(name: &str) -> &'static str {
    URLS.iter().find(|(n, _)| *n == name).map_or("/static/missing", |(_, u)| u.as_str())
}

pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/static/{version}/{name}", get(serve))
}

async fn serve(Path((version, name)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // An old version's address still answers (with today's file) but is not
    // cached, so a page from before an upgrade keeps working.
    let cache = if url(&name).split('/').nth(2) == Some(version.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.body,
    )
        .into_response()
}
