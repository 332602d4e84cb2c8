//! `samverkan doctor`: what an operator checks before (or instead of) starting the service, on
//! one screen: the configuration as read, the database (reachable, its version), the
//! migrations (none pending), what the data needs of PostgreSQL (the ICU Swedish collation,
//! the `swedish` text search configuration, `pg_trgm`), the clock against the database's, and
//! the token signing key. Nothing is changed: no migration runs and no key is generated.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::sql_types::{BigInt, Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::config::{Config, DatabaseSource};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but deserves a look.
    Warn,
    /// The service will not work (or not fully) until this is fixed.
    Fail,
}

/// One check: what was looked at, how it came out, and what was seen.
#[derive(Debug, Clone)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        write!(f, "{mark}  {:<14} {}", self.check, self.detail)
    }
}

fn finding(check: &'static str, status: Status, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        status,
        detail: detail.into(),
    }
}

/// Clock skew beyond which tokens go wrong: the 30 s leeway of their times.
const SKEW_FAIL: f64 = 30.0;
/// Clock skew worth a warning.
const SKEW_WARN: f64 = 1.0;

#[derive(diesel::QueryableByName)]
struct Server {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = BigInt)]
    version_num: i64,
    #[diesel(sql_type = Double)]
    epoch: f64,
    #[diesel(sql_type = BigInt)]
    collation: i64,
    #[diesel(sql_type = BigInt)]
    text_search: i64,
    #[diesel(sql_type = BigInt)]
    trigram_available: i64,
    #[diesel(sql_type = BigInt)]
    trigram_installed: i64,
}

const SERVER: &str = "SELECT version() AS version, current_setting('server_version_num')::bigint AS version_num, \
     extract(epoch FROM clock_timestamp())::float8 AS epoch, \
     (SELECT count(*) FROM pg_collation WHERE collprovider = 'i' AND collname IN ('sv-SE-x-icu', 'swedish')) AS collation, \
     (SELECT count(*) FROM pg_ts_config WHERE cfgname = 'swedish') AS text_search, \
     (SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm') AS trigram_available, \
     (SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm') AS trigram_installed";

/// Every check, against the database at `url` (the one `config` names, or the embedded
/// cluster's), within `timeout` for the database.
pub async fn examine(config: &Config, url: &str, timeout: Duration) -> Vec<Finding> {
    let mut found = vec![configuration(config), signing_key(config)];
    let connected = tokio::time::timeout(timeout, crate::store::db::connect(url)).await;
    let mut conn = match connected {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            found.push(finding(
                "database",
                Status::Fail,
                format!("cannot connect: {e}"),
            ));
            return found;
        }
        Err(_) => {
            found.push(finding(
                "database",
                Status::Fail,
                format!("no answer within {} s", timeout.as_secs()),
            ));
            return found;
        }
    };
    found.extend(server(&mut conn).await);
    let url = url.to_owned();
    let pending = tokio::task::spawn_blocking(move || crate::store::db::pending(&url)).await;
    found.push(match pending {
        Ok(Ok(p)) if p.is_empty() => finding("migrations", Status::Ok, "all applied"),
        Ok(Ok(p)) => finding(
            "migrations",
            Status::Warn,
            format!(
                "{} pending ({}): `samverkan migrate` (or the service's start) applies them",
                p.len(),
                p.join(", ")
            ),
        ),
        Ok(Err(e)) => finding("migrations", Status::Fail, format!("{e:#}")),
        Err(e) => finding("migrations", Status::Fail, e.to_string()),
    });
    found
}

fn configuration(config: &Config) -> Finding {
    let database = match &config.database {
        DatabaseSource::Url(_) => "DATABASE_URL".to_owned(),
        DatabaseSource::Embedded => format!(
            "embedded cluster in {}",
            config.data_dir.join("pgdata").display()
        ),
    };
    finding(
        "configuration",
        Status::Ok,
        format!(
            "bind {}, database {database}, pool {} (timeout {} ms), workers {}, public URL {}, \
             {} identity provider(s), {} browser origin(s), webhooks {}, /metrics {}",
            config.bind,
            config.pool.max_size,
            config.pool.timeout.as_millis(),
            if config.workers == 0 {
                "one per core".to_owned()
            } else {
                config.workers.to_string()
            },
            config
                .public_url
                .as_deref()
                .unwrap_or("(from each request)"),
            config.oidc.len(),
            config.cors_origins.len(),
            if config.webhooks.deliver {
                "delivered here"
            } else {
                "not delivered here"
            },
            if config.metrics_public {
                "public"
            } else {
                "needs the metrics scope"
            },
        ),
    )
}

/// The key tokens are signed with: read as the service would, never generated here.
fn signing_key(config: &Config) -> Finding {
    let generated = config.data_dir.join("jwt-ed25519.pem");
    if config.jwt.key_file.is_none() && !generated.exists() {
        return finding(
            "signing key",
            Status::Warn,
            format!(
                "none yet: the service generates {} at its first start; replicas must share one \
                 key (SAMVERKAN_JWT_KEY_FILE), and it belongs in the backup",
                generated.display()
            ),
        );
    }
    match crate::auth::keys::SigningKeys::load(&config.jwt, &config.data_dir) {
        Ok(keys) => {
            let kids: Vec<String> = keys.jwks().keys.into_iter().map(|k| k.kid).collect();
            finding(
                "signing key",
                Status::Ok,
                format!(
                    "{} ({})",
                    config
                        .jwt
                        .key_file
                        .as_deref()
                        .unwrap_or(&generated)
                        .display(),
                    kids.join(", ")
                ),
            )
        }
        Err(e) => finding("signing key", Status::Fail, format!("{e:#}")),
    }
}

async fn server(conn: &mut AsyncPgConnection) -> Vec<Finding> {
    let asked = now();
    let server: Server = match diesel::sql_query(SERVER).get_result(conn).await {
        Ok(s) => s,
        Err(e) => return vec![finding("database", Status::Fail, e.to_string())],
    };
    let answered = now();
    let mut found = vec![finding(
        "database",
        if server.version_num >= 150_000 {
            Status::Ok
        } else {
            Status::Fail
        },
        format!(
            "{} ({} ms a round trip){}",
            server.version.split(',').next().unwrap_or(&server.version),
            ((answered - asked) * 1000.0).round(),
            if server.version_num >= 150_000 {
                ""
            } else {
                ": PostgreSQL 15 or later is needed"
            }
        ),
    )];
    found.push(if server.collation > 0 {
        finding("collation", Status::Ok, "ICU sv-SE (Swedish sorting: … Timrå, Ånge, Örnsköldsvik)")
    } else {
        finding(
            "collation",
            Status::Fail,
            "no ICU sv-SE collation: PostgreSQL must be built with ICU (names would not sort the Swedish way)",
        )
    });
    found.push(if server.text_search > 0 {
        finding("text search", Status::Ok, "the swedish configuration")
    } else {
        finding(
            "text search",
            Status::Fail,
            "no swedish text search configuration",
        )
    });
    found.push(match (server.trigram_installed, server.trigram_available) {
        (1.., _) => finding("pg_trgm", Status::Ok, "installed"),
        (0, 1..) => finding(
            "pg_trgm",
            Status::Warn,
            "available, not installed yet: the migrations install it (they need a role that may)",
        ),
        _ => finding(
            "pg_trgm",
            Status::Fail,
            "not available: install postgresql-contrib (search by parts of words and typos needs it)",
        ),
    });
    // The database's clock read half way through the round trip.
    let skew = server.epoch - (asked + answered) / 2.0;
    let status = match skew.abs() {
        s if s > SKEW_FAIL => Status::Fail,
        s if s > SKEW_WARN => Status::Warn,
        _ => Status::Ok,
    };
    found.push(finding(
        "clock",
        status,
        format!(
            "{:+.3} s against the database's{}",
            skew,
            match status {
                Status::Ok => "",
                Status::Warn => ": keep both on NTP",
                Status::Fail => ": tokens and links will be judged expired or not yet valid",
            }
        ),
    ));
    found
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
