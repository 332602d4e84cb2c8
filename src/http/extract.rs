//! Strict extractors: query strings, JSON bodies and merge patches whose errors name the field,
//! and bounded body reading.

use std::time::Duration;

use actix_web::http::header::{self};
use actix_web::{FromRequest, HttpRequest, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Violation};

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
    /// The parameters, or every violation among them at once: a parameter that is unknown or
    /// whose value does not parse is set aside and the rest read again, so that an unknown
    /// parameter does not hide a malformed one (nor the other way round).
    pub fn parse(query: &str) -> Result<T, ApiError> {
        match Self::parse_apart(query)? {
            (value, violations) if violations.is_empty() => Ok(value),
            (_, violations) => Err(ApiError::Validation(violations)),
        }
    }

    /// The parameters read from the query without those that are unknown or malformed, and
    /// the violations of those; an error only when even the rest cannot be read. For a handler
    /// that checks the rest itself and answers every violation at once ([`Lenient`]).
    pub fn parse_apart(query: &str) -> Result<(T, Vec<Violation>), ApiError> {
        check_query_text(query)?;
        // The query without the parameters set aside so far (none: the query as given).
        let mut remaining: Option<String> = None;
        let mut violations: Vec<Violation> = Vec::new();
        loop {
            let current = remaining.as_deref().unwrap_or(query);
            let de =
                serde_urlencoded::Deserializer::new(form_urlencoded::parse(current.as_bytes()));
            let err = match serde_path_to_error::deserialize(de) {
                Ok(value) => return Ok((value, violations)),
                Err(err) => err,
            };
            let message = err.inner().to_string();
            let path = err.path().to_string();
            let named = |prefix: &str| {
                message
                    .strip_prefix(prefix)
                    .map(|rest| rest.split('`').next().unwrap_or("query").to_owned())
            };
            let field = named("unknown field `")
                .or_else(|| named("duplicate field `"))
                .unwrap_or_else(|| {
                    if path == "." {
                        "query".to_owned()
                    } else {
                        path
                    }
                });
            // A field set aside for its value is then missing: that says nothing new.
            let reported = violations.iter().any(|v| v.field == field);
            if !(reported && message.starts_with("missing field")) {
                violations.push(Violation::new(field.clone(), humanize_serde(&message)));
            }
            let mut set_aside = false;
            let rest = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    form_urlencoded::parse(current.as_bytes()).filter(|(name, _)| {
                        set_aside |= *name == field;
                        *name != field
                    }),
                )
                .finish();
            if !set_aside {
                return Err(ApiError::Validation(violations));
            }
            remaining = Some(rest);
        }
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

/// Query parameters read apart from those that are unknown or malformed, with their
/// violations (`Lenient(params, violations)`): for a handler that checks the rest of the
/// parameters itself with no side effect first, and then answers every violation at once
/// (the kernel's lists, [`crate::kernel::with_set_aside`]).
pub struct Lenient<T>(pub T, pub Vec<Violation>);

impl<T: DeserializeOwned> FromRequest for Lenient<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            Query::<T>::parse_apart(req.query_string())
                .map(|(value, set_aside)| Lenient(value, set_aside))
                .map_err(actix_web::Error::from),
        )
    }
}

/// Deserializes a JSON Merge Patch member: absent → `None`, `null` → `Some(None)`.
pub fn merge_member<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
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

/// Reads a request body up to `limit` bytes (413 beyond it, without reading further; 408 when
/// it pauses for longer than `idle`).
pub async fn read_body(
    payload: &mut actix_web::dev::Payload,
    limit: usize,
    idle: Duration,
) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = crate::http::spool::next_chunk(payload, idle).await? {
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How long a request body may pause (`SAMVERKAN_BODY_IDLE_TIMEOUT_MS`).
pub fn body_idle_timeout(req: &HttpRequest) -> Duration {
    req.app_data::<web::Data<crate::http::ratelimit::OpenRequests>>()
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
        let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            let message = if e.is_syntax() && e.to_string().contains("trailing characters") {
                "malformed JSON: trailing characters after the value".to_owned()
            } else {
                format!("malformed JSON: {e}")
            };
            ApiError::Validation(vec![Violation::new("body", message)])
        })?;
        integral_numbers(&mut value);
        from_value(value).map_err(|v| ApiError::Validation(vec![v]))
    }
}

/// JSON has one number type: `2.0` is the integer 2 (as JSON Schema's `integer` says), so a
/// number without a fraction is read as an integer wherever one is expected.
fn integral_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(members) => members.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// The violation a member of the wrong shape makes (unknown, missing, repeated, of the wrong
/// type or out of an enum), named by its path: the same for a JSON body and an imported row.
fn violation_of(err: &serde_path_to_error::Error<serde_json::Error>) -> Violation {
    let inner = err.inner();
    let path = err.path().to_string();
    let message = inner.to_string();
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
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
    Violation::new(field, text)
}

/// A JSON value read as `T`, with the violation the JSON body extractor reports for the same
/// mistake (the importer reads each row of a file this way).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Violation> {
    serde_path_to_error::deserialize(value).map_err(|err| violation_of(&err))
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
    fn every_violation_of_a_query_is_reported_at_once() {
        let err = Query::<P>::parse("colour=red&limit=abc&q=x&size=9").expect_err("three wrongs");
        let ApiError::Validation(v) = err else {
            panic!("validation expected")
        };
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["colour", "limit", "size"], "{v:?}");
        assert_eq!(v[1].message, "must be a whole number");
        let err = Query::<P>::parse("limit=1&limit=2&x=1").expect_err("two wrongs");
        let ApiError::Validation(v) = err else {
            panic!("validation expected")
        };
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["limit", "x"], "{v:?}");
    }

    #[test]
    fn query_accepts_known_parameters() {
        let p = Query::<P>::parse("limit=5&q=v%C3%A5ld").expect("valid");
        assert_eq!(p.limit, Some(5));
        assert_eq!(p.q.as_deref(), Some("våld"));
    }
}
