//! Collaboration areas (verksamhetsområden): the fields in which the association supports the
//! municipalities' cooperation.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::{Db, PgConn};
use crate::error::ApiError;
use crate::error::responses::{CommonErrors, NotFound};
use crate::http::{Query, conditional_json, version_etag};
use crate::page_type;
use crate::pagination::{self, Paging, SortField, SortKey, Violations};
use crate::schema::areas;

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

#[derive(Debug, Queryable, Selectable)]
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
#[derive(Debug, Serialize, ToSchema)]
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
    #[param(minimum = 1, default = 1, example = 1)]
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
        let paging = v.check(pagination::paging(self.limit, self.page));
        let sort = v.check(pagination::sort(
            self.sort.as_deref(),
            &[SortKey {
                field: AreaSort::Name,
                descending: false,
            }],
        ));
        let q = v.check(pagination::search_text(self.q));
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
    params(AreaListParams),
    responses(
        (status = 200, description = "A page of areas", body = AreaPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        CommonErrors,
    ),
)]
#[get("/areas")]
pub async fn list_areas(
    req: HttpRequest,
    db: web::Data<Db>,
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
    params(
        ("id" = Uuid, Path, description = "The area's id", example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002"),
    ),
    responses(
        (status = 200, description = "The area", body = Area,
            headers(("ETag" = String, description = "Strong entity tag: the quoted version"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        NotFound,
        CommonErrors,
    ),
)]
#[get("/areas/{id}")]
pub async fn get_area(
    req: HttpRequest,
    db: web::Data<Db>,
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
