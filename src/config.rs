//! Typed configuration, read once from the environment and passed down explicitly.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    Json,
    /// Human-readable lines (for a terminal).
    Pretty,
    /// `Pretty` when standard error is a terminal, otherwise `Json`.
    Auto,
}

/// Settings of the database connection pool.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_size: usize,
    /// Longest wait for a free connection, for establishing one, and for recycling one.
    pub timeout: Duration,
    /// Server-side `statement_timeout` for every connection.
    pub statement_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 16,
            timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Where the database is.
#[derive(Clone)]
pub enum DatabaseSource {
    /// An existing PostgreSQL server (`DATABASE_URL`).
    Url(String),
    /// A private cluster under the data directory, created from the installed binaries.
    Embedded,
}

impl fmt::Debug for DatabaseSource {
    // Never print the URL: it may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseSource::Url(_) => f.write_str("Url(<redacted>)"),
            DatabaseSource::Embedded => f.write_str("Embedded"),
        }
    }
}

/// Token signing and validation.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// PKCS#8 PEM Ed25519 private key; generated into the data directory when absent.
    pub key_file: Option<PathBuf>,
    /// `kid` of the signing key; derived from the key (RFC 7638 thumbprint) when absent.
    pub kid: Option<String>,
    /// A previous key's public PEM, still accepted during a rotation.
    pub previous_public_key_file: Option<PathBuf>,
    pub previous_kid: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub token_ttl: Duration,
}

/// Request budgets per minute, counted in PostgreSQL (shared by every replica).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Tokens one client may obtain (successful token requests).
    pub token_requests_per_minute: u32,
    /// Token requests from one source address, whatever their outcome.
    pub token_requests_per_address_per_minute: u32,
    /// Failed token requests for one client id from one source address.
    pub token_failures_per_minute: u32,
    pub writes_per_minute: u32,
}

/// How many requests of the kinds that stay open long one client may have open at once on one
/// replica (they protect this replica's connections and memory, so they are counted here).
#[derive(Debug, Clone, Copy)]
pub struct OpenLimits {
    /// Requests one client may have in progress at once; 0: three quarters of the pool (at least 2).
    pub requests_per_client: usize,
    pub long_polls_per_client: usize,
    pub exports_per_client: usize,
    /// Longest a streamed export may take to deliver, however slowly its client reads.
    pub export_deadline: Duration,
    /// Longest a request body may pause between two chunks before the request is 408.
    pub body_idle_timeout: Duration,
    /// Longest a request head may take to arrive (408 beyond it).
    pub head_timeout: Duration,
}

impl Default for OpenLimits {
    fn default() -> Self {
        Self {
            requests_per_client: 0,
            long_polls_per_client: 8,
            exports_per_client: 4,
            export_deadline: Duration::from_secs(600),
            body_idle_timeout: Duration::from_secs(15),
            head_timeout: Duration::from_secs(5),
        }
    }
}

/// An address range (`10.0.0.0/8`, `::1`), for trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s, ""));
        let addr: std::net::IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an address or address/prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a prefix length out of range"))?
        };
        Ok(Self { addr, prefix })
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseSource,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub log_level: String,
    pub log_format: LogFormat,
    pub pool: PoolSettings,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Upper bound on a request, from the first byte to the response (503 beyond it).
    pub request_timeout: Duration,
    pub jwt: JwtSettings,
    pub rate_limits: RateLimits,
    pub open_limits: OpenLimits,
    /// Proxies whose `X-Forwarded-For` names the client's address (for per-address limits).
    pub trusted_proxies: Vec<IpNet>,
    /// How long deletions stay in the change feed (older cursors get 410).
    pub tombstone_retention: Duration,
    pub imports: ImportLimits,
    /// The OpenID Connect providers whose tokens of people are accepted (empty: none).
    pub oidc: Vec<IssuerSettings>,
    /// The origins of the browser apps allowed to call the API (`SAMVERKAN_CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// Where clients reach this service (`SAMVERKAN_PUBLIC_URL`, `https://host[:port][/path]`),
    /// for the links it hands out; when unset, the request's host.
    pub public_url: Option<String>,
    /// `/metrics` without a token (`SAMVERKAN_METRICS_PUBLIC`); by default it needs the
    /// `metrics` scope.
    pub metrics_public: bool,
    pub webhooks: WebhookSettings,
    /// Who answers for this installation (`SAMVERKAN_CONTACT_NAME`, `_EMAIL`, `_URL`), named
    /// in the OpenAPI document it serves (`info.contact`).
    pub contact: Contact,
}

/// The installation's contact, as its OpenAPI document names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    pub url: Option<String>,
}

impl Default for Contact {
    fn default() -> Self {
        Self {
            name: "Kommunförbundet Västernorrland".to_owned(),
            email: None,
            url: None,
        }
    }
}

/// How webhooks are delivered (`SAMVERKAN_WEBHOOK_*`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Whether this replica delivers (`SAMVERKAN_WEBHOOKS`, default on). Every replica may.
    pub deliver: bool,
    /// Networks whose addresses may be called although they are not public, and over plain
    /// HTTP (`SAMVERKAN_WEBHOOK_ALLOWED_NETWORKS`, e.g. `127.0.0.1/32` for a receiver on the
    /// same machine). Empty by default: only public addresses, only https.
    pub allowed_networks: Vec<IpNet>,
    /// An attempt's deadline (`SAMVERKAN_WEBHOOK_TIMEOUT_SECONDS`, default 10).
    pub timeout: Duration,
    /// Attempts in flight at once on one replica (`SAMVERKAN_WEBHOOK_CONCURRENCY`, default 16).
    pub concurrency: usize,
    /// How long an attempt's lease lasts: after it, another replica may make the attempt again.
    pub lease: Duration,
    /// The delays before each retry; after the last, an event is given up.
    pub retries: Vec<Duration>,
    /// A subscription whose every delivery has failed for this long is disabled.
    pub disable_after: Duration,
    /// How often an idle dispatcher looks for work (a change to the feed wakes it at once).
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            deliver: true,
            allowed_networks: Vec::new(),
            timeout: Duration::from_secs(10),
            concurrency: 16,
            lease: Duration::from_secs(60),
            // 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then every 12 h: the last
            // attempt comes about three days after the first.
            retries: vec![
                Duration::from_secs(5),
                Duration::from_secs(30),
                minutes(2),
                minutes(10),
                minutes(30),
                minutes(60),
                minutes(120),
                minutes(240),
                minutes(480),
                minutes(720),
                minutes(720),
                minutes(720),
                minutes(720),
                minutes(720),
            ],
            disable_after: Duration::from_secs(72 * 3600),
            poll: Duration::from_secs(1),
        }
    }
}

/// An on/off setting: `on`/`true` or `off`/`false`, `default` when unset.
fn switch(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).as_deref() {
        None => Ok(default),
        Some("on" | "true") => Ok(true),
        Some("off" | "false") => Ok(false),
        Some(other) => Err(ConfigError {
            name,
            message: format!("expected on or off, got {other:?}"),
        }),
    }
}

/// A setting that may be unset, read by `parse` when set.
fn optional<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ConfigError> {
    get(name)
        .map(|raw| parse(&raw))
        .transpose()
        .map_err(|message| ConfigError { name, message })
}

/// A public base URL: `http(s)://host[:port][/path]`, without query, fragment or trailing `/`.
fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url}: expected https://host[:port][/path]"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ', '*']) || rest.chars().any(char::is_control)
    {
        return Err(format!(
            "{url}: expected https://host[:port][/path], without query or fragment"
        ));
    }
    Ok(url.to_owned())
}

/// `SAMVERKAN_CONTACT_NAME`, `SAMVERKAN_CONTACT_EMAIL` and `SAMVERKAN_CONTACT_URL`.
fn contact(get: &impl Fn(&str) -> Option<String>) -> Result<Contact, ConfigError> {
    let defaults = Contact::default();
    let name = match get("SAMVERKAN_CONTACT_NAME") {
        None => defaults.name,
        Some(name) => {
            let name = name.trim();
            if name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(ConfigError {
                    name: "SAMVERKAN_CONTACT_NAME",
                    message: "expected 1 to 200 printable characters".to_owned(),
                });
            }
            name.to_owned()
        }
    };
    let email = optional(get, "SAMVERKAN_CONTACT_EMAIL", parse_email)?;
    let url = optional(get, "SAMVERKAN_CONTACT_URL", parse_public_url)?;
    Ok(Contact { name, email, url })
}

/// An e-mail address as a contact: `local@domain`, printable, no spaces, at most 254 characters.
fn parse_email(raw: &str) -> Result<String, String> {
    let email = raw.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "<>\",;".contains(c));
    if valid {
        Ok(email.to_owned())
    } else {
        Err(format!(
            "{email}: expected an e-mail address, name@example.se"
        ))
    }
}

/// A comma-separated list of origins (`https://host[:port]`, no path, no wildcard).
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .ok_or_else(|| format!("{origin}: an origin is https://host[:port]"))?;
        if rest.is_empty() || rest.contains(['/', '*', '?', '#', ' ']) {
            return Err(format!(
                "{origin}: an origin is a scheme, a host and a port, without path or wildcard"
            ));
        }
        origins.push(origin.to_owned());
    }
    Ok(origins)
}

/// A trusted OpenID Connect provider (`SAMVERKAN_OIDC_ISSUERS`, a JSON array of these, or
/// `SAMVERKAN_OIDC_ISSUERS_FILE`, a file holding it): whose tokens, for which audience, and how
/// their claims map to this API's scopes and to a municipality.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IssuerSettings {
    /// The issuer exactly as its tokens' `iss` and its discovery document name it, e.g.
    /// `https://login.microsoftonline.com/<tenant>/v2.0`.
    pub issuer: String,
    /// The audience its tokens must carry for this API (`aud`), e.g. `api://samverkan`.
    pub audience: String,
    /// The client whose roles count in Keycloak's `resource_access.<clientId>.roles`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Role, scope (`scp`) or group name → the API scopes it grants (`read`, `write`, `import`,
    /// `admin`).
    pub scopes: std::collections::BTreeMap<String, Vec<String>>,
    /// The claim that holds the person's kommunkod, if the provider issues one.
    #[serde(default)]
    pub municipality_claim: Option<String>,
    /// Group (or role) → the kommunkod it binds the person to.
    #[serde(default)]
    pub municipality_groups: std::collections::BTreeMap<String, String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (at most 300).
    #[serde(default = "default_oidc_leeway")]
    pub leeway_seconds: u64,
    /// The least time between two fetches of the provider's keys, in seconds: an unknown `kid`
    /// refetches them at most this often.
    #[serde(default = "default_oidc_refetch")]
    pub refetch_seconds: u64,
}

fn default_oidc_leeway() -> u64 {
    60
}

fn default_oidc_refetch() -> u64 {
    60
}

fn parse_issuers(text: &str) -> Result<Vec<IssuerSettings>, String> {
    let issuers: Vec<IssuerSettings> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    for issuer in &issuers {
        if issuer.leeway_seconds > 300 {
            return Err(format!(
                "{}: leewaySeconds must be at most 300",
                issuer.issuer
            ));
        }
        if !(issuer.issuer.starts_with("https://") || issuer.issuer.starts_with("http://127.0.0.1"))
        {
            return Err(format!(
                "{}: an issuer must be an https URL (http only on 127.0.0.1)",
                issuer.issuer
            ));
        }
        for (role, scopes) in &issuer.scopes {
            if let Some(bad) = scopes
                .iter()
                .find(|s| !matches!(s.as_str(), "read" | "write" | "import" | "admin"))
            {
                return Err(format!(
                    "{}: role {role}: {bad} is not a scope (read, write, import, admin)",
                    issuer.issuer
                ));
            }
        }
        for (group, code) in &issuer.municipality_groups {
            if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{}: group {group}: {code} is not a four-digit kommunkod",
                    issuer.issuer
                ));
            }
        }
    }
    Ok(issuers)
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

/// The most HTTP workers actix runs.
const MAX_WORKERS: usize = 512;

impl Config {
    /// The HTTP workers the server runs: `workers`, or one per core (as actix counts them).
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map_or(2, std::num::NonZeroUsize::get)
                .min(MAX_WORKERS)
        }
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let database = match get("DATABASE_URL") {
            Some(url) => DatabaseSource::Url(url),
            None => DatabaseSource::Embedded,
        };
        let bind = parse(&get, "SAMVERKAN_BIND", "127.0.0.1:8080".parse().ok())?;
        let data_dir = get("SAMVERKAN_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".samverkan"));
        let log_level = get("SAMVERKAN_LOG_LEVEL").unwrap_or_else(|| "info".to_owned());
        let log_format = match get("SAMVERKAN_LOG_FORMAT").as_deref() {
            None | Some("auto") => LogFormat::Auto,
            Some("json") => LogFormat::Json,
            Some("pretty") | Some("text") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError {
                    name: "SAMVERKAN_LOG_FORMAT",
                    message: format!("expected json, pretty or auto, got {other:?}"),
                });
            }
        };
        let defaults = PoolSettings::default();
        let pool = PoolSettings {
            max_size: parse(&get, "SAMVERKAN_DB_POOL_SIZE", Some(defaults.max_size))?,
            timeout: Duration::from_millis(parse(
                &get,
                "SAMVERKAN_DB_TIMEOUT_MS",
                Some(defaults.timeout.as_millis() as u64),
            )?),
            statement_timeout: Duration::from_millis(parse(
                &get,
                "SAMVERKAN_DB_STATEMENT_TIMEOUT_MS",
                Some(defaults.statement_timeout.as_millis() as u64),
            )?),
        };
        if pool.max_size == 0 {
            return Err(ConfigError {
                name: "SAMVERKAN_DB_POOL_SIZE",
                message: "must be at least 1".to_owned(),
            });
        }
        let workers = parse(&get, "SAMVERKAN_WORKERS", Some(0))?;
        if workers > MAX_WORKERS {
            return Err(ConfigError {
                name: "SAMVERKAN_WORKERS",
                message: format!("must be at most {MAX_WORKERS}"),
            });
        }
        let request_timeout =
            Duration::from_millis(parse(&get, "SAMVERKAN_REQUEST_TIMEOUT_MS", Some(30_000))?);
        let jwt = JwtSettings {
            key_file: get("SAMVERKAN_JWT_KEY_FILE").map(PathBuf::from),
            kid: get("SAMVERKAN_JWT_KID"),
            previous_public_key_file: get("SAMVERKAN_JWT_PREVIOUS_PUBLIC_KEY_FILE")
                .map(PathBuf::from),
            previous_kid: get("SAMVERKAN_JWT_PREVIOUS_PUBLIC_KEY_KID"),
            issuer: get("SAMVERKAN_JWT_ISSUER").unwrap_or_else(|| "samverkan".to_owned()),
            audience: get("SAMVERKAN_JWT_AUDIENCE").unwrap_or_else(|| "samverkan-api".to_owned()),
            token_ttl: Duration::from_secs(parse(&get, "SAMVERKAN_JWT_TTL_SECONDS", Some(900))?),
        };
        if !(60..=86_400).contains(&jwt.token_ttl.as_secs()) {
            return Err(ConfigError {
                name: "SAMVERKAN_JWT_TTL_SECONDS",
                message: "must be between 60 and 86400".to_owned(),
            });
        }
        if jwt.previous_public_key_file.is_some() != jwt.previous_kid.is_some() {
            return Err(ConfigError {
                name: "SAMVERKAN_JWT_PREVIOUS_PUBLIC_KEY_KID",
                message: "set both SAMVERKAN_JWT_PREVIOUS_PUBLIC_KEY_FILE and its _KID, or neither"
                    .to_owned(),
            });
        }
        let rate_limits = RateLimits {
            token_requests_per_minute: parse(
                &get,
                "SAMVERKAN_RATE_LIMIT_TOKENS_PER_MINUTE",
                Some(30),
            )?,
            token_requests_per_address_per_minute: parse(
                &get,
                "SAMVERKAN_RATE_LIMIT_TOKENS_PER_ADDRESS_PER_MINUTE",
                Some(120),
            )?,
            token_failures_per_minute: parse(
                &get,
                "SAMVERKAN_RATE_LIMIT_TOKEN_FAILURES_PER_MINUTE",
                Some(10),
            )?,
            writes_per_minute: parse(&get, "SAMVERKAN_RATE_LIMIT_WRITES_PER_MINUTE", Some(1200))?,
        };
        let open_defaults = OpenLimits::default();
        let open_limits = OpenLimits {
            requests_per_client: parse(
                &get,
                "SAMVERKAN_REQUESTS_PER_CLIENT",
                Some(open_defaults.requests_per_client),
            )?,
            long_polls_per_client: parse(
                &get,
                "SAMVERKAN_LONG_POLLS_PER_CLIENT",
                Some(open_defaults.long_polls_per_client),
            )?,
            exports_per_client: parse(
                &get,
                "SAMVERKAN_EXPORTS_PER_CLIENT",
                Some(open_defaults.exports_per_client),
            )?,
            export_deadline: Duration::from_secs(parse(
                &get,
                "SAMVERKAN_EXPORT_DEADLINE_SECONDS",
                Some(open_defaults.export_deadline.as_secs()),
            )?),
            body_idle_timeout: Duration::from_millis(parse(
                &get,
                "SAMVERKAN_BODY_IDLE_TIMEOUT_MS",
                Some(open_defaults.body_idle_timeout.as_millis() as u64),
            )?),
            head_timeout: Duration::from_millis(parse(
                &get,
                "SAMVERKAN_HEAD_TIMEOUT_MS",
                Some(open_defaults.head_timeout.as_millis() as u64),
            )?),
        };
        let trusted_proxies = networks(&get, "SAMVERKAN_TRUSTED_PROXIES")?;
        let tombstone_retention = Duration::from_secs(
            86_400 * parse::<u64>(&get, "SAMVERKAN_TOMBSTONE_RETENTION_DAYS", Some(30))?,
        );
        let import_defaults = ImportLimits::default();
        let imports = ImportLimits {
            max_bytes: parse(
                &get,
                "SAMVERKAN_IMPORT_MAX_BYTES",
                Some(import_defaults.max_bytes),
            )?,
            max_rows: parse(
                &get,
                "SAMVERKAN_IMPORT_MAX_ROWS",
                Some(import_defaults.max_rows),
            )?,
        };
        let oidc = match (
            get("SAMVERKAN_OIDC_ISSUERS"),
            get("SAMVERKAN_OIDC_ISSUERS_FILE"),
        ) {
            (Some(text), _) => parse_issuers(&text).map_err(|message| ConfigError {
                name: "SAMVERKAN_OIDC_ISSUERS",
                message,
            })?,
            (None, Some(file)) => std::fs::read_to_string(&file)
                .map_err(|e| e.to_string())
                .and_then(|text| parse_issuers(&text))
                .map_err(|message| ConfigError {
                    name: "SAMVERKAN_OIDC_ISSUERS_FILE",
                    message,
                })?,
            (None, None) => Vec::new(),
        };
        let cors_origins = parse_origins(&get("SAMVERKAN_CORS_ORIGINS").unwrap_or_default())
            .map_err(|message| ConfigError {
                name: "SAMVERKAN_CORS_ORIGINS",
                message,
            })?;
        let public_url = optional(&get, "SAMVERKAN_PUBLIC_URL", parse_public_url)?;
        let metrics_public = switch(&get, "SAMVERKAN_METRICS_PUBLIC", false)?;
        let contact = contact(&get)?;
        let webhook_defaults = WebhookSettings::default();
        let webhooks = WebhookSettings {
            deliver: switch(&get, "SAMVERKAN_WEBHOOKS", true)?,
            allowed_networks: networks(&get, "SAMVERKAN_WEBHOOK_ALLOWED_NETWORKS")?,
            timeout: Duration::from_secs(parse(
                &get,
                "SAMVERKAN_WEBHOOK_TIMEOUT_SECONDS",
                Some(webhook_defaults.timeout.as_secs()),
            )?),
            concurrency: parse(
                &get,
                "SAMVERKAN_WEBHOOK_CONCURRENCY",
                Some(webhook_defaults.concurrency),
            )?,
            ..webhook_defaults
        };
        if !(1..=60).contains(&webhooks.timeout.as_secs()) {
            return Err(ConfigError {
                name: "SAMVERKAN_WEBHOOK_TIMEOUT_SECONDS",
                message: "must be between 1 and 60".to_owned(),
            });
        }
        if !(1..=256).contains(&webhooks.concurrency) {
            return Err(ConfigError {
                name: "SAMVERKAN_WEBHOOK_CONCURRENCY",
                message: "must be between 1 and 256".to_owned(),
            });
        }
        Ok(Self {
            contact,
            webhooks,
            metrics_public,
            public_url,
            cors_origins,
            oidc,
            imports,
            tombstone_retention,
            database,
            bind,
            data_dir,
            log_level,
            log_format,
            pool,
            workers,
            request_timeout,
            jwt,
            rate_limits,
            open_limits,
            trusted_proxies,
        })
    }
}

/// A comma-separated list of networks (`10.0.0.0/8, 127.0.0.1/32`); none when unset.
fn networks(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Vec<IpNet>, ConfigError> {
    get(name)
        .map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::parse)
                .collect::<Result<Vec<IpNet>, String>>()
        })
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|message| ConfigError { name, message })
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Option<T>,
) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match get(name) {
        Some(raw) => raw.trim().parse().map_err(|e| ConfigError {
            name,
            message: format!("{e} (got {raw:?})"),
        }),
        None => default.ok_or_else(|| ConfigError {
            name,
            message: "is required".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn the_public_url_is_a_base_without_query() {
        assert_eq!(
            parse_public_url("https://samverkan.kfvn.se/").as_deref(),
            Ok("https://samverkan.kfvn.se")
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:8080/api").as_deref(),
            Ok("http://127.0.0.1:8080/api")
        );
        for bad in [
            "samverkan.kfvn.se",
            "ftp://x",
            "https://",
            "https://x/?a=1",
            "https://x/#f",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_contact_is_checked() {
        let c = config(&[
            ("SAMVERKAN_CONTACT_EMAIL", " api@kfvn.se "),
            ("SAMVERKAN_CONTACT_URL", "https://www.kfvn.se/kontakt/"),
        ])
        .expect("a valid contact");
        assert_eq!(c.contact.name, "Kommunförbundet Västernorrland");
        assert_eq!(c.contact.email.as_deref(), Some("api@kfvn.se"));
        assert_eq!(
            c.contact.url.as_deref(),
            Some("https://www.kfvn.se/kontakt")
        );
        for bad in [
            "kfvn.se",
            "a@b",
            "a b@kfvn.se",
            "<a@kfvn.se>",
            "a@kfvn.se.",
            "a@@kfvn.se",
        ] {
            let err = config(&[("SAMVERKAN_CONTACT_EMAIL", bad)]).expect_err(bad);
            assert_eq!(err.name, "SAMVERKAN_CONTACT_EMAIL", "{bad}");
        }
        let err = config(&[("SAMVERKAN_CONTACT_URL", "www.kfvn.se")]).expect_err("no scheme");
        assert_eq!(err.name, "SAMVERKAN_CONTACT_URL");
        let long = "x".repeat(201);
        for bad in ["Kommun\u{7}förbundet", long.as_str()] {
            let err = config(&[("SAMVERKAN_CONTACT_NAME", bad)]).expect_err("a bad name");
            assert_eq!(err.name, "SAMVERKAN_CONTACT_NAME");
        }
        // Empty is unset, as for every setting (an .env copied from .env.example).
        let c = config(&[
            ("SAMVERKAN_CONTACT_NAME", " "),
            ("SAMVERKAN_CONTACT_EMAIL", ""),
        ])
        .expect("empty is the default");
        assert_eq!(c.contact, Contact::default());
    }

    #[test]
    fn defaults_use_the_embedded_database_on_localhost() {
        let c = config(&[]).expect("defaults are valid");
        assert!(matches!(c.database, DatabaseSource::Embedded));
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from(".samverkan"));
        assert_eq!(c.log_format, LogFormat::Auto);
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        let c = config(&[(
            "SAMVERKAN_CORS_ORIGINS",
            "https://app.kfvn.se, http://localhost:5173",
        )])
        .expect("valid");
        assert_eq!(
            c.cors_origins,
            ["https://app.kfvn.se", "http://localhost:5173"]
        );
        for bad in [
            "*",
            "https://*.kfvn.se",
            "app.kfvn.se",
            "https://app.kfvn.se/",
        ] {
            let e = config(&[("SAMVERKAN_CORS_ORIGINS", bad)]).expect_err(bad);
            assert_eq!(e.name, "SAMVERKAN_CORS_ORIGINS");
        }
    }

    #[test]
    fn identity_providers_are_read_and_checked() {
        let ok = r#"[{"issuer": "https://login.microsoftonline.com/t/v2.0", "audience": "api://samverkan",
            "scopes": {"Samverkan.Write": ["read", "write"]}, "municipalityGroups": {"g": "2281"}}]"#;
        let c = config(&[("SAMVERKAN_OIDC_ISSUERS", ok)]).expect("valid");
        assert_eq!(c.oidc.len(), 1);
        assert_eq!(c.oidc[0].leeway_seconds, 60);
        assert_eq!(c.oidc[0].refetch_seconds, 60);
        for bad in [
            "not json",
            r#"[{"issuer": "http://idp.example/x", "audience": "a", "scopes": {}}]"#,
            r#"[{"issuer": "https://idp.example/x", "audience": "a", "scopes": {"r": ["superuser"]}}]"#,
            r#"[{"issuer": "https://idp.example/x", "audience": "a", "scopes": {}, "leewaySeconds": 3600}]"#,
            r#"[{"issuer": "https://idp.example/x", "audience": "a", "scopes": {}, "municipalityGroups": {"g": "Sundsvall"}}]"#,
            r#"[{"issuer": "https://idp.example/x", "audience": "a", "scopes": {}, "colour": "red"}]"#,
        ] {
            let e = config(&[("SAMVERKAN_OIDC_ISSUERS", bad)]).expect_err(bad);
            assert_eq!(e.name, "SAMVERKAN_OIDC_ISSUERS", "{bad}");
        }
    }

    #[test]
    fn database_url_is_never_printed() {
        let c = config(&[("DATABASE_URL", "postgres://u:secret@db/x")]).expect("valid");
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn proxy_ranges_contain_their_addresses() {
        let net: IpNet = "10.1.0.0/16".parse().expect("range");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.0.9".parse().expect("mapped")));
        let one: IpNet = "::1".parse().expect("v6");
        assert!(one.contains("::1".parse().expect("ip")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        let e = config(&[("SAMVERKAN_TRUSTED_PROXIES", "10.0.0.0/8, nope")]).expect_err("bad");
        assert_eq!(e.name, "SAMVERKAN_TRUSTED_PROXIES");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = config(&[("SAMVERKAN_BIND", "nope")]).expect_err("invalid bind");
        assert_eq!(e.name, "SAMVERKAN_BIND");
        let e = config(&[("SAMVERKAN_LOG_FORMAT", "xml")]).expect_err("invalid format");
        assert_eq!(e.name, "SAMVERKAN_LOG_FORMAT");
        let e = config(&[("SAMVERKAN_DB_POOL_SIZE", "0")]).expect_err("zero pool");
        assert_eq!(e.name, "SAMVERKAN_DB_POOL_SIZE");
        let e = config(&[("SAMVERKAN_WORKERS", "513")]).expect_err("more workers than actix runs");
        assert_eq!(e.name, "SAMVERKAN_WORKERS");
        let workers = config(&[("SAMVERKAN_WORKERS", "3")]).expect("three workers");
        assert_eq!(workers.worker_count(), 3);
        assert!(config(&[]).expect("defaults").worker_count() >= 1);
    }
}

/// Limits of one load (app data; `SAMVERKAN_IMPORT_MAX_BYTES`, `SAMVERKAN_IMPORT_MAX_ROWS`).
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    pub max_bytes: u64,
    pub max_rows: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_bytes: 200 * 1024 * 1024,
            max_rows: 1_000_000,
        }
    }
}
