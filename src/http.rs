//! HTTP plumbing shared by every route: the request context (request id, logging span, error
//! instance), strict query parsing, conditional GETs, and the fallback that answers 404 and 405.

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::error::{ApiError, Violation};
use crate::metrics::Metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What an error needs to know about the request it answers.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub id: String,
    pub path: String,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

/// The request being served on this task, if any.
pub fn current_request() -> Option<RequestInfo> {
    REQUEST.try_with(Clone::clone).ok()
}

/// A client-supplied request id is kept when it is short and printable, so a caller can follow
/// its own id through our logs; anything else is replaced.
fn accept_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let v = value?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b));
    ok.then(|| v.to_owned())
}

/// Outermost middleware: assigns the request id, opens the request's logging span, bounds the
/// request's duration, turns any escaped error into a problem, records metrics and logs one line.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = accept_request_id(req.headers().get(&REQUEST_ID))
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let info = RequestInfo {
        id: id.clone(),
        path: req.path().to_owned(),
    };
    // Metrics label any method outside HTTP's own as OTHER: a client cannot create series.
    let method = match *req.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => req.method().clone(),
        _ => Method::from_bytes(b"OTHER").unwrap_or(Method::GET),
    };
    // Bulk loads stream large files and get longer; a long poll gets its longest wait on top
    // (waiting is not working).
    let base = req
        .app_data::<web::Data<RequestTimeout>>()
        .map(|t| t.0)
        .unwrap_or(Duration::from_secs(30));
    let path = req.match_info().as_str();
    let timeout = if path.starts_with("/v1/imports/") {
        Duration::from_secs(3600)
    } else if path == "/v1/changes" {
        base + Duration::from_secs(u64::from(crate::changes::MAX_WAIT_SECONDS))
    } else {
        base
    };
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %info.path);

    // Errors are rendered inside the scope so that their problem documents carry the request id.
    // (The request cannot be cloned before routing, so an escaped error travels on as a
    // pre-rendered response.)
    let work = async move {
        match tokio::time::timeout(timeout, next.call(req)).await {
            Ok(Ok(res)) => Ok(res.map_into_boxed_body()),
            Ok(Err(err)) => Err(err.error_response()),
            Err(_) => Err(ApiError::Unavailable(
                "The request took too long to complete".to_owned(),
            )
            .error_response()),
        }
    };
    let outcome = REQUEST.scope(info, work.instrument(span.clone())).await;
    let request_id = HeaderValue::from_str(&id).ok();
    let (status, route, result) = match outcome {
        Ok(mut res) => {
            if let Some(value) = request_id {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned());
            if let Some(metrics) = res.request().app_data::<web::Data<Metrics>>() {
                metrics.observe(
                    method.as_str(),
                    &route,
                    res.status().as_u16(),
                    started.elapsed(),
                );
            }
            (res.status(), route, Ok(res))
        }
        Err(mut res) => {
            if let Some(value) = request_id {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            let status = res.status();
            (
                status,
                "unmatched".to_owned(),
                Err(Rendered::from(res).into()),
            )
        }
    };
    span.in_scope(|| {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), route = %route, elapsed_ms = ms, "request completed");
        } else {
            tracing::info!(status = status.as_u16(), route = %route, elapsed_ms = ms, "request completed");
        }
    });
    result
}

/// An error response rendered while the request context was available, handed to actix as an
/// error that reproduces it.
#[derive(Debug)]
struct Rendered {
    status: actix_web::http::StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: bytes::Bytes,
}

impl From<HttpResponse> for Rendered {
    fn from(res: HttpResponse) -> Self {
        let status = res.status();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let body = res.into_body().try_into_bytes().unwrap_or_default();
        Self {
            status,
            headers,
            body,
        }
    }
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.status)
    }
}

impl ResponseError for Rendered {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        for (k, v) in &self.headers {
            res.insert_header((k.clone(), v.clone()));
        }
        res.body(self.body.clone())
    }
}

/// The longest a request may take (app data read by [`request_context`]).
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

/// Query string extractor that rejects unknown and malformed parameters with a violation naming
/// the parameter (actix's own `Query` reports neither).
#[derive(Debug)]
pub struct Query<T>(pub T);

/// Refuses query parameters whose names or values are not text a handler can take: bytes that
/// are not UTF-8 once percent-decoded (form decoding would silently turn them into U+FFFD) or NUL.
fn check_query_text(query: &str) -> Result<(), ApiError> {
    let mut violations = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |raw: &str| -> Vec<u8> {
            let spaced = raw.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced).collect()
        };
        let name_bytes = decode(name);
        let field = String::from_utf8(name_bytes.clone())
            .ok()
            .filter(|n| !n.contains('\0'))
            .unwrap_or_else(|| "query".to_owned());
        for bytes in [name_bytes, decode(value)] {
            match String::from_utf8(bytes) {
                Err(_) => violations.push(Violation::new(
                    field.clone(),
                    "is not valid UTF-8 once percent-decoded",
                )),
                Ok(text) if text.contains('\0') => violations.push(Violation::new(
                    field.clone(),
                    "must not contain NUL (U+0000)",
                )),
                Ok(_) => {}
            }
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(violations))
    }
}

impl<T: DeserializeOwned> Query<T> {
    pub fn parse(query: &str) -> Result<T, ApiError> {
        check_query_text(query)?;
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map_err(|err| {
            let message = err.inner().to_string();
            let path = err.path().to_string();
            let field = if let Some(rest) = message.strip_prefix("unknown field `") {
                rest.split('`').next().unwrap_or("query").to_owned()
            } else if let Some(rest) = message.strip_prefix("duplicate field `") {
                rest.split('`').next().unwrap_or("query").to_owned()
            } else if path == "." {
                "query".to_owned()
            } else {
                path
            };
            ApiError::Validation(vec![Violation::new(field, humanize_serde(&message))])
        })
    }
}

/// serde's messages, reworded for API users.
fn humanize_serde(message: &str) -> String {
    if message.starts_with("unknown field") {
        let allowed = message
            .split_once("expected one of ")
            .map(|(_, rest)| rest.replace('`', ""))
            .or_else(|| {
                message
                    .split_once("expected ")
                    .map(|(_, rest)| rest.replace('`', ""))
            });
        return match allowed {
            Some(list) => format!("unknown parameter; supported: {list}"),
            None => "unknown parameter; this operation takes no parameters".to_owned(),
        };
    }
    if message.starts_with("duplicate field") {
        return "given more than once".to_owned();
    }
    if message.contains("invalid digit") || message.contains("invalid type") {
        return "must be a whole number".to_owned();
    }
    if message.contains("too large") || message.contains("too small") {
        return "is out of range".to_owned();
    }
    message.to_owned()
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            Self::parse(req.query_string())
                .map(Query)
                .map_err(actix_web::Error::from),
        )
    }
}

/// A strong entity tag for a versioned resource.
pub fn version_etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A strong entity tag derived from a representation's bytes (for lists and documents).
pub fn content_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` matches `etag` (weak comparison, as RFC 9110 §13.1.2 requires).
pub fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    let Some(value) = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let ours = etag.trim_start_matches("W/");
    value
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == ours)
}

/// A JSON answer to a GET with its entity tag, or 304 when the client's copy is current.
pub fn conditional_json<T: Serialize>(
    req: &HttpRequest,
    value: &T,
    etag: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    let etag = etag.unwrap_or_else(|| content_etag(&body));
    if if_none_match(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, "private, no-cache"))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type(mime_json())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(body))
}

fn mime_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// One operation of the route table: its method and the scopes its security requirement names
/// (`None` for an operation declared public).
struct RouteMethod {
    method: String,
    scopes: Option<Vec<crate::auth::Scope>>,
}

/// The operations that are public on purpose. Every other operation must declare a bearer
/// requirement; [`RouteTable::from_openapi`] refuses to build (and the service to start) when one
/// declares neither, so a new handler cannot end up unauthenticated by omission.
pub const PUBLIC_OPERATIONS: [&str; 7] = [
    "getApiInfo",
    "getOpenApiDocument",
    "createToken",
    "getJwks",
    "getLiveness",
    "getReadiness",
    "getMetrics",
];

/// What the route table says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// No route has this path.
    Unknown,
    /// The path exists, but not with this method; the methods it has.
    MethodNotAllowed(Vec<String>),
    /// The operation: its full route pattern (as actix reports it for the matched resource) and
    /// the scopes it needs (`None` when public).
    Operation {
        pattern: String,
        scopes: Option<Vec<crate::auth::Scope>>,
    },
}

/// Every route of the service with its methods and security requirements, built from the
/// OpenAPI document, so that [`crate::auth::authorize`] enforces exactly what the document
/// declares and the fallback can tell "no such resource" (404) from "no such method" (405).
pub struct RouteTable {
    routes: Vec<(ResourceDef, usize, Vec<RouteMethod>)>,
}

impl RouteTable {
    /// Reads the table from the document; an operation with neither a known bearer requirement
    /// nor a place in [`PUBLIC_OPERATIONS`] is an error.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Result<Self, String> {
        let mut routes = Vec::new();
        for (path, item) in &doc.paths.paths {
            let mut methods = Vec::new();
            for (method, op) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                let Some(op) = op else { continue };
                let id = op.operation_id.as_deref().unwrap_or_default();
                let scopes =
                    required_scopes(op).map_err(|e| format!("{method} {path} ({id}): {e}"))?;
                if scopes.is_none() && !PUBLIC_OPERATIONS.contains(&id) {
                    return Err(format!(
                        "{method} {path} ({id}) declares no security requirement and is not one of the public operations"
                    ));
                }
                methods.push(RouteMethod {
                    method: method.to_owned(),
                    scopes,
                });
            }
            let dynamic = path.matches('{').count();
            routes.push((ResourceDef::new(path.as_str()), dynamic, methods));
        }
        Ok(Self { routes })
    }

    /// Every route matching `path`, most specific first (fewest parameters, then the latest
    /// first parameter: `/networks/by-external-id/{system}/{id}` before `/networks/{id}/…`).
    fn matching<'a>(
        &'a self,
        path: &'a str,
    ) -> impl Iterator<Item = (&'a ResourceDef, &'a [RouteMethod])> + 'a {
        let mut found: Vec<_> = self
            .routes
            .iter()
            .filter(|(def, _, _)| def.is_match(path))
            .collect();
        found.sort_by_key(|(def, dynamic, _)| {
            (
                *dynamic,
                std::cmp::Reverse(def.pattern().and_then(|p| p.find('{')).unwrap_or(0)),
            )
        });
        found
            .into_iter()
            .map(|(def, _, methods)| (def, methods.as_slice()))
    }

    /// The methods of the route that `path` most specifically names (`HEAD` wherever `GET`),
    /// empty when none matches (`/v1/feedback/summary` is the summary's route, not
    /// `/v1/feedback/{id}`'s).
    pub fn allowed(&self, path: &str) -> Vec<String> {
        let Some((_, methods)) = self.matching(path).next() else {
            return Vec::new();
        };
        let mut allowed: Vec<String> = methods.iter().map(|m| m.method.clone()).collect();
        if allowed.iter().any(|m| m == "GET") {
            allowed.insert(1, "HEAD".to_owned());
        }
        allowed
    }

    /// The operation `method path` names. `path` is the decoded path the router matches (actix's
    /// `match_info`), never the raw one, so that an encoded spelling resolves to the same route.
    /// `HEAD` resolves to the `GET` operation.
    pub fn resolve(&self, method: &str, path: &str) -> Resolved {
        let method = if method == "HEAD" { "GET" } else { method };
        let mut routes = self.matching(path).peekable();
        let Some((_, first)) = routes.peek() else {
            return Resolved::Unknown;
        };
        if !first.iter().any(|m| m.method == method) {
            return Resolved::MethodNotAllowed(self.allowed(path));
        }
        routes
            .find_map(|(def, methods)| {
                let m = methods.iter().find(|m| m.method == method)?;
                Some(Resolved::Operation {
                    pattern: def.pattern()?.to_owned(),
                    scopes: m.scopes.clone(),
                })
            })
            .unwrap_or(Resolved::Unknown)
    }

    /// The name of the path parameter that the `index`-th segment of `path` fills under the
    /// route `path` resolves to, when that segment is a parameter.
    pub fn parameter_at(&self, path: &str, index: usize) -> Option<String> {
        let (def, _) = self.matching(path).next()?;
        let segment = def.pattern()?.split('/').nth(index)?;
        segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .map(|s| s.split(':').next().unwrap_or(s).to_owned())
    }
}

/// The scopes of an operation's bearer requirement, read from its OpenAPI security: `None` for
/// no requirement, an error for a requirement this service cannot enforce.
fn required_scopes(
    op: &utoipa::openapi::path::Operation,
) -> Result<Option<Vec<crate::auth::Scope>>, String> {
    let Some(security) = op.security.as_ref() else {
        return Ok(None);
    };
    let security = serde_json::to_value(security).map_err(|e| e.to_string())?;
    let requirements = security.as_array().cloned().unwrap_or_default();
    if requirements.is_empty() {
        return Ok(None);
    }
    let mut found = None;
    for requirement in &requirements {
        let Some(object) = requirement.as_object() else {
            return Err("a security requirement is not an object".to_owned());
        };
        for (scheme, scopes) in object {
            if scheme != crate::auth::SCHEME {
                return Err(format!("unknown security scheme {scheme:?}"));
            }
            let mut parsed = Vec::new();
            for scope in scopes.as_array().into_iter().flatten() {
                let scope = scope.as_str().unwrap_or_default();
                parsed.push(scope.parse().map_err(|e: String| e)?);
            }
            found = Some(parsed);
        }
    }
    found
        .map(Some)
        .ok_or_else(|| "an empty security requirement".to_owned())
}

/// Refuses a path whose segments decode to text a handler cannot take: bytes that are not UTF-8
/// once percent-decoded, or NUL. The violation names the path parameter the segment fills.
/// `decoded` is the path as the router sees it.
pub fn check_path_text(raw: &str, decoded: &str, routes: &RouteTable) -> Result<(), ApiError> {
    let mut violations = Vec::new();
    for (index, segment) in raw.split('/').enumerate() {
        if !segment.contains('%') {
            continue;
        }
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
        let problem = match std::str::from_utf8(&bytes) {
            Err(_) => "is not valid UTF-8 once percent-decoded",
            Ok(text) if text.contains('\0') => "must not contain NUL (U+0000)",
            Ok(_) => continue,
        };
        let field = routes
            .parameter_at(decoded, index)
            .unwrap_or_else(|| "path".to_owned());
        violations.push(Violation::new(field, problem));
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(violations))
    }
}

/// The address a request comes from: the peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not one of the trusted proxies.
pub fn client_address(req: &HttpRequest, trusted: &[crate::config::IpNet]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".to_owned();
    };
    if !trusted.iter().any(|net| net.contains(peer)) {
        return peer.to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.iter().any(|net| net.contains(*ip)))
        .unwrap_or(peer)
        .to_string()
}

/// Deserializes a JSON Merge Patch member: absent → `None`, `null` → `Some(None)`.
pub fn merge_member<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Answers every request no route took: 405 with `Allow` when the path exists, 404 otherwise.
pub async fn fallback(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let allowed = table.allowed(req.match_info().as_str());
    if allowed.is_empty() {
        return ApiError::NotFound(format!("There is no resource at {}", req.path()))
            .error_response();
    }
    if req.method() == Method::OPTIONS {
        return HttpResponse::NoContent()
            .insert_header((header::ALLOW, allowed.join(", ")))
            .finish();
    }
    ApiError::MethodNotAllowed(allowed).error_response()
}

/// Maps actix's JSON body errors onto problems.
pub fn json_error(err: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match err {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => {
            ApiError::PayloadTooLarge(limit)
        }
        E::ContentType => ApiError::UnsupportedMediaType(
            "The request body must be JSON (Content-Type: application/json)".to_owned(),
        ),
        E::Deserialize(e) => {
            ApiError::Validation(vec![Violation::new("body", format!("invalid JSON: {e}"))])
        }
        other => ApiError::BadRequest(format!("The request body could not be read: {other}")),
    };
    api.into()
}

/// Maps actix's raw payload errors (size limits) onto problems.
pub fn payload_error(err: actix_web::error::PayloadError) -> ApiError {
    match err {
        actix_web::error::PayloadError::Overflow => ApiError::PayloadTooLarge(0),
        other => ApiError::BadRequest(format!("The request body could not be read: {other}")),
    }
}

/// Maps actix's path errors onto problems (path parameters are parsed by the handlers, so this
/// only sees malformed percent-encoding).
pub fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::Validation(vec![Violation::new("path", err.to_string())]).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct P {
        limit: Option<u32>,
        q: Option<String>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let err = Query::<P>::parse("limit=abc").expect_err("not a number");
        let ApiError::Validation(v) = err else {
            panic!("validation expected")
        };
        assert_eq!(v[0].field, "limit");
        assert_eq!(v[0].message, "must be a whole number");

        let err = Query::<P>::parse("limt=5").expect_err("unknown");
        let ApiError::Validation(v) = err else {
            panic!("validation expected")
        };
        assert_eq!(v[0].field, "limt");
        assert!(v[0].message.contains("limit"), "{}", v[0].message);
    }

    #[test]
    fn query_accepts_known_parameters() {
        let p = Query::<P>::parse("limit=5&q=v%C3%A5ld").expect("valid");
        assert_eq!(p.limit, Some(5));
        assert_eq!(p.q.as_deref(), Some("våld"));
    }

    #[test]
    fn request_ids_are_kept_only_when_safe() {
        let ok = HeaderValue::from_static("abc-123");
        assert_eq!(accept_request_id(Some(&ok)).as_deref(), Some("abc-123"));
        let bad = HeaderValue::from_static("a b\"c");
        assert_eq!(accept_request_id(Some(&bad)), None);
        let long = HeaderValue::from_str(&"a".repeat(200)).expect("ascii");
        assert_eq!(accept_request_id(Some(&long)), None);
    }

    #[test]
    fn etags_compare_weakly_for_if_none_match() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::IF_NONE_MATCH, "W/\"7\", \"8\""))
            .to_http_request();
        assert!(if_none_match(&req, "\"7\""));
        assert!(if_none_match(&req, "\"8\""));
        assert!(!if_none_match(&req, "\"9\""));
    }
}

/// Reads a request body up to `limit` bytes (413 beyond it, without reading further; 408 when
/// it pauses for longer than `idle`).
pub async fn read_body(
    payload: &mut actix_web::dev::Payload,
    limit: usize,
    idle: Duration,
) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = crate::spool::next_chunk(payload, idle).await? {
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long a request body may pause (`SAMVERKAN_BODY_IDLE_TIMEOUT_MS`).
pub fn body_idle_timeout(req: &HttpRequest) -> Duration {
    req.app_data::<web::Data<crate::ratelimit::OpenRequests>>()
        .map(|o| o.limits().body_idle_timeout)
        .unwrap_or_else(|| crate::config::OpenLimits::default().body_idle_timeout)
}

/// The largest JSON body a write accepts.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// JSON body extractor whose errors name the offending field (`scopes[1]`, `name`) and which
/// rejects unknown fields when the target type does (`deny_unknown_fields`).
#[derive(Debug)]
pub struct Json<T>(pub T);

/// The JSON path of the first string (member name or value) in `value` that contains NUL.
pub fn find_nul(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_nul(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "")))
            } else {
                find_nul(v, &join(k))
            }
        }),
        _ => None,
    }
}

/// Text in a JSON body never holds NUL (PostgreSQL cannot store it): refused up front, naming
/// the member. JSON can only carry NUL as the escape `\u0000`, so bodies without one are not
/// looked at twice.
fn check_json_nul(bytes: &[u8]) -> Result<(), ApiError> {
    let escaped = bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|b| *b == b'0'));
    if !escaped {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    match find_nul(&value, "") {
        Some(field) => Err(ApiError::invalid(field, "must not contain NUL (U+0000)")),
        None => Ok(()),
    }
}

impl<T: DeserializeOwned> Json<T> {
    pub fn parse(bytes: &[u8]) -> Result<T, ApiError> {
        check_json_nul(bytes)?;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let inner = err.inner();
            let path = err.path().to_string();
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            if inner.is_syntax() || inner.is_eof() {
                return ApiError::Validation(vec![Violation::new(
                    "body",
                    format!("malformed JSON: {inner}"),
                )]);
            }
            let join = |name: &str| {
                if path == "." {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            };
            let quoted = |prefix: &str| {
                message
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_owned)
            };
            let (field, text) = if let Some(name) = quoted("unknown field `") {
                let allowed = message
                    .split_once("expected one of ")
                    .or_else(|| message.split_once("expected "))
                    .map(|(_, rest)| rest.replace('`', ""))
                    .unwrap_or_default();
                // serde_path_to_error's path already ends with the unknown member.
                let field = if path == "." { name } else { path.clone() };
                (field, format!("unknown field; allowed: {allowed}"))
            } else if let Some(name) = quoted("missing field `") {
                (join(&name), "is required".to_owned())
            } else if let Some(name) = quoted("duplicate field `") {
                (join(&name), "is given more than once".to_owned())
            } else if path == "." {
                ("body".to_owned(), message)
            } else {
                (path, message)
            };
            ApiError::Validation(vec![Violation::new(field, text)])
        })?;
        de.end().map_err(|_| {
            ApiError::Validation(vec![Violation::new(
                "body",
                "malformed JSON: trailing characters after the value",
            )])
        })?;
        Ok(value)
    }
}

/// Whether a content type is JSON (`application/json`, `application/merge-patch+json`, …).
pub fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let json = is_json(req);
        let idle = body_idle_timeout(req);
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType(
                    "The request body must be JSON (Content-Type: application/json)".to_owned(),
                )
                .into());
            }
            let body = read_body(&mut payload, JSON_BODY_LIMIT, idle).await?;
            Ok(Json(Self::parse(&body)?))
        })
    }
}

/// The version `If-Match` requires: `None` for `*`, `Some(-1)` for a tag that can never match
/// (weak or foreign tags; RFC 9110 compares If-Match strongly), 428 when the header is absent.
/// Callers compare it in the same statement as their write, so no change slips in between.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let value = req
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::PreconditionRequired)?;
    if value.trim() == "*" {
        return Ok(None);
    }
    let version = value
        .split(',')
        .map(str::trim)
        .find_map(|tag| {
            tag.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .and_then(|v| v.parse::<i64>().ok())
        })
        .unwrap_or(-1);
    Ok(Some(version))
}
