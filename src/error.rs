//! One error type for the whole service, rendered in one place as an RFC 9457
//! `application/problem+json` document. Handlers and extractors return [`ApiError`]; nothing else
//! builds error bodies. A 500 tells the client nothing internal: the cause goes to the log under
//! the same request id that the problem carries.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::DatabaseErrorKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::telemetry::current_request;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input: the field (a JSON path, a query or path parameter, or `body`), what is
/// wrong with it and, for bulk loads, the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"field": "limit", "message": "must be between 1 and 500"}))]
pub struct Violation {
    /// The offending field: a body property path, a query or path parameter name, or `body`.
    pub field: String,
    /// What is wrong with it, in English.
    pub message: String,
    /// For bulk loads: the line of the file (the header is line 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
}

impl Violation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            line: None,
        }
    }

    /// A violation on a line of a bulk load.
    pub fn at(line: u64, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            ..Self::new(field, message)
        }
    }
}

/// An RFC 9457 problem detail. Every error answer of the service has this shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "type": "/problems/validation-failed",
    "title": "Your request parameters didn't validate",
    "status": 400,
    "detail": "1 parameter is invalid",
    "instance": "/v1/municipalities",
    "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c",
    "violations": [{"field": "limit", "message": "must be between 1 and 500"}]
}))]
pub struct Problem {
    /// A URI reference naming the kind of problem; stable, documented, safe to switch on.
    #[serde(rename = "type")]
    #[schema(example = "/problems/not-found")]
    pub type_: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 404)]
    pub status: u16,
    /// An explanation of this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path this occurrence happened on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id (also in the `X-Request-Id` header and in every log line of the request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For invalid input: every invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

/// Everything that can go wrong while serving a request.
#[derive(Debug)]
pub enum ApiError {
    /// Invalid parameters or body (400 with `violations`).
    Validation(Vec<Violation>),
    /// A request that cannot be understood at all (400), e.g. malformed JSON.
    BadRequest(String),
    /// The resource does not exist (404).
    NotFound(String),
    /// The path exists but not with this method (405 with `Allow`).
    MethodNotAllowed(Vec<String>),
    /// No representation matches `Accept` (406).
    NotAcceptable(String),
    /// The body is larger than this route accepts (413).
    PayloadTooLarge(usize),
    /// The body's media type is not accepted here (415).
    UnsupportedMediaType(String),
    /// No valid credentials (401 with `WWW-Authenticate`).
    Unauthorized(String),
    /// Valid credentials without the right to do this (403).
    Forbidden(String),
    /// The request conflicts with the resource's state (409).
    Conflict(String),
    /// The resource is gone for good (410), e.g. a change-feed cursor past the retention.
    Gone(String),
    /// A shared link that was revoked or has expired (410).
    LinkGone(String),
    /// A reused `Idempotency-Key` with a different request (422).
    IdempotencyMismatch,
    /// `If-Match` does not match the current version (412); carries the current `ETag`.
    PreconditionFailed(String),
    /// A change without `If-Match` (428).
    PreconditionRequired,
    /// Too many requests from this client (429 with `Retry-After` seconds).
    TooManyRequests(u64),
    /// Too many requests of one kind open at once (long polls, exports): 429 with the reason and
    /// `Retry-After` seconds.
    Busy(String, u64),
    /// A request with this `Idempotency-Key` is still running (409 with `Retry-After`: when its
    /// lease runs out at the latest).
    InProgress(u64),
    /// The request (its body) did not arrive in time (408).
    RequestTimeout(String),
    /// The database (or another dependency) cannot be reached in time (503 with `Retry-After`).
    Unavailable(String),
    /// Anything unexpected (500). The cause is logged, never sent.
    Internal(anyhow::Error),
}

/// The 401 detail for a request that carries no credentials at all.
pub const NO_CREDENTIALS: &str = "This operation needs a bearer token";
/// The 401 detail for an `Authorization` header of another scheme (or an empty bearer token):
/// like no credentials at all, it gets no error code (RFC 6750 §3.1, "an unsupported
/// authentication method").
pub const NOT_BEARER: &str = "The Authorization header must be `Bearer <token>`";

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![Violation::new(field, message)])
    }

    pub fn not_found(what: impl fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} was not found"))
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Validation(_) => (
                "validation-failed",
                "Your request parameters didn't validate",
            ),
            ApiError::BadRequest(_) => ("bad-request", "The request could not be understood"),
            ApiError::NotFound(_) => ("not-found", "Resource not found"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::NotAcceptable(_) => ("not-acceptable", "Not acceptable"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Request body too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::Conflict(_) => ("conflict", "Conflict with the current state"),
            ApiError::Gone(_) => ("cursor-expired", "Cursor expired"),
            ApiError::LinkGone(_) => ("link-gone", "Link no longer valid"),
            ApiError::IdempotencyMismatch => ("idempotency-key-reused", "Idempotency key reused"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "Precondition failed"),
            ApiError::PreconditionRequired => ("precondition-required", "Precondition required"),
            ApiError::TooManyRequests(_) | ApiError::Busy(..) => {
                ("too-many-requests", "Too many requests")
            }
            ApiError::InProgress(_) => ("conflict", "Conflict with the current state"),
            ApiError::RequestTimeout(_) => ("request-timeout", "Request timeout"),
            ApiError::Unavailable(_) => ("service-unavailable", "Service temporarily unavailable"),
            ApiError::Internal(_) => ("internal-error", "Internal server error"),
        }
    }

    /// The problem document for this error, for the request being served.
    pub fn problem(&self) -> Problem {
        let (slug, title) = self.kind();
        let status = self.status_code().as_u16();
        let (detail, violations) = match self {
            ApiError::Validation(v) => (
                Some(match (v.len(), v.iter().any(|x| x.line.is_some())) {
                    (1, false) => "1 parameter is invalid".to_owned(),
                    (n, false) => format!("{n} parameters are invalid"),
                    (n, true) => format!(
                        "Nothing was written: {n} problem{} in the file (at most {} are listed)",
                        if n == 1 { "" } else { "s" },
                        ERROR_CAP
                    ),
                }),
                v.clone(),
            ),
            ApiError::BadRequest(d)
            | ApiError::NotFound(d)
            | ApiError::NotAcceptable(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::Conflict(d)
            | ApiError::Gone(d)
            | ApiError::LinkGone(d)
            | ApiError::Busy(d, _)
            | ApiError::RequestTimeout(d)
            | ApiError::Unavailable(d) => (Some(d.clone()), vec![]),
            ApiError::InProgress(secs) => (
                Some(format!(
                    "A request with this Idempotency-Key is still in progress; retry in {secs} seconds"
                )),
                vec![],
            ),
            ApiError::IdempotencyMismatch => (
                Some("This Idempotency-Key was used with a different request; use a new key for a new request".to_owned()),
                vec![],
            ),
            ApiError::PreconditionFailed(etag) => (
                Some(format!(
                    "The resource has changed since you read it; its current ETag is {etag}"
                )),
                vec![],
            ),
            ApiError::PreconditionRequired => (
                Some(
                    "Send If-Match with the ETag you last read, so that no change is lost"
                        .to_owned(),
                ),
                vec![],
            ),
            ApiError::TooManyRequests(secs) => (
                Some(format!("Rate limit reached; retry in {secs} seconds")),
                vec![],
            ),
            ApiError::MethodNotAllowed(allow) => (
                Some(format!("This resource supports {}", allow.join(", "))),
                vec![],
            ),
            ApiError::PayloadTooLarge(limit) => (
                Some(format!("The request body must not exceed {limit} bytes")),
                vec![],
            ),
            ApiError::Internal(_) => (
                Some(
                    "The request could not be completed. Quote the request id when reporting this."
                        .to_owned(),
                ),
                vec![],
            ),
        };
        let ctx = current_request();
        Problem {
            type_: format!("/problems/{slug}"),
            title: title.to_owned(),
            status,
            detail,
            instance: ctx.as_ref().map(|c| c.path.clone()),
            request_id: ctx.map(|c| c.id),
            violations,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Internal(e) => write!(f, "internal error: {e:#}"),
            other => {
                let (slug, _) = other.kind();
                write!(f, "{slug}")
            }
        }
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) | ApiError::LinkGone(_) => StatusCode::GONE,
            ApiError::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::TooManyRequests(_) | ApiError::Busy(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InProgress(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "request failed")
            }
            ApiError::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            _ => {}
        }
        let problem = self.problem();
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            ApiError::MethodNotAllowed(allow) => {
                res.insert_header((header::ALLOW, allow.join(", ")));
            }
            ApiError::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyRequests(secs)
            | ApiError::Busy(_, secs)
            | ApiError::InProgress(secs) => {
                res.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            ApiError::RequestTimeout(_) => {
                res.insert_header((header::CONNECTION, "close"));
            }
            ApiError::Unauthorized(detail) if detail == NO_CREDENTIALS || detail == NOT_BEARER => {
                // RFC 6750 §3.1: a request without credentials gets no error code.
                res.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"samverkan\""));
            }
            ApiError::Unauthorized(detail) => {
                let detail = detail.replace('"', "'");
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer realm=\"samverkan\", error=\"invalid_token\", error_description=\"{detail}\""),
                ));
            }
            ApiError::PreconditionFailed(etag) => {
                res.insert_header((header::ETAG, etag.clone()));
            }
            _ => {}
        }
        match serde_json::to_vec(&problem) {
            Ok(body) => res.body(body),
            Err(_) => res.finish(),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::Error as E;
        match &err {
            E::NotFound => ApiError::NotFound("The resource was not found".to_owned()),
            E::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
                _,
            ) => {
                tracing::warn!(error = %err, "database connection lost");
                ApiError::Unavailable("The database is not reachable right now".to_owned())
            }
            // A backstop: text is checked for NUL where it enters, but should any slip through,
            // it is the client's input, not a server fault.
            E::DatabaseError(_, info)
                if info
                    .message()
                    .contains("invalid byte sequence for encoding") =>
            {
                ApiError::invalid("body", "text must not contain NUL (U+0000)")
            }
            // A backstop: every rule is checked before the write, so a CHECK constraint that
            // fires means a rule is missing there; the client still gets a 400 naming the field.
            E::DatabaseError(DatabaseErrorKind::CheckViolation, info) => {
                let constraint = info.constraint_name().unwrap_or_default();
                tracing::error!(
                    constraint,
                    "a CHECK constraint refused a write no rule caught"
                );
                ApiError::invalid(
                    constrained_field(constraint, info.table_name()),
                    "is not an allowed value",
                )
            }
            E::DatabaseError(DatabaseErrorKind::Unknown, info) if is_transient(info.message()) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::Unavailable("The database is not reachable right now".to_owned())
            }
            _ => ApiError::Internal(err.into()),
        }
    }
}

/// The field a `<table>_<column>_check` constraint guards, as the API names it (camelCase).
fn constrained_field(constraint: &str, table: Option<&str>) -> String {
    let column = constraint.strip_suffix("_check").unwrap_or(constraint);
    let column = table
        .and_then(|t| column.strip_prefix(t))
        .and_then(|c| c.strip_prefix('_'))
        .unwrap_or(column);
    let mut field = String::with_capacity(column.len());
    let mut upper = false;
    for ch in column.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            field.extend(ch.to_uppercase());
            upper = false;
        } else {
            field.push(ch);
        }
    }
    if field.is_empty() {
        "body".to_owned()
    } else {
        field
    }
}

/// Server messages of the SQLSTATE classes that mean "try again later": operator intervention
/// (57P01-57P03), statement timeout (57014) and too many connections (53300). diesel does not
/// expose the SQLSTATE, so the (English, stable) messages are matched.
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 7] = [
        // Two transactions waited on each other's locks and PostgreSQL ended one: nothing of
        // it was written, and the same request succeeds when sent again.
        "deadlock detected",
        "terminating connection",
        "canceling statement due to statement timeout",
        "the database system is",
        "too many clients",
        "remaining connection slots",
        "connection closed",
    ];
    TRANSIENT.iter().any(|t| message.contains(t))
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        use diesel_async::pooled_connection::deadpool::PoolError;
        tracing::warn!(error = %err, "no database connection");
        match err {
            // Every connection was in use for the whole wait: the database is up, the service
            // is busy. Saying it is unreachable would send operators looking in the wrong place.
            PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => ApiError::Unavailable(
                "The service is busy: every database connection is in use. Try again shortly"
                    .to_owned(),
            ),
            _ => ApiError::Unavailable("The database is not reachable right now".to_owned()),
        }
    }
}

/// The responses every operation can give, for the OpenAPI document.
pub mod responses {
    use std::collections::BTreeMap;

    use super::Problem;
    use utoipa::IntoResponses;
    use utoipa::openapi::{RefOr, Response, ResponseBuilder};

    /// Shared error responses.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum CommonErrors {
        /// Invalid parameters: every invalid one is listed in `violations`.
        #[response(status = 400, content_type = "application/problem+json", example = json!({
            "type": "/problems/validation-failed", "title": "Your request parameters didn't validate",
            "status": 400, "detail": "1 parameter is invalid", "instance": "/v1/municipalities",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c",
            "violations": [{"field": "limit", "message": "must be between 1 and 500"}]}))]
        BadRequest(#[to_schema] Problem),
        /// The database cannot be reached in time; retry after the `Retry-After` seconds.
        #[response(status = 503, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait before retrying")), example = json!({
            "type": "/problems/service-unavailable", "title": "Service temporarily unavailable",
            "status": 503, "detail": "The database is not reachable right now", "instance": "/v1/municipalities",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        Unavailable(Problem),
        /// An unexpected failure; the log has the cause under the request id.
        #[response(status = 500, content_type = "application/problem+json", example = json!({
            "type": "/problems/internal-error", "title": "Internal server error", "status": 500,
            "detail": "The request could not be completed. Quote the request id when reporting this.",
            "instance": "/v1/municipalities", "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        Internal(Problem),
    }

    /// The 404 of an operation that addresses one resource.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum NotFound {
        /// No such resource.
        #[response(status = 404, content_type = "application/problem+json", example = json!({
            "type": "/problems/not-found", "title": "Resource not found", "status": 404,
            "detail": "Municipality 9999 was not found", "instance": "/v1/municipalities/9999",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        NotFound(Problem),
    }

    /// The 401 and 403 of an operation that needs a bearer token.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum AuthErrors {
        /// No token, or a token that is malformed, expired, not yet valid, for another audience
        /// or issuer, signed with an unknown key, or of a disabled client.
        #[response(status = 401, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"samverkan\", error=\"invalid_token\"`")), example = json!({
            "type": "/problems/unauthorized", "title": "Authentication required", "status": 401,
            "detail": "The access token has expired", "instance": "/v1/municipalities",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        Unauthorized(Problem),
        /// The token lacks the scope this operation needs, or the client is bound to another
        /// municipality.
        #[response(status = 403, content_type = "application/problem+json", example = json!({
            "type": "/problems/forbidden", "title": "Forbidden", "status": 403,
            "detail": "This operation needs the scope admin", "instance": "/v1/clients",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        Forbidden(Problem),
    }

    /// The errors of a write: rate limit, conditional-request failures, bad bodies.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum WriteErrors {
        /// The body is larger than the operation accepts.
        #[response(status = 413, content_type = "application/problem+json", example = json!({
            "type": "/problems/payload-too-large", "title": "Request body too large", "status": 413,
            "detail": "The request body must not exceed 65536 bytes", "instance": "/v1/areas",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        PayloadTooLarge(Problem),
        /// The body is not JSON.
        #[response(status = 415, content_type = "application/problem+json", example = json!({
            "type": "/problems/unsupported-media-type", "title": "Unsupported media type", "status": 415,
            "detail": "The request body must be JSON (Content-Type: application/json)", "instance": "/v1/areas",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        UnsupportedMediaType(Problem),
        /// The body stopped arriving (nothing for `SAMVERKAN_BODY_IDLE_TIMEOUT_MS`); nothing was
        /// written. The connection is closed.
        #[response(status = 408, content_type = "application/problem+json", example = json!({
            "type": "/problems/request-timeout", "title": "Request timeout", "status": 408,
            "detail": "The request body stopped arriving: nothing came for 15 seconds", "instance": "/v1/areas",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        RequestTimeout(Problem),
        /// Too many writes from this client; retry after `Retry-After` seconds.
        #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")), example = json!({
            "type": "/problems/too-many-requests", "title": "Too many requests", "status": 429,
            "detail": "Rate limit reached; retry in 12 seconds", "instance": "/v1/areas",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        TooManyRequests(Problem),
    }

    /// The conditional-request errors of PATCH, PUT and DELETE.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum PreconditionErrors {
        /// `If-Match` is stale: someone changed the resource since you read it. The current
        /// `ETag` is in the header; read again, reapply, retry.
        #[response(status = 412, content_type = "application/problem+json", headers(("ETag" = String, description = "The current entity tag")), example = json!({
            "type": "/problems/precondition-failed", "title": "Precondition failed", "status": 412,
            "detail": "The resource has changed since you read it; its current ETag is \"3\"",
            "instance": "/v1/areas/6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002", "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        PreconditionFailed(Problem),
        /// `If-Match` is missing.
        #[response(status = 428, content_type = "application/problem+json", example = json!({
            "type": "/problems/precondition-required", "title": "Precondition required", "status": 428,
            "detail": "Send If-Match with the ETag you last read, so that no change is lost",
            "instance": "/v1/areas/6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002", "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        PreconditionRequired(Problem),
    }

    /// The 409 of an operation that can conflict with existing data.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum Conflict {
        /// The change conflicts with existing data (e.g. a name that must be unique), or a
        /// request with the same `Idempotency-Key` is still running: then `Retry-After` says
        /// when to try again (at the latest when that request's lease runs out, 10 s after its
        /// replica last showed a sign of life).
        #[response(status = 409, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait (for a key still in progress)")), example = json!({
            "type": "/problems/conflict", "title": "Conflict with the current state", "status": 409,
            "detail": "An area named Digitalisering already exists", "instance": "/v1/areas",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        Conflict(Problem),
    }

    /// The 429 of an operation that stays open long (a long poll, a streamed export): each
    /// client may have only so many open at once on a replica.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum TooManyOpen {
        /// This client already has its limit of such requests open; finish one first.
        #[response(status = 429, content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait")), example = json!({
            "type": "/problems/too-many-requests", "title": "Too many requests", "status": 429,
            "detail": "This client already has 4 exports open; finish one first", "instance": "/v1/feedback",
            "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        TooManyOpen(Problem),
    }

    /// The `304 Not Modified` of a conditional read.
    pub struct NotModified;

    impl IntoResponses for NotModified {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            let answer = ResponseBuilder::new()
                .description("The client's copy (`If-None-Match`) is current")
                .build();
            BTreeMap::from([("304".to_owned(), answer.into())])
        }
    }

    /// A named set of the responses above, for the operations that share it.
    macro_rules! response_set {
        ($(#[$doc:meta])* $name:ident = $($part:ty),+ $(,)?) => {
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    let mut all = BTreeMap::new();
                    $(all.extend(<$part as IntoResponses>::responses());)+
                    all
                }
            }
        };
    }

    response_set! {
        /// Reading one resource: 304, 401/403, 404, 400/500/503.
        ReadOne = NotModified, AuthErrors, NotFound, CommonErrors
    }
    response_set! {
        /// Reading a page (JSON only): 304, 401/403, 400/500/503.
        ReadPage = NotModified, AuthErrors, CommonErrors
    }
    response_set! {
        /// Reading a page or streaming every match (CSV, NDJSON): 304, 401/403, 406, 429,
        /// 400/500/503.
        ReadExport = NotModified, AuthErrors, NotAcceptable, TooManyOpen, CommonErrors
    }
    response_set! {
        /// As [`ReadExport`], of the items under one resource (which may not exist: 404).
        ReadExportUnder = NotModified, AuthErrors, NotFound, NotAcceptable, TooManyOpen, CommonErrors
    }
    response_set! {
        /// Creating a resource: 401/403, 409, 408/413/415/429, 400/500/503.
        CreateErrors = AuthErrors, Conflict, WriteErrors, CommonErrors
    }
    response_set! {
        /// Creating a resource under another one (which may not exist: 404).
        CreateUnderErrors = AuthErrors, NotFound, Conflict, WriteErrors, CommonErrors
    }
    response_set! {
        /// Creating or replacing a resource by its external reference (`If-Match` optional).
        UpsertErrors = AuthErrors, Conflict, PreconditionErrors, WriteErrors, CommonErrors
    }
    response_set! {
        /// Changing or deleting a resource that may conflict with others: 401/403, 404, 409,
        /// 412/428, 408/413/415/429, 400/500/503.
        ChangeErrors = AuthErrors, NotFound, Conflict, PreconditionErrors, WriteErrors, CommonErrors
    }
    response_set! {
        /// Changing or deleting a resource that nothing can conflict with.
        ChangeErrorsWithoutConflict = AuthErrors, NotFound, PreconditionErrors, WriteErrors, CommonErrors
    }

    /// The 406 of an operation that can only answer JSON.
    #[derive(IntoResponses)]
    #[allow(dead_code)]
    pub enum NotAcceptable {
        /// None of the media types in `Accept` can be produced.
        #[response(status = 406, content_type = "application/problem+json", example = json!({
            "type": "/problems/not-acceptable", "title": "Not acceptable", "status": 406,
            "detail": "This list can be had as application/json, text/csv or application/x-ndjson",
            "instance": "/v1/municipalities", "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
        NotAcceptable(Problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn internal_errors_say_nothing_internal() {
        let err = ApiError::internal(anyhow::anyhow!("password authentication failed for user x"));
        let res = err.error_response();
        assert_eq!(res.status(), 500);
        let body = res.into_body().try_into_bytes().expect("complete body");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("password"), "{text}");
        assert!(text.contains("/problems/internal-error"));
    }

    #[test]
    fn transient_database_messages_are_503() {
        assert!(is_transient(
            "terminating connection due to administrator command"
        ));
        assert!(is_transient("canceling statement due to statement timeout"));
        assert!(!is_transient(
            "duplicate key value violates unique constraint"
        ));
    }

    #[test]
    fn method_not_allowed_lists_the_allowed_methods() {
        let res = ApiError::MethodNotAllowed(vec!["GET".into(), "HEAD".into()]).error_response();
        assert_eq!(res.status(), 405);
        assert_eq!(
            res.headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok()),
            Some("GET, HEAD")
        );
    }
}

/// Most problems listed in one answer (a bulk load is refused at the first, but parsing goes on
/// to report as many as this).
pub const ERROR_CAP: usize = 1000;

/// Collects every violation of a request before answering, so the client sees all at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation::new(field, message));
    }

    /// Keeps the value, or records the violations of a failed check.
    pub fn check<T>(&mut self, result: Result<T, ApiError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(ApiError::Validation(v)) => {
                self.0.extend(v);
                None
            }
            Err(other) => {
                self.0.push(Violation::new("query", other.to_string()));
                None
            }
        }
    }

    /// The violations recorded.
    pub fn into_vec(self) -> Vec<Violation> {
        self.0
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }

    /// `value` if nothing was violated, the violations otherwise. For a value parsed through
    /// [`Violations::check`], which is `None` only when its violation was recorded.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, ApiError> {
        self.finish()?;
        value.ok_or_else(|| ApiError::internal(anyhow::anyhow!("a checked value is missing")))
    }
}
