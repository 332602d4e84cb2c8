//! Entity tags and conditional requests: `ETag`, `If-None-Match` (304), `If-Match` (412, 428).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;

/// A strong entity tag for a versioned resource.
pub fn version_etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A strong entity tag derived from a representation's bytes (for lists and documents): their
/// 128-bit XXH3 hash. These tags are only compared with `If-None-Match`, to save sending a body
/// the client has, so they need a hash whose accidental collisions are negligible (2^-128 a
/// pair), not one that resists forgery; XXH3 hashes a page of 50 entries in about a tenth of the
/// time SHA-256 took. Tags of versioned resources, which `If-Match` compares before a write,
/// are their versions ([`version_etag`]).
pub fn content_etag(body: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body))
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

/// The room a JSON answer is written into first (it grows beyond when it must).
const BODY_CAPACITY: usize = 32 * 1024;

/// A JSON answer to a GET with its entity tag, or 304 when the client's copy is current.
pub fn conditional_json<T: Serialize>(
    req: &HttpRequest,
    value: &T,
    etag: Option<String>,
) -> Result<HttpResponse, ApiError> {
    // Room for a page of 50 entries at once: growing from serde_json's 128 bytes copied a
    // page about eight times over.
    let mut body = Vec::with_capacity(BODY_CAPACITY);
    serde_json::to_writer(&mut body, value).map_err(ApiError::internal)?;
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

/// A required `If-Match` (absent: 428), as its version: `None` for `*`.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<i64>);

impl actix_web::FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(if_match(req).map(IfMatch))
    }
}

fn if_match_parameter(required: bool, description: &str) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    ParameterBuilder::new()
        .name("If-Match")
        .parameter_in(ParameterIn::Header)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(200)),
        ))
        .example(Some(serde_json::json!("\"1\"")))
        .build()
}

/// Documented as the extractor enforces it: a required header.
impl utoipa::IntoParams for IfMatch {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![if_match_parameter(
            true,
            "The `ETag` last read, e.g. `\"1\"`, or `*` for whatever version is current. \
             Without it the answer is 428; with a version that is no longer current, 412.",
        )]
    }
}

/// An optional `If-Match` (a PUT that may create), as its version: `None` when absent or `*`.
#[derive(Debug, Clone, Copy)]
pub struct OptionalIfMatch(pub Option<i64>);

impl actix_web::FromRequest for OptionalIfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let expected = match req.headers().get(header::IF_MATCH) {
            Some(_) => if_match(req),
            None => Ok(None),
        };
        std::future::ready(expected.map(OptionalIfMatch))
    }
}

/// Documented as the extractor enforces it: an optional header.
impl utoipa::IntoParams for OptionalIfMatch {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![if_match_parameter(
            false,
            "The `ETag` last read (optional): send it to change only the version you read; a \
             record that does not exist yet matches no version (412).",
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
