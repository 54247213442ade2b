//! The OpenAPI 3.1 document of `/api/v1`, generated: its paths come from the
//! route table (`api::routes`, one `#[utoipa::path]` per handler) and its
//! schemas from the wire types in `tocsin-api`. Written here by hand are only
//! the title, the security schemes and what each error status means.

use std::sync::LazyLock;

use axum::Json;
use tocsin_api::ErrorBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::auth::Caller;

/// The document's frame; `api::routes` adds every path to it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tocsin API",
        description = "JSON with snake_case fields and RFC 3339 UTC timestamps. Listings that page \
            return `next_cursor`; pass it back as `cursor`. Every error answers \
            `{\"error\": {\"code\", \"message\", \"field\"}}`. Operations say the least role they need."
    ),
    servers((url = "/api/v1")),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes)
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API token (`tcs_…`), issued by `POST /tokens`."))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let feed = ApiKeyValue::with_description("token", "A calendar feed token: `POST /users/{id}/ical-token`.");
        components.add_security_scheme("feed_token", SecurityScheme::ApiKey(ApiKey::Query(feed)));
    }
}

/// The error statuses operations list, each answering the error envelope.
/// Only described in the document, never built.
#[allow(dead_code)]
pub(crate) mod errors {
    use super::*;

    /// A query parameter or body field is invalid; `error.field` names it.
    #[derive(IntoResponses)]
    #[response(status = 400)]
    pub struct BadRequest(ErrorBody);

    /// No bearer token, or one that is invalid, expired or revoked.
    #[derive(IntoResponses)]
    #[response(status = 401)]
    pub struct Unauthenticated(ErrorBody);

    /// The caller's role may not do this.
    #[derive(IntoResponses)]
    #[response(status = 403)]
    pub struct Forbidden(ErrorBody);

    /// No such resource, or none the caller may know of.
    #[derive(IntoResponses)]
    #[response(status = 404)]
    pub struct NotFound(ErrorBody);

    /// The incident's state does not allow it (`invalid_transition`), or a
    /// concurrent change came first (`conflict`).
    #[derive(IntoResponses)]
    #[response(status = 409)]
    pub struct Conflict(ErrorBody);

    /// The config file does not validate; `error.details` lists every
    /// problem with its file, line, column and path. Nothing was changed.
    #[derive(IntoResponses)]
    #[response(status = 422)]
    pub struct InvalidConfig(ErrorBody);
}

/// The document, built once from the route table.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(|| crate::api::routes().into_openapi());

/// This document.
///
/// Requires role `viewer` or higher.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi_document",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of `/api/v1`", body = serde_json::Value),
        errors::Unauthenticated,
    )
)]
pub async fn document(_caller: Caller) -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}

#[cfg(test)]
mod tests;
