//! Per-client request budgets, counted in PostgreSQL so that every replica sees the same count.
//! A fixed one-minute window per bucket: one upsert per counted request.

use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl;
use rand::Rng;

use crate::db::Db;
use crate::error::ApiError;

#[derive(diesel::QueryableByName)]
struct Hit {
    #[diesel(sql_type = Integer)]
    hits: i32,
    #[diesel(sql_type = Integer)]
    retry_after: i32,
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
