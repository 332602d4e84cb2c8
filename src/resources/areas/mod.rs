//! Collaboration areas (verksamhetsområden): the fields in which the association supports the
//! municipalities' cooperation.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Violations;
use crate::error::responses::{
    AuthErrors, CommonErrors, Conflict, NotFound, PreconditionErrors, WriteErrors,
};
use crate::http::list::{self, Paging, SortField, SortKey};
use crate::http::{Json, Query, conditional_json, if_match, merge_member, version_etag};
use crate::integration::audit::{self, Actor};
use crate::page_type;
use crate::store::db::{Db, PgConn};
use crate::store::schema::areas;

/// An area's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AreaId(pub Uuid);

impl AreaId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| ApiError::invalid(field, "must be a UUID"))
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = areas, check_for_backend(diesel::pg::Pg))]
struct AreaRow {
    id: Uuid,
    name: String,
    description: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A collaboration area (verksamhetsområde).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002", "name": "Digitalisering",
    "description": "Kommunernas gemensamma digitala utveckling.", "version": 1,
    "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Area {
    pub id: Uuid,
    /// The area's name, e.g. `Digitalisering`.
    pub name: String,
    /// What the cooperation in this area covers.
    pub description: String,
    /// Increases on every change; the `ETag` is derived from it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AreaRow> for Area {
    fn from(r: AreaRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

page_type!(AreaPage, Area, "A page of collaboration areas.");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaSort {
    Name,
    CreatedAt,
    UpdatedAt,
}

impl SortField for AreaSort {
    const ALL: &'static [(&'static str, Self)] = &[
        ("name", Self::Name),
        ("createdAt", Self::CreatedAt),
        ("updatedAt", Self::UpdatedAt),
    ];
}

/// Filters, sorting and paging of the area list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AreaListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Comma-separated sort keys, `-` for descending: `name`, `createdAt`, `updatedAt`.
    /// Names sort the Swedish way.
    #[param(default = "name", example = "-updatedAt")]
    pub sort: Option<String>,
    /// Full-text search in name and description with Swedish stemming
    /// (`digitaliseringen` finds `Digitalisering`).
    #[param(max_length = 200, example = "digitalisering")]
    pub q: Option<String>,
}

struct ListFilter {
    paging: Paging,
    sort: Vec<SortKey<AreaSort>>,
    q: Option<String>,
}

impl AreaListParams {
    fn validate(self) -> Result<ListFilter, ApiError> {
        let mut v = Violations::default();
        let paging = v.check(list::paging(self.limit, self.page));
        let sort = v.check(list::sort(
            self.sort.as_deref(),
            &[SortKey {
                field: AreaSort::Name,
                descending: false,
            }],
        ));
        let q = v.check(list::search_text(self.q));
        v.finish()?;
        match (paging, sort, q) {
            (Some(paging), Some(sort), Some(q)) => Ok(ListFilter { paging, sort, q }),
            _ => Err(ApiError::internal(anyhow::anyhow!("unreachable: checked"))),
        }
    }
}

async fn list(conn: &mut PgConn, f: &ListFilter) -> QueryResult<(Vec<AreaRow>, i64)> {
    let filtered = || {
        let mut q = areas::table.into_boxed();
        if let Some(text) = &f.q {
            q = q.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "(to_tsvector('swedish', name || ' ' || description) @@ websearch_to_tsquery('swedish', ",
                )
                .bind::<diesel::sql_types::Text, _>(text.clone())
                .sql(") OR strpos(lower(name), ")
                .bind::<diesel::sql_types::Text, _>(text.to_lowercase())
                .sql(") > 0)"),
            );
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let mut query = filtered().select(AreaRow::as_select());
    for key in &f.sort {
        query = match (key.field, key.descending) {
            (AreaSort::Name, false) => query.then_order_by(areas::name.asc()),
            (AreaSort::Name, true) => query.then_order_by(areas::name.desc()),
            (AreaSort::CreatedAt, false) => query.then_order_by(areas::created_at.asc()),
            (AreaSort::CreatedAt, true) => query.then_order_by(areas::created_at.desc()),
            (AreaSort::UpdatedAt, false) => query.then_order_by(areas::updated_at.asc()),
            (AreaSort::UpdatedAt, true) => query.then_order_by(areas::updated_at.desc()),
        };
    }
    let rows = query
        .then_order_by(areas::id.asc())
        .limit(i64::from(f.paging.limit))
        .offset(f.paging.offset())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// List the collaboration areas
///
/// The areas within which the association supports the municipalities' cooperation, sorted by
/// name the Swedish way unless `sort` says otherwise.
#[utoipa::path(
    operation_id = "listAreas",
    tag = "Areas",
    security(("clientCredentials" = ["read"])),
    params(AreaListParams),
    responses(
        (status = 200, description = "A page of areas", body = AreaPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/areas")]
pub async fn list_areas(
    req: HttpRequest,
    db: Db,
    params: Query<AreaListParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = params.0.validate()?;
    let mut conn = db.conn().await?;
    let (rows, total) = list(&mut conn, &filter).await?;
    let items: Vec<Area> = rows.into_iter().map(Into::into).collect();
    let page = AreaPage {
        meta: filter.paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

/// Get a collaboration area
#[utoipa::path(
    operation_id = "getArea",
    tag = "Areas",
    security(("clientCredentials" = ["read"])),
    params(
        ("id" = Uuid, Path, description = "The area's id", example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002"),
    ),
    responses(
        (status = 200, description = "The area", body = Area,
            headers(("ETag" = String, description = "Strong entity tag: the quoted version"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        NotFound,
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/areas/{id}")]
pub async fn get_area(
    req: HttpRequest,
    db: Db,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = AreaId::parse("id", &path.into_inner())?;
    let mut conn = db.conn().await?;
    let row: AreaRow = areas::table
        .find(id.0)
        .select(AreaRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("Area {}", id.0)))?;
    let etag = version_etag(row.version);
    conditional_json(&req, &Area::from(row), Some(etag))
}

/// A new collaboration area.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Miljö & Klimat", "description": "Samverkan inom miljö- och klimatfrågor."}))]
pub struct NewArea {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 4000)]
    #[serde(default)]
    pub description: String,
}

/// Changes to an area (JSON Merge Patch, RFC 7396): members left out are unchanged.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"description": "Kommunernas gemensamma digitala utveckling och e-tjänster."}))]
pub struct AreaPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Option<String>>,
}

fn check_name(v: &mut Violations, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 200 {
        v.push("name", "must be 1 to 200 characters");
    }
}

fn check_description(v: &mut Violations, description: &str) {
    if description.chars().count() > 4000 {
        v.push("description", "must be at most 4000 characters");
    }
}

/// Unique-name conflicts become 409s; anything else passes through.
fn name_conflict(err: diesel::result::Error, name: &str) -> ApiError {
    match err {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => ApiError::Conflict(format!("An area named {name} already exists")),
        other => other.into(),
    }
}

fn area_json(area: &Area) -> Option<serde_json::Value> {
    serde_json::to_value(area).ok()
}

fn respond(status: actix_web::http::StatusCode, area: &Area) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::ETAG, version_etag(area.version)));
    if status == actix_web::http::StatusCode::CREATED {
        res.insert_header((header::LOCATION, format!("/v1/areas/{}", area.id)));
    }
    res.json(area)
}

/// Create a collaboration area
#[utoipa::path(
    operation_id = "createArea",
    tag = "Areas",
    request_body = NewArea,
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 201, description = "The new area", body = Area,
            headers(("Location" = String, description = "The area's URL"), ("ETag" = String, description = "Strong entity tag"))),
        AuthErrors,
        Conflict,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/areas")]
pub async fn create_area(
    caller: Caller,
    db: Db,
    body: Json<NewArea>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write_for_association()?;
    let new = body.0;
    let mut v = Violations::default();
    check_name(&mut v, &new.name);
    check_description(&mut v, &new.description);
    v.finish()?;
    let actor = Actor::from(&caller);
    let mut conn = db.conn().await?;
    let area = conn
        .transaction(async |conn| {
            let name = new.name.trim().to_owned();
            let row: AreaRow = diesel::insert_into(areas::table)
                .values((
                    areas::id.eq(Uuid::new_v4()),
                    areas::name.eq(&name),
                    areas::description.eq(&new.description),
                ))
                .returning(AreaRow::as_returning())
                .get_result(conn)
                .await
                .map_err(|e| name_conflict(e, &name))?;
            let area = Area::from(row);
            audit::record(
                conn,
                &actor,
                "create",
                "area",
                &area.id.to_string(),
                None,
                area_json(&area),
            )
            .await?;
            Ok::<_, ApiError>(area)
        })
        .await?;
    Ok(respond(actix_web::http::StatusCode::CREATED, &area))
}

async fn locked(conn: &mut diesel_async::AsyncPgConnection, id: Uuid) -> Result<AreaRow, ApiError> {
    areas::table
        .find(id)
        .select(AreaRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("Area {id}")))
}

/// 412 unless `expected` (from `If-Match`) is the row's version.
fn check_version(row: &AreaRow, expected: Option<i64>) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != row.version => Err(ApiError::PreconditionFailed(version_etag(row.version))),
        _ => Ok(()),
    }
}

/// Change a collaboration area
///
/// JSON Merge Patch (RFC 7396). Requires `If-Match` with the area's current `ETag`.
#[utoipa::path(
    operation_id = "updateArea",
    tag = "Areas",
    params(
        ("id" = Uuid, Path, description = "The area's id", example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read, e.g. `\"1\"`. Required: without it the answer is 428", example = "\"1\""),
    ),
    request_body(content = AreaPatch, content_type = "application/merge-patch+json"),
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "The changed area", body = Area,
            headers(("ETag" = String, description = "The new strong entity tag"))),
        AuthErrors,
        NotFound,
        Conflict,
        PreconditionErrors,
        WriteErrors,
        CommonErrors,
    ),
)]
#[patch("/areas/{id}")]
pub async fn update_area(
    req: HttpRequest,
    caller: Caller,
    db: Db,
    path: web::Path<String>,
    body: Json<AreaPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write_for_association()?;
    let id = AreaId::parse("id", &path.into_inner())?;
    let expected = if_match(&req)?;
    let patch = body.0;
    let mut v = Violations::default();
    match &patch.name {
        Some(None) => v.push("name", "must not be null"),
        Some(Some(name)) => check_name(&mut v, name),
        None => {}
    }
    if let Some(Some(d)) = &patch.description {
        check_description(&mut v, d);
    }
    v.finish()?;
    let actor = Actor::from(&caller);
    let mut conn = db.conn().await?;
    let area = conn
        .transaction(async |conn| {
            let before = locked(conn, id.0).await?;
            check_version(&before, expected)?;
            let name = patch
                .name
                .clone()
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| before.name.clone());
            let description = match &patch.description {
                Some(d) => d.clone().unwrap_or_default(),
                None => before.description.clone(),
            };
            let after: AreaRow = diesel::update(areas::table.find(id.0))
                .set((areas::name.eq(&name), areas::description.eq(&description)))
                .returning(AreaRow::as_returning())
                .get_result(conn)
                .await
                .map_err(|e| name_conflict(e, &name))?;
            let (before, after) = (Area::from(before), Area::from(after));
            if after.version != before.version {
                audit::record(
                    conn,
                    &actor,
                    "update",
                    "area",
                    &after.id.to_string(),
                    area_json(&before),
                    area_json(&after),
                )
                .await?;
            }
            Ok::<_, ApiError>(after)
        })
        .await?;
    Ok(respond(actix_web::http::StatusCode::OK, &area))
}

/// Delete a collaboration area
///
/// Requires `If-Match` with the area's current `ETag`.
#[utoipa::path(
    operation_id = "deleteArea",
    tag = "Areas",
    params(
        ("id" = Uuid, Path, description = "The area's id", example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read, e.g. `\"1\"`. Required: without it the answer is 428", example = "\"1\""),
    ),
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 204, description = "Deleted"),
        AuthErrors,
        NotFound,
        Conflict,
        PreconditionErrors,
        WriteErrors,
        CommonErrors,
    ),
)]
#[delete("/areas/{id}")]
pub async fn delete_area(
    req: HttpRequest,
    caller: Caller,
    db: Db,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write_for_association()?;
    let id = AreaId::parse("id", &path.into_inner())?;
    let expected = if_match(&req)?;
    let actor = Actor::from(&caller);
    let mut conn = db.conn().await?;
    conn.transaction(async |conn| {
        let before = locked(conn, id.0).await?;
        check_version(&before, expected)?;
        diesel::delete(areas::table.find(id.0))
            .execute(conn)
            .await
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => ApiError::Conflict("The area is still in use".to_owned()),
                other => other.into(),
            })?;
        let before = Area::from(before);
        audit::record(
            conn,
            &actor,
            "delete",
            "area",
            &before.id.to_string(),
            area_json(&before),
            None,
        )
        .await?;
        Ok::<_, ApiError>(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
