//! Collaboration areas (verksamhetsområden): the fields in which the association supports the
//! municipalities' cooperation.

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use diesel::prelude::{AsChangeset, Insertable, QueryDsl, Queryable, Selectable};
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Violations;
use crate::http::list::{Listing, SortKey};
use crate::http::{PathKey, merge_member};
use crate::kernel::operations::{Doc, Posted, Served};
use crate::kernel::{Form, Resource};
use crate::page_type;
use crate::store::schema::areas;
use utoipa::openapi::path::Parameter;

/// An area's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AreaId(pub Uuid);

impl std::fmt::Display for AreaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Uuid> for AreaId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<AreaId> for Uuid {
    fn from(id: AreaId) -> Self {
        id.0
    }
}

impl PathKey for AreaId {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        Uuid::from_path(req).map(Self)
    }

    fn parameters(noun: &str) -> Vec<Parameter> {
        Uuid::parameters(noun)
    }
}

impl AreaId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| ApiError::invalid(field, "must be a UUID"))
    }
}

/// A collaboration area (verksamhetsområde).
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = areas, check_for_backend(diesel::pg::Pg))]
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

page_type!(AreaPage, Area, "A page of collaboration areas.");

crate::sort_fields! {
    /// The fields the list sorts by.
    AreaSort for areas with timestamps {
        Name = "name" => areas::name,
    }
}

crate::list_params! {
    /// Filters, sorting and paging of the area list.
    pub struct AreaListParams {
        /// Comma-separated sort keys, `-` for descending: `name`, `createdAt`, `updatedAt`.
        /// Names sort the Swedish way.
        sort(default = "name", example = "-updatedAt", pattern = "^[-+]?(name|createdAt|updatedAt)(,[-+]?(name|createdAt|updatedAt))*$"),
        exports(labels),
        keyset(after),
        /// Search of the name and description (`digitala` finds `Digitalisering`). Every word
        /// must match, Swedish-style: inflections, the start or a part of a compound word,
        /// names with dots and hyphens, one or two typos in words of six letters or more (see
        /// `GET /v1/search`). Ranked by relevance (name or title first) unless `sort` is given.
        /// At most 200 characters and 8 words.
        #[param(max_length = 200, example = "digitalisering")]
        pub q: Option<String>,
    }
}

type AreaQuery = areas::BoxedQuery<'static, diesel::pg::Pg>;

fn filter(p: AreaListParams) -> Result<(Listing<AreaSort>, impl Fn() -> AreaQuery), ApiError> {
    let mut v = Violations::default();
    let listing = p.listing(&mut v, SortKey::asc(AreaSort::Name));
    let search = v
        .check(crate::http::search::Search::parse(p.q, p.sort.is_none()))
        .flatten();
    let listing = v.finish_with(listing)?.searching(search);
    Ok((listing, || areas::table.into_boxed()))
}

crate::table_list!(
    Area, areas, Area, "areas", AreaListParams => AreaPage,
    filter: filter, sort: AreaSort, plural: "areas",
    Doc::new("listAreas", "List the collaboration areas").describe(
        "The areas within which the association supports the municipalities' cooperation, \
         sorted by name the Swedish way unless `sort` says otherwise. `Accept: text/csv` or \
         `application/x-ndjson` streams every matching area instead of one page.",
    ),
);

impl Served for Area {
    const ITEM: &'static str = "/areas/{id}";
    const COLLECTION: &'static str = "/areas";
    const TAG: &'static str = "Areas";
    const WRITE_SCOPE: &'static str = "admin";
    const DELETE_CONFLICTS: bool = true;
    const GET: Doc = Doc::new("getArea", "Get a collaboration area");
    const CREATE: Doc = Doc::new("createArea", "Create a collaboration area");
    const UPDATE: Doc = Doc::new("updateArea", "Change a collaboration area").describe(
        "JSON Merge Patch (RFC 7396). Requires `If-Match` with the area's current `ETag`.",
    );
    const DELETE: Doc = Doc::new("deleteArea", "Delete a collaboration area")
        .describe("Requires `If-Match` with the area's current `ETag`.");
    type Wire = Self;
    type Parent = ();

    fn wire(&self, _: &Caller) -> Self {
        self.clone()
    }
}

impl Posted for Area {
    type New = NewArea;

    fn values(_: (), new: NewArea) -> Self::Values {
        new.into()
    }
}

/// A new collaboration area.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Miljö & Klimat", "description": "Samverkan inom miljö- och klimatfrågor."}))]
pub struct NewArea {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
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
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Option<String>>,
}

/// What is written of an area: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = areas, treat_none_as_null = true)]
pub struct AreaValues {
    name: String,
    description: String,
}

impl From<NewArea> for AreaValues {
    fn from(new: NewArea) -> Self {
        Self {
            name: new.name.trim().to_owned(),
            description: new.description,
        }
    }
}

impl Form for AreaValues {
    fn check(&self, v: &mut Violations) {
        if self.name.is_empty() || self.name.chars().count() > 200 {
            v.push("name", "must be 1 to 200 characters");
        }
        if self.description.chars().count() > 4000 {
            v.push("description", "must be at most 4000 characters");
        }
    }
}

impl Resource for Area {
    const KIND: &'static str = "area";
    const NOUN: &'static str = "area";
    type Key = AreaId;
    type Values = AreaValues;
    type Patch = AreaPatch;

    crate::uuid_record!("/v1/areas", areas, Area);
    /// Areas are the association's reference data: no municipality owns one.
    fn owners(&self) -> Vec<String> {
        Vec::new()
    }

    async fn value_owners(
        _: &mut AsyncPgConnection,
        _: &AreaValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(Vec::new())
    }

    fn check_patch(patch: &AreaPatch) -> Result<(), ApiError> {
        match patch.name {
            Some(None) => Err(ApiError::invalid("name", "must not be null")),
            _ => Ok(()),
        }
    }

    fn patched(&self, patch: AreaPatch) -> AreaValues {
        AreaValues {
            name: patch
                .name
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| self.name.clone()),
            description: match patch.description {
                Some(d) => d.unwrap_or_default(),
                None => self.description.clone(),
            },
        }
    }

    fn conflict(values: &AreaValues, _: Option<&str>) -> ApiError {
        ApiError::Conflict(format!("An area named {} already exists", values.name))
    }
}

crate::creatable_row!(Area, areas, Area);

crate::removable_row!(Area, areas, |key| key.0);
