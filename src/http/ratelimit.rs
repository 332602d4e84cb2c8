//! Per-client request budgets, counted in PostgreSQL so that every replica sees the same count.
//! A fixed one-minute window per bucket: one upsert per counted request.

use diesel::OptionalExtension;
use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl;
use rand::Rng;

use crate::error::ApiError;
use crate::store::db::Db;

#[derive(diesel::QueryableByName)]
struct Hit {
    #[diesel(sql_type = Integer)]
    hits: i32,
    #[diesel(sql_type = Integer)]
    retry_after: i32,
}

/// Refuses (429) when `bucket` has already counted `limit` requests in this window, without
/// counting this one: for budgets that only failures spend.
pub async fn peek(db: &Db, bucket: &str, limit: u32) -> Result<(), ApiError> {
    let mut conn = db.conn().await?;
    let hit: Option<Hit> = diesel::sql_query(
        "SELECT hits, GREATEST(1, ceil(extract(epoch FROM \
             window_start + interval '1 minute' - clock_timestamp())))::int AS retry_after \
         FROM rate_limit_windows WHERE bucket = $1 AND window_start = date_trunc('minute', clock_timestamp())",
    )
    .bind::<Text, _>(bucket)
    .get_result(&mut conn)
    .await
    .optional()?;
    match hit {
        Some(hit) if hit.hits >= i32::try_from(limit).unwrap_or(i32::MAX) => {
            Err(ApiError::TooManyRequests(hit.retry_after.max(1) as u64))
        }
        _ => Ok(()),
    }
}

/// Counts one request in `bucket`; 429 with the seconds left in the window when over `limit`.
pub async fn check(db: &Db, bucket: &str, limit: u32) -> Result<(), ApiError> {
    let mut conn = db.conn().await?;
    let hit: Hit = diesel::sql_query(
        "INSERT INTO rate_limit_windows (bucket, window_start, hits) \
         VALUES ($1, date_trunc('minute', clock_timestamp()), 1) \
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1 \
         RETURNING hits, GREATEST(1, ceil(extract(epoch FROM \
             window_start + interval '1 minute' - clock_timestamp())))::int AS retry_after",
    )
    .bind::<Text, _>(bucket)
    .get_result(&mut conn)
    .await?;
    // Old windows are swept now and then, by whichever replica draws the short straw.
    if rand::thread_rng().gen_ratio(1, 200) {
        let _ = diesel::sql_query(
            "DELETE FROM rate_limit_windows WHERE window_start < now() - interval '5 minutes'",
        )
        .execute(&mut conn)
        .await;
    }
    if hit.hits > i32::try_from(limit).unwrap_or(i32::MAX) {
        return Err(ApiError::TooManyRequests(hit.retry_after.max(1) as u64));
    }
    Ok(())
}

/// Requests that stay open long (long polls, streamed exports) are limited per client and
/// replica, and the database work of bulk requests (exports, imports) to a share of the pool, so
/// that no client, however many such requests it opens, can take what ordinary requests need.
/// These counts protect this replica's own connections and memory, so they live here; they never
/// change an answer, only whether a request is taken now.
pub struct OpenRequests {
    limits: crate::config::OpenLimits,
    open: std::sync::Mutex<std::collections::HashMap<(Kind, uuid::Uuid), usize>>,
    bulk: std::sync::Arc<tokio::sync::Semaphore>,
    pool_timeout: std::time::Duration,
}

/// The kinds of long-open request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Any request of an authenticated client while its handler runs (long polls excepted,
    /// which hold no connection while they wait and have their own limit).
    Request,
    LongPoll,
    Export,
}

/// One open request, counted until dropped.
pub struct OpenGuard {
    owner: std::sync::Arc<OpenRequests>,
    key: (Kind, uuid::Uuid),
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Ok(mut open) = self.owner.open.lock() {
            if let Some(n) = open.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&self.key);
                }
            }
        }
    }
}

impl OpenRequests {
    /// `pool_size` sets the bulk share (a quarter of the pool, at least one connection) and,
    /// unless configured, how many requests one client may have in progress (three quarters of
    /// the pool, at least two), so that no single client can take every connection.
    pub fn new(
        mut limits: crate::config::OpenLimits,
        pool_size: usize,
        pool_timeout: std::time::Duration,
    ) -> Self {
        if limits.requests_per_client == 0 {
            limits.requests_per_client = (pool_size * 3 / 4).max(2);
        }
        Self {
            limits,
            open: std::sync::Mutex::new(std::collections::HashMap::new()),
            bulk: std::sync::Arc::new(tokio::sync::Semaphore::new((pool_size / 4).max(1))),
            pool_timeout,
        }
    }

    pub fn limits(&self) -> crate::config::OpenLimits {
        self.limits
    }

    /// Counts one more open request of `kind` for `client`, or 429 when it has its limit open.
    pub fn open(
        self: &std::sync::Arc<Self>,
        kind: Kind,
        client: uuid::Uuid,
    ) -> Result<OpenGuard, ApiError> {
        let limit = match kind {
            Kind::Request => self.limits.requests_per_client,
            Kind::LongPoll => self.limits.long_polls_per_client,
            Kind::Export => self.limits.exports_per_client,
        };
        let mut open = self
            .open
            .lock()
            .map_err(|_| ApiError::internal(anyhow::anyhow!("open-request counts poisoned")))?;
        let n = open.entry((kind, client)).or_insert(0);
        if *n >= limit {
            let what = match kind {
                Kind::Request => "requests in progress",
                Kind::LongPoll => "long polls of the change feed",
                Kind::Export => "exports",
            };
            return Err(ApiError::Busy(
                format!("This client already has {limit} {what} open; finish one first"),
                match kind {
                    Kind::Request => 1,
                    Kind::LongPoll => 5,
                    Kind::Export => 10,
                },
            ));
        }
        *n += 1;
        Ok(OpenGuard {
            owner: self.clone(),
            key: (kind, client),
        })
    }

    /// A place in the bulk share of the pool, waited for as long as a connection would be (503
    /// beyond that, like an exhausted pool).
    pub async fn bulk(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(self.pool_timeout, self.bulk.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Unavailable(
                "Too many bulk reads and loads are running; retry shortly".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_requests_are_counted_per_client_and_kind_until_dropped() {
        let limits = crate::config::OpenLimits {
            long_polls_per_client: 2,
            ..Default::default()
        };
        let open = std::sync::Arc::new(OpenRequests::new(
            limits,
            8,
            std::time::Duration::from_secs(1),
        ));
        assert_eq!(
            open.limits().requests_per_client,
            6,
            "three quarters of the pool"
        );
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let first = open.open(Kind::LongPoll, a).expect("first");
        let _second = open.open(Kind::LongPoll, a).expect("second");
        assert!(matches!(
            open.open(Kind::LongPoll, a),
            Err(ApiError::Busy(_, 5))
        ));
        assert!(open.open(Kind::LongPoll, b).is_ok(), "another client");
        assert!(open.open(Kind::Export, a).is_ok(), "another kind");
        drop(first);
        assert!(open.open(Kind::LongPoll, a).is_ok(), "a place again");
    }
}
