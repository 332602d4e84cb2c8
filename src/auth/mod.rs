//! Authentication and authorization.
//!
//! Every operation declares the scope it needs in the OpenAPI document
//! (`security(("bearerAuth" = ["read"]))`); [`authorize`] enforces exactly that declaration, in one
//! place, before the handler runs, and leaves the [`Caller`] in the request for the handlers'
//! finer checks (municipality binding) and the audit log.

pub mod cors;
pub mod credentials;
pub mod keys;
pub mod me;
pub mod oidc;
pub mod routes;
pub mod token;

use sha2::Digest;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use self::routes::{Resolved, RouteTable};
use crate::config::{JwtSettings, RateLimits};
use crate::error::ApiError;
use crate::http::ratelimit;
use crate::store::db::Db;
use crate::store::schema::api_clients;
use keys::SigningKeys;

/// The name of the security scheme in the OpenAPI document.
pub const SCHEME: &str = "clientCredentials";
/// The security scheme of a person's token from a trusted OpenID Connect provider; every
/// operation that names [`SCHEME`] names this one too, with the same scopes.
pub const PEOPLE_SCHEME: &str = "openIdConnect";

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read every resource.
    Read,
    /// Create, change and delete records (of its own municipality when bound).
    Write,
    /// Bulk loads.
    Import,
    /// API clients, reference data and the audit log.
    Admin,
    /// The service's metrics (`/metrics`), for a Prometheus server; nothing else.
    Metrics,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Write,
        Scope::Import,
        Scope::Admin,
        Scope::Metrics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Import => "import",
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
        }
    }

    /// The scopes stored in a client's `scopes` column; a text this build does not know grants
    /// nothing.
    pub fn from_stored(texts: &[String]) -> Vec<Scope> {
        texts.iter().filter_map(|s| s.parse().ok()).collect()
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope {s:?}; scopes are {}", known.join(", "))
            })
    }
}

/// Parses a space- or comma-separated scope list; duplicates are dropped, order is canonical.
pub fn parse_scopes(raw: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for part in raw.split([' ', ',']).filter(|p| !p.is_empty()) {
        let scope: Scope = part.parse()?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort_by_key(|s| *s as u8);
    Ok(scopes)
}

pub fn scopes_to_string(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Who makes the request: an API client, or a person signed in at a trusted identity provider.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client; for a person, a stable id derived from issuer and subject (it keys the
    /// per-caller budgets).
    pub client_id: Uuid,
    pub scopes: Vec<Scope>,
    /// The municipality the client (or person) is bound to, if any.
    pub municipality_id: Option<String>,
    /// The person, when the token is a person's.
    pub person: Option<oidc::Person>,
    /// The client may say on whose behalf it writes (`X-Sent-By`).
    pub acts_for_users: bool,
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// A bound client may change only records that belong to its municipality; an unbound
    /// client acts for the association and may change any.
    pub fn may_write_for<'a>(
        &self,
        owners: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ApiError> {
        let Some(own) = &self.municipality_id else {
            return Ok(());
        };
        let mut any = false;
        for owner in owners {
            any = true;
            if owner != own {
                return Err(ApiError::Forbidden(format!(
                    "This client is bound to municipality {own} and cannot change records of {owner}"
                )));
            }
        }
        if !any {
            return Err(ApiError::Forbidden(format!(
                "This client is bound to municipality {own} and cannot change the association's records"
            )));
        }
        Ok(())
    }

    /// Records of the association itself (reference data, clients) are changed only by clients
    /// that act for the association, not by one bound to a municipality.
    pub fn may_write_for_association(&self) -> Result<(), ApiError> {
        match &self.municipality_id {
            None => Ok(()),
            Some(own) => Err(ApiError::Forbidden(format!(
                "This client is bound to municipality {own} and cannot change the association's records"
            ))),
        }
    }

    /// Whether this caller may see the personal data (contact details, a registration's name and
    /// e-mail) of a person of `municipality`: administrators, and `write` clients of the
    /// association or of that municipality.
    pub fn sees_personal_data_of(&self, municipality: Option<&str>) -> bool {
        self.has(Scope::Admin)
            || (self.has(Scope::Write)
                && match &self.municipality_id {
                    None => true,
                    Some(own) => municipality == Some(own.as_str()),
                })
    }

    /// The audit log's name for this caller.
    pub fn actor(&self) -> String {
        match &self.person {
            Some(person) => format!("person:{}|{}", person.issuer, person.subject),
            None => format!("client:{}", self.client_id),
        }
    }
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            admitted(req)
                .and_then(|gate| {
                    gate.caller.ok_or_else(|| {
                        ApiError::Unauthorized(crate::error::NO_CREDENTIALS.to_owned())
                    })
                })
                .map_err(Into::into),
        )
    }
}

/// What [`authorize`] decided for a request: the route it resolved and, for an operation that
/// needs one, the authenticated caller.
#[derive(Debug, Clone)]
struct Admission {
    pattern: String,
    method: actix_web::http::Method,
    caller: Option<Caller>,
}

/// The gate's decision for this request, provided it was made for the resource the router
/// actually matched. A handler reaches the database ([`Db`] is an extractor) and the caller only
/// through this check, so a route the gate did not authorize cannot read or write anything, even
/// if the router and the route table ever disagreed.
fn admitted(req: &HttpRequest) -> Result<Admission, ApiError> {
    let refused = || ApiError::Unauthorized(crate::error::NO_CREDENTIALS.to_owned());
    let admission = req
        .extensions()
        .get::<Admission>()
        .cloned()
        .ok_or_else(refused)?;
    let matched = req.match_pattern();
    if matched.as_deref() != Some(admission.pattern.as_str()) || req.method() != admission.method {
        tracing::error!(
            authorized = %admission.pattern,
            matched = matched.as_deref().unwrap_or("none"),
            "the router matched another route than the one authorized; refused"
        );
        return Err(refused());
    }
    Ok(admission)
}

/// The caller the gate authenticated, for middleware that runs after the gate but before
/// routing (the idempotency keys are per client). Handlers take [`Caller`] instead.
pub fn authenticated(req: &ServiceRequest) -> Option<Caller> {
    req.extensions()
        .get::<Admission>()
        .and_then(|a| a.caller.clone())
}

impl FromRequest for Db {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(
            admitted(req)
                .and_then(|_| {
                    req.app_data::<crate::store::db::Unguarded>()
                        .map(|u| u.0.clone())
                        .ok_or_else(|| {
                            ApiError::internal(anyhow::anyhow!("no database configured"))
                        })
                })
                .map_err(Into::into),
        )
    }
}

/// The 401 for a token `jsonwebtoken` refused, saying why.
fn token_error(e: &jsonwebtoken::errors::Error) -> ApiError {
    use jsonwebtoken::errors::ErrorKind as K;
    let message = match e.kind() {
        K::ExpiredSignature => "The access token has expired".to_owned(),
        K::ImmatureSignature => "The access token is not valid yet".to_owned(),
        K::InvalidAudience => "The access token is for another audience".to_owned(),
        K::InvalidIssuer => "The access token is from another issuer".to_owned(),
        K::InvalidSignature => "The access token's signature is invalid".to_owned(),
        K::MissingRequiredClaim(c) => format!("The access token lacks the {c} claim"),
        _ => "The access token is invalid".to_owned(),
    };
    ApiError::Unauthorized(message)
}

/// The claims of our access tokens (RFC 9068).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub municipality_id: Option<String>,
    /// The client may say on whose behalf it writes (`X-Sent-By`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acts_for_users: bool,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

/// Validates tokens and remembers, briefly, which clients are disabled.
pub struct Authenticator {
    keys: SigningKeys,
    settings: JwtSettings,
    validation: Validation,
    db: Db,
    /// Client id → (checked at, enabled). Bounded staleness: a disabled client's tokens stop
    /// working within `STATUS_TTL`, as promised.
    status: Mutex<HashMap<Uuid, (Instant, bool)>>,
    /// SHA-256 of one of our own access tokens → what checking it found, until it expires.
    /// Checking a token's signature and claims gives the same answer every time (it is not
    /// state), so a repeated token skips it; what can change is looked at on every use: that
    /// it has not expired, that its key is still one this replica accepts, and (through
    /// `status`) that its client is enabled. At most `VERIFIED_MAX` entries.
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    pub limits: RateLimits,
    trusted_proxies: Vec<crate::config::IpNet>,
    /// The OpenID Connect providers whose tokens of people are accepted.
    providers: oidc::Providers,
}

const STATUS_TTL: Duration = Duration::from_secs(30);

/// Verified tokens remembered at most (a few MB); when full, the expired go, else all.
const VERIFIED_MAX: usize = 20_000;

/// One of our access tokens, checked.
#[derive(Clone)]
struct Verified {
    kid: String,
    exp: i64,
    client_id: Uuid,
    scopes: Vec<Scope>,
    municipality_id: Option<String>,
    acts_for_users: bool,
}
pub const LEEWAY_SECONDS: u64 = 30;

impl Authenticator {
    pub fn new(
        keys: SigningKeys,
        settings: JwtSettings,
        limits: RateLimits,
        trusted_proxies: Vec<crate::config::IpNet>,
        providers: &[crate::config::IssuerSettings],
        db: Db,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Self {
            keys,
            settings,
            validation,
            db,
            status: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            limits,
            trusted_proxies,
            providers: oidc::Providers::new(providers),
        }
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[crate::config::IpNet] {
        &self.trusted_proxies
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Checks a bearer token (RFC 8725: one algorithm, known `kid`, `typ`, `exp`, `nbf`, `iss`,
    /// `aud`) and that its client is still enabled.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ApiError> {
        let unauthorized = |m: &str| ApiError::Unauthorized(m.to_owned());
        let Some(value) = authorization else {
            return Err(unauthorized(crate::error::NO_CREDENTIALS));
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized(crate::error::NOT_BEARER))?;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(known) = self.remembered(&digest) {
            return self.caller(known).await;
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("The access token is malformed"))?;
        #[derive(Deserialize)]
        struct Issuer {
            iss: Option<String>,
        }
        // Whose token it is decides how it is checked; with no provider configured, every token
        // is checked as the service's own and its payload is read once.
        let issuer = if self.providers.is_empty() {
            None
        } else {
            jsonwebtoken::dangerous::insecure_decode_claims::<Issuer>(token)
                .map_err(|_| unauthorized("The access token is malformed"))?
                .iss
        };
        if let Some(issuer) = issuer.filter(|i| *i != self.settings.issuer) {
            let provider = self.providers.find(&issuer).ok_or_else(|| {
                unauthorized("The access token is from an issuer this API does not trust")
            })?;
            let verified = provider.verify(token, &header).await?;
            return Ok(Caller {
                client_id: verified.person.id(),
                scopes: verified.scopes,
                municipality_id: verified.municipality_id,
                person: Some(verified.person),
                acts_for_users: false,
            });
        }
        if header.alg != Algorithm::EdDSA {
            return Err(unauthorized("The access token's algorithm is not accepted"));
        }
        if !header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(unauthorized(
                "The token is not an access token (typ at+jwt)",
            ));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.find(kid))
            .ok_or_else(|| unauthorized("The access token is signed with an unknown key"))?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)
            .map_err(|e| token_error(&e))?;
        let claims = data.claims;
        // Our tokens live `token_ttl`; one issued in the future or meant to outlive that was not
        // issued by this service as configured (a stolen key, a clock far off): refused.
        let now = chrono::Utc::now().timestamp();
        let leeway = LEEWAY_SECONDS as i64;
        if claims.iat > now + leeway {
            return Err(unauthorized("The access token was issued in the future"));
        }
        let max_lifetime = i64::try_from(self.settings.token_ttl.as_secs()).unwrap_or(i64::MAX);
        if claims.exp.saturating_sub(claims.iat) > max_lifetime
            || claims.exp.saturating_sub(now) > max_lifetime + leeway
        {
            return Err(unauthorized(
                "The access token's lifetime exceeds what this service issues",
            ));
        }
        let client_id = Uuid::parse_str(&claims.sub)
            .map_err(|_| unauthorized("The access token's subject is not a client"))?;
        let scopes = parse_scopes(&claims.scope)
            .map_err(|_| unauthorized("The access token's scope is invalid"))?;
        let known = Verified {
            kid: key.kid.clone(),
            exp: claims.exp,
            client_id,
            scopes,
            municipality_id: claims.municipality_id,
            acts_for_users: claims.acts_for_users,
        };
        self.remember(digest, &known);
        self.caller(known).await
    }

    /// The caller of a checked token whose client is still enabled.
    async fn caller(&self, known: Verified) -> Result<Caller, ApiError> {
        if !self.client_enabled(known.client_id).await? {
            return Err(ApiError::Unauthorized(
                "The client of this access token is disabled".to_owned(),
            ));
        }
        Ok(Caller {
            client_id: known.client_id,
            scopes: known.scopes,
            municipality_id: known.municipality_id,
            person: None,
            acts_for_users: known.acts_for_users,
        })
    }

    /// A token checked before, if it has not expired and its key is still accepted.
    fn remembered(&self, digest: &[u8; 32]) -> Option<Verified> {
        let known = self.verified.lock().ok()?.get(digest).cloned()?;
        let now = chrono::Utc::now().timestamp();
        (known.exp + LEEWAY_SECONDS as i64 > now && self.keys.find(&known.kid).is_some())
            .then_some(known)
    }

    fn remember(&self, digest: [u8; 32], known: &Verified) {
        if let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_MAX {
                let now = chrono::Utc::now().timestamp();
                cache.retain(|_, v| v.exp + LEEWAY_SECONDS as i64 > now);
                if cache.len() >= VERIFIED_MAX {
                    cache.clear();
                }
            }
            cache.insert(digest, known.clone());
        }
    }

    async fn client_enabled(&self, id: Uuid) -> Result<bool, ApiError> {
        if let Ok(cache) = self.status.lock() {
            if let Some((at, enabled)) = cache.get(&id) {
                if at.elapsed() < STATUS_TTL {
                    return Ok(*enabled);
                }
            }
        }
        let mut conn = self.db.conn().await?;
        let disabled: Option<Option<chrono::DateTime<chrono::Utc>>> = api_clients::table
            .find(id)
            .select(api_clients::disabled_at)
            .first(&mut conn)
            .await
            .optional()?;
        let enabled = matches!(disabled, Some(None));
        if let Ok(mut cache) = self.status.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(id, (Instant::now(), enabled));
        }
        Ok(enabled)
    }

    /// Forgets a client's cached status (after disabling it on this replica).
    pub fn forget(&self, id: Uuid) {
        if let Ok(mut cache) = self.status.lock() {
            cache.remove(&id);
        }
    }
}

/// The gate every request passes before routing: it resolves the request against the route
/// table (on the decoded path the router uses, so `/v1/%63lients` is `/v1/clients`), answers 404
/// or 405 itself for paths and methods the table does not know, enforces the operation's declared
/// security requirement, rate-limits writes per client, and records its decision for the
/// extractors ([`Caller`], [`Db`]). Nothing but the docs page passes without a decision.
pub async fn authorize(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refuse = |req: ServiceRequest, err: ApiError| {
        let res = actix_web::ResponseError::error_response(&err);
        Ok(req.into_response(res).map_into_right_body())
    };
    let mut in_progress = None;
    match check(&req).await {
        Ok(Some(admission)) => {
            // HEAD is answered by the GET handler; actix's HTTP/1 encoder leaves out the body.
            if req.method() == actix_web::http::Method::HEAD {
                req.head_mut().method = actix_web::http::Method::GET;
            }
            // A client's requests in progress are limited (long polls have their own limit).
            if let (Some(caller), false) = (&admission.caller, admission.pattern == "/v1/changes") {
                let open = req
                    .app_data::<web::Data<crate::http::ratelimit::OpenRequests>>()
                    .map(|o| o.clone().into_inner());
                if let Some(open) = open {
                    match open.open(crate::http::ratelimit::Kind::Request, caller.client_id) {
                        Ok(guard) => in_progress = Some(guard),
                        Err(err) => return refuse(req, err),
                    }
                }
            }
            req.extensions_mut().insert(admission);
        }
        Ok(None) => {}
        Err(err) => return refuse(req, err),
    }
    let res = next.call(req).await;
    drop(in_progress);
    res.map(ServiceResponse::map_into_left_body)
}

/// Static pages outside the API that need no decision (the interactive docs and its assets).
fn is_docs(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

/// The gate's decision: `None` for the docs page and for `OPTIONS` on a known path (answered by
/// the fallback, which returns no data), else the admitted operation or the refusal.
async fn check(req: &ServiceRequest) -> Result<Option<Admission>, ApiError> {
    let path = req.match_info().as_str();
    if is_docs(path) {
        return Ok(None);
    }
    let routes = req
        .app_data::<web::Data<RouteTable>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no route table configured")))?;
    routes::check_path_text(req.path(), path, routes)?;
    let method = req.method().as_str();
    let (pattern, scopes) = match routes.resolve(method, path) {
        Resolved::Unknown => {
            return Err(ApiError::NotFound(format!(
                "There is no resource at {path}"
            )));
        }
        Resolved::MethodNotAllowed(_) if method == "OPTIONS" => return Ok(None),
        Resolved::MethodNotAllowed(allowed) => {
            return Err(ApiError::MethodNotAllowed(allowed));
        }
        Resolved::Operation { pattern, scopes } => (pattern, scopes),
    };
    let method = if req.method() == actix_web::http::Method::HEAD {
        actix_web::http::Method::GET
    } else {
        req.method().clone()
    };
    let Some(required) = scopes else {
        return Ok(Some(Admission {
            pattern,
            method,
            caller: None,
        }));
    };
    let auth = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no authenticator configured")))?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = auth.authenticate(authorization).await?;
    if let Some(missing) = required.iter().find(|s| !caller.has(**s)) {
        return Err(ApiError::Forbidden(format!(
            "This operation needs the scope {}",
            missing.as_str()
        )));
    }
    if method != actix_web::http::Method::GET {
        ratelimit::check(
            &auth.db,
            &format!("write:{}", caller.client_id),
            auth.limits.writes_per_minute,
        )
        .await?;
    }
    Ok(Some(Admission {
        pattern,
        method,
        caller: Some(caller),
    }))
}
