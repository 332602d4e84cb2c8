//! The token endpoint (OAuth 2.0 client credentials, RFC 6749 §4.4) and the JWKS.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::credentials::{self, VerifiedClient};
use super::keys::Jwks;
use super::{Authenticator, Claims, Scope, parse_scopes, scopes_to_string};
use crate::error::ApiError;
use crate::http::ratelimit;
use crate::store::db::Db;
use crate::telemetry::current_request;

/// Largest token request body.
const TOKEN_BODY_LIMIT: usize = 4096;

/// A token request (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"grant_type": "client_credentials", "scope": "read write"}))]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    pub grant_type: Option<String>,
    /// Space-separated scopes to narrow the token to; all of the client's scopes when absent.
    pub scope: Option<String>,
    /// The client id, when not sent with HTTP Basic authentication.
    pub client_id: Option<String>,
    /// The client secret, when not sent with HTTP Basic authentication.
    pub client_secret: Option<String>,
}

/// An access token (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJzYW12ZXJrYW4iLCJhdWQiOiJzYW12ZXJrYW4tYXBpIn0.c2lnbmF0dXJl", "token_type": "Bearer", "expires_in": 900, "scope": "read write"}))]
pub struct TokenResponse {
    /// A JWT (`typ: at+jwt`) signed with EdDSA; send it as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    pub scope: String,
}

/// An OAuth 2.0 error (RFC 6749 §5.2), with the problem fields of the rest of the API.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_client", "error_description": "Client authentication failed", "type": "/problems/oauth-invalid-client", "title": "Client authentication failed", "status": 401, "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"}))]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `unauthorized_client`, `unsupported_grant_type` or
    /// `invalid_scope`.
    pub error: String,
    pub error_description: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        res.insert_header((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"samverkan\""),
        ));
    }
    res.json(OAuthError {
        error: error.to_owned(),
        error_description: description.to_owned(),
        type_: format!("/problems/oauth-{}", error.replace('_', "-")),
        title: description.to_owned(),
        status: status.as_u16(),
        request_id: current_request().map(|r| r.id),
    })
}

fn invalid_request(description: &str) -> HttpResponse {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_client() -> HttpResponse {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Client authentication failed",
    )
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-urlencoded id and secret).
/// Malformed HTTP Basic credentials.
struct BadBasic;

fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, BadBasic> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let decoded = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(BadBasic)?;
    let (id, secret) = decoded.split_once(':').ok_or(BadBasic)?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| BadBasic)
    };
    Ok(Some((decode(id)?, decode(secret)?)))
}

/// Issues a token for a verified client.
pub fn issue(
    auth: &Authenticator,
    client: &VerifiedClient,
    scopes: &[Scope],
) -> Result<TokenResponse, ApiError> {
    let settings = auth.settings();
    let now = chrono::Utc::now().timestamp();
    let ttl = settings.token_ttl.as_secs();
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: client.id.to_string(),
        client_id: client.id.to_string(),
        scope: scopes_to_string(scopes),
        municipality_id: client.municipality_id.clone(),
        acts_for_users: client.acts_for_users,
        iat: now,
        nbf: now,
        exp: now + ttl as i64,
        jti: Uuid::new_v4().to_string(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(auth.keys().kid.clone());
    let jwt = jsonwebtoken::encode(&header, &claims, &auth.keys().encoding)
        .map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token: jwt,
        token_type: "Bearer".to_owned(),
        expires_in: ttl,
        scope: claims.scope,
    })
}

/// Get an access token
///
/// OAuth 2.0 client credentials grant (RFC 6749 §4.4). Authenticate with HTTP Basic
/// (`client_id:client_secret`) or with `client_id` and `client_secret` form fields. Tokens last
/// 15 minutes; there are no refresh tokens: ask for a new one. Fields are snake_case as RFC 6749
/// defines them. Rate-limited per client.
#[utoipa::path(
    operation_id = "createToken",
    tag = "Authentication",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An access token", body = TokenResponse,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type`, `invalid_scope` or `unauthorized_client`", body = OAuthError),
        (status = 401, description = "`invalid_client`: unknown client, wrong secret, or disabled", body = OAuthError,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"samverkan\"`"))),
        (status = 413, description = "The request body is larger than 4 KiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many token requests from this client", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 503, description = "The database cannot be reached", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/oauth/token")]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    auth: web::Data<Authenticator>,
    db: Db,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Ok(invalid_request(
            "The request must be application/x-www-form-urlencoded",
        ));
    }
    let body = crate::http::read_body(
        &mut payload.into_inner(),
        TOKEN_BODY_LIMIT,
        crate::http::body_idle_timeout(&req),
    )
    .await?;
    let form: TokenRequest = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => return Ok(invalid_request("The request body is not a valid form")),
    };
    let Ok(basic) = basic_credentials(&req) else {
        return Ok(invalid_client());
    };
    let (client_id, secret) = match (basic, form.client_id, form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Ok(invalid_request(
                "Authenticate the client with one method only (HTTP Basic or form fields)",
            ));
        }
        (Some(creds), None, None) => creds,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => return Ok(invalid_client()),
    };
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported",
            ));
        }
        None => return Ok(invalid_request("grant_type is required")),
    }
    // Budgets, before the costly hash check (see the README's "Rate limits"): every attempt
    // counts against the source address; failures count against the client id (in its one
    // canonical spelling) from that address only, so guesses from elsewhere never lock the
    // owner out; successes count against the client, which bounds how many tokens it mints.
    let address = crate::http::client_address(&req, auth.trusted_proxies());
    let canonical = uuid::Uuid::parse_str(client_id.trim())
        .map(|id| id.hyphenated().to_string())
        .unwrap_or_else(|_| "malformed".to_owned());
    ratelimit::check(
        &db,
        &format!("token-address:{address}"),
        auth.limits.token_requests_per_address_per_minute,
    )
    .await?;
    let failures = format!("token-failures:{canonical}:{address}");
    ratelimit::peek(&db, &failures, auth.limits.token_failures_per_minute).await?;
    let Some(client) = credentials::verify(&db, &client_id, &secret).await? else {
        ratelimit::check(&db, &failures, u32::MAX).await?;
        return Ok(invalid_client());
    };
    ratelimit::check(
        &db,
        &format!("token:{canonical}"),
        auth.limits.token_requests_per_minute,
    )
    .await?;
    let scopes = match form
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => client.scopes.clone(),
        Some(raw) => match parse_scopes(raw) {
            Ok(asked) if asked.iter().all(|s| client.scopes.contains(s)) => asked,
            _ => {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "The requested scope is unknown or exceeds the client's scopes",
                ));
            }
        },
    };
    let issued = issue(&auth, &client, &scopes)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(issued))
}

/// The service's public keys
///
/// The JSON Web Key Set that verifies the access tokens (Ed25519, `alg: EdDSA`). During a key
/// rotation it also holds the previous key.
#[utoipa::path(
    operation_id = "getJwks",
    tag = "Authentication",
    responses((status = 200, description = "The JWKS", body = Jwks)),
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(auth: web::Data<Authenticator>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(auth.keys().jwks())
}
