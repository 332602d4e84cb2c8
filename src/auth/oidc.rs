//! Tokens of people, issued by their organisation's OpenID Connect provider (Entra ID,
//! Keycloak, …), accepted the way a resource server should:
//!
//! - the provider's keys come from its discovery document (`/.well-known/openid-configuration`,
//!   whose `issuer` must be the configured one) and its `jwks_uri`, and are cached;
//! - a token signed with a `kid` the cache does not know refetches them, at most once per
//!   `refetchSeconds` per provider, so a flood of made-up kids cannot hammer the provider, and
//!   keys the provider rotates are picked up without a restart;
//! - each key's algorithm is pinned to what the key is (RS256 for an RSA key unless it says
//!   otherwise, ES256 for P-256, EdDSA for Ed25519); a token whose header names another
//!   algorithm is refused, so `none`, HS256-with-the-public-key and other confusions fail;
//! - `iss`, `aud`, `exp` and `nbf` are checked with the provider's leeway;
//! - a provider that cannot be reached never makes a request hang: fetches time out after a few
//!   seconds; tokens whose key is cached keep working, the others get 503 with `Retry-After`.
//!
//! The claims map to this API's scopes (`roles`, `scp`, `groups`, Keycloak's
//! `realm_access.roles` and `resource_access.<clientId>.roles`) and to a municipality (a claim,
//! or a group), as the provider's settings say.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Scope;
use crate::config::IssuerSettings;
use crate::error::ApiError;

/// How long fetched keys are used before they are fetched again (when a fetch fails, the cached
/// keys go on being used).
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The most one fetch of the discovery document or the keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The most a discovery document or key set may weigh.
const MAX_DOCUMENT: u64 = 512 * 1024;

/// A person as their provider's token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub issuer: String,
    /// The stable id of the person at the provider: Entra ID's `oid`, else `sub`.
    pub subject: String,
    /// `name`, for people to read.
    pub name: Option<String>,
    /// `preferred_username` (often the e-mail address).
    pub username: Option<String>,
    /// Entra ID's tenant (`tid`).
    pub tenant: Option<String>,
}

impl Person {
    /// The stable id this API keys the person by (budgets, `GET /v1/me`): a UUID made from a
    /// SHA-256 of issuer and subject, so the same person has it on every replica.
    pub fn id(&self) -> uuid::Uuid {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}|{}", self.issuer, self.subject));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }
}

/// What a person's token grants.
#[derive(Debug, Clone)]
pub struct Verified {
    pub person: Person,
    pub scopes: Vec<Scope>,
    pub municipality_id: Option<String>,
}

/// The trusted providers, by issuer.
pub struct Providers {
    providers: Vec<Provider>,
}

impl Providers {
    pub fn new(settings: &[IssuerSettings]) -> Self {
        Self {
            providers: settings.iter().cloned().map(Provider::new).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The provider that issues tokens with this `iss`.
    pub fn find(&self, issuer: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.settings.issuer == issuer)
    }
}

struct Key {
    decoding: DecodingKey,
    algorithm: Algorithm,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, std::sync::Arc<Key>>,
    fetched_at: Option<Instant>,
    /// The last fetch attempt and whether it failed.
    attempt: Option<(Instant, bool)>,
}

/// One trusted provider and its cached keys.
pub struct Provider {
    settings: IssuerSettings,
    cache: RwLock<Cache>,
    /// Serialises fetches, so that concurrent requests with a new `kid` fetch once.
    fetching: tokio::sync::Mutex<()>,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized(message.to_owned())
}

fn unpublished() -> ApiError {
    unauthorized("The access token is signed with a key its provider does not publish")
}

impl Provider {
    fn new(settings: IssuerSettings) -> Self {
        Self {
            settings,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, kid: &str) -> (Option<std::sync::Arc<Key>>, bool) {
        match self.cache.read() {
            Ok(cache) => (
                cache.keys.get(kid).cloned(),
                cache.fetched_at.is_none_or(|at| at.elapsed() > KEYS_TTL),
            ),
            Err(_) => (None, true),
        }
    }

    /// The key with this `kid`, fetching the provider's keys when the cache does not know it
    /// (or is old) and the last fetch is long enough ago.
    async fn key(&self, kid: &str) -> Result<std::sync::Arc<Key>, ApiError> {
        let (key, stale) = self.cached(kid);
        if let (Some(key), false) = (&key, stale) {
            return Ok(key.clone());
        }
        let _turn = tokio::time::timeout(FETCH_TIMEOUT * 3, self.fetching.lock())
            .await
            .map_err(|_| self.unreachable())?;
        // Another request may have fetched while this one waited.
        let (again, stale_again) = self.cached(kid);
        if let (Some(key), false) = (&again, stale_again) {
            return Ok(key.clone());
        }
        let interval = Duration::from_secs(self.settings.refetch_seconds);
        let last = self.cache.read().ok().and_then(|c| c.attempt);
        if last.is_none_or(|(at, _)| at.elapsed() >= interval) {
            let fetched = self.fetch().await;
            let failed = fetched.is_err();
            let keys = fetched.map_err(|e| {
                tracing::warn!(issuer = %self.settings.issuer, error = %e, "fetching the provider's keys failed");
            });
            if let Ok(mut cache) = self.cache.write() {
                cache.attempt = Some((Instant::now(), failed));
                if let Ok(keys) = keys {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
            }
            if !failed {
                // The provider's keys as they are now: a key it no longer publishes is retired.
                return self.cached(kid).0.ok_or_else(unpublished);
            }
        }
        // Not fetched now (too soon after the last fetch, or the provider failed): a key cached
        // earlier still serves.
        if let Some(key) = again {
            return Ok(key);
        }
        let failed = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.attempt)
            .is_some_and(|(_, failed)| failed);
        if failed {
            Err(self.unreachable())
        } else {
            Err(unpublished())
        }
    }

    fn unreachable(&self) -> ApiError {
        ApiError::Unavailable(format!(
            "The identity provider {} cannot be reached to check this token's key",
            self.settings.issuer
        ))
    }

    /// Discovery, then the key set, on a blocking thread with a deadline.
    async fn fetch(&self) -> Result<HashMap<String, std::sync::Arc<Key>>, String> {
        let issuer = self.settings.issuer.clone();
        let work = tokio::task::spawn_blocking(move || fetch_keys(&issuer));
        match tokio::time::timeout(FETCH_TIMEOUT * 2 + Duration::from_secs(1), work).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the provider did not answer in time".to_owned()),
        }
    }

    /// Checks a token of this provider and maps its claims.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<Verified, ApiError> {
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| unauthorized("The access token names no key (kid)"))?;
        let key = self.key(kid).await?;
        if header.alg != key.algorithm {
            return Err(unauthorized(
                "The access token's algorithm is not the one its key is for",
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = self.settings.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        validation.set_audience(&[self.settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .map_err(|e| super::token_error(&e))?;
        self.map(&data.claims)
    }

    /// The person, scopes and municipality the claims grant, by this provider's settings.
    fn map(&self, claims: &Value) -> Result<Verified, ApiError> {
        let texts = |v: &Value| -> Vec<String> {
            match v {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
                _ => Vec::new(),
            }
        };
        let mut names = texts(&claims["roles"]);
        names.extend(texts(&claims["scp"]));
        let groups = texts(&claims["groups"]);
        names.extend(groups.iter().cloned());
        names.extend(texts(&claims["realm_access"]["roles"]));
        if let Some(client) = &self.settings.client_id {
            names.extend(texts(&claims["resource_access"][client]["roles"]));
        }
        let mut granted = BTreeSet::new();
        for name in &names {
            for scope in self.settings.scopes.get(name).into_iter().flatten() {
                if let Ok(scope) = scope.parse::<Scope>() {
                    granted.insert(scope as u8);
                }
            }
        }
        let scopes: Vec<Scope> = Scope::ALL
            .into_iter()
            .filter(|s| granted.contains(&(*s as u8)))
            .collect();
        let mut municipalities = BTreeSet::new();
        if let Some(claim) = &self.settings.municipality_claim {
            if let Some(code) = claims[claim].as_str() {
                let code = crate::rules::MunicipalityId::parse(claim, code).map_err(|_| {
                    unauthorized("The access token's municipality is not a kommunkod")
                })?;
                municipalities.insert(code.as_str().to_owned());
            }
        }
        for name in &names {
            if let Some(code) = self.settings.municipality_groups.get(name) {
                municipalities.insert(code.clone());
            }
        }
        if municipalities.len() > 1 {
            return Err(unauthorized(
                "The access token binds its person to more than one municipality",
            ));
        }
        let text = |name: &str| claims[name].as_str().map(str::to_owned);
        let subject = text("oid")
            .or_else(|| text("sub"))
            .ok_or_else(|| unauthorized("The access token lacks the sub claim"))?;
        Ok(Verified {
            person: Person {
                issuer: self.settings.issuer.clone(),
                subject,
                name: text("name"),
                username: text("preferred_username"),
                tenant: text("tid"),
            },
            scopes,
            municipality_id: municipalities.into_iter().next(),
        })
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

fn get_json<T: serde::de::DeserializeOwned>(agent: &ureq::Agent, url: &str) -> Result<T, String> {
    let mut response = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_DOCUMENT)
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{url}: {e}"))
}

/// The provider's signing keys by `kid`, through its discovery document. Keys this service
/// cannot use for signatures (symmetric ones, encryption keys, unknown curves) are left out.
fn fetch_keys(issuer: &str) -> Result<HashMap<String, std::sync::Arc<Key>>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(0)
        .build()
        .into();
    let discovery_url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let discovery: Discovery = get_json(&agent, &discovery_url)?;
    if discovery.issuer != issuer {
        return Err(format!(
            "the discovery document names the issuer {}, not {issuer}",
            discovery.issuer
        ));
    }
    let set: Value = get_json(&agent, &discovery.jwks_uri)?;
    let mut keys = HashMap::new();
    for raw in set["keys"].as_array().into_iter().flatten() {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        if raw["use"].as_str().is_some_and(|u| u != "sig") {
            continue;
        }
        let (Some(kid), Some(algorithm)) = (jwk.common.key_id.clone(), algorithm_of(&jwk)) else {
            continue;
        };
        if let Ok(decoding) = DecodingKey::from_jwk(&jwk) {
            keys.insert(
                kid,
                std::sync::Arc::new(Key {
                    decoding,
                    algorithm,
                }),
            );
        }
    }
    Ok(keys)
}

/// The one algorithm a key is used with: the one it declares, if it fits the key, else the
/// usual one for its type. Symmetric keys have none.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let declared = jwk.common.key_algorithm.and_then(|a| match a {
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::RS384 => Some(Algorithm::RS384),
        KeyAlgorithm::RS512 => Some(Algorithm::RS512),
        KeyAlgorithm::PS256 => Some(Algorithm::PS256),
        KeyAlgorithm::PS384 => Some(Algorithm::PS384),
        KeyAlgorithm::PS512 => Some(Algorithm::PS512),
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::ES384 => Some(Algorithm::ES384),
        KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
        _ => None,
    });
    let fits = |a: Algorithm| match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            a,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => a == Algorithm::ES256,
            EllipticCurve::P384 => a == Algorithm::ES384,
            _ => false,
        },
        AlgorithmParameters::OctetKeyPair(p) => {
            p.curve == EllipticCurve::Ed25519 && a == Algorithm::EdDSA
        }
        _ => false,
    };
    match declared {
        Some(a) => fits(a).then_some(a),
        None => match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Some(Algorithm::ES256)
            }
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
                Some(Algorithm::ES384)
            }
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                Some(Algorithm::EdDSA)
            }
            _ => None,
        },
    }
}
