//! The database: a bounded connection pool with timeouts, and the embedded migrations.

use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::config::PoolSettings;
use crate::error::ApiError;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type PgPool = Pool<AsyncPgConnection>;
pub type PgConn = Object<AsyncPgConnection>;

/// The pool handed to handlers. Every checkout is bounded by the pool's wait timeout, so a
/// database outage answers 503 instead of hanging.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    url: std::sync::Arc<str>,
    estimates: std::sync::Arc<crate::store::count::RecentEstimates>,
}

impl Db {
    pub fn new(url: &str, settings: &PoolSettings) -> anyhow::Result<Self> {
        let statement_timeout_ms = settings.statement_timeout.as_millis();
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        // A checkout sends nothing: a connection is handed out unless it is closed (the server
        // ended it: a restart, a failover, `pg_terminate_backend`) or left inside a
        // transaction. The default sent `SELECT 1` first, a round trip on every request. A
        // connection that died silently fails its statement with a 503 and is then dropped.
        manager_config.recycling_method = RecyclingMethod::Fast;
        manager_config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            async move {
                let mut conn = connect(&url).await?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {statement_timeout_ms}; SET application_name = 'samverkan'; \
                     SET pg_trgm.word_similarity_threshold = {}",
                    crate::http::search::TYPO_SIMILARITY
                ))
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            }
            .boxed()
        });
        let manager = AsyncDieselConnectionManager::new_with_config(url, manager_config);
        let pool = Pool::builder(manager)
            .max_size(settings.max_size)
            .wait_timeout(Some(settings.timeout))
            .create_timeout(Some(settings.timeout))
            .recycle_timeout(Some(settings.timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()?;
        Ok(Self {
            pool,
            url: url.into(),
            estimates: Default::default(),
        })
    }

    /// A connection, or 503 when none can be had within the pool timeout.
    pub async fn conn(&self) -> Result<PgConn, ApiError> {
        Ok(self.pool.get().await?)
    }

    /// The estimates of large lists this pool asked PostgreSQL for recently.
    pub fn estimates(&self) -> &crate::store::count::RecentEstimates {
        &self.estimates
    }

    /// The connection URL (for the change listener's dedicated connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether the database answers `SELECT 1` within `bound`.
    pub async fn ping(&self, bound: Duration) -> bool {
        let check = async {
            let mut conn = self.pool.get().await.ok()?;
            diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
        };
        matches!(tokio::time::timeout(bound, check).await, Ok(Some(_)))
    }
}

/// The pool as app data, for the plumbing that runs before a handler (idempotency, rate limits).
/// Handlers take [`Db`] as an extractor instead, which hands out the pool only for a request the
/// authorization gate admitted (see `auth::admitted`).
#[derive(Clone)]
pub struct Unguarded(pub Db);

/// How a URL's `sslmode` asks for TLS (libpq's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// `disable`, `allow`, `prefer` or none: plain TCP.
    Off,
    /// `require`: encrypted, the certificate not checked (as libpq does).
    Encrypt,
    /// `verify-ca` / `verify-full`: encrypted, the certificate checked against `sslrootcert`
    /// (a PEM file, as with libpq) or else the public web roots, and the host name too.
    Verify,
}

/// Takes libpq's `sslmode` and `sslrootcert` out of a `postgres://` URL (tokio-postgres knows
/// only some of libpq's modes and no root certificates).
fn split_sslmode(url: &str) -> (String, Tls, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Tls::Off, None);
    };
    let mut tls = Tls::Off;
    let mut root = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            if let Some(mode) = pair.strip_prefix("sslmode=") {
                tls = match mode {
                    "require" => Tls::Encrypt,
                    "verify-ca" | "verify-full" => Tls::Verify,
                    _ => Tls::Off,
                };
                false
            } else if let Some(path) = pair.strip_prefix("sslrootcert=") {
                root = percent_encoding::percent_decode_str(path)
                    .decode_utf8()
                    .ok()
                    .map(|p| p.into_owned());
                false
            } else {
                true
            }
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, tls, root)
}

/// Accepts any server certificate: `sslmode=require` encrypts without authenticating the
/// server, exactly as libpq does; use `verify-full` to authenticate it.
#[derive(Debug)]
struct AnyCertificate(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(tls: Tls, root: Option<&str>) -> Result<rustls::ClientConfig, ConnectionError> {
    let bad = |e: String| ConnectionError::BadConnection(e);
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?;
    let config = if tls == Tls::Encrypt {
        builder
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match root {
            Some(path) => {
                use rustls::pki_types::pem::PemObject;
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
                for cert in certs {
                    let cert = cert.map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| bad(format!("sslrootcert {path}: {e}")))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}

/// Opens a connection, over TLS when the URL's `sslmode` asks for it (`require`,
/// `verify-ca`, `verify-full`), as managed PostgreSQL services usually do.
pub async fn connect(url: &str) -> diesel::ConnectionResult<AsyncPgConnection> {
    let (url, tls, root) = split_sslmode(url);
    if tls == Tls::Off {
        return AsyncPgConnection::establish(&url).await;
    }
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| ConnectionError::BadConnection(e.to_string()))?;
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    let connector =
        tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(tls, root.as_deref())?);
    let (client, connection) = config
        .connect(connector)
        .await
        .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// A synchronous connection for diesel's migration harness, on a runtime of its own (the
/// connection's I/O runs there while the harness blocks on its queries).
fn migration_connection(
    url: &str,
) -> anyhow::Result<(
    tokio::runtime::Runtime,
    diesel_async::async_connection_wrapper::AsyncConnectionWrapper<AsyncPgConnection>,
)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let conn = runtime.block_on(connect(url))?;
    Ok((runtime, conn.into()))
}

/// Replicas started together against one database migrate one after the other: each waits for
/// this session-level advisory lock (released with the connection), then finds the migrations
/// its predecessor applied and applies none.
fn lock_migrations(
    conn: &mut diesel_async::async_connection_wrapper::AsyncConnectionWrapper<AsyncPgConnection>,
) -> anyhow::Result<()> {
    use diesel::connection::SimpleConnection;
    SimpleConnection::batch_execute(conn, "SELECT pg_advisory_lock(727201)")
        .map_err(|e| anyhow::anyhow!("cannot take the migration lock: {e}"))
}

/// Runs `f` with diesel's synchronous migration harness on a thread and runtime of its own, so
/// that it never blocks, or panics inside, an async runtime; `locked`: after taking the
/// migration lock.
fn with_harness<T: Send + 'static>(
    url: &str,
    locked: bool,
    f: impl FnOnce(
        &mut diesel_async::async_connection_wrapper::AsyncConnectionWrapper<AsyncPgConnection>,
    ) -> anyhow::Result<T>
    + Send
    + 'static,
) -> anyhow::Result<T> {
    let url = url.to_owned();
    std::thread::spawn(move || -> anyhow::Result<T> {
        let (_runtime, mut conn) = migration_connection(&url)?;
        if locked {
            lock_migrations(&mut conn)?;
        }
        f(&mut conn)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the migration thread panicked"))?
}

/// Applies every pending migration and returns the versions applied.
pub fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    with_harness(url, true, |conn| {
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(applied.iter().map(|v| v.to_string()).collect())
    })
}

/// The migrations this build has that the database has not applied (nothing is changed).
pub fn pending(url: &str) -> anyhow::Result<Vec<String>> {
    with_harness(url, false, |conn| {
        let pending = conn
            .pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))?;
        Ok(pending.iter().map(|m| m.name().to_string()).collect())
    })
}

/// Reverts every migration (used by the reversibility test).
pub fn revert_all(url: &str) -> anyhow::Result<usize> {
    with_harness(url, true, |conn| {
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("revert failed: {e}"))?;
        Ok(reverted.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_and_removed_from_the_url() {
        assert_eq!(
            split_sslmode("postgres://u@h/db"),
            ("postgres://u@h/db".to_owned(), Tls::Off, None)
        );
        assert_eq!(
            split_sslmode("postgres://u@h/db?sslmode=require&application_name=x"),
            (
                "postgres://u@h/db?application_name=x".to_owned(),
                Tls::Encrypt,
                None
            )
        );
        assert_eq!(
            split_sslmode("postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca%20bundle.pem"),
            (
                "postgres://u@h/db".to_owned(),
                Tls::Verify,
                Some("/etc/ca bundle.pem".to_owned())
            )
        );
        assert_eq!(
            split_sslmode("postgres://u@h/db?sslmode=prefer").1,
            Tls::Off
        );
    }
}
