//! The service describing itself: api-info, the OpenAPI document, health and metrics.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::responses::{AuthErrors, CommonErrors};
use crate::error::{ApiError, Problem};
use crate::http::metrics::Metrics;
use crate::http::{conditional_json, if_none_match};
use crate::store::db::Db;

pub const API_NAME: &str = "Samverkan API";
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Links from the api-info object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiLinks {
    /// This document.
    #[serde(rename = "self")]
    #[schema(example = "/v1")]
    pub self_: String,
    /// The OpenAPI 3.1 document.
    #[schema(example = "/v1/openapi.json")]
    pub openapi: String,
    /// Interactive documentation.
    #[schema(example = "/docs/")]
    pub docs: String,
    /// Readiness probe.
    #[schema(example = "/health/ready")]
    pub health: String,
}

/// What this API is and where its description lives.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "name": "Samverkan API", "version": "0.1.0",
    "description": "Data service of Kommunförbundet Västernorrland",
    "links": {"self": "/v1", "openapi": "/v1/openapi.json", "docs": "/docs/", "health": "/health/ready"}
}))]
pub struct ApiInfo {
    pub name: String,
    /// The service's version (semantic versioning).
    pub version: String,
    pub description: String,
    pub links: ApiLinks,
}

/// Health status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "UP"}))]
pub struct Health {
    /// `UP` when healthy.
    #[schema(example = "UP")]
    pub status: String,
}

/// The serialized OpenAPI document, computed once at start-up.
pub struct OpenApiJson {
    pub body: String,
    pub etag: String,
}

/// About this API
///
/// The api-info object: name, version and links to the OpenAPI document and documentation.
/// Needs no authentication.
#[utoipa::path(
    operation_id = "getApiInfo",
    tag = "Meta",
    responses(
        (status = 200, description = "The api-info object", body = ApiInfo),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
    ),
)]
#[get("")]
pub async fn api_info(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    api_info_answer(&req)
}

/// About this API, where DIGG's profile looks for it
///
/// The same api-info object as `GET /v1`, at `/api-info`, the path the Swedish public sector's
/// REST API profile (DIGG, VER.06) names. Needs no authentication.
#[utoipa::path(
    operation_id = "getApiInfoAtRoot",
    tag = "Meta",
    responses(
        (status = 200, description = "The api-info object", body = ApiInfo),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
    ),
)]
#[get("/api-info")]
pub async fn api_info_at_root(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    api_info_answer(&req)
}

fn api_info_answer(req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let info = ApiInfo {
        name: API_NAME.to_owned(),
        version: API_VERSION.to_owned(),
        description: "Data service of Kommunförbundet Västernorrland: municipalities, networks, \
                      development assignments, progress reports, feedback and the board's reports."
            .to_owned(),
        links: ApiLinks {
            self_: "/v1".to_owned(),
            openapi: "/v1/openapi.json".to_owned(),
            docs: "/docs/".to_owned(),
            health: "/health/ready".to_owned(),
        },
    };
    conditional_json(req, &info, None)
}

/// The OpenAPI document
///
/// This API's OpenAPI 3.1 document (the same as `openapi/openapi.json` in the repository).
#[utoipa::path(
    operation_id = "getOpenApiDocument",
    tag = "Meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json",
            body = Object, headers(("ETag" = String, description = "Strong entity tag of the document")),
            example = json!({"openapi": "3.1.0",
                "info": {"title": "Samverkan API", "version": "0.1.0"}, "paths": {}})),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
    ),
)]
#[get("/openapi.json")]
pub async fn openapi_document(req: HttpRequest, doc: web::Data<OpenApiJson>) -> HttpResponse {
    if if_none_match(&req, &doc.etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, doc.etag.clone()))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, doc.etag.clone()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(doc.body.clone())
}

/// Liveness
///
/// Whether the process is up. Does not touch the database, so an outage does not restart
/// healthy replicas.
#[utoipa::path(
    operation_id = "getLiveness",
    tag = "Operations",
    responses((status = 200, description = "The process is alive", body = Health)),
)]
#[get("/health/live")]
pub async fn health_live() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Health {
            status: "UP".to_owned(),
        })
}

/// Readiness
///
/// Whether this replica can serve: the database answers within two seconds.
#[utoipa::path(
    operation_id = "getReadiness",
    tag = "Operations",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database is not reachable", body = Problem,
            content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    ),
)]
#[get("/health/ready")]
pub async fn health_ready(db: Db) -> Result<HttpResponse, ApiError> {
    if db.ping(Duration::from_secs(2)).await {
        Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(Health {
                status: "UP".to_owned(),
            }))
    } else {
        Err(ApiError::Unavailable(
            "The database did not answer within 2 seconds".to_owned(),
        ))
    }
}

/// Metrics
///
/// Prometheus text exposition: `http_requests_total` and `http_request_duration_seconds` by
/// method, route and status, and the database pool's usage (`db_pool_*`). Needs a token with
/// the `metrics` scope, which Prometheus gets itself with its `oauth2` scrape setting (client
/// credentials against `/v1/oauth/token`); a deployment whose API port is reachable only from
/// its own network may make it public instead (`SAMVERKAN_METRICS_PUBLIC=true`).
#[utoipa::path(
    operation_id = "getMetrics",
    tag = "Operations",
    security(("clientCredentials" = ["metrics"])),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4",
            body = String, example = "# TYPE http_requests_total counter\nhttp_requests_total{method=\"GET\",route=\"/v1/municipalities\",status=\"200\"} 3\n"),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/metrics")]
pub async fn metrics(metrics: web::Data<Metrics>, db: Db) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics.render(&db))
}
