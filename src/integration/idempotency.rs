//! `Idempotency-Key` on POST, with Stripe's semantics, stored in PostgreSQL so that every
//! replica agrees: the first outcome is kept per API client for 24 hours and replayed byte for
//! byte (`Idempotent-Replayed: true`); the same key with a different request is 422; a retry
//! while the first attempt still runs is 409 at once; a failed (5xx) attempt leaves no key.
//!
//! The write's own transaction marks the key as effect-committed (see [`mark_effect`], called by
//! the unit of work at commit), so even if a replica dies between committing a write and
//! recording its response, a retry can never perform the write twice.

use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Bytea, Integer, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::spool;
use crate::http::{JSON_BODY_LIMIT, read_body};
use crate::store::db::Db;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a claimed key stays protected without a sign of life from its first attempt. The
/// attempt renews it every [`HEARTBEAT`] while it runs, so a request that died (its replica
/// killed) frees its key for a retry within this time.
const LEASE: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(3);

/// The key of the request being served and the attempt that holds its lease. The middleware
/// puts it in the request's extensions; the unit of work
/// ([`crate::integration::work::Writer`]) takes it from there and hands it to [`mark_effect`].
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    client_id: Uuid,
    key: String,
    attempt: Uuid,
}

impl IdempotencyKey {
    /// The key `key` of `client_id` as held by `attempt` (the middleware makes these; tools and
    /// tests may too).
    pub fn new(client_id: Uuid, key: impl Into<String>, attempt: Uuid) -> Self {
        Self {
            client_id,
            key: key.into(),
            attempt,
        }
    }
}

/// Forgets the stored answers of the requests that created these records (`kind id`, as the
/// keys name their effect): when a person's data is erased, the copy a retry would replay goes
/// too. A retry with such a key still gets the stored status, with a body that says the data
/// was erased.
pub async fn forget_answers(
    conn: &mut AsyncPgConnection,
    resources: &[String],
) -> diesel::QueryResult<()> {
    if resources.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "UPDATE idempotency_keys SET response_body = convert_to('{\"personalData\":\"erased\"}', 'UTF8') \
         WHERE resource = ANY($1) AND response_body IS NOT NULL",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(resources)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the key as having committed its effect. Called by the unit of work inside the write's
/// transaction, so the mark commits exactly when the write does. Fails, and so rolls the write
/// back, when the key's lease was taken over by another attempt (this one was presumed dead).
pub async fn mark_effect(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyKey,
    resource: &str,
) -> Result<(), ApiError> {
    let marked = diesel::sql_query(
        "UPDATE idempotency_keys SET effect_committed = true, resource = coalesce(resource, $3) \
         WHERE client_id = $1 AND key = $2 AND attempt = $4",
    )
    .bind::<SqlUuid, _>(key.client_id)
    .bind::<Text, _>(&key.key)
    .bind::<Text, _>(resource)
    .bind::<SqlUuid, _>(key.attempt)
    .execute(conn)
    .await?;
    if marked == 1 {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "This request's Idempotency-Key was taken over by a retry while it ran; nothing was written".to_owned(),
        ))
    }
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    fingerprint: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Bool)]
    lease_active: bool,
    #[diesel(sql_type = Integer)]
    lease_left: i32,
    #[diesel(sql_type = Bool)]
    effect_committed: bool,
    #[diesel(sql_type = Nullable<Text>)]
    resource: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    response_status: Option<i32>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    response_headers: Option<serde_json::Value>,
    #[diesel(sql_type = Nullable<Bytea>)]
    response_body: Option<Vec<u8>>,
}

enum Claim {
    /// This request runs.
    Run,
    /// Answer with this instead.
    Answer(HttpResponse),
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

async fn claim(
    db: &Db,
    client: Uuid,
    key: &str,
    fingerprint: &str,
    attempt: Uuid,
) -> Result<Claim, ApiError> {
    let mut conn = db.conn().await?;
    if rand::random::<u8>() < 2 {
        let _ = diesel::sql_query("DELETE FROM idempotency_keys WHERE expires_at < now()")
            .execute(&mut conn)
            .await;
    }
    for _ in 0..2 {
        let inserted = diesel::sql_query(
            "INSERT INTO idempotency_keys (client_id, key, fingerprint, state, lease_until, attempt) \
             VALUES ($1, $2, $3, 'running', now() + make_interval(secs => $4), $5) \
             ON CONFLICT (client_id, key) DO NOTHING",
        )
        .bind::<SqlUuid, _>(client)
        .bind::<Text, _>(key)
        .bind::<Text, _>(fingerprint)
        .bind::<diesel::sql_types::Double, _>(LEASE.as_secs_f64())
        .bind::<SqlUuid, _>(attempt)
        .execute(&mut conn)
        .await?;
        if inserted == 1 {
            return Ok(Claim::Run);
        }
        let stored: Option<Stored> = diesel::sql_query(
            "SELECT fingerprint, state, lease_until > now() AS lease_active, \
                    GREATEST(1, ceil(extract(epoch FROM lease_until - now())))::int AS lease_left, \
                    effect_committed, resource, \
                    response_status, response_headers, response_body \
             FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND expires_at > now()",
        )
        .bind::<SqlUuid, _>(client)
        .bind::<Text, _>(key)
        .get_result(&mut conn)
        .await
        .optional()?;
        let Some(stored) = stored else {
            // Expired: forget it and claim afresh.
            diesel::sql_query("DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND expires_at <= now()")
                .bind::<SqlUuid, _>(client)
                .bind::<Text, _>(key)
                .execute(&mut conn)
                .await?;
            continue;
        };
        if stored.fingerprint != fingerprint {
            return Err(ApiError::IdempotencyMismatch);
        }
        if stored.state == "done" {
            return Ok(Claim::Answer(replay(&stored)));
        }
        if stored.effect_committed {
            let location = stored.resource.unwrap_or_default();
            return Err(ApiError::Conflict(format!(
                "The first request with this key succeeded ({location}) but its answer was not recorded; read the resource instead"
            )));
        }
        if stored.lease_active {
            return Err(ApiError::InProgress(stored.lease_left.max(1) as u64));
        }
        // The first attempt died before writing anything: take over its lease.
        let taken = diesel::sql_query(
            "UPDATE idempotency_keys SET lease_until = now() + make_interval(secs => $3), attempt = $4 \
             WHERE client_id = $1 AND key = $2 AND state = 'running' AND NOT effect_committed AND lease_until <= now()",
        )
        .bind::<SqlUuid, _>(client)
        .bind::<Text, _>(key)
        .bind::<diesel::sql_types::Double, _>(LEASE.as_secs_f64())
        .bind::<SqlUuid, _>(attempt)
        .execute(&mut conn)
        .await?;
        if taken == 1 {
            return Ok(Claim::Run);
        }
    }
    Err(ApiError::InProgress(1))
}

/// Renews the lease of a running attempt, for as long as it is polled (it never finishes).
async fn heartbeat(db: Db, key: IdempotencyKey) -> std::convert::Infallible {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let renewed = async {
            let mut conn = db.conn().await?;
            diesel::sql_query(
                "UPDATE idempotency_keys SET lease_until = now() + make_interval(secs => $3) \
                 WHERE client_id = $1 AND key = $2 AND state = 'running' AND attempt = $4",
            )
            .bind::<SqlUuid, _>(key.client_id)
            .bind::<Text, _>(&key.key)
            .bind::<diesel::sql_types::Double, _>(LEASE.as_secs_f64())
            .bind::<SqlUuid, _>(key.attempt)
            .execute(&mut conn)
            .await?;
            Ok::<_, ApiError>(())
        }
        .await;
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "could not renew an idempotency lease");
        }
    }
}

fn replay(stored: &Stored) -> HttpResponse {
    let status = stored
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut res = HttpResponse::build(status);
    if let Some(headers) = stored.response_headers.as_ref().and_then(|h| h.as_object()) {
        for (name, value) in headers {
            if let (Ok(n), Some(v)) = (HeaderName::try_from(name.as_str()), value.as_str()) {
                if let Ok(v) = HeaderValue::from_str(v) {
                    res.insert_header((n, v));
                }
            }
        }
    }
    res.insert_header((REPLAYED, HeaderValue::from_static("true")));
    res.body(stored.response_body.clone().unwrap_or_default())
}

/// Headers worth replaying.
const KEPT_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::CACHE_CONTROL,
];

async fn finish(
    db: &Db,
    client: Uuid,
    key: &str,
    status: StatusCode,
    headers: serde_json::Value,
    body: &[u8],
) {
    let result = async {
        let mut conn = db.conn().await?;
        if status.is_server_error() {
            // A failure leaves no key behind (unless its write did commit: then it must stay).
            diesel::sql_query("DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND NOT effect_committed")
                .bind::<SqlUuid, _>(client)
                .bind::<Text, _>(key)
                .execute(&mut conn)
                .await?;
        }
        diesel::sql_query(
            "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_headers = $4, response_body = $5 \
             WHERE client_id = $1 AND key = $2",
        )
        .bind::<SqlUuid, _>(client)
        .bind::<Text, _>(key)
        .bind::<Integer, _>(i32::from(status.as_u16()))
        .bind::<Jsonb, _>(headers)
        .bind::<Bytea, _>(body)
        .execute(&mut conn)
        .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "could not record the outcome of an idempotent request");
    }
}

/// The middleware. Runs after authentication (it needs the caller) on POSTs with the header.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let key = req
        .headers()
        .get(&IDEMPOTENCY_KEY)
        .map(|v| v.to_str().map(str::to_owned));
    let caller = crate::auth::authenticated(&req);
    let (Some(key), Some(caller), true) = (key, caller, req.method() == Method::POST) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let refuse = |req: ServiceRequest, err: ApiError| {
        let res = err.error_response();
        Ok(req.into_response(res).map_into_right_body())
    };
    let key = match key {
        Ok(k) if valid_key(&k) => k,
        _ => {
            return refuse(
                req,
                ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1 to 255 printable ASCII characters",
                ),
            );
        }
    };
    let Some(crate::store::db::Unguarded(db)) =
        req.app_data::<crate::store::db::Unguarded>().cloned()
    else {
        return refuse(
            req,
            ApiError::internal(anyhow::anyhow!("no database configured")),
        );
    };
    // The request is fingerprinted, so its body is read here and handed on unchanged: small
    // bodies in memory, bulk loads spooled to a temporary file (memory stays flat).
    let mut hasher = Sha256::new();
    for part in [
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        req.query_string().as_bytes(),
        req.headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let idle = crate::http::body_idle_timeout(req.request());
    let body = if req.path().starts_with("/v1/imports/") {
        let max = req
            .app_data::<web::Data<crate::config::ImportLimits>>()
            .map(|l| l.max_bytes)
            .unwrap_or_else(|| crate::config::ImportLimits::default().max_bytes);
        let mut payload = req.take_payload();
        match spool::body_to_file(&mut payload, Some(&mut hasher), max, idle).await {
            Ok(file) => Body::Spooled(file),
            Err(e) => return refuse(req, e),
        }
    } else {
        match read_body(&mut req.take_payload(), JSON_BODY_LIMIT, idle).await {
            Ok(b) => {
                hasher.update(&b);
                Body::Memory(b.freeze())
            }
            Err(e) => return refuse(req, e),
        }
    };
    let fingerprint = hex::encode(hasher.finalize());
    let attempt = Uuid::new_v4();
    match claim(&db, caller.client_id, &key, &fingerprint, attempt).await {
        Ok(Claim::Run) => {}
        Ok(Claim::Answer(res)) => return Ok(req.into_response(res).map_into_right_body()),
        Err(e) => return refuse(req, e),
    }
    match body {
        Body::Memory(bytes) => {
            let (_, mut payload) = actix_http::h1::Payload::create(true);
            payload.unread_data(bytes);
            req.set_payload(payload.into());
        }
        Body::Spooled(file) => req.set_payload(spool::file_payload(file)),
    }
    let held = IdempotencyKey {
        client_id: caller.client_id,
        key: key.clone(),
        attempt,
    };
    req.extensions_mut().insert(held.clone());
    let res = tokio::select! {
        biased;
        res = next.call(req) => res,
        never = heartbeat(db.clone(), held) => match never {},
    };
    let res = res?;
    let (http_req, res) = res.into_parts();
    let status = res.status();
    let mut kept = serde_json::Map::new();
    for name in KEPT_HEADERS {
        if let Some(v) = res.headers().get(&name).and_then(|v| v.to_str().ok()) {
            kept.insert(
                name.as_str().to_owned(),
                serde_json::Value::String(v.to_owned()),
            );
        }
    }
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    finish(
        &db,
        caller.client_id,
        &key,
        status,
        serde_json::Value::Object(kept),
        &bytes,
    )
    .await;
    let res = head.set_body(bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_req, res).map_into_right_body())
}

enum Body {
    Memory(web::Bytes),
    Spooled(std::fs::File),
}
