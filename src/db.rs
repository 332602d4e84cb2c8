//! The database: a bounded connection pool with timeouts, and the embedded migrations.

use std::time::Duration;

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
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
}

impl Db {
    pub fn new(url: &str, settings: &PoolSettings) -> anyhow::Result<Self> {
        let statement_timeout_ms = settings.statement_timeout.as_millis();
        let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
        manager_config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            async move {
                let mut conn = AsyncPgConnection::establish(&url).await?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {statement_timeout_ms}; SET application_name = 'samverkan'"
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
        })
    }

    /// A connection, or 503 when none can be had within the pool timeout.
    pub async fn conn(&self) -> Result<PgConn, ApiError> {
        Ok(self.pool.get().await?)
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

/// Applies every pending migration and returns the versions applied.
///
/// diesel's migration harness is synchronous; it runs on its own thread with its own runtime
/// (through `AsyncConnectionWrapper`) so it never blocks, or panics inside, an async runtime.
pub fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let url = url.to_owned();
    std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
        use diesel::Connection;
        let mut conn = <diesel_async::async_connection_wrapper::AsyncConnectionWrapper<
            AsyncPgConnection,
        > as Connection>::establish(&url)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        Ok(applied.iter().map(|v| v.to_string()).collect())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the migration thread panicked"))?
}

/// Reverts every migration (used by the reversibility test).
pub fn revert_all(url: &str) -> anyhow::Result<usize> {
    let url = url.to_owned();
    std::thread::spawn(move || -> anyhow::Result<usize> {
        use diesel::Connection;
        let mut conn = <diesel_async::async_connection_wrapper::AsyncConnectionWrapper<
            AsyncPgConnection,
        > as Connection>::establish(&url)?;
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("revert failed: {e}"))?;
        Ok(reverted.len())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the migration thread panicked"))?
}
