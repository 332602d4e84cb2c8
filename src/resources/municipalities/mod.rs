//! The seven member municipalities, addressed by their SCB kommunkod.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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
use crate::store::schema::municipalities;
use crate::store::seed::is_valid_organisation_number;

/// A municipality's id: its four-digit SCB kommunkod, e.g. `2281` for Sundsvall.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MunicipalityId(String);

impl MunicipalityId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        if raw.len() == 4 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::invalid(
                field,
                "must be a four-digit kommunkod, e.g. 2281",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = municipalities, check_for_backend(diesel::pg::Pg))]
struct MunicipalityRow {
    id: String,
    name: String,
    official_name: String,
    county_code: String,
    organisation_number: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A member municipality of Kommunförbundet Västernorrland.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "2281", "name": "Sundsvall", "officialName": "Sundsvalls kommun", "countyCode": "22",
    "organisationNumber": "212000-2411", "version": 1,
    "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Municipality {
    /// The SCB municipality code (kommunkod), as used by Sundsvall's APIs as `municipalityId`.
    #[schema(pattern = "^[0-9]{4}$", example = "2281")]
    pub id: String,
    /// Short name, e.g. `Sundsvall`.
    pub name: String,
    /// Official name, e.g. `Sundsvalls kommun`.
    pub official_name: String,
    /// The county (län) code; Västernorrland is `22`.
    #[schema(pattern = "^[0-9]{2}$", example = "22")]
    pub county_code: String,
    /// Organisation number (NNNNNN-NNNN, Luhn-checked); null where not confirmed.
    #[schema(pattern = "^[0-9]{6}-[0-9]{4}$", example = "212000-2411")]
    pub organisation_number: Option<String>,
    /// Increases on every change; the `ETag` is derived from it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<MunicipalityRow> for Municipality {
    fn from(r: MunicipalityRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            official_name: r.official_name,
            county_code: r.county_code,
            organisation_number: r.organisation_number,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

page_type!(MunicipalityPage, Municipality, "A page of municipalities.");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MunicipalitySort {
    Id,
    Name,
    OfficialName,
    UpdatedAt,
}

impl SortField for MunicipalitySort {
    const ALL: &'static [(&'static str, Self)] = &[
        ("id", Self::Id),
        ("name", Self::Name),
        ("officialName", Self::OfficialName),
        ("updatedAt", Self::UpdatedAt),
    ];
}

/// Filters, sorting and paging of the municipality list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MunicipalityListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Comma-separated sort keys, `-` for descending: `id`, `name`, `officialName`, `updatedAt`.
    /// Names sort the Swedish way (… Timrå, Ånge, Örnsköldsvik).
    #[param(default = "name", example = "name,-updatedAt")]
    pub sort: Option<String>,
    /// Case-insensitive text contained in the name or the official name.
    #[param(max_length = 200, example = "sund")]
    pub q: Option<String>,
    /// Only municipalities of this county (län) code.
    #[param(pattern = "^[0-9]{2}$", example = "22")]
    pub county_code: Option<String>,
}

struct ListFilter {
    paging: Paging,
    sort: Vec<SortKey<MunicipalitySort>>,
    q: Option<String>,
    county_code: Option<String>,
}

impl MunicipalityListParams {
    fn validate(self) -> Result<ListFilter, ApiError> {
        let mut v = Violations::default();
        let paging = v.check(list::paging(self.limit, self.page));
        let sort = v.check(list::sort(
            self.sort.as_deref(),
            &[SortKey {
                field: MunicipalitySort::Name,
                descending: false,
            }],
        ));
        let q = v.check(list::search_text(self.q));
        if let Some(c) = &self.county_code {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_digit()) {
                v.push("countyCode", "must be a two-digit county code, e.g. 22");
            }
        }
        v.finish()?;
        match (paging, sort, q) {
            (Some(paging), Some(sort), Some(q)) => Ok(ListFilter {
                paging,
                sort,
                q,
                county_code: self.county_code,
            }),
            _ => Err(ApiError::internal(anyhow::anyhow!("unreachable: checked"))),
        }
    }
}

async fn list(conn: &mut PgConn, f: &ListFilter) -> QueryResult<(Vec<MunicipalityRow>, i64)> {
    let filtered = || {
        let mut q = municipalities::table.into_boxed();
        if let Some(text) = &f.q {
            let needle = text.to_lowercase();
            q = q.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "strpos(lower(name || ' ' || official_name), ",
                )
                .bind::<diesel::sql_types::Text, _>(needle)
                .sql(") > 0"),
            );
        }
        if let Some(c) = &f.county_code {
            q = q.filter(municipalities::county_code.eq(c.clone()));
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let mut query = filtered().select(MunicipalityRow::as_select());
    for key in &f.sort {
        query = match (key.field, key.descending) {
            (MunicipalitySort::Id, false) => query.then_order_by(municipalities::id.asc()),
            (MunicipalitySort::Id, true) => query.then_order_by(municipalities::id.desc()),
            (MunicipalitySort::Name, false) => query.then_order_by(municipalities::name.asc()),
            (MunicipalitySort::Name, true) => query.then_order_by(municipalities::name.desc()),
            (MunicipalitySort::OfficialName, false) => {
                query.then_order_by(municipalities::official_name.asc())
            }
            (MunicipalitySort::OfficialName, true) => {
                query.then_order_by(municipalities::official_name.desc())
            }
            (MunicipalitySort::UpdatedAt, false) => {
                query.then_order_by(municipalities::updated_at.asc())
            }
            (MunicipalitySort::UpdatedAt, true) => {
                query.then_order_by(municipalities::updated_at.desc())
            }
        };
    }
    let rows = query
        .then_order_by(municipalities::id.asc())
        .limit(i64::from(f.paging.limit))
        .offset(f.paging.offset())
        .load(conn)
        .await?;
    Ok((rows, total))
}

async fn find(conn: &mut PgConn, id: &MunicipalityId) -> QueryResult<Option<MunicipalityRow>> {
    municipalities::table
        .find(id.as_str())
        .select(MunicipalityRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Whether a municipality exists (for validating references from other resources).
pub async fn exists(conn: &mut PgConn, id: &MunicipalityId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(municipalities::table.find(id.as_str())))
        .get_result(conn)
        .await
}

/// List the member municipalities
///
/// The seven municipalities of Västernorrland county, sorted by name the Swedish way unless
/// `sort` says otherwise. Answers `304 Not Modified` when `If-None-Match` matches.
#[utoipa::path(
    operation_id = "listMunicipalities",
    tag = "Municipalities",
    security(("clientCredentials" = ["read"])),
    params(MunicipalityListParams),
    responses(
        (status = 200, description = "A page of municipalities", body = MunicipalityPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/municipalities")]
pub async fn list_municipalities(
    req: HttpRequest,
    db: Db,
    params: Query<MunicipalityListParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = params.0.validate()?;
    let mut conn = db.conn().await?;
    let (rows, total) = list(&mut conn, &filter).await?;
    let items: Vec<Municipality> = rows.into_iter().map(Into::into).collect();
    let page = MunicipalityPage {
        meta: filter.paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

/// Get a municipality
///
/// One municipality by its kommunkod. Answers `304 Not Modified` when `If-None-Match` matches
/// its `ETag`.
#[utoipa::path(
    operation_id = "getMunicipality",
    tag = "Municipalities",
    security(("clientCredentials" = ["read"])),
    params(
        ("municipalityId" = String, Path, description = "The four-digit kommunkod", example = "2281", pattern = "^[0-9]{4}$"),
    ),
    responses(
        (status = 200, description = "The municipality", body = Municipality,
            headers(("ETag" = String, description = "Strong entity tag: the quoted version"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        NotFound,
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/municipalities/{municipalityId}")]
pub async fn get_municipality(
    req: HttpRequest,
    db: Db,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = MunicipalityId::parse("municipalityId", &path.into_inner())?;
    let mut conn = db.conn().await?;
    let row = find(&mut conn, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Municipality {}", id.as_str())))?;
    let etag = version_etag(row.version);
    conditional_json(&req, &Municipality::from(row), Some(etag))
}

/// Changes to a municipality's reference data (JSON Merge Patch, RFC 7396).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"organisationNumber": "212000-2403"}))]
pub struct MunicipalityPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub official_name: Option<Option<String>>,
    /// NNNNNN-NNNN with a valid Luhn check digit; `null` clears it.
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}-[0-9]{4}$")]
    pub organisation_number: Option<Option<String>>,
}

/// Correct a municipality's reference data
///
/// JSON Merge Patch (RFC 7396) of the name, official name or organisation number (checked with
/// the Luhn algorithm). The kommunkod cannot change. Requires `If-Match`.
#[utoipa::path(
    operation_id = "updateMunicipality",
    tag = "Municipalities",
    params(
        ("municipalityId" = String, Path, description = "The four-digit kommunkod", example = "2280", pattern = "^[0-9]{4}$"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read, e.g. `\"1\"`. Required: without it the answer is 428", example = "\"1\""),
    ),
    request_body(content = MunicipalityPatch, content_type = "application/merge-patch+json"),
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "The changed municipality", body = Municipality,
            headers(("ETag" = String, description = "The new strong entity tag"))),
        AuthErrors,
        NotFound,
        Conflict,
        PreconditionErrors,
        WriteErrors,
        CommonErrors,
    ),
)]
#[patch("/municipalities/{municipalityId}")]
pub async fn update_municipality(
    req: HttpRequest,
    caller: Caller,
    db: Db,
    path: web::Path<String>,
    body: Json<MunicipalityPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write_for([path.as_str()])?;
    let id = MunicipalityId::parse("municipalityId", &path.into_inner())?;
    let expected = if_match(&req)?;
    let patch = body.0;
    let mut v = Violations::default();
    for (field, value, max) in [
        ("name", &patch.name, 100),
        ("officialName", &patch.official_name, 200),
    ] {
        match value {
            Some(None) => v.push(field, "must not be null"),
            Some(Some(text)) if text.trim().is_empty() || text.chars().count() > max => {
                v.push(field, format!("must be 1 to {max} characters"))
            }
            _ => {}
        }
    }
    if let Some(Some(orgnr)) = &patch.organisation_number {
        if !is_valid_organisation_number(orgnr) {
            v.push(
                "organisationNumber",
                "must be NNNNNN-NNNN with a valid check digit (Luhn)",
            );
        }
    }
    v.finish()?;
    let actor = Actor::from(&caller);
    let mut conn = db.conn().await?;
    let updated = conn
        .transaction(async |conn| {
            let before: MunicipalityRow = municipalities::table
                .find(id.as_str())
                .select(MunicipalityRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| ApiError::not_found(format!("Municipality {}", id.as_str())))?;
            if let Some(v) = expected {
                if v != before.version {
                    return Err(ApiError::PreconditionFailed(version_etag(before.version)));
                }
            }
            let name = patch
                .name
                .clone()
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| before.name.clone());
            let official = patch
                .official_name
                .clone()
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| before.official_name.clone());
            let orgnr = match &patch.organisation_number {
                Some(value) => value.clone(),
                None => before.organisation_number.clone(),
            };
            let after: MunicipalityRow = diesel::update(municipalities::table.find(id.as_str()))
                .set((
                    municipalities::name.eq(&name),
                    municipalities::official_name.eq(&official),
                    municipalities::organisation_number.eq(&orgnr),
                ))
                .returning(MunicipalityRow::as_returning())
                .get_result(conn)
                .await
                .map_err(|e| match e {
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ) => ApiError::Conflict(
                        "Another municipality already has that name or organisation number"
                            .to_owned(),
                    ),
                    other => other.into(),
                })?;
            let (before, after) = (Municipality::from(before), Municipality::from(after));
            if after.version != before.version {
                audit::record(
                    conn,
                    &actor,
                    "update",
                    "municipality",
                    &after.id,
                    serde_json::to_value(&before).ok(),
                    serde_json::to_value(&after).ok(),
                )
                .await?;
            }
            Ok::<_, ApiError>(after)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, version_etag(updated.version)))
        .json(updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kommunkod_must_be_four_digits() {
        assert!(MunicipalityId::parse("id", "2281").is_ok());
        for bad in ["228", "22811", "22a1", "", "２２８１"] {
            assert!(MunicipalityId::parse("id", bad).is_err(), "{bad}");
        }
    }
}
