//! Cross-origin requests from the browser apps on the allow-list (`SAMVERKAN_CORS_ORIGINS`).
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed
//! origin is answered here, with the methods the route really has (from the route table), the
//! request headers the API reads and a max age. Every other answer to an allowed origin, errors
//! included, carries `Access-Control-Allow-Origin` (that origin, never `*`) and the response
//! headers a script may read. An origin not on the list gets no CORS headers, so the browser
//! keeps the answer from the page. Tokens travel in `Authorization`, never in cookies, so no
//! credentials mode is offered.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::routes::RouteTable;

/// The request headers a browser app may send.
pub const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id";
/// The response headers a script may read.
pub const EXPOSED_HEADERS: &str =
    "ETag, Location, X-Request-Id, Retry-After, Idempotent-Replayed, Content-Disposition";
/// How long a browser may keep a preflight's answer, in seconds.
const MAX_AGE: &str = "600";

/// The origins allowed to call the API from a browser (app data).
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(pub Vec<String>);

impl CorsOrigins {
    fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(origins) = req
        .app_data::<web::Data<CorsOrigins>>()
        .filter(|o| !o.0.is_empty())
        .cloned()
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| origins.allows(o))
        .map(str::to_owned);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if let (Some(origin), true) = (&origin, preflight) {
        let allowed = req
            .app_data::<web::Data<RouteTable>>()
            .map(|t| t.allowed(req.match_info().as_str()))
            .unwrap_or_default();
        if !allowed.is_empty() {
            let mut response = HttpResponse::NoContent();
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.as_str()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, allowed.join(", ")))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE))
                .insert_header((header::VARY, "Origin"))
                .insert_header((header::ALLOW, allowed.join(", ")));
            return Ok(req.into_response(response.finish()));
        }
    }
    // Outside the request context, which has made every error a response by now.
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    Ok(res)
}
