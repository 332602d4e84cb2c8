//! API clients: the municipal systems, scripts and backends that call the API. Administrators
//! create them (over HTTP or at the command line); the secret is shown once and stored only as
//! an argon2id hash.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::credentials::{HASHING, hash_secret, new_secret};
use crate::auth::{Authenticator, Scope};
use crate::error::ApiError;
use crate::error::Violations;
use crate::error::responses::{AuthErrors, CommonErrors, Conflict, NotFound, ReadOne, WriteErrors};
use crate::http::list;
use crate::http::{Json, Query, conditional_json, version_etag};
use crate::integration::work::{Change, Work, Writer};
use crate::page_type;
use crate::rules::MunicipalityId;
use crate::store::db::Db;
use crate::store::schema::{api_clients, municipalities};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients, check_for_backend(diesel::pg::Pg))]
struct ClientRow {
    id: Uuid,
    name: String,
    scopes: Vec<String>,
    municipality_id: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
    acts_for_users: bool,
}

/// An API client (never with its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11", "name": "Sundsvalls intranät",
    "scopes": ["read", "write"], "municipalityId": "2281", "version": 1,
    "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z", "disabledAt": null,
    "actsForUsers": false
}))]
pub struct ApiClient {
    /// The client id (`client_id` at the token endpoint).
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The municipality the client is bound to: it may then change only that municipality's
    /// records.
    pub municipality_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the client was disabled; its tokens stop working within a minute.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Whether it may say on whose behalf it writes (`X-Sent-By`), which the audit log keeps.
    pub acts_for_users: bool,
}

impl From<ClientRow> for ApiClient {
    fn from(r: ClientRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            scopes: Scope::from_stored(&r.scopes),
            municipality_id: r.municipality_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            disabled_at: r.disabled_at,
            acts_for_users: r.acts_for_users,
        }
    }
}

/// A new client with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "clientId": "0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11", "clientSecret": "q8Yx3h0b1m6lW2rP9tZs4Vn7Kd5Fg0Ha1Jc3Le6Mo8Q",
    "client": {"id": "0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11", "name": "Sundsvalls intranät",
        "scopes": ["read", "write"], "municipalityId": "2281", "version": 1,
        "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z", "disabledAt": null,
        "actsForUsers": true}
}))]
pub struct CreatedClient {
    pub client_id: Uuid,
    /// The secret. It is not stored and cannot be shown again.
    pub client_secret: String,
    pub client: ApiClient,
}

/// A new API client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Sundsvalls intranät", "scopes": ["read", "write"], "municipalityId": "2281"}))]
pub struct NewClient {
    /// A name that tells administrators what the client is.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// At least one of `read`, `write`, `import`, `admin`.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// Bind the client to one municipality (kommunkod).
    #[schema(pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<String>,
    /// Allow the client (an intranet, a case system) to say on whose behalf it writes, in
    /// `X-Sent-By`; the audit log keeps it beside the client. Default `false`.
    #[serde(default)]
    pub acts_for_users: bool,
}

fn validate(new: &NewClient) -> Result<(), ApiError> {
    let mut v = Violations::default();
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        v.push("name", "must be 1 to 200 characters");
    }
    if new.scopes.is_empty() {
        v.push("scopes", "must name at least one scope");
    }
    if let Some(m) = &new.municipality_id {
        v.check(MunicipalityId::parse("municipalityId", m));
    }
    v.finish()
}

/// A new client's secret and its hash, made before the unit of work begins (hashing is slow
/// on purpose, and holds no connection meanwhile).
pub struct Credentials {
    secret: String,
    hash: String,
}

/// Checks a new client and makes its credentials.
pub async fn prepare(new: &NewClient) -> Result<Credentials, ApiError> {
    validate(new)?;
    let secret = new_secret();
    let hash = {
        let secret = secret.clone();
        let _permit = HASHING
            .acquire()
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing semaphore closed: {e}")))?;
        tokio::task::spawn_blocking(move || hash_secret(&secret))
            .await
            .map_err(ApiError::internal)?
    };
    Ok(Credentials { secret, hash })
}

/// Creates a client in the work, with its audit entry; returns it with its one-time secret.
pub async fn create(
    work: &mut Work<'_>,
    new: NewClient,
    credentials: Credentials,
) -> Result<CreatedClient, ApiError> {
    let mut scopes = new.scopes.clone();
    scopes.sort_by_key(|s| *s as u8);
    scopes.dedup();
    let scope_names: Vec<String> = scopes.iter().map(|s| s.as_str().to_owned()).collect();
    if let Some(m) = &new.municipality_id {
        let known: bool = diesel::select(diesel::dsl::exists(municipalities::table.find(m)))
            .get_result(work.conn())
            .await?;
        if !known {
            return Err(ApiError::invalid(
                "municipalityId",
                format!("no municipality has the kommunkod {m}"),
            ));
        }
    }
    let row: ClientRow = diesel::insert_into(api_clients::table)
        .values((
            api_clients::id.eq(Uuid::new_v4()),
            api_clients::name.eq(new.name.trim()),
            api_clients::scopes.eq(&scope_names),
            api_clients::municipality_id.eq(&new.municipality_id),
            api_clients::secret_hash.eq(&credentials.hash),
            api_clients::acts_for_users.eq(new.acts_for_users),
        ))
        .returning(ClientRow::as_returning())
        .get_result(work.conn())
        .await?;
    let client = ApiClient::from(row);
    record(work, "create", None, Some(&client)).await?;
    Ok(CreatedClient {
        client_id: client.id,
        client_secret: credentials.secret,
        client,
    })
}

/// Who asks for a client to be disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledBy {
    /// An administrator through the API: it may not disable its own client or the last
    /// enabled administrator, which would lock everyone out of the API's administration.
    Administrator(Uuid),
    /// The operator at the command line, who can always enable a client again.
    Operator,
}

/// Disables a client in the work (idempotent); its tokens stop working within a minute.
pub async fn disable(work: &mut Work<'_>, id: Uuid, by: DisabledBy) -> Result<ApiClient, ApiError> {
    if by == DisabledBy::Administrator(id) {
        return Err(ApiError::Conflict(
            "An administrator cannot disable its own client; another administrator, or the \
             operator with `samverkan clients disable`, can"
                .to_owned(),
        ));
    }
    // Two administrators disabling each other at once must not both succeed.
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('samverkan.client-admins'))")
        .execute(work.conn())
        .await?;
    let before = locked(work, id).await?;
    if before.disabled_at.is_some() {
        return Ok(ApiClient::from(before));
    }
    let admin = Scope::Admin.as_str().to_owned();
    if matches!(by, DisabledBy::Administrator(_)) && before.scopes.contains(&admin) {
        let others: i64 = api_clients::table
            .filter(api_clients::id.ne(id))
            .filter(api_clients::disabled_at.is_null())
            .filter(api_clients::scopes.contains(vec![admin]))
            .count()
            .get_result(work.conn())
            .await?;
        if others == 0 {
            return Err(ApiError::Conflict(
                "This is the last enabled administrator client: disabling it would leave nobody \
                 to administer the API. Create or enable another administrator first"
                    .to_owned(),
            ));
        }
    }
    let after: ClientRow = diesel::update(api_clients::table.find(id))
        .set(api_clients::disabled_at.eq(diesel::dsl::now))
        .returning(ClientRow::as_returning())
        .get_result(work.conn())
        .await?;
    let (before, after) = (ApiClient::from(before), ApiClient::from(after));
    record(work, "disable", Some(&before), Some(&after)).await?;
    Ok(after)
}

/// The client, locked for the rest of the work, or its 404.
async fn locked(work: &mut Work<'_>, id: Uuid) -> Result<ClientRow, ApiError> {
    api_clients::table
        .find(id)
        .select(ClientRow::as_select())
        .for_update()
        .first(work.conn())
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("Client {id}")))
}

/// Enables a disabled client again in the work (idempotent): the operator's way back.
pub async fn enable(work: &mut Work<'_>, id: Uuid) -> Result<ApiClient, ApiError> {
    let before = locked(work, id).await?;
    if before.disabled_at.is_none() {
        return Ok(ApiClient::from(before));
    }
    let after: ClientRow = diesel::update(api_clients::table.find(id))
        .set(api_clients::disabled_at.eq(None::<DateTime<Utc>>))
        .returning(ClientRow::as_returning())
        .get_result(work.conn())
        .await?;
    let (before, after) = (ApiClient::from(before), ApiClient::from(after));
    record(work, "enable", Some(&before), Some(&after)).await?;
    Ok(after)
}

/// A client's audit entry: the client as listed (its secret's hash is never part of it).
async fn record(
    work: &mut Work<'_>,
    action: &str,
    before: Option<&ApiClient>,
    after: Option<&ApiClient>,
) -> Result<(), ApiError> {
    let id = after
        .or(before)
        .map(|c| c.id.to_string())
        .unwrap_or_default();
    work.record(Change {
        action,
        kind: "client",
        id: &id,
        before: before.and_then(|c| serde_json::to_value(c).ok()),
        after: after.and_then(|c| serde_json::to_value(c).ok()),
    })
    .await
}

/// Every client, oldest first.
pub async fn list_all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<ApiClient>> {
    let rows: Vec<ClientRow> = api_clients::table
        .select(ClientRow::as_select())
        .order((api_clients::created_at.asc(), api_clients::id.asc()))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

page_type!(ClientPage, ApiClient, "A page of API clients.");

/// Filters and paging of the client list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ClientListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only clients bound to this municipality.
    #[param(pattern = "^[0-9]{4}$", example = "2281")]
    pub municipality_id: Option<String>,
    /// `true`: only disabled clients; `false`: only enabled ones.
    #[param(example = false)]
    pub disabled: Option<bool>,
}

/// List API clients
///
/// Every API client with its name, scopes, municipality binding, when it was created and
/// whether (since when) it is disabled; never its secret, which only its creation shows. A page
/// at a time, filtered by municipality or state. Needs the `admin` scope.
#[utoipa::path(
    operation_id = "listClients",
    tag = "Clients",
    params(ClientListParams),
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "A page of clients, sorted by name", body = ClientPage),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/clients")]
pub async fn list_clients(
    req: HttpRequest,
    db: Db,
    params: Query<ClientListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.0;
    let mut v = Violations::default();
    let paging = v.check(list::paging(p.limit, p.page));
    crate::rules::MunicipalityId::check_optional(
        &mut v,
        "municipalityId",
        p.municipality_id.as_deref(),
    );
    let paging = v.finish_with(paging)?;
    let filtered = || {
        let mut q = api_clients::table.into_boxed();
        if let Some(m) = &p.municipality_id {
            q = q.filter(api_clients::municipality_id.eq(m.clone()));
        }
        match p.disabled {
            Some(true) => q = q.filter(api_clients::disabled_at.is_not_null()),
            Some(false) => q = q.filter(api_clients::disabled_at.is_null()),
            None => {}
        }
        q
    };
    let mut conn = db.conn().await?;
    let rows: Vec<ClientRow> = filtered()
        .select(ClientRow::as_select())
        .order((api_clients::name.asc(), api_clients::id.asc()))
        .limit(i64::from(paging.limit))
        .offset(paging.offset())
        .load(&mut conn)
        .await?;
    let total = paging
        .total(&mut conn, rows.len(), || filtered().select(api_clients::id))
        .await?;
    let items: Vec<ApiClient> = rows.into_iter().map(Into::into).collect();
    let page = ClientPage {
        meta: paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

fn parse_client_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid("id", "must be a UUID"))
}

/// Get an API client
///
/// One API client by its id: name, scopes, municipality binding, when it was created and
/// whether (since when) it is disabled; never its secret. Needs the `admin` scope.
#[utoipa::path(
    operation_id = "getClient",
    tag = "Clients",
    params(("id" = Uuid, Path, description = "The client id", example = "0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11")),
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "The client", body = ApiClient,
            headers(("ETag" = String, description = "Strong entity tag: the quoted version"))),
        ReadOne,
    ),
)]
#[get("/clients/{id}")]
pub async fn get_client(
    req: HttpRequest,
    db: Db,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_client_id(&path.into_inner())?;
    let mut conn = db.conn().await?;
    let row: ClientRow = api_clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("Client {id}")))?;
    let etag = version_etag(row.version);
    conditional_json(&req, &ApiClient::from(row), Some(etag))
}

/// Create an API client
///
/// Creates a client and answers its secret, once: it is stored only as an argon2id hash and
/// cannot be shown again. Give it the fewest scopes it needs, and bind a municipality's system
/// to its municipality.
#[utoipa::path(
    operation_id = "createClient",
    tag = "Clients",
    request_body = NewClient,
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 201, description = "The new client with its one-time secret", body = CreatedClient,
            headers(("Location" = String, description = "The client's URL"), ("ETag" = String, description = "Strong entity tag"))),
        AuthErrors,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/clients")]
pub async fn create_client(
    writer: Writer,
    body: Json<NewClient>,
) -> Result<HttpResponse, ApiError> {
    writer.caller.may_write_for_association()?;
    let new = body.0;
    let credentials = prepare(&new).await?;
    let created = writer
        .run(async |work| create(work, new, credentials).await)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/v1/clients/{}", created.client_id),
        ))
        .insert_header((header::ETAG, version_etag(created.client.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(created))
}

/// Disable an API client
///
/// Disables the client at once: it can get no new tokens, and its tokens stop working within a
/// minute. Disabling a disabled client changes nothing. Refused (409) for the caller's own
/// client and for the last enabled administrator client; the operator re-enables a client with
/// `samverkan clients enable`.
#[utoipa::path(
    operation_id = "disableClient",
    tag = "Clients",
    params(("id" = Uuid, Path, description = "The client id", example = "0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11")),
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "The disabled client", body = ApiClient),
        AuthErrors,
        NotFound,
        Conflict,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/clients/{id}/disable")]
pub async fn disable_client(
    writer: Writer,
    auth: web::Data<Authenticator>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    writer.caller.may_write_for_association()?;
    let id = parse_client_id(&path.into_inner())?;
    let by = DisabledBy::Administrator(writer.caller.client_id);
    let client = writer.run(async |work| disable(work, id, by).await).await?;
    auth.forget(id);
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, version_etag(client.version)))
        .json(client))
}
