//! The route table the gate resolves every request against: built from the OpenAPI document,
//! so that the gate enforces exactly the security each operation declares.

use actix_web::http::Method;
use actix_web::http::header::{self};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::error::{ApiError, Violation};

/// One operation of the route table: its method and the scopes its security requirement names
/// (`None` for an operation declared public).
struct RouteMethod {
    method: String,
    scopes: Option<Vec<crate::auth::Scope>>,
}

/// The operations that are public on purpose. Every other operation must declare a bearer
/// requirement; [`RouteTable::from_openapi`] refuses to build (and the service to start) when one
/// declares neither, so a new handler cannot end up unauthenticated by omission.
pub const PUBLIC_OPERATIONS: [&str; 13] = [
    "getApiInfo",
    "getApiInfoAtRoot",
    "getOpenApiDocument",
    "createToken",
    "getJwks",
    "getLiveness",
    "getReadiness",
    "getMetrics",
    "openReportLink",
    "openCalendarLink",
    "listProblemTypes",
    "getProblemType",
    "getTermsOfUse",
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

/// A route's path as the document writes it, taken apart into its segments once: a `{name}`
/// segment takes any one non-empty segment (what actix's `{name}` matches), any other segment
/// only itself. Matching compares segments; no pattern engine runs per request.
struct Pattern {
    pattern: String,
    segments: Vec<Option<String>>,
}

impl Pattern {
    fn new(pattern: &str) -> Self {
        let segments = pattern
            .split('/')
            .map(|segment| {
                parameter_name(segment).map_or_else(|| Some(segment.to_owned()), |_| None)
            })
            .collect();
        Self {
            pattern: pattern.to_owned(),
            segments,
        }
    }

    /// Whether a path, split at `/` (once for every route), matches.
    fn is_match(&self, parts: &[&str]) -> bool {
        parts.len() == self.segments.len()
            && self
                .segments
                .iter()
                .zip(parts)
                .all(|(segment, part)| match segment {
                    Some(literal) => literal == part,
                    None => !part.is_empty(),
                })
    }

    /// How many segments are parameters, and where the first one is: the more specific route
    /// sorts first (fewer parameters, then the later first parameter).
    fn specificity(&self) -> (usize, std::cmp::Reverse<usize>) {
        let dynamic = self.segments.iter().filter(|s| s.is_none()).count();
        let first = self.segments.iter().position(Option::is_none).unwrap_or(0);
        (dynamic, std::cmp::Reverse(first))
    }
}

/// The name of a `{name}` (or `{name:regex}`) segment.
fn parameter_name(segment: &str) -> Option<&str> {
    let inner = segment.strip_prefix('{')?.strip_suffix('}')?;
    Some(inner.split(':').next().unwrap_or(inner))
}

/// Every route of the service with its methods and security requirements, built from the
/// OpenAPI document, so that [`crate::auth::authorize`] enforces exactly what the document
/// declares and the fallback can tell "no such resource" (404) from "no such method" (405).
/// The routes are kept most specific first.
pub struct RouteTable {
    routes: Vec<(Pattern, Vec<RouteMethod>)>,
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
            routes.push((Pattern::new(path), methods));
        }
        routes.sort_by_key(|(pattern, _)| pattern.specificity());
        Ok(Self { routes })
    }

    /// Every route matching `path`, most specific first (fewest parameters, then the latest
    /// first parameter: `/networks/by-external-id/{system}/{id}` before `/networks/{id}/…`).
    fn matching<'a>(
        &'a self,
        path: &'a str,
    ) -> impl Iterator<Item = (&'a Pattern, &'a [RouteMethod])> + 'a {
        let parts: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .filter(move |(pattern, _)| pattern.is_match(&parts))
            .map(|(pattern, methods)| (pattern, methods.as_slice()))
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
                    pattern: def.pattern.clone(),
                    scopes: m.scopes.clone(),
                })
            })
            .unwrap_or(Resolved::Unknown)
    }

    /// The name of the path parameter that the `index`-th segment of `path` fills under the
    /// route `path` resolves to, when that segment is a parameter.
    pub fn parameter_at(&self, path: &str, index: usize) -> Option<String> {
        let (def, _) = self.matching(path).next()?;
        parameter_name(def.pattern.split('/').nth(index)?).map(str::to_owned)
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
    let mut found: Option<Vec<crate::auth::Scope>> = None;
    for requirement in &requirements {
        let Some(object) = requirement.as_object() else {
            return Err("a security requirement is not an object".to_owned());
        };
        for (scheme, scopes) in object {
            if scheme != crate::auth::SCHEME && scheme != crate::auth::PEOPLE_SCHEME {
                return Err(format!("unknown security scheme {scheme:?}"));
            }
            let mut parsed = Vec::new();
            for scope in scopes.as_array().into_iter().flatten() {
                let scope = scope.as_str().unwrap_or_default();
                parsed.push(scope.parse().map_err(|e: String| e)?);
            }
            // Either token is checked the same way: alternatives that asked for different
            // scopes could not both be enforced.
            if found.as_ref().is_some_and(|f| *f != parsed) {
                return Err(format!(
                    "the security alternatives name different scopes ({scheme:?})"
                ));
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

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn a_pattern_matches_whole_segments_and_a_parameter_takes_exactly_one() {
        let path = |p: &'static str| p.split('/').collect::<Vec<_>>();
        let by_id = Pattern::new("/v1/feedback/{id}");
        assert!(by_id.is_match(&path("/v1/feedback/abc")));
        assert!(by_id.is_match(&path("/v1/feedback/summary")));
        assert!(
            !by_id.is_match(&path("/v1/feedback/")),
            "an empty segment fills no parameter"
        );
        assert!(!by_id.is_match(&path("/v1/feedback")));
        assert!(
            !by_id.is_match(&path("/v1/feedback/abc/")),
            "a trailing slash is another path"
        );
        assert!(!by_id.is_match(&path("/v1/feedback/abc/history")));
        assert!(!by_id.is_match(&path("/v1/feedbacks/abc")));
        let summary = Pattern::new("/v1/feedback/summary");
        assert!(summary.is_match(&path("/v1/feedback/summary")));
        assert!(!summary.is_match(&path("/v1/feedback/summary2")));
        assert!(summary.specificity() < by_id.specificity());
        let external = Pattern::new("/v1/networks/by-external-id/{system}/{id}");
        let nested = Pattern::new("/v1/networks/{id}/members/{member}");
        assert!(external.specificity() < nested.specificity());
    }
}
