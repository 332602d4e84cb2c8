//! The OpenAPI 3.1 document: the common parts here, the operations from [`crate::routes`].

use actix_web::App;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Samverkan API",
        description = "The data service of Kommunförbundet Västernorrland, the association of the \
seven municipalities of Västernorrland county: municipalities, collaboration areas, yearly plans \
and their goals.\n\n\
Conventions: JSON with camelCase fields; timestamps RFC 3339 in UTC; municipalities addressed by \
their kommunkod (`2281`), other resources by UUID. Lists take `limit` (1–500, default 20), `page` \
(from 1) and `sort` (`name,-updatedAt`), answer `{items, _meta}`, and sort names the Swedish way. \
Every error is an RFC 9457 `application/problem+json` document with `type`, `title`, `status`, \
`detail`, `instance`, `requestId` and, for invalid input, `violations`. Every answer carries \
`X-Request-Id` (the client's own when it sent a valid one). GETs carry a strong `ETag` and \
honour `If-None-Match` with `304 Not Modified`.",
        license(name = "MIT", identifier = "MIT"),
        contact(name = "Kommunförbundet Västernorrland"),
    ),
    tags(
        (name = "Meta", description = "What this API is and its OpenAPI document."),
        (name = "Municipalities", description = "The seven member municipalities, by kommunkod."),
        (name = "Areas", description = "Collaboration areas (verksamhetsområden)."),
        (name = "Plans", description = "Yearly operational plans and their three goals."),
        (name = "Operations", description = "Health probes and metrics for operators."),
    ),
)]
struct ApiDoc;

/// The complete document, built from the same route list as the app.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    doc
}

/// The document as committed in `openapi/openapi.json` (pretty JSON, trailing newline).
pub fn to_pretty_json(doc: &utoipa::openapi::OpenApi) -> String {
    let mut json = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}
