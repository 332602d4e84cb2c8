//! The seven member municipalities, addressed by their SCB kommunkod.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Violations;
use crate::http::list::{self, Listing, SortKey};
use crate::http::{PathKey, merge_member, path_parameter, segment};
use crate::kernel::operations::{Doc, Served};
use crate::kernel::{Form, Lock, Resource};
use crate::page_type;
use crate::rules::MunicipalityId;
use crate::store::db::PgConn;
use crate::store::schema::municipalities;
use crate::store::seed::is_valid_organisation_number;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::{ObjectBuilder, Type};

/// A member municipality of Kommunförbundet Västernorrland.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = municipalities, check_for_backend(diesel::pg::Pg))]
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

page_type!(MunicipalityPage, Municipality, "A page of municipalities.");

crate::sort_fields! {
    /// The fields the list sorts by.
    MunicipalitySort for municipalities {
        Id = "id" => municipalities::id,
        Name = "name" => municipalities::name,
        OfficialName = "officialName" => municipalities::official_name,
        UpdatedAt = "updatedAt" => municipalities::updated_at,
    }
}

crate::list_params! {
    /// Filters, sorting and paging of the municipality list.
    pub struct MunicipalityListParams {
        /// Comma-separated sort keys, `-` for descending: `id`, `name`, `officialName`, `updatedAt`.
        /// Names sort the Swedish way (… Timrå, Ånge, Örnsköldsvik).
        sort(default = "name", example = "name,-updatedAt", pattern = "^[-+]?(id|name|officialName|updatedAt)(,[-+]?(id|name|officialName|updatedAt))*$"),
        exports(labels),
        keyset(after),
        /// Case-insensitive text contained in the name or the official name.
        #[param(max_length = 200, example = "sund")]
        pub q: Option<String>,
        /// Only municipalities of this county (län) code.
        #[param(pattern = "^[0-9]{2}$", example = "22")]
        pub county_code: Option<String>,
    }
}

type MunicipalityQuery = municipalities::BoxedQuery<'static, diesel::pg::Pg>;

fn filter(
    p: MunicipalityListParams,
) -> Result<(Listing<MunicipalitySort>, impl Fn() -> MunicipalityQuery), ApiError> {
    let mut v = Violations::default();
    let listing = p.listing(&mut v, SortKey::asc(MunicipalitySort::Name));
    let q = v.check(list::search_text(p.q)).flatten();
    if let Some(c) = &p.county_code {
        if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_digit()) {
            v.push("countyCode", "must be a two-digit county code, e.g. 22");
        }
    }
    let listing = v.finish_with(listing)?;
    let county_code = p.county_code;
    let filtered = move || {
        let mut query = municipalities::table.into_boxed();
        if let Some(text) = &q {
            query = query.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "strpos(lower(name || ' ' || official_name), ",
                )
                .bind::<diesel::sql_types::Text, _>(text.to_lowercase())
                .sql(") > 0"),
            );
        }
        if let Some(c) = county_code.clone() {
            query = query.filter(municipalities::county_code.eq(c));
        }
        query
    };
    Ok((listing, filtered))
}

crate::table_list!(
    Municipality, municipalities, Municipality, "municipalities",
    MunicipalityListParams => MunicipalityPage,
    filter: filter, sort: MunicipalitySort, plural: "municipalities",
    Doc::new("listMunicipalities", "List the member municipalities").describe(
        "The seven municipalities of Västernorrland county, sorted by name the Swedish way \
         unless `sort` says otherwise. Answers `304 Not Modified` when `If-None-Match` matches. \
         `Accept: text/csv` or `application/x-ndjson` streams them all instead of one page.",
    ),
);

/// A municipality is addressed by its kommunkod, `{municipalityId}`.
impl PathKey for MunicipalityId {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        MunicipalityId::parse("municipalityId", segment(req, "municipalityId")?)
    }

    fn parameters(_: &str) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9]{4}$"));
        vec![path_parameter(
            "municipalityId",
            "The four-digit kommunkod",
            schema,
            Some(serde_json::json!("2281")),
        )]
    }
}

impl Served for Municipality {
    const ITEM: &'static str = "/municipalities/{municipalityId}";
    const COLLECTION: &'static str = "/municipalities";
    const TAG: &'static str = "Municipalities";
    const WRITE_SCOPE: &'static str = "admin";
    const GET: Doc = Doc::new("getMunicipality", "Get a municipality").describe(
        "One municipality by its kommunkod. Answers `304 Not Modified` when `If-None-Match` \
         matches its `ETag`.",
    );
    const UPDATE: Doc = Doc::new(
        "updateMunicipality",
        "Correct a municipality's reference data",
    )
    .describe(
        "JSON Merge Patch (RFC 7396) of the name, official name or organisation number \
             (checked with the Luhn algorithm). The kommunkod cannot change. Requires `If-Match`.",
    );
    type Wire = Self;
    type Parent = ();

    fn wire(&self, _: &Caller) -> Self {
        self.clone()
    }
}

/// What is written of a municipality: the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = municipalities, treat_none_as_null = true)]
pub struct MunicipalityValues {
    /// The kommunkod, which never changes.
    #[diesel(skip_update)]
    id: String,
    name: String,
    official_name: String,
    organisation_number: Option<String>,
}

impl Form for MunicipalityValues {
    fn check(&self, v: &mut Violations) {
        for (field, text, max) in [
            ("name", &self.name, 100),
            ("officialName", &self.official_name, 200),
        ] {
            if text.is_empty() || text.chars().count() > max {
                v.push(field, format!("must be 1 to {max} characters"));
            }
        }
        if let Some(orgnr) = &self.organisation_number {
            if !is_valid_organisation_number(orgnr) {
                v.push(
                    "organisationNumber",
                    "must be NNNNNN-NNNN with a valid check digit (Luhn)",
                );
            }
        }
    }
}

impl Resource for Municipality {
    const KIND: &'static str = "municipality";
    const NOUN: &'static str = "municipality";
    type Key = MunicipalityId;
    type Values = MunicipalityValues;
    type Patch = MunicipalityPatch;

    fn id(&self) -> String {
        self.id.clone()
    }
    fn key(&self) -> MunicipalityId {
        MunicipalityId(self.id.clone())
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn location(&self) -> String {
        format!("/v1/municipalities/{}", self.id)
    }
    /// A municipality's reference data is its own.
    fn owners(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
    fn audit_view(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    async fn find(
        conn: &mut AsyncPgConnection,
        id: &MunicipalityId,
        lock: Lock,
    ) -> QueryResult<Option<Self>> {
        let query = municipalities::table
            .find(id.as_str())
            .select(Municipality::as_select());
        let row = crate::first_row!(query, conn, lock)?;
        Ok(row)
    }
    async fn update(
        conn: &mut AsyncPgConnection,
        id: &MunicipalityId,
        values: &MunicipalityValues,
    ) -> QueryResult<Self> {
        diesel::update(municipalities::table.find(id.as_str()))
            .set(values)
            .returning(Municipality::as_returning())
            .get_result(conn)
            .await
    }
    async fn value_owners(
        _: &mut AsyncPgConnection,
        values: &MunicipalityValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(vec![values.id.clone()])
    }
    fn check_patch(patch: &MunicipalityPatch) -> Result<(), ApiError> {
        let mut v = Violations::default();
        for (field, value) in [
            ("name", &patch.name),
            ("officialName", &patch.official_name),
        ] {
            if matches!(value, Some(None)) {
                v.push(field, "must not be null");
            }
        }
        v.finish()
    }
    fn patched(&self, patch: MunicipalityPatch) -> MunicipalityValues {
        MunicipalityValues {
            id: self.id.clone(),
            name: patch
                .name
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| self.name.clone()),
            official_name: patch
                .official_name
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| self.official_name.clone()),
            organisation_number: match patch.organisation_number {
                Some(value) => value,
                None => self.organisation_number.clone(),
            },
        }
    }
    fn conflict(_: &MunicipalityValues, _: Option<&str>) -> ApiError {
        ApiError::Conflict(
            "Another municipality already has that name or organisation number".to_owned(),
        )
    }
}

/// Whether a municipality exists (for validating references from other resources).
pub async fn exists(conn: &mut PgConn, id: &MunicipalityId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(municipalities::table.find(id.as_str())))
        .get_result(conn)
        .await
}

/// Changes to a municipality's reference data (JSON Merge Patch, RFC 7396).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"organisationNumber": "212000-2403"}))]
pub struct MunicipalityPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = "\\S")]
    pub official_name: Option<Option<String>>,
    /// NNNNNN-NNNN with a valid Luhn check digit; `null` clears it.
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}-[0-9]{4}$")]
    pub organisation_number: Option<Option<String>>,
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
