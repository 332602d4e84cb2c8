//! The change feed: every create, update and delete of every resource, for systems that mirror
//! this service. Rows are written by triggers in the writing transaction and read in
//! transaction-id order up to the oldest transaction still running, so a change that commits
//! late is never skipped, whichever replica wrote it. Deletions appear as tombstones.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, get, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::OptionalExtension;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Violations;
use crate::error::responses::{AuthErrors, CommonErrors, TooManyOpen};
use crate::http::Query;
use crate::http::ratelimit::{Kind, OpenRequests};
use crate::store::db::Db;

/// A position in the feed: (transaction id, sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub txid: i64,
    pub seq: i64,
}

impl Cursor {
    pub const START: Cursor = Cursor { txid: 0, seq: 0 };

    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("c1:{}:{}", self.txid, self.seq))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.strip_prefix("c1:")?.split(':');
        let txid = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        if parts.next().is_some() || txid < 0 || seq < 0 {
            return None;
        }
        Some(Self { txid, seq })
    }
}

/// One change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "cursor": "YzE6ODY5OjI", "type": "network", "id": "3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51", "op": "upsert",
    "version": 2, "changedAt": "2026-11-22T10:15:00Z",
    "data": {"id": "3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51", "name": "Kommundirektörsnätverket", "status": "active", "version": 2}
}))]
pub struct Change {
    /// Resume after this change with `after=<cursor>`.
    pub cursor: String,
    /// `municipality`, `area`, `plan`, `network`, `member`, `assignment`, `progress_report` or
    /// `feedback`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The resource's id (a plan's is its year).
    pub id: String,
    /// `upsert` (created or changed) or `delete` (a tombstone).
    pub op: String,
    /// The resource's version after the change.
    pub version: i64,
    pub changed_at: DateTime<Utc>,
    /// The resource as it was after the change (camelCase, as the API shows it); null for a
    /// deletion. Members' contact details are left out.
    #[schema(value_type = Option<serde_json::Value>)]
    pub data: Option<StoredJson>,
}

/// A resource's JSON as the feed stored it, handed on as it is: read from jsonb's bytes and
/// checked to be JSON, never rebuilt as a tree and written again (a page of 1 000 changes spent
/// most of its time doing that).
#[derive(Debug, Clone, Serialize, diesel::deserialize::FromSqlRow)]
#[serde(transparent)]
pub struct StoredJson(pub Box<serde_json::value::RawValue>);

impl diesel::deserialize::FromSql<Jsonb, diesel::pg::Pg> for StoredJson {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let text = std::str::from_utf8(crate::store::jsonb_text(&value)?)?;
        Ok(Self(serde_json::value::RawValue::from_string(
            text.to_owned(),
        )?))
    }
}

impl StoredJson {
    /// The document as a tree (for webhook payloads).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.0.get()).unwrap_or(serde_json::Value::Null)
    }
}

/// A batch of changes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"items": [], "nextCursor": "YzE6ODY5OjI"}))]
pub struct ChangePage {
    pub items: Vec<Change>,
    /// Where to continue; always present, unchanged when there was nothing new.
    pub next_cursor: String,
}

#[derive(diesel::QueryableByName)]
struct ChangeRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    txid: i64,
    #[diesel(sql_type = Text)]
    resource_type: String,
    #[diesel(sql_type = Text)]
    resource_id: String,
    #[diesel(sql_type = Text)]
    op: String,
    #[diesel(sql_type = BigInt)]
    version: i64,
    #[diesel(sql_type = Timestamptz)]
    changed_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    data: Option<StoredJson>,
}

#[derive(diesel::QueryableByName)]
struct Horizon {
    #[diesel(sql_type = BigInt)]
    txid: i64,
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

/// The oldest position still complete: cursors before it have lost tombstones.
async fn purge_horizon(conn: &mut AsyncPgConnection) -> Result<Cursor, ApiError> {
    let h: Horizon = diesel::sql_query(
        "SELECT purged_txid::text::bigint AS txid, purged_seq AS seq FROM change_feed_state",
    )
    .get_result(conn)
    .await?;
    Ok(Cursor {
        txid: h.txid,
        seq: h.seq,
    })
}

/// Reads up to `limit` changes after `after`, in the order of the index `changes_order` (the
/// columns themselves: the output's `txid` is a number, which no index orders, and ordering by
/// it sorted every later change for each page), only of transactions older than every
/// transaction that was still running in this database when the statement began (its snapshot's
/// in-progress list, less transactions known to run in other databases of the cluster). A
/// transaction that commits later therefore always lands after the returned cursor.
pub async fn read(
    conn: &mut AsyncPgConnection,
    after: Cursor,
    limit: i64,
    types: Option<&[String]>,
) -> Result<Vec<Change>, ApiError> {
    let rows: Vec<ChangeRow> = diesel::sql_query(format!(
        "{HORIZON_SQL} SELECT seq, txid::text::bigint AS txid, resource_type, resource_id, op, version, changed_at, data \
         FROM changes \
         WHERE (txid, seq) > ($1::text::xid8, $2) \
           AND txid < (SELECT h FROM horizon) \
           AND ($3::text[] IS NULL OR resource_type = ANY($3)) \
         ORDER BY changes.txid, changes.seq \
         LIMIT $4"
    ))
    .bind::<Text, _>(after.txid.to_string())
    .bind::<BigInt, _>(after.seq)
    .bind::<Nullable<Array<Text>>, _>(types.map(<[String]>::to_vec))
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Change {
            cursor: Cursor {
                txid: r.txid,
                seq: r.seq,
            }
            .encode(),
            type_: r.resource_type,
            id: r.resource_id,
            op: r.op,
            version: r.version,
            changed_at: r.changed_at,
            data: r.data,
        })
        .collect())
}

/// Removes tombstones older than `retention` (and every earlier row of their resources), and
/// moves the horizon past them. Returns the rows removed.
pub async fn purge(conn: &mut AsyncPgConnection, retention: Duration) -> Result<usize, ApiError> {
    #[derive(diesel::QueryableByName)]
    struct Removed {
        #[diesel(sql_type = BigInt)]
        removed: i64,
    }
    let removed: Removed = diesel::sql_query(
        "WITH old_tombstones AS ( \
             SELECT resource_type, resource_id, txid, seq FROM changes \
             WHERE op = 'delete' AND changed_at < now() - make_interval(secs => $1) \
         ), gone AS ( \
             DELETE FROM changes c USING old_tombstones t \
             WHERE c.resource_type = t.resource_type AND c.resource_id = t.resource_id \
               AND (c.txid, c.seq) <= (t.txid, t.seq) \
             RETURNING c.txid, c.seq \
         ), moved AS ( \
             UPDATE change_feed_state s SET purged_txid = m.txid, purged_seq = m.seq \
             FROM (SELECT txid, seq FROM gone ORDER BY txid DESC, seq DESC LIMIT 1) m \
             WHERE (m.txid, m.seq) > (s.purged_txid, s.purged_seq) \
             RETURNING 1 \
         ) SELECT count(*) AS removed FROM gone",
    )
    .bind::<diesel::sql_types::Double, _>(retention.as_secs_f64())
    .get_result(conn)
    .await?;
    Ok(removed.removed as usize)
}

/// Wakes long-polling readers when PostgreSQL announces a change (LISTEN/NOTIFY works across
/// replicas: every replica's listener hears every commit).
pub struct ChangeNotifier {
    url: String,
    channels: OnceLock<(watch::Receiver<u64>, watch::Receiver<Option<Cursor>>)>,
}

impl ChangeNotifier {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            channels: OnceLock::new(),
        }
    }

    fn channels(&self) -> &(watch::Receiver<u64>, watch::Receiver<Option<Cursor>>) {
        self.channels.get_or_init(|| {
            let (tx, rx) = watch::channel(0u64);
            let (head_tx, head_rx) = watch::channel(None);
            let url = self.url.clone();
            let tx = Arc::new(tx);
            std::thread::Builder::new()
                .name("change-listener".to_owned())
                .spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    let heads = probe_heads(url.clone(), tx.subscribe(), head_tx);
                    runtime.block_on(async { tokio::join!(listen(url, tx), heads) });
                })
                .ok();
            (rx, head_rx)
        })
    }

    /// A receiver that changes on every notification; starts the listener on first use.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.channels().0.clone()
    }

    /// The newest visible position of the feed, as this replica last saw it: it changes soon
    /// after every commit that writes to the feed (on a notification, else within a second).
    /// Long polls wait on it, so an idle long poll costs the database nothing.
    pub fn heads(&self) -> watch::Receiver<Option<Cursor>> {
        self.channels().1.clone()
    }
}

async fn listen(url: String, tx: Arc<watch::Sender<u64>>) {
    loop {
        if tx.is_closed() {
            return;
        }
        match crate::store::db::connect(&url).await {
            Ok(mut conn) => {
                if conn.batch_execute("LISTEN samverkan_changes").await.is_ok() {
                    let mut stream = std::pin::pin!(conn.notifications_stream());
                    while let Some(item) = stream.next().await {
                        if item.is_err() {
                            break;
                        }
                        tx.send_modify(|n| *n = n.wrapping_add(1));
                    }
                }
                tracing::warn!("change listener lost its connection; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "change listener cannot connect; retrying"),
        }
        // Readers fall back to polling meanwhile, so a lost listener only costs latency.
        tx.send_modify(|n| *n = n.wrapping_add(1));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Keeps `heads` at the feed's visible head: looks on every notification, and every second in
/// case a notification was missed or its commit was not yet below the horizon. One dedicated
/// connection per replica, however many long polls wait.
async fn probe_heads(
    url: String,
    mut notified: watch::Receiver<u64>,
    heads: watch::Sender<Option<Cursor>>,
) {
    loop {
        match crate::store::db::connect(&url).await {
            Ok(mut conn) => loop {
                match visible_head(&mut conn).await {
                    Ok(head) => {
                        heads.send_if_modified(|h| {
                            let changed = *h != Some(head);
                            *h = Some(head);
                            changed
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the change feed's head probe failed; reconnecting");
                        break;
                    }
                }
                if heads.is_closed() {
                    return;
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), notified.changed()).await;
            },
            Err(e) => tracing::warn!(error = %e, "the change feed's head probe cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The SQL horizon of [`read`]: the oldest transaction still running in this database when the
/// statement began (transactions of other databases in the cluster do not count).
const HORIZON_SQL: &str = "WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s), \
     horizon AS ( \
         SELECT coalesce(min(x), pg_snapshot_xmax((SELECT s FROM snap))) AS h \
         FROM pg_snapshot_xip((SELECT s FROM snap)) AS x \
         WHERE x::xid NOT IN (SELECT backend_xid FROM pg_stat_activity \
                              WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()) \
     ) ";

/// The newest position below the horizon, or the purge horizon if that is newer (when the
/// newest rows were purged tombstones): a cursor at or past it has nothing to read and is not
/// gone. Rows below the horizon are final, so the head only moves forward.
async fn visible_head(conn: &mut AsyncPgConnection) -> Result<Cursor, ApiError> {
    let h: Option<Horizon> = diesel::sql_query(format!(
        "{HORIZON_SQL}, top AS ( \
             SELECT txid, seq FROM changes WHERE txid < (SELECT h FROM horizon) \
             ORDER BY txid DESC, seq DESC LIMIT 1 \
         ) \
         SELECT txid::text::bigint AS txid, seq FROM ( \
             SELECT txid, seq FROM top \
             UNION ALL SELECT purged_txid, purged_seq FROM change_feed_state \
         ) candidates ORDER BY txid DESC, seq DESC LIMIT 1"
    ))
    .get_result(conn)
    .await
    .optional()?;
    Ok(h.map(|h| Cursor {
        txid: h.txid,
        seq: h.seq,
    })
    .unwrap_or(Cursor::START))
}

/// The longest a long poll may wait (`wait`).
pub const MAX_WAIT_SECONDS: u32 = 30;

/// Parameters of the change feed.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    /// The `cursor` or `nextCursor` last received; absent to start from the beginning (the
    /// initial sync).
    #[param(example = "YzE6ODY5OjI")]
    pub after: Option<String>,
    /// At most this many changes, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000, default = 100, example = 100)]
    pub limit: Option<u32>,
    /// Only these resource types, comma-separated.
    #[param(example = "network,assignment")]
    pub types: Option<String>,
    /// Seconds to wait for a change when there is none yet (long poll), 0–30.
    #[param(minimum = 0, maximum = 30, default = 0, example = 25)]
    pub wait: Option<u32>,
}

/// Read the change feed
///
/// Every create, update and delete of every resource, in transaction order, each with a
/// `cursor`. Start without `after` (the initial sync: every record that exists, then every
/// change), store `nextCursor`, and continue from it; no change is ever skipped, even when
/// transactions on several replicas commit out of order. Deletions are tombstones
/// (`op: delete`). A cursor older than the tombstone retention answers 410: start again without
/// `after`. With `wait`, an empty answer is held until a change arrives or the wait ends.
#[utoipa::path(
    operation_id = "listChanges",
    tag = "Changes",
    params(ChangeParams),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "Changes after the cursor", body = ChangePage),
        (status = 410, description = "The cursor is older than the tombstone retention: re-sync from the start",
            body = crate::error::Problem, content_type = "application/problem+json",
            example = json!({"type": "/problems/cursor-expired", "title": "Cursor expired", "status": 410,
                "detail": "Changes before this cursor have been purged; start again without `after`",
                "instance": "/v1/changes", "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"})),
        AuthErrors,
        TooManyOpen,
        CommonErrors,
    ),
)]
#[get("/changes")]
pub async fn list_changes(
    caller: Caller,
    db: Db,
    notifier: web::Data<ChangeNotifier>,
    settings: web::Data<FeedSettings>,
    open: web::Data<OpenRequests>,
    params: Query<ChangeParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.0;
    let mut v = Violations::default();
    let after = match p.after.as_deref().filter(|a| !a.is_empty()) {
        None => Some(Cursor::START),
        Some(raw) => {
            let c = Cursor::decode(raw);
            if c.is_none() {
                v.push("after", "is not a cursor from this feed");
            }
            c
        }
    };
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        v.push("limit", "must be between 1 and 1000");
    }
    let wait = p.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        v.push(
            "wait",
            format!("must be between 0 and {MAX_WAIT_SECONDS} seconds"),
        );
    }
    let types: Option<Vec<String>> = p.types.as_deref().map(|t| {
        t.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    for t in types.iter().flatten() {
        if !settings.types.contains(&t.as_str()) {
            v.push(
                "types",
                format!(
                    "unknown type {t:?}; types are {}",
                    settings.types.join(", ")
                ),
            );
        }
    }
    let after = v.finish_with(after)?;

    // A long poll holds no connection while it waits: it takes one for each look and gives it
    // back before sleeping on the shared notification. It does count against the client's open
    // long polls on this replica.
    let _open = if wait > 0 {
        Some(open.into_inner().open(Kind::LongPoll, caller.client_id)?)
    } else {
        None
    };
    // Seen before the first look: a head that moves after it wakes this poll.
    let mut heads = (wait > 0).then(|| notifier.heads());
    // A long poll that resumes at the head this replica already knows (the usual case: a mirror
    // looping) has nothing to read yet and is not behind the purge horizon (the published head
    // is never older than it): it waits at once, without a query, so that hundreds of polls
    // returning together cost the database nothing.
    let at_head = heads
        .as_mut()
        .and_then(|h| *h.borrow_and_update())
        .is_some_and(|head| after != Cursor::START && after >= head);
    if !at_head {
        let mut conn = db.conn().await?;
        if after != Cursor::START && after < purge_horizon(&mut conn).await? {
            return Err(ApiError::Gone(
                "Changes before this cursor have been purged; start again without `after`"
                    .to_owned(),
            ));
        }
        if rand::random::<u8>() == 0 {
            if let Err(e) = purge(&mut conn, settings.tombstone_retention).await {
                tracing::warn!(error = %e, "could not purge old tombstones");
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(u64::from(wait));
    let page = |items: Vec<Change>| {
        let next_cursor = items
            .last()
            .map(|c| c.cursor.clone())
            .unwrap_or_else(|| after.encode());
        HttpResponse::Ok()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .json(ChangePage { items, next_cursor })
    };
    let mut look = !at_head;
    loop {
        let items = if look {
            let mut conn = db.conn().await?;
            read(&mut conn, after, i64::from(limit), types.as_deref()).await?
        } else {
            Vec::new()
        };
        look = true;
        let Some(h) = heads.as_mut().filter(|_| items.is_empty()) else {
            return Ok(page(items));
        };
        // Wait, holding no connection, until this replica sees the feed's head move (then look
        // again) or the wait is over.
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, h.changed()).await {
            Ok(Ok(())) => {
                h.borrow_and_update();
            }
            Ok(Err(_)) => {
                tokio::time::sleep(remaining).await;
                return Ok(page(Vec::new()));
            }
            Err(_) => return Ok(page(Vec::new())),
        }
    }
}

/// Feed settings (app data).
#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub tombstone_retention: Duration,
    /// The resource kinds in the feed (the resource registry's).
    pub types: Vec<&'static str>,
}

/// For tests and tools: the newest position, `after` which nothing has happened yet.
pub async fn head(conn: &mut AsyncPgConnection) -> Result<Cursor, ApiError> {
    visible_head(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { txid: 869, seq: 2 };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("nonsense"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("c1:1")), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("c1:-1:2")), None);
        assert!(Cursor { txid: 1, seq: 9 } < Cursor { txid: 2, seq: 1 });
    }
}
