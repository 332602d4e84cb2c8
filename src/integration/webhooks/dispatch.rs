//! The dispatcher: every replica runs one. It turns the change feed into each subscription's
//! events and delivers them, any number of replicas side by side on one database:
//!
//! - **Fan-out.** A subscription's place in the feed is a row of `webhook_state`, locked
//!   `FOR UPDATE SKIP LOCKED` by the one replica that moves it. The changes after it (read as
//!   the change feed reads them: only transactions below the oldest one still running) become
//!   events, and the place moves, in one transaction: a committed change becomes an event
//!   exactly once, a rolled-back one never.
//! - **Delivery.** A due event is claimed with a lease (`lease_until`, `leased_by`, claimed
//!   `FOR UPDATE SKIP LOCKED`), so each attempt is made by exactly one replica; the request is
//!   made holding no database connection; the outcome is written only while the lease is still
//!   this replica's. A replica that dies mid-delivery leaves its lease to run out, and another
//!   replica makes the attempt again (a duplicate the receiver recognises by `webhook-id`).
//!   An event waits while an earlier event about the same record is pending, so a subscriber
//!   receives the changes of one record in the order they happened.
//! - **Retries.** A timeout, a connection error or an answer other than 2xx is retried after
//!   the delays of [`WebhookSettings::retries`] (about three days, with jitter), then the event
//!   is given up (`failed`). `410 Gone` disables the subscription at once; so does failing for
//!   longer than [`WebhookSettings::disable_after`], with the reason for its owner to read.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::sql_types::{
    Array, BigInt, Bytea, Int4, Interval, Jsonb, Nullable, Text, Uuid as SqlUuid,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};
use uuid::Uuid;

use super::outbound::{Answer, Outbound};
use super::signing;
use super::{EVENT_TEST, WebhookSettings, event_type};
use crate::error::ApiError;
use crate::http::metrics::Metrics;
use crate::integration::changes::{self, ChangeNotifier, Cursor};
use crate::store::db::Db;

/// At most this many changes move a subscription's place in one transaction.
const FAN_OUT_BATCH: i64 = 500;

/// At most this many subscriptions are fanned out in one transaction.
const SUBSCRIPTIONS_PER_PASS: i64 = 50;

/// What one fan-out did.
pub struct FanOut {
    /// Events made.
    pub made: usize,
    /// A batch was full: more may be waiting.
    pub more: bool,
}

/// One claimed event, ready to be sent.
#[derive(diesel::QueryableByName)]
struct Claimed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    subscription_id: Uuid,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Int4)]
    attempts: i32,
    #[diesel(sql_type = Array<Bytea>)]
    keys: Vec<Vec<u8>>,
}

/// Delivers the events of every subscription (see the module).
#[derive(Clone)]
pub struct Dispatcher {
    db: Db,
    outbound: Outbound,
    settings: Arc<WebhookSettings>,
    metrics: Arc<Metrics>,
    notifier: Arc<ChangeNotifier>,
    /// This replica's name in leases and attempts.
    replica: String,
}

impl Dispatcher {
    pub fn new(
        db: Db,
        settings: Arc<WebhookSettings>,
        metrics: Arc<Metrics>,
        notifier: Arc<ChangeNotifier>,
    ) -> Self {
        let replica = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "replica".to_owned()),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        Self {
            outbound: Outbound::new(settings.allowed_networks.clone(), settings.timeout),
            db,
            settings,
            metrics,
            notifier,
            replica,
        }
    }

    /// This replica's name, as leases and attempts record it.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Runs until `stop` says so: fans out and delivers, waking on every change to the feed
    /// (LISTEN/NOTIFY) and at least every `poll`. At most `concurrency` requests are in flight;
    /// a slow receiver holds one of them, never a database connection.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut changes = self.notifier.subscribe();
        // Each attempt is a task of its own, so that one waiting for a connection never waits
        // on this loop.
        let mut in_flight = tokio::task::JoinSet::new();
        // Work is looked for in batches: the feed after a change (or every `poll`, or again at
        // once while a fan-out found a full batch), due events once half the room is free (or
        // nothing is in flight), the queue's gauges once a second. Looking after every finished
        // attempt would cost a claim per delivery.
        let mut fan_out = true;
        let mut claim = true;
        let mut observed = tokio::time::Instant::now() - Duration::from_secs(1);
        loop {
            if *stop.borrow() {
                // Attempts under way may finish and be recorded (each is bounded by the
                // timeout); what is still running after that is dropped, and its lease runs out
                // so that another replica makes it again.
                let bound = self.settings.timeout + Duration::from_secs(5);
                let _ = tokio::time::timeout(bound, async {
                    while in_flight.join_next().await.is_some() {}
                })
                .await;
                in_flight.abort_all();
                return;
            }
            if std::mem::take(&mut fan_out) {
                match self.fan_out().await {
                    Ok(pass) => fan_out = pass.more,
                    Err(e) => tracing::warn!(error = %e, "webhooks: fan-out failed"),
                }
                claim = true;
            }
            let room = self.settings.concurrency.saturating_sub(in_flight.len());
            if claim && room > 0 && (room * 2 >= self.settings.concurrency || in_flight.is_empty())
            {
                match self.claim(room as i64).await {
                    Ok(claimed) => {
                        // Fewer than asked for: nothing more is due until something changes.
                        claim = claimed.len() == room;
                        for event in claimed {
                            let this = self.clone();
                            in_flight.spawn(async move { this.deliver(event).await });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "webhooks: claiming events failed"),
                }
            }
            if observed.elapsed() >= Duration::from_secs(1) {
                self.observe_queue().await;
                observed = tokio::time::Instant::now();
            }
            if fan_out {
                continue;
            }
            // Wait for an attempt to finish, a change, the stop, or the next look.
            tokio::select! {
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {
                    while in_flight.try_join_next().is_some() {}
                    // A delivered event may let the next one about its record go.
                    claim = true;
                }
                _ = changes.changed() => fan_out = true,
                _ = stop.changed() => {}
                () = tokio::time::sleep(self.settings.poll) => {
                    fan_out = true;
                    claim = true;
                }
            }
        }
    }

    /// One pass, for tools and tests: fans out, then delivers every due event it can claim, and
    /// waits for those attempts. Returns the attempts made.
    pub async fn pass(&self) -> Result<usize, ApiError> {
        self.fan_out().await?;
        let claimed = self.claim(self.settings.concurrency as i64).await?;
        let n = claimed.len();
        let attempts: FuturesUnordered<_> = claimed.into_iter().map(|e| self.deliver(e)).collect();
        attempts.collect::<Vec<()>>().await;
        self.observe_queue().await;
        Ok(n)
    }

    /// Turns the changes after each subscription's place into its events (see the module).
    pub async fn fan_out(&self) -> Result<FanOut, ApiError> {
        #[derive(diesel::QueryableByName)]
        struct Place {
            #[diesel(sql_type = SqlUuid)]
            id: Uuid,
            #[diesel(sql_type = BigInt)]
            txid: i64,
            #[diesel(sql_type = BigInt)]
            seq: i64,
            #[diesel(sql_type = Nullable<Array<Text>>)]
            event_types: Option<Vec<String>>,
            #[diesel(sql_type = Nullable<Text>)]
            municipality_id: Option<String>,
        }
        let mut conn = self.db.conn().await?;
        conn.transaction::<FanOut, ApiError, _>(async |conn| {
            let places: Vec<Place> = diesel::sql_query(
                "SELECT s.id, st.feed_txid::text::bigint AS txid, st.feed_seq AS seq, \
                        s.event_types, s.municipality_id \
                 FROM webhook_state st JOIN webhook_subscriptions s ON s.id = st.subscription_id \
                 WHERE s.enabled AND NOT EXISTS (SELECT 1 FROM api_clients c \
                                                 WHERE c.id = s.owner_id AND c.disabled_at IS NOT NULL) \
                 ORDER BY st.fanned_out_at, st.subscription_id LIMIT $1 \
                 FOR UPDATE OF st SKIP LOCKED",
            )
            .bind::<BigInt, _>(SUBSCRIPTIONS_PER_PASS)
            .load(conn)
            .await?;
            let mut pass = FanOut {
                made: 0,
                more: false,
            };
            // Whether there were changes for any of them: then, when more subscriptions
            // than one pass takes wait, another pass follows at once.
            let mut read_any = false;
            let ids: Vec<Uuid> = places.iter().map(|p| p.id).collect();
            let all_taken = places.len() as i64 == SUBSCRIPTIONS_PER_PASS;
            for place in places {
                let after = Cursor {
                    txid: place.txid,
                    seq: place.seq,
                };
                let changes = changes::read(conn, after, FAN_OUT_BATCH, None).await?;
                pass.more |= changes.len() as i64 == FAN_OUT_BATCH;
                read_any |= !changes.is_empty();
                let Some(last) = changes.last().and_then(|c| Cursor::decode(&c.cursor))
                else {
                    continue;
                };
                let mut events = Events::default();
                for change in changes {
                    let kind = event_type(&change.type_, &change.op, change.version);
                    if !wanted(&place.event_types, &kind)
                        || !concerns(place.municipality_id.as_deref(), &change)
                    {
                        continue;
                    }
                    let data = change
                        .data
                        .as_ref()
                        .map_or_else(|| json!({"id": change.id}), changes::StoredJson::to_value);
                    events.push(
                        &kind,
                        &change.type_,
                        &change.id,
                        json!({
                            "type": kind,
                            "timestamp": instant(change.changed_at),
                            "cursor": change.cursor,
                            "data": data,
                        }),
                    );
                }
                pass.made += events.insert(conn, place.id).await?;
                diesel::sql_query(
                    "UPDATE webhook_state SET feed_txid = $2::text::xid8, feed_seq = $3 \
                                               WHERE subscription_id = $1",
                )
                .bind::<SqlUuid, _>(place.id)
                .bind::<Text, _>(last.txid.to_string())
                .bind::<BigInt, _>(last.seq)
                .execute(conn)
                .await?;
            }
            pass.more |= all_taken && read_any;
            if all_taken {
                // More may wait than one pass takes: these go to the back of the line.
                diesel::sql_query(
                    "UPDATE webhook_state SET fanned_out_at = clock_timestamp() \
                     WHERE subscription_id = ANY($1)",
                )
                .bind::<Array<SqlUuid>, _>(&ids)
                .execute(conn)
                .await?;
            }
            Ok(pass)
        })
        .await
    }

    /// Claims up to `n` due events with a lease: the oldest due first, none while an earlier
    /// event about the same record is pending, none of a disabled subscription or client.
    async fn claim(&self, n: i64) -> Result<Vec<Claimed>, ApiError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.db.conn().await?;
        // The queue's statistics are rarely current (a burst of thousands of events arrives
        // between two autovacuum runs), and with too few rows expected PostgreSQL sorts every
        // due event to find the first few. Sorting is ruled out, so the ordered index
        // `webhook_events_due` is walked and the walk stops after `n` rows.
        conn.transaction::<Vec<Claimed>, ApiError, _>(async |conn| {
            diesel::sql_query("SET LOCAL enable_sort = off").execute(conn).await?;
            let claimed: Vec<Claimed> = diesel::sql_query(
                "WITH due AS ( \
                     SELECT e.id FROM webhook_events e \
                     JOIN webhook_subscriptions s ON s.id = e.subscription_id \
                     WHERE e.status = 'pending' AND e.next_attempt_at <= now() \
                       AND (e.lease_until IS NULL OR e.lease_until < now()) \
                       AND s.enabled \
                       AND NOT EXISTS (SELECT 1 FROM api_clients c WHERE c.id = s.owner_id AND c.disabled_at IS NOT NULL) \
                       AND NOT EXISTS (SELECT 1 FROM webhook_events p \
                                       WHERE p.subscription_id = e.subscription_id \
                                         AND p.resource_type = e.resource_type \
                                         AND p.resource_id = e.resource_id \
                                         AND p.status = 'pending' AND p.seq < e.seq) \
                     ORDER BY e.next_attempt_at, e.seq LIMIT $1 \
                     FOR UPDATE OF e SKIP LOCKED) \
                 UPDATE webhook_events e SET lease_until = now() + $2, leased_by = $3, \
                        attempts = e.attempts + 1 \
                 FROM due, webhook_subscriptions s \
                 WHERE e.id = due.id AND s.id = e.subscription_id \
                 RETURNING e.id, e.subscription_id, s.url, e.payload::text AS payload, e.attempts, \
                           ARRAY(SELECT k.secret FROM webhook_secrets k \
                                 WHERE k.subscription_id = s.id \
                                   AND (k.expires_at IS NULL OR k.expires_at > now()) \
                                 ORDER BY k.created_at DESC) AS keys",
            )
            .bind::<BigInt, _>(n)
            .bind::<Interval, _>(interval(self.settings.lease))
            .bind::<Text, _>(&self.replica)
            .load(conn)
            .await?;
            Ok(claimed)
        })
        .await
    }

    /// Makes one attempt and writes what came of it.
    async fn deliver(&self, event: Claimed) {
        let id = message_id(event.id);
        let timestamp = Utc::now().timestamp();
        let body = event.payload.as_bytes();
        let headers = [
            ("webhook-id", id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                signing::sign(&event.keys, &id, timestamp, body),
            ),
        ];
        let started = Utc::now();
        let answer = self.outbound.post(&event.url, &headers, body).await;
        let outcome = if answer.delivered() {
            "delivered"
        } else if answer.status.is_some() {
            "refused"
        } else {
            "error"
        };
        self.metrics.webhook_attempt(outcome, answer.elapsed);
        if let Err(e) = self.record(&event, started, &answer).await {
            tracing::warn!(error = %e, event = %event.id, "webhooks: recording an attempt failed");
        }
    }

    /// Writes an attempt and the event's next state, while the lease is this replica's.
    async fn record(
        &self,
        event: &Claimed,
        started: DateTime<Utc>,
        answer: &Answer,
    ) -> Result<(), ApiError> {
        let delivered = answer.delivered();
        let gone = answer.status == Some(410);
        let given_up = !delivered && event.attempts as usize > self.settings.retries.len();
        let retry_in = if delivered || given_up {
            Duration::ZERO
        } else {
            jittered(self.settings.retries[(event.attempts as usize).saturating_sub(1)])
        };
        let status = if delivered {
            "delivered"
        } else if given_up {
            "failed"
        } else {
            "pending"
        };
        let mut conn = self.db.conn().await?;
        conn.transaction::<(), ApiError, _>(async |conn| {
            diesel::sql_query(
                "INSERT INTO webhook_attempts (event_id, attempt, started_at, duration_ms, \
                                               status_code, error, response, replica) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind::<SqlUuid, _>(event.id)
            .bind::<Int4, _>(event.attempts)
            .bind::<diesel::sql_types::Timestamptz, _>(started)
            .bind::<Int4, _>(answer.elapsed.as_millis().min(i32::MAX as u128) as i32)
            .bind::<Nullable<Int4>, _>(answer.status.map(i32::from))
            .bind::<Nullable<Text>, _>(answer.error.as_deref())
            .bind::<Nullable<Text>, _>((!answer.body.is_empty()).then_some(answer.body.as_str()))
            .bind::<Text, _>(&self.replica)
            .execute(conn)
            .await?;
            let mine = diesel::sql_query(
                "UPDATE webhook_events SET status = $3, lease_until = NULL, leased_by = NULL, \
                        next_attempt_at = now() + $4, last_status = $5, last_error = $6, \
                        delivered_at = CASE WHEN $3 = 'delivered' THEN now() END \
                 WHERE id = $1 AND leased_by = $2",
            )
            .bind::<SqlUuid, _>(event.id)
            .bind::<Text, _>(&self.replica)
            .bind::<Text, _>(status)
            .bind::<Interval, _>(interval(retry_in))
            .bind::<Nullable<Int4>, _>(answer.status.map(i32::from))
            .bind::<Nullable<Text>, _>(answer.error.as_deref())
            .execute(conn)
            .await?;
            if mine == 0 {
                // The lease ran out and another replica took the event over: it decides.
                return Ok(());
            }
            if delivered {
                diesel::sql_query(
                    // Only a subscription that was failing is written (and locked): the
                    // deliveries of one subscription do not queue up behind each other here.
                    "UPDATE webhook_state SET failing_since = NULL \
                     WHERE subscription_id = $1 AND failing_since IS NOT NULL",
                )
                .bind::<SqlUuid, _>(event.subscription_id)
                .execute(conn)
                .await?;
                return Ok(());
            }
            let failing: Option<FailingSince> = diesel::sql_query(
                "UPDATE webhook_state SET failing_since = coalesce(failing_since, now()) \
                 WHERE subscription_id = $1 RETURNING failing_since",
            )
            .bind::<SqlUuid, _>(event.subscription_id)
            .get_result(conn)
            .await
            .ok();
            let too_long = failing.is_some_and(|f| {
                Utc::now() - f.failing_since
                    > chrono::Duration::from_std(self.settings.disable_after)
                        .unwrap_or(chrono::Duration::MAX)
            });
            let reason = if gone {
                Some("The endpoint answered 410 Gone: it asked for no more deliveries".to_owned())
            } else if too_long {
                Some(format!(
                    "Every delivery failed for more than {} hours (the last: {})",
                    self.settings.disable_after.as_secs() / 3600,
                    answer
                        .status
                        .map(|s| format!("HTTP {s}"))
                        .or_else(|| answer.error.clone())
                        .unwrap_or_default()
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                diesel::sql_query(
                    "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, \
                            disabled_at = now() \
                     WHERE id = $1 AND enabled",
                )
                .bind::<SqlUuid, _>(event.subscription_id)
                .bind::<Text, _>(reason.chars().take(500).collect::<String>())
                .execute(conn)
                .await?;
            }
            Ok(())
        })
        .await
    }

    /// Sets the queue gauges: pending events and the age of the oldest.
    async fn observe_queue(&self) {
        #[derive(diesel::QueryableByName)]
        struct Queue {
            #[diesel(sql_type = BigInt)]
            depth: i64,
            #[diesel(sql_type = diesel::sql_types::Double)]
            oldest: f64,
        }
        let Ok(mut conn) = self.db.conn().await else {
            return;
        };
        let queue: Result<Queue, _> = diesel::sql_query(
            "SELECT count(*) AS depth, \
                    coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest \
             FROM webhook_events WHERE status = 'pending'",
        )
        .get_result(&mut conn)
        .await;
        if let Ok(q) = queue {
            self.metrics.webhook_queue(q.depth, q.oldest);
        }
    }
}

#[derive(diesel::QueryableByName)]
struct FailingSince {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    failing_since: DateTime<Utc>,
}

/// Events made in one fan-out, in the feed's order.
#[derive(Default)]
struct Events {
    ids: Vec<Uuid>,
    kinds: Vec<String>,
    types: Vec<String>,
    resources: Vec<String>,
    payloads: Vec<Value>,
}

impl Events {
    fn push(&mut self, kind: &str, resource_type: &str, resource_id: &str, payload: Value) {
        self.ids.push(Uuid::new_v4());
        self.kinds.push(kind.to_owned());
        self.types.push(resource_type.to_owned());
        self.resources.push(resource_id.to_owned());
        self.payloads.push(payload);
    }

    /// Inserts them for `subscription` (their `seq` in this order).
    async fn insert(
        self,
        conn: &mut AsyncPgConnection,
        subscription: Uuid,
    ) -> Result<usize, ApiError> {
        if self.ids.is_empty() {
            return Ok(0);
        }
        let n = diesel::sql_query(
            "INSERT INTO webhook_events (id, subscription_id, event_type, resource_type, \
                                         resource_id, payload) \
             SELECT id, $1, kind, type, resource, payload \
             FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) \
                  WITH ORDINALITY AS e(id, kind, type, resource, payload, n) \
             ORDER BY n",
        )
        .bind::<SqlUuid, _>(subscription)
        .bind::<Array<SqlUuid>, _>(&self.ids)
        .bind::<Array<Text>, _>(&self.kinds)
        .bind::<Array<Text>, _>(&self.types)
        .bind::<Array<Text>, _>(&self.resources)
        .bind::<Array<Jsonb>, _>(&self.payloads)
        .execute(conn)
        .await?;
        Ok(n)
    }
}

/// Adds a test event for `subscription` (`webhook.test`), due at once.
pub async fn test_event(
    conn: &mut AsyncPgConnection,
    subscription: Uuid,
) -> Result<Uuid, ApiError> {
    let mut events = Events::default();
    events.push(
        EVENT_TEST,
        "webhook",
        &subscription.to_string(),
        json!({
            "type": EVENT_TEST,
            "timestamp": instant(Utc::now()),
            "data": {"subscriptionId": subscription},
        }),
    );
    let id = events.ids[0];
    events.insert(conn, subscription).await?;
    Ok(id)
}

/// Whether a subscription wants events of this type (`None`: every type).
fn wanted(types: &Option<Vec<String>>, kind: &str) -> bool {
    types
        .as_ref()
        .is_none_or(|types| types.iter().any(|t| t == kind))
}

/// Whether a change concerns the municipality a subscription is for (`None`: every change).
/// A record concerns a municipality when it is that municipality or names it
/// (`municipalityId`, `municipalityIds`); records that belong to the association (areas, plans)
/// concern every municipality, and so does a deletion, which carries only its id.
fn concerns(municipality: Option<&str>, change: &changes::Change) -> bool {
    let Some(m) = municipality else {
        return true;
    };
    let Some(data) = &change.data else {
        return true;
    };
    if change.type_ == "municipality" {
        return change.id == m;
    }
    /// The fields that name municipalities; the rest of the record is not read.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Named {
        municipality_id: Option<Value>,
        municipality_ids: Option<Value>,
    }
    let Ok(named) = serde_json::from_str::<Named>(data.0.get()) else {
        return true;
    };
    let one = named.municipality_id.as_ref().and_then(Value::as_str);
    let many = named.municipality_ids.as_ref().and_then(Value::as_array);
    match (one, many) {
        (None, None) => true,
        (one, many) => {
            one == Some(m) || many.is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(m)))
        }
    }
}

/// The `webhook-id` of an event: stable across its attempts.
pub fn message_id(event: Uuid) -> String {
    format!("msg_{}", event.simple())
}

/// An instant as the API writes it (RFC 3339, UTC, `Z`).
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A delay as a PostgreSQL interval.
fn interval(d: Duration) -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(d.as_micros().min(i64::MAX as u128) as i64)
}

/// A retry delay spread by up to a fifth either way, so that failing receivers are not called
/// again all at once.
fn jittered(d: Duration) -> Duration {
    let spread = 0.8 + rand::random::<f64>() * 0.4;
    d.mul_f64(spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: &str, id: &str, data: Option<Value>) -> changes::Change {
        changes::Change {
            cursor: String::new(),
            type_: kind.to_owned(),
            id: id.to_owned(),
            op: if data.is_some() { "upsert" } else { "delete" }.to_owned(),
            version: 1,
            changed_at: Utc::now(),
            data: data
                .map(|v| changes::StoredJson(serde_json::value::to_raw_value(&v).expect("JSON"))),
        }
    }

    #[test]
    fn a_municipalitys_subscription_gets_what_concerns_it() {
        let one = change("feedback", "f", Some(json!({"municipalityId": "2281"})));
        let many = change(
            "assignment",
            "a",
            Some(json!({"municipalityIds": ["2262", "2281"]})),
        );
        let other = change("feedback", "g", Some(json!({"municipalityId": "2262"})));
        let shared = change("area", "x", Some(json!({"name": "Digitalisering"})));
        let gone = change("feedback", "h", None);
        assert!(concerns(Some("2281"), &one));
        assert!(concerns(Some("2281"), &many));
        assert!(!concerns(Some("2281"), &other));
        assert!(concerns(Some("2281"), &shared));
        assert!(concerns(Some("2281"), &gone));
        assert!(concerns(None, &other));
        assert!(concerns(
            Some("2281"),
            &change("municipality", "2281", Some(json!({})))
        ));
        assert!(!concerns(
            Some("2281"),
            &change("municipality", "2262", Some(json!({})))
        ));
    }

    #[test]
    fn retries_are_spread_and_events_named_stably() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(100));
            assert!(d >= Duration::from_secs(80) && d <= Duration::from_secs(120));
        }
        let id = Uuid::new_v4();
        assert_eq!(message_id(id), message_id(id));
        assert!(message_id(id).starts_with("msg_"));
        assert!(wanted(&None, "feedback.created"));
        assert!(!wanted(
            &Some(vec!["feedback.updated".to_owned()]),
            "feedback.created"
        ));
    }
}
