//! The request context: the outermost middleware that gives every request its id, logging span,
//! deadline, metrics and one log line, and renders any escaped error as a problem.

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};
use tracing::Instrument;

use crate::error::ApiError;
use crate::http::metrics::Metrics;
use crate::telemetry;
use crate::telemetry::RequestInfo;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
        base + Duration::from_secs(u64::from(crate::integration::changes::MAX_WAIT_SECONDS))
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
    let outcome = telemetry::in_request(info, work.instrument(span.clone())).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_safe() {
        let ok = HeaderValue::from_static("abc-123");
        assert_eq!(accept_request_id(Some(&ok)).as_deref(), Some("abc-123"));
        let bad = HeaderValue::from_static("a b\"c");
        assert_eq!(accept_request_id(Some(&bad)), None);
        let long = HeaderValue::from_str(&"a".repeat(200)).expect("ascii");
        assert_eq!(accept_request_id(Some(&long)), None);
    }
}
