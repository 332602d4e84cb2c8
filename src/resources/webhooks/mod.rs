//! Webhook subscriptions: an intranet or a case system gives a URL and the event types it
//! wants, and the service pushes every such change there, signed (Standard Webhooks), retried
//! for about three days (see [`crate::integration::webhooks`]). A client sees and manages its
//! own subscriptions; an administrator sees and manages all. Like the API clients and the
//! report links, a subscription is created with a secret that is shown once, so it is served
//! by its own handlers rather than the kernel's generic operations; its writes go through a
//! [`Work`] all the same (audited, idempotent).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{Caller, Scope};
use crate::error::responses::{
    AuthErrors, ChangeErrorsWithoutConflict, CommonErrors, Conflict, NotFound, ReadOne, ReadPage,
    WriteErrors,
};
use crate::error::{ApiError, Violations};
use crate::http::{IfMatch, Json, Query, conditional_json, list, merge_member, version_etag};
use crate::integration::changes::{self, FeedSettings};
use crate::integration::webhooks::dispatch::{message_id, test_event};
use crate::integration::webhooks::outbound::Outbound;
use crate::integration::webhooks::{ACTIONS, EVENT_TEST, WebhookSettings, signing};
use crate::integration::work::{Change, Work, Writer};
use crate::page_type;
use crate::rules::dates::instant_opt;
use crate::store::db::Db;
use crate::store::schema::{
    municipalities, webhook_attempts, webhook_events, webhook_secrets, webhook_subscriptions,
};

/// The longest a rotated secret stays valid beside the new one.
pub const MAX_OVERLAP_HOURS: i64 = 168;

/// Subscriptions one client may have (as Stripe and GitHub limit endpoints per account): each
/// is fanned out and called on every change, so one client cannot make the dispatchers' work
/// for everyone else grow without bound.
pub const MAX_PER_CLIENT: i64 = 20;

/// A subscription as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
struct Row {
    id: Uuid,
    owner_id: Uuid,
    url: String,
    event_types: Option<Vec<String>>,
    municipality_id: Option<String>,
    description: Option<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A webhook subscription: where the service pushes which events.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "url": "https://intranat.sundsvall.se/hooks/samverkan",
    "eventTypes": ["assignment.created", "assignment.updated"], "municipalityId": "2281",
    "description": "Intranätets uppdragssida", "enabled": true, "disabledReason": null, "disabledAt": null,
    "ownerId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "version": 1,
    "createdAt": "2026-12-06T08:00:00Z", "updatedAt": "2026-12-06T08:00:00Z"
}))]
pub struct Webhook {
    pub id: Uuid,
    /// Where events are POSTed: https (plain http only to networks the operator allowed).
    pub url: String,
    /// The event types sent (`assignment.updated`, …); null for every type.
    pub event_types: Option<Vec<String>>,
    /// Only events about this municipality's records (and the association's own records, and
    /// deletions, which carry only an id); null for every municipality.
    pub municipality_id: Option<String>,
    pub description: Option<String>,
    /// Whether events are delivered. A subscription is disabled by its owner, or by the service
    /// when the receiver answered `410 Gone` or every delivery failed for three days; its events
    /// wait, and are delivered when it is enabled again.
    pub enabled: bool,
    /// Why the service disabled it.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The API client (or person) that owns it.
    pub owner_id: Uuid,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Row> for Webhook {
    fn from(r: Row) -> Self {
        Webhook {
            id: r.id,
            url: r.url,
            event_types: r.event_types,
            municipality_id: r.municipality_id,
            description: r.description,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            disabled_at: r.disabled_at,
            owner_id: r.owner_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "url": "https://intranat.sundsvall.se/hooks/samverkan",
    "eventTypes": ["assignment.created", "assignment.updated"], "municipalityId": "2281",
    "description": "Intranätets uppdragssida"
}))]
pub struct NewWebhook {
    /// An https URL (at most 2 000 characters), without user or password. Its host must
    /// resolve to public addresses when a delivery is made.
    #[schema(max_length = 2000)]
    pub url: String,
    /// The event types wanted (`<type>.created`, `.updated` or `.deleted` of `municipality`,
    /// `area`, `plan`, `network`, `member`, `assignment`, `progress_report`, `feedback`,
    /// `event` or `registration`);
    /// absent or null for every type. Test events are always sent.
    #[schema(min_items = 1, max_items = 100)]
    pub event_types: Option<Vec<String>>,
    /// Only events about this municipality (a kommunkod). A client bound to a municipality
    /// subscribes to its own municipality only.
    #[schema(pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub description: Option<String>,
}

/// A change to a subscription (JSON Merge Patch).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"enabled": true, "eventTypes": null}))]
pub struct WebhookPatch {
    #[schema(max_length = 2000)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub description: Option<Option<String>>,
    /// `true` enables a disabled subscription again (its waiting events are delivered);
    /// `false` pauses it.
    pub enabled: Option<bool>,
}

/// A new subscription with its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "webhook": {"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "url": "https://intranat.sundsvall.se/hooks/samverkan",
        "eventTypes": null, "municipalityId": null, "description": null, "enabled": true,
        "disabledReason": null, "disabledAt": null, "ownerId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "version": 1, "createdAt": "2026-12-06T08:00:00Z", "updatedAt": "2026-12-06T08:00:00Z"}
}))]
pub struct CreatedWebhook {
    /// The signing secret (`whsec_…`), shown this once: verify every delivery with it.
    pub secret: String,
    pub webhook: Webhook,
}

/// What to check a URL and event types against.
struct Rules<'a> {
    outbound: Outbound,
    types: &'a [&'static str],
}

impl Rules<'_> {
    fn new<'a>(settings: &WebhookSettings, feed: &'a FeedSettings) -> Rules<'a> {
        Rules {
            outbound: Outbound::new(settings.allowed_networks.clone(), settings.timeout),
            types: &feed.types,
        }
    }

    fn url(&self, v: &mut Violations, raw: &str) -> Option<String> {
        let raw = raw.trim();
        if raw.chars().count() > 2000 {
            v.push("url", "must be at most 2000 characters");
            return None;
        }
        let Ok(url) = url::Url::parse(raw) else {
            v.push("url", "must be an absolute https URL");
            return None;
        };
        let scheme_ok =
            url.scheme() == "https" || (url.scheme() == "http" && self.outbound.allows_http());
        if !scheme_ok {
            v.push("url", "must be an https URL");
        } else if url.host().is_none() {
            v.push("url", "must name a host");
        } else if !url.username().is_empty() || url.password().is_some() {
            v.push("url", "must not carry a user or password");
        } else if url.fragment().is_some() {
            v.push("url", "must not have a fragment");
        } else {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !self.outbound.permitted(ip)) {
                v.push("url", "must reach a public address");
            } else {
                return Some(url.to_string());
            }
        }
        None
    }

    fn event_types(&self, v: &mut Violations, types: Option<Vec<String>>) -> Option<Vec<String>> {
        let types = types?;
        if types.is_empty() || types.len() > 100 {
            v.push(
                "eventTypes",
                "must list 1 to 100 event types, or be null for all",
            );
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        for t in types {
            let known = t == EVENT_TEST
                || t.split_once('.').is_some_and(|(kind, action)| {
                    self.types.contains(&kind) && ACTIONS.contains(&action)
                });
            if !known {
                v.push(
                    "eventTypes",
                    format!(
                        "unknown event type {:?}: <type>.created, .updated or .deleted, where the \
                         type is one of {}",
                        t.chars().take(60).collect::<String>(),
                        self.types.join(", ")
                    ),
                );
            } else if !out.contains(&t) {
                out.push(t);
            }
        }
        Some(out)
    }
}

fn description(v: &mut Violations, d: Option<String>) -> Option<String> {
    let d = d.map(|d| d.trim().to_owned())?;
    if d.is_empty() || d.chars().count() > 200 {
        v.push("description", "must be 1 to 200 characters");
    }
    Some(d)
}

/// The municipality a caller's subscription is for: a bound caller's own, whatever it asks.
fn municipality(v: &mut Violations, caller: &Caller, asked: Option<String>) -> Option<String> {
    crate::rules::MunicipalityId::check_optional(v, "municipalityId", asked.as_deref());
    match (&caller.municipality_id, asked) {
        (Some(own), Some(asked)) if *own != asked => {
            v.push(
                "municipalityId",
                format!("a client bound to {own} subscribes to {own} only"),
            );
            Some(asked)
        }
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked,
    }
}

async fn municipality_exists(work: &mut Work<'_>, id: Option<&str>) -> Result<(), ApiError> {
    let Some(id) = id else {
        return Ok(());
    };
    let found: bool = diesel::select(diesel::dsl::exists(municipalities::table.find(id)))
        .get_result(work.conn())
        .await?;
    if found {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "municipalityId",
            format!("there is no municipality {id}"),
        ))
    }
}

async fn record(
    work: &mut Work<'_>,
    action: &str,
    before: Option<&Webhook>,
    after: &Webhook,
) -> Result<(), ApiError> {
    work.record(Change {
        action,
        kind: "webhook",
        id: &after.id.to_string(),
        before: before.and_then(|w| serde_json::to_value(w).ok()),
        after: serde_json::to_value(after).ok(),
    })
    .await
}

/// The subscriptions a caller manages: its own, or every one for an administrator.
fn managed(caller: &Caller) -> webhook_subscriptions::BoxedQuery<'static, diesel::pg::Pg> {
    let q = webhook_subscriptions::table.into_boxed();
    if caller.has(Scope::Admin) {
        q
    } else {
        q.filter(webhook_subscriptions::owner_id.eq(caller.client_id))
    }
}

/// The caller's subscription `id`, locked for a change (404 for another caller's).
async fn locked(work: &mut Work<'_>, caller: &Caller, id: Uuid) -> Result<Row, ApiError> {
    webhook_subscriptions::table
        .find(id)
        .select(Row::as_select())
        .for_update()
        .first(work.conn())
        .await
        .optional()?
        .filter(|row| caller.has(Scope::Admin) || row.owner_id == caller.client_id)
        .ok_or_else(|| ApiError::not_found(format!("Webhook {id}")))
}

fn webhook_id(raw: &str) -> Result<Uuid, ApiError> {
    crate::rules::uuid_param("id", raw)
}

fn answer(status: actix_web::http::StatusCode, webhook: &Webhook) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, version_etag(webhook.version)))
        .json(webhook)
}

/// Subscribe to events
///
/// Registers a URL to receive events as they happen, the way Stripe and GitHub push them: each
/// a POST of `{"type", "timestamp", "cursor", "data"}` (`data` is the record as the API shows
/// it; for a deletion only its `id`), with the Standard Webhooks headers `webhook-id` (the same
/// on every retry), `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
/// id.timestamp.body>`). Verify them with any of that specification's libraries and the
/// `secret` answered here once. Events are sent from now on, at least once, in the order they
/// happened for each record; a receiver answers 2xx within 10 seconds, else the event is retried
/// for about three days. `410 Gone` ends the subscription. A client may have at most 20
/// subscriptions (409 beyond that).
#[utoipa::path(
    operation_id = "createWebhook",
    tag = "Webhooks",
    request_body = NewWebhook,
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 201, description = "The subscription, with its secret shown once", body = CreatedWebhook,
            headers(("Location" = String, description = "The subscription's URL"),
                ("ETag" = String, description = "Strong entity tag"))),
        AuthErrors,
        WriteErrors,
        Conflict,
        CommonErrors,
    ),
)]
#[post("/webhooks")]
pub async fn create_webhook(
    writer: Writer,
    settings: web::Data<WebhookSettings>,
    feed: web::Data<FeedSettings>,
    body: Json<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    let new = body.0;
    let rules = Rules::new(&settings, &feed);
    let caller = writer.caller.clone();
    let mut v = Violations::default();
    let url = rules.url(&mut v, &new.url);
    let types = rules.event_types(&mut v, new.event_types);
    let municipality = municipality(&mut v, &caller, new.municipality_id);
    let description = description(&mut v, new.description);
    let url = v.finish_with(url)?;
    let key = signing::new_key();
    let (webhook, key) = writer
        .run(async |work| {
            municipality_exists(work, municipality.as_deref()).await?;
            // Two creations by one client at once are counted one after the other.
            diesel::sql_query(
                "SELECT pg_advisory_xact_lock(hashtextextended('webhooks ' || $1, 0))",
            )
            .bind::<diesel::sql_types::Text, _>(caller.client_id.to_string())
            .execute(work.conn())
            .await?;
            let owned: i64 = webhook_subscriptions::table
                .filter(webhook_subscriptions::owner_id.eq(caller.client_id))
                .count()
                .get_result(work.conn())
                .await?;
            if owned >= MAX_PER_CLIENT {
                return Err(ApiError::Conflict(format!(
                    "This client already has {owned} webhook subscriptions, the most one client \
                     may have ({MAX_PER_CLIENT}). Delete one it no longer needs, or subscribe one \
                     URL to several event types."
                )));
            }
            let id = Uuid::new_v4();
            let row: Row = diesel::insert_into(webhook_subscriptions::table)
                .values((
                    webhook_subscriptions::id.eq(id),
                    webhook_subscriptions::owner_id.eq(caller.client_id),
                    webhook_subscriptions::url.eq(&url),
                    webhook_subscriptions::event_types.eq(types.as_ref()),
                    webhook_subscriptions::municipality_id.eq(municipality.as_deref()),
                    webhook_subscriptions::description.eq(description.as_deref()),
                ))
                .returning(Row::as_returning())
                .get_result(work.conn())
                .await?;
            diesel::insert_into(webhook_secrets::table)
                .values((
                    webhook_secrets::id.eq(Uuid::new_v4()),
                    webhook_secrets::subscription_id.eq(id),
                    webhook_secrets::secret.eq(&key),
                ))
                .execute(work.conn())
                .await?;
            // Events from now on: the feed's head as this transaction sees it.
            let head = changes::head(work.conn()).await?;
            diesel::sql_query(
                "INSERT INTO webhook_state (subscription_id, feed_txid, feed_seq) \
                 VALUES ($1, $2::text::xid8, $3)",
            )
            .bind::<diesel::sql_types::Uuid, _>(id)
            .bind::<diesel::sql_types::Text, _>(head.txid.to_string())
            .bind::<diesel::sql_types::BigInt, _>(head.seq)
            .execute(work.conn())
            .await?;
            let webhook = Webhook::from(row);
            record(work, "create", None, &webhook).await?;
            Ok((webhook, key.clone()))
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/webhooks/{}", webhook.id)))
        .insert_header((header::ETAG, version_etag(webhook.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedWebhook {
            secret: signing::secret(&key),
            webhook,
        }))
}

page_type!(WebhookPage, Webhook, "A page of webhook subscriptions.");

/// Paging of the subscriptions.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WebhookListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only enabled (`true`) or disabled (`false`) subscriptions.
    #[param(example = false)]
    pub enabled: Option<bool>,
}

/// List webhook subscriptions
///
/// The caller's own subscriptions, newest first; an administrator (`admin`) sees everyone's.
/// Never with their secrets.
#[utoipa::path(
    operation_id = "listWebhooks",
    tag = "Webhooks",
    params(WebhookListParams),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "A page of subscriptions, newest first", body = WebhookPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        ReadPage,
    ),
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    params: Query<WebhookListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.0;
    let paging = list::paging(p.limit, p.page)?;
    let filtered = || {
        let mut q = managed(&caller);
        if let Some(enabled) = p.enabled {
            q = q.filter(webhook_subscriptions::enabled.eq(enabled));
        }
        q
    };
    let mut conn = db.conn().await?;
    let rows: Vec<Row> = filtered()
        .select(Row::as_select())
        .order((
            webhook_subscriptions::created_at.desc(),
            webhook_subscriptions::id.asc(),
        ))
        .limit(i64::from(paging.limit))
        .offset(paging.offset())
        .load(&mut conn)
        .await?;
    let total = paging
        .total(&mut conn, rows.len(), || {
            filtered().select(webhook_subscriptions::id)
        })
        .await?;
    let items: Vec<Webhook> = rows.into_iter().map(Into::into).collect();
    let page = WebhookPage {
        meta: paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

/// Get a webhook subscription
///
/// One of the caller's subscriptions (an administrator: anyone's); 404 for another caller's.
#[utoipa::path(
    operation_id = "getWebhook",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7")),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "The subscription", body = Webhook,
            headers(("ETag" = String, description = "Strong entity tag: the quoted version"))),
        ReadOne,
    ),
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.into_inner())?;
    let mut conn = db.conn().await?;
    let row: Row = managed(&caller)
        .filter(webhook_subscriptions::id.eq(id))
        .select(Row::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("Webhook {id}")))?;
    let webhook = Webhook::from(row);
    let etag = version_etag(webhook.version);
    conditional_json(&req, &webhook, Some(etag))
}

/// Change a webhook subscription
///
/// JSON Merge Patch (RFC 7396) of the URL, event types, municipality, description or
/// `enabled`; requires `If-Match`. Enabling a subscription the service disabled clears the
/// reason, and its waiting events are delivered.
#[utoipa::path(
    operation_id = "updateWebhook",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7"), IfMatch),
    request_body(content = WebhookPatch, content_type = "application/merge-patch+json"),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "The changed subscription", body = Webhook,
            headers(("ETag" = String, description = "The new strong entity tag"))),
        ChangeErrorsWithoutConflict,
    ),
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    writer: Writer,
    settings: web::Data<WebhookSettings>,
    feed: web::Data<FeedSettings>,
    path: web::Path<String>,
    expected: IfMatch,
    body: Json<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.into_inner())?;
    let patch = body.0;
    let rules = Rules::new(&settings, &feed);
    let caller = writer.caller.clone();
    let mut v = Violations::default();
    let url = patch.url.as_deref().map(|u| rules.url(&mut v, u));
    let types = patch.event_types.map(|t| rules.event_types(&mut v, t));
    let municipality = patch
        .municipality_id
        .map(|m| municipality(&mut v, &caller, m));
    let description = patch.description.map(|d| description(&mut v, d));
    v.finish()?;
    let webhook = writer
        .run(async |work| {
            let row = locked(work, &caller, id).await?;
            if expected.0.is_some_and(|v| v != row.version) {
                return Err(ApiError::PreconditionFailed(version_etag(row.version)));
            }
            if let Some(Some(m)) = &municipality {
                municipality_exists(work, Some(m)).await?;
            }
            let before = Webhook::from(row.clone());
            let enabled = patch.enabled.unwrap_or(row.enabled);
            let (reason, disabled_at) = if enabled {
                (None, None)
            } else {
                (row.disabled_reason.clone(), row.disabled_at)
            };
            let after: Row = diesel::update(webhook_subscriptions::table.find(id))
                .set((
                    webhook_subscriptions::url.eq(url.flatten().unwrap_or(row.url.clone())),
                    webhook_subscriptions::event_types.eq(types.unwrap_or(row.event_types.clone())),
                    webhook_subscriptions::municipality_id
                        .eq(municipality.unwrap_or(row.municipality_id.clone())),
                    webhook_subscriptions::description
                        .eq(description.unwrap_or(row.description.clone())),
                    webhook_subscriptions::enabled.eq(enabled),
                    webhook_subscriptions::disabled_reason.eq(reason),
                    webhook_subscriptions::disabled_at.eq(disabled_at),
                ))
                .returning(Row::as_returning())
                .get_result(work.conn())
                .await?;
            if enabled && !row.enabled {
                // Enabled again: its failures so far do not count towards disabling it.
                diesel::sql_query(
                    "UPDATE webhook_state SET failing_since = NULL WHERE subscription_id = $1",
                )
                .bind::<diesel::sql_types::Uuid, _>(id)
                .execute(work.conn())
                .await?;
            }
            let after = Webhook::from(after);
            if after.version != before.version {
                record(work, "update", Some(&before), &after).await?;
            }
            Ok(after)
        })
        .await?;
    Ok(answer(actix_web::http::StatusCode::OK, &webhook))
}

/// Delete a webhook subscription
///
/// Ends it at once, with its waiting events and their attempts. Requires `If-Match`.
#[utoipa::path(
    operation_id = "deleteWebhook",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7"), IfMatch),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 204, description = "Deleted"),
        ChangeErrorsWithoutConflict,
    ),
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    writer: Writer,
    path: web::Path<String>,
    expected: IfMatch,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.into_inner())?;
    let caller = writer.caller.clone();
    writer
        .run(async |work| {
            let row = locked(work, &caller, id).await?;
            if expected.0.is_some_and(|v| v != row.version) {
                return Err(ApiError::PreconditionFailed(version_etag(row.version)));
            }
            diesel::delete(webhook_subscriptions::table.find(id))
                .execute(work.conn())
                .await?;
            let before = Webhook::from(row);
            work.record(Change {
                action: "delete",
                kind: "webhook",
                id: &id.to_string(),
                before: serde_json::to_value(&before).ok(),
                after: None,
            })
            .await
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A test event on its way.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"eventId": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed",
    "webhookId": "msg_1b9d6bcdbbfd4b2d9b5dab8dfbbd4bed"}))]
pub struct SentTest {
    /// The event (see its deliveries).
    pub event_id: Uuid,
    /// The `webhook-id` header it is sent with.
    pub webhook_id: String,
}

/// Send a test event
///
/// Queues a `webhook.test` event (`{"subscriptionId": …}` as its data) for delivery at once,
/// whatever event types the subscription wants, to check the receiver and its signature
/// verification. Follow it under `…/deliveries`.
#[utoipa::path(
    operation_id = "testWebhook",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7")),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 202, description = "The test event is queued", body = SentTest),
        AuthErrors,
        NotFound,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    writer: Writer,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.into_inner())?;
    let caller = writer.caller.clone();
    let event = writer
        .run(async |work| {
            let row = locked(work, &caller, id).await?;
            let event = test_event(work.conn(), id).await?;
            let webhook = Webhook::from(row);
            work.record(Change {
                action: "test",
                kind: "webhook",
                id: &id.to_string(),
                before: None,
                after: serde_json::to_value(&webhook).ok(),
            })
            .await?;
            Ok(event)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(SentTest {
        event_id: event,
        webhook_id: message_id(event),
    }))
}

/// A new secret for a subscription.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"overlapHours": 24}))]
pub struct NewSecret {
    /// How long the secrets valid now stay valid beside the new one, 0–168 hours (default 24):
    /// meanwhile every delivery carries a signature with each, as the specification allows, so
    /// the receiver can switch without losing an event.
    #[schema(minimum = 0, maximum = 168, default = 24)]
    pub overlap_hours: Option<i64>,
}

/// A rotated secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "previousValidUntil": "2026-12-07T08:00:00Z"}))]
pub struct RotatedSecret {
    /// The new signing secret, shown this once.
    pub secret: String,
    /// Until when the earlier secrets still sign deliveries.
    pub previous_valid_until: DateTime<Utc>,
}

/// Rotate the signing secret
///
/// Adds a new secret; the secrets valid now stay valid for `overlapHours` more (default 24), and
/// meanwhile every delivery is signed with each of them (`webhook-signature` then holds one
/// `v1,…` entry per secret, separated by spaces).
#[utoipa::path(
    operation_id = "rotateWebhookSecret",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7")),
    request_body = NewSecret,
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 201, description = "The new secret, shown once", body = RotatedSecret),
        AuthErrors,
        NotFound,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/webhooks/{id}/secrets")]
pub async fn rotate_webhook_secret(
    writer: Writer,
    path: web::Path<String>,
    body: Json<NewSecret>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.into_inner())?;
    let hours = body.0.overlap_hours.unwrap_or(24);
    if !(0..=MAX_OVERLAP_HOURS).contains(&hours) {
        return Err(ApiError::invalid(
            "overlapHours",
            format!("must be between 0 and {MAX_OVERLAP_HOURS}"),
        ));
    }
    let caller = writer.caller.clone();
    let key = signing::new_key();
    let until = Utc::now() + chrono::Duration::hours(hours);
    writer
        .run(async |work| {
            let row = locked(work, &caller, id).await?;
            diesel::update(
                webhook_secrets::table
                    .filter(webhook_secrets::subscription_id.eq(id))
                    .filter(
                        webhook_secrets::expires_at
                            .is_null()
                            .or(webhook_secrets::expires_at.gt(until)),
                    ),
            )
            .set(webhook_secrets::expires_at.eq(until))
            .execute(work.conn())
            .await?;
            diesel::insert_into(webhook_secrets::table)
                .values((
                    webhook_secrets::id.eq(Uuid::new_v4()),
                    webhook_secrets::subscription_id.eq(id),
                    webhook_secrets::secret.eq(&key),
                ))
                .execute(work.conn())
                .await?;
            let webhook = Webhook::from(row);
            work.record(Change {
                action: "rotate-secret",
                kind: "webhook",
                id: &id.to_string(),
                before: None,
                after: serde_json::to_value(&webhook).ok(),
            })
            .await
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RotatedSecret {
            secret: signing::secret(&key),
            previous_valid_until: until,
        }))
}

/// An event of a subscription and how its delivery stands.
#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = webhook_events)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed", "eventType": "assignment.updated",
    "resourceType": "assignment", "resourceId": "d3000000-0000-4000-8000-000000000006",
    "status": "pending", "attempts": 2, "nextAttemptAt": "2026-12-06T08:02:30Z", "lastStatus": 503,
    "lastError": null, "createdAt": "2026-12-06T08:00:00Z", "deliveredAt": null}))]
pub struct Delivery {
    /// The event; its `webhook-id` is `msg_` and these hex digits without hyphens.
    pub id: Uuid,
    pub event_type: String,
    pub resource_type: String,
    pub resource_id: String,
    /// `pending` (to be tried, or retried at `nextAttemptAt`), `delivered` or `failed` (given
    /// up after about three days of retries).
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    /// The HTTP status of the last attempt, when an answer came.
    pub last_status: Option<i32>,
    /// Why the last attempt got no answer (a timeout, a refused address, …).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

page_type!(DeliveryPage, Delivery, "A page of a subscription's events.");

/// Filters and paging of the events.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only events in this state: `pending`, `delivered` or `failed`.
    #[param(pattern = "^(pending|delivered|failed)$", example = "failed")]
    pub status: Option<String>,
}

async fn owned(db: &Db, caller: &Caller, id: Uuid) -> Result<(), ApiError> {
    let mut conn = db.conn().await?;
    let found: bool = diesel::select(diesel::dsl::exists(
        managed(caller).filter(webhook_subscriptions::id.eq(id)),
    ))
    .get_result(&mut conn)
    .await?;
    if found {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("Webhook {id}")))
    }
}

/// List a subscription's events
///
/// Its events, newest first, with how their delivery stands: how many attempts, the last
/// answer, when the next retry comes. Kept as long as the subscription.
#[utoipa::path(
    operation_id = "listWebhookDeliveries",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7"), DeliveryListParams),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "A page of events, newest first", body = DeliveryPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        ReadOne,
    ),
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    path: web::Path<String>,
    params: Query<DeliveryListParams>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.into_inner())?;
    let p = params.0;
    let mut v = Violations::default();
    let paging = v.check(list::paging(p.limit, p.page));
    if p.status
        .as_deref()
        .is_some_and(|s| !["pending", "delivered", "failed"].contains(&s))
    {
        v.push("status", "must be pending, delivered or failed");
    }
    let paging = v.finish_with(paging)?;
    owned(&db, &caller, id).await?;
    let filtered = || {
        let mut q = webhook_events::table
            .filter(webhook_events::subscription_id.eq(id))
            .into_boxed();
        if let Some(s) = p.status.clone() {
            q = q.filter(webhook_events::status.eq(s));
        }
        q
    };
    let mut conn = db.conn().await?;
    let items: Vec<Delivery> = filtered()
        .select(Delivery::as_select())
        .order((
            webhook_events::created_at.desc(),
            webhook_events::seq.desc(),
        ))
        .limit(i64::from(paging.limit))
        .offset(paging.offset())
        .load(&mut conn)
        .await?;
    let total = paging
        .total(&mut conn, items.len(), || {
            filtered().select(webhook_events::id)
        })
        .await?;
    let page = DeliveryPage {
        meta: paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"attempt": 1, "startedAt": "2026-12-06T08:00:00Z", "durationMs": 87,
    "statusCode": 503, "error": null, "response": "Service Unavailable", "replica": "samverkan-2-4f1c2a9b"}))]
pub struct Attempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The HTTP status, when an answer came.
    pub status_code: Option<i32>,
    /// Why no answer came: a timeout, a connection error, a refused address.
    pub error: Option<String>,
    /// The first kilobyte of the answer.
    pub response: Option<String>,
    /// The replica that made it.
    pub replica: String,
}

/// The attempts of one event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"attempt": 1, "startedAt": "2026-12-06T08:00:00Z", "durationMs": 87,
    "statusCode": 200, "error": null, "response": "ok", "replica": "samverkan-1-0c7d9e21"}]}))]
pub struct AttemptList {
    /// Oldest first.
    pub items: Vec<Attempt>,
}

/// List an event's delivery attempts
///
/// Every attempt at delivering one event, oldest first: when, how long it took, what came
/// back (the status and the first kilobyte of the answer) or why nothing did.
#[utoipa::path(
    operation_id = "listWebhookAttempts",
    tag = "Webhooks",
    params(
        ("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7"),
        ("eventId" = Uuid, Path, description = "The event's id", example = "1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"),
    ),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "The attempts, oldest first", body = AttemptList),
        ReadOne,
    ),
)]
#[get("/webhooks/{id}/deliveries/{eventId}/attempts")]
pub async fn list_webhook_attempts(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw, raw_event) = path.into_inner();
    let id = webhook_id(&raw)?;
    let event = crate::rules::uuid_param("eventId", &raw_event)?;
    owned(&db, &caller, id).await?;
    let mut conn = db.conn().await?;
    let found: bool = diesel::select(diesel::dsl::exists(
        webhook_events::table
            .filter(webhook_events::id.eq(event))
            .filter(webhook_events::subscription_id.eq(id)),
    ))
    .get_result(&mut conn)
    .await?;
    if !found {
        return Err(ApiError::not_found(format!("Event {event}")));
    }
    let items: Vec<Attempt> = webhook_attempts::table
        .filter(webhook_attempts::event_id.eq(event))
        .select(Attempt::as_select())
        .order(webhook_attempts::id.asc())
        .load(&mut conn)
        .await?;
    conditional_json(&req, &AttemptList { items }, None)
}

/// What to deliver again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"from": "2026-12-05T00:00:00Z", "to": "2026-12-06T00:00:00Z"}))]
pub struct Redelivery {
    /// One event; or else every event made from `from` up to `to`.
    pub event_id: Option<Uuid>,
    #[serde(default, deserialize_with = "instant_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "instant_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<DateTime<Utc>>,
}

/// The events queued again.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"redelivered": 12}))]
pub struct Redelivered {
    pub redelivered: usize,
}

/// Deliver events again
///
/// Queues one event (`eventId`), or every event made in a time range (`from`, `to`, at most
/// 31 days), for delivery again at once, whatever their state: after a receiver lost data, or
/// to replay a day. They keep their `webhook-id`, so a receiver that already has one can tell.
#[utoipa::path(
    operation_id = "redeliverWebhookEvents",
    tag = "Webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id", example = "7c9e6679-7425-40de-944b-e07fc1f90ae7")),
    request_body = Redelivery,
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 202, description = "How many events were queued again", body = Redelivered),
        AuthErrors,
        NotFound,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/webhooks/{id}/redeliver")]
pub async fn redeliver_webhook_events(
    writer: Writer,
    path: web::Path<String>,
    body: Json<Redelivery>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.into_inner())?;
    let r = body.0;
    let mut v = Violations::default();
    match (&r.event_id, &r.from, &r.to) {
        (Some(_), None, None) => {}
        (None, Some(from), Some(to)) => {
            if to <= from {
                v.push("to", "must be after from");
            } else if *to - *from > chrono::Duration::days(31) {
                v.push("to", "must be at most 31 days after from");
            }
        }
        (Some(_), _, _) => v.push("eventId", "give eventId, or from and to, not both"),
        (None, None, _) => v.push("from", "is required without eventId"),
        (None, _, None) => v.push("to", "is required without eventId"),
    }
    v.finish()?;
    let caller = writer.caller.clone();
    let n = writer
        .run(async |work| {
            let row = locked(work, &caller, id).await?;
            let mut q = diesel::update(webhook_events::table)
                .filter(webhook_events::subscription_id.eq(id))
                .into_boxed();
            if let Some(event) = r.event_id {
                q = q.filter(webhook_events::id.eq(event));
            }
            if let (Some(from), Some(to)) = (r.from, r.to) {
                q = q
                    .filter(webhook_events::created_at.ge(from))
                    .filter(webhook_events::created_at.lt(to));
            }
            let n = q
                .set((
                    webhook_events::status.eq("pending"),
                    webhook_events::next_attempt_at.eq(diesel::dsl::now),
                    webhook_events::delivered_at.eq(None::<DateTime<Utc>>),
                ))
                .execute(work.conn())
                .await?;
            if r.event_id.is_some() && n == 0 {
                return Err(ApiError::not_found(format!(
                    "Event {}",
                    r.event_id.unwrap_or_default()
                )));
            }
            let webhook = Webhook::from(row);
            work.record(Change {
                action: "redeliver",
                kind: "webhook",
                id: &id.to_string(),
                before: None,
                after: serde_json::to_value(&webhook).ok(),
            })
            .await?;
            Ok(n)
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Redelivered { redelivered: n }))
}
