//! Networks and presidia (nätverk, presidier) and their members. Members are personal data:
//! their contact details are shown only to callers entitled to them, they never reach the logs
//! or the audit log, and they are erased for good on request.

use actix_web::{HttpRequest, HttpResponse, post};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::responses::{AuthErrors, CommonErrors, WriteErrors};
use crate::error::{Violation, Violations};
use crate::http::list::{self, Listing, SortKey};
use crate::http::{Json, PathKey, conditional_json, merge_member, uuid_parameter, uuid_segments};
use crate::integration::export::{self, Format};
use crate::integration::work::Writer;
use crate::kernel::operations::{Doc, ListRequest, Listed, Posted, Pushed, Served};
use crate::kernel::{self, External, Form, Importable, Lock, Resource};
use crate::page_type;
use crate::rules;
use crate::rules::MunicipalityCode;
use crate::store::checks;
use crate::store::schema::{network_members, networks};
use crate::text_enum;
use utoipa::openapi::path::Parameter;

text_enum! {
    /// What kind of network: political, management (chefs-), staff (medarbetar-), subject-area
    /// (sakområdes-) network, or a presidium.
    NetworkKind {
        Political = "political" ["Politiskt nätverk", "politiskt"],
        Management = "management" ["Chefsnätverk", "chefs"],
        Staff = "staff" ["Medarbetarnätverk", "medarbetar"],
        SubjectArea = "subject_area" ["Sakområdesnätverk", "sakområde"],
        Presidium = "presidium" ["Presidium"],
    }
}

text_enum! {
    /// Whether the network meets (`active`) or has been wound up (`archived`).
    NetworkStatus {
        Active = "active" ["Aktivt", "aktiv"],
        Archived = "archived" ["Arkiverat", "arkiverad", "avslutat"],
    }
}

/// A network or presidium coordinated by the association.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = networks, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51", "name": "Kommundirektörsnätverket", "kind": "management",
    "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0001",
    "description": "Länets kommundirektörer samordnar kommunövergripande frågor.",
    "municipalityIds": ["2260", "2262", "2280", "2281", "2282", "2283", "2284"],
    "coordinator": "Karin Berglund", "status": "active", "externalSystem": null, "externalId": null,
    "version": 1, "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Network {
    pub id: Uuid,
    pub name: String,
    pub kind: NetworkKind,
    /// The collaboration area the network belongs to, if any.
    pub area_id: Option<Uuid>,
    pub description: String,
    /// The participating municipalities (kommunkoder).
    #[schema(value_type = Vec<MunicipalityCode>)]
    pub municipality_ids: Vec<String>,
    /// The coordinator at the association.
    pub coordinator: Option<String>,
    pub status: NetworkStatus,
    /// The system that pushed this record, with `externalId` its id there.
    pub external_system: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(NetworkPage, Network, "A page of networks.");

/// A new network.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "name": "Skolchefsnätverket", "kind": "subject_area", "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0005",
    "description": "Länets skolchefer.", "municipalityIds": ["2281", "2262"], "coordinator": "Erik Sjödin"
}))]
pub struct NewNetwork {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    pub kind: NetworkKind,
    pub area_id: Option<Uuid>,
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub description: String,
    #[serde(default)]
    #[schema(value_type = Vec<MunicipalityCode>)]
    pub municipality_ids: Vec<String>,
    #[schema(max_length = 200)]
    pub coordinator: Option<String>,
    /// Defaults to `active`.
    pub status: Option<NetworkStatus>,
    #[schema(max_length = 100, pattern = "\\S")]
    pub external_system: Option<String>,
    #[schema(max_length = 200, pattern = "\\S")]
    pub external_id: Option<String>,
}

/// Changes to a network (JSON Merge Patch, RFC 7396).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"status": "archived"}))]
pub struct NetworkPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = NetworkKind, required = false)]
    pub kind: Option<Option<NetworkKind>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Uuid>)]
    pub area_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Vec<MunicipalityCode>>)]
    pub municipality_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub coordinator: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = NetworkStatus, required = false)]
    pub status: Option<Option<NetworkStatus>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "\\S")]
    pub external_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "\\S")]
    pub external_id: Option<Option<String>>,
}

/// What is written of a network: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = networks, treat_none_as_null = true)]
pub struct NetworkValues {
    name: String,
    kind: NetworkKind,
    area_id: Option<Uuid>,
    description: String,
    municipality_ids: Vec<String>,
    coordinator: Option<String>,
    status: NetworkStatus,
    external_system: Option<String>,
    external_id: Option<String>,
}

impl NetworkValues {
    fn from_new(n: NewNetwork) -> Self {
        Self {
            name: n.name.trim().to_owned(),
            kind: n.kind,
            area_id: n.area_id,
            description: n.description,
            municipality_ids: n.municipality_ids,
            coordinator: n.coordinator,
            status: n.status.unwrap_or(NetworkStatus::Active),
            external_system: n.external_system,
            external_id: n.external_id,
        }
    }

    fn patched(row: &Network, p: NetworkPatch) -> Self {
        Self {
            name: p
                .name
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| row.name.clone()),
            kind: p.kind.flatten().unwrap_or(row.kind),
            area_id: p.area_id.unwrap_or(row.area_id),
            description: match p.description {
                Some(d) => d.unwrap_or_default(),
                None => row.description.clone(),
            },
            municipality_ids: match p.municipality_ids {
                Some(m) => m.unwrap_or_default(),
                None => row.municipality_ids.clone(),
            },
            coordinator: p.coordinator.unwrap_or_else(|| row.coordinator.clone()),
            status: p.status.flatten().unwrap_or(row.status),
            external_system: p
                .external_system
                .unwrap_or_else(|| row.external_system.clone()),
            external_id: p.external_id.unwrap_or_else(|| row.external_id.clone()),
        }
    }
}

impl Form for NetworkValues {
    /// The rules that need no database, every violation at once.
    fn check(&self, v: &mut Violations) {
        rules::required_text(v, "name", &self.name, 200);
        rules::optional_text(v, "description", Some(&self.description), 4000);
        rules::optional_text(v, "coordinator", self.coordinator.as_deref(), 200);
        rules::municipality_codes(v, "municipalityIds", &self.municipality_ids);
        rules::external_ref(
            v,
            self.external_system.as_deref(),
            self.external_id.as_deref(),
        );
    }

    /// The rules that read the database (references).
    async fn check_references(&self, conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
        checks::municipalities_exist(conn, "municipalityIds", &self.municipality_ids).await?;
        if let Some(area) = self.area_id {
            checks::area_exists(conn, "areaId", area).await?;
        }
        Ok(())
    }
}

impl Form for MemberValues {
    /// The rules that need no database, every violation at once.
    fn check(&self, v: &mut Violations) {
        rules::required_text(v, "name", &self.name, 200);
        rules::email(v, "email", self.email.as_deref());
        rules::optional_text(v, "phone", self.phone.as_deref(), 50);
        rules::optional_text(v, "title", self.title.as_deref(), 200);
        if let Some(m) = &self.municipality_id {
            rules::municipality_codes(v, "municipalityId", std::slice::from_ref(m));
        }
        rules::external_ref(
            v,
            self.external_system.as_deref(),
            self.external_id.as_deref(),
        );
    }

    /// The rules that read the database (references).
    async fn check_references(&self, conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
        find_network(conn, self.network_id, Lock::ForUpdate).await?;
        if let Some(m) = &self.municipality_id {
            checks::municipalities_exist(conn, "municipalityId", std::slice::from_ref(m)).await?;
        }
        Ok(())
    }
}

impl Resource for Network {
    const KIND: &'static str = "network";
    const NOUN: &'static str = "network";
    type Key = Uuid;
    type Values = NetworkValues;
    type Patch = NetworkPatch;

    crate::uuid_record!("/v1/networks", networks, Network);
    fn owners(&self) -> Vec<String> {
        self.municipality_ids.clone()
    }

    async fn value_owners(
        _: &mut AsyncPgConnection,
        values: &NetworkValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(values.municipality_ids.clone())
    }
    fn check_patch(p: &NetworkPatch) -> Result<(), ApiError> {
        kernel::refuse_nulls(&[
            ("name", kernel::is_null(&p.name)),
            ("kind", kernel::is_null(&p.kind)),
            ("status", kernel::is_null(&p.status)),
        ])
    }
    fn patched(&self, patch: NetworkPatch) -> NetworkValues {
        NetworkValues::patched(self, patch)
    }
}

crate::creatable_row!(Network, networks, Network);

// Its members go with it (`ON DELETE CASCADE`); feedback keeps it (`in use`).
crate::removable_row!(Network, networks, |id| *id);

crate::external_row!(
    Network,
    networks,
    Network,
    "networks_external_system_external_id_key"
);

impl Importable for Network {
    const COLLECTION: &'static str = "networks";

    fn from_row(row: Map<String, Value>) -> Result<NetworkValues, Vec<Violation>> {
        kernel::form::<NewNetwork>(row).map(NetworkValues::from_new)
    }
}

/// The network, optionally locked (404 if there is none).
async fn find_network(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lock: Lock,
) -> Result<Network, ApiError> {
    kernel::find::<Network>(conn, &id, lock).await
}

crate::sort_fields! {
    /// The fields the list sorts by.
    NetworkSort for networks with timestamps {
        Name = "name" => networks::name,
        Kind = "kind" => networks::kind,
    }
}

crate::list_params! {
    /// Filters, sorting and paging of the network list.
    pub struct NetworkListParams {
        /// Sort keys, `-` for descending: `name`, `kind`, `createdAt`, `updatedAt`.
        sort(default = "name", example = "name", pattern = "^[-+]?(name|kind|createdAt|updatedAt)(,[-+]?(name|kind|createdAt|updatedAt))*$"),
        external(system = "sundsvall-intranet", id = "N-17"),
        exports(labels),
        keyset(after),
        /// Only networks of this kind.
        #[param(example = "management")]
        pub kind: Option<NetworkKind>,
        /// Only networks with this status.
        #[param(example = "active")]
        pub status: Option<NetworkStatus>,
        /// Only networks of this area.
        #[param(example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0001")]
        pub area_id: Option<Uuid>,
        /// Only networks this municipality takes part in.
        #[param(pattern = "^[0-9]{4}$", example = "2281")]
        pub municipality_id: Option<String>,
        /// Search of the name, description and coordinator. Every word must match, Swedish-
        /// style: inflections, the start or a part of a compound word, names with dots and
        /// hyphens, one or two typos in words of six letters or more (see `GET /v1/search`).
        /// Ranked by relevance (name or title first) unless `sort` is given. At most 200
        /// characters and 8 words.
        #[param(max_length = 200, example = "kommundirektörer")]
        pub q: Option<String>,
    }
}

type NetworkQuery = networks::BoxedQuery<'static, diesel::pg::Pg>;

#[allow(clippy::type_complexity)]
fn network_filter(
    p: NetworkListParams,
) -> Result<(Listing<NetworkSort>, impl Fn() -> NetworkQuery), ApiError> {
    let mut v = Violations::default();
    let listing = p.listing(&mut v, SortKey::asc(NetworkSort::Name));
    let search = v
        .check(crate::http::search::Search::parse(p.q, p.sort.is_none()))
        .flatten();
    crate::rules::MunicipalityId::check_optional(
        &mut v,
        "municipalityId",
        p.municipality_id.as_deref(),
    );
    let listing = v.finish_with(listing)?.searching(search);
    let filtered = move || {
        let mut query = networks::table.into_boxed();
        if let Some(k) = p.kind {
            query = query.filter(networks::kind.eq(k.as_str()));
        }
        if let Some(s) = p.status {
            query = query.filter(networks::status.eq(s.as_str()));
        }
        if let Some(a) = p.area_id {
            query = query.filter(networks::area_id.eq(a));
        }
        if let Some(m) = p.municipality_id.clone() {
            query = query.filter(networks::municipality_ids.contains(vec![m]));
        }
        crate::external_filters!(query, networks, p);
        query
    };
    Ok((listing, filtered))
}

crate::table_list!(
    Network, networks, Network, "networks", NetworkListParams => NetworkPage,
    filter: network_filter, sort: NetworkSort, plural: "networks",
    Doc::new("listNetworks", "List networks and presidia").describe(
        "Filters combine with AND. `Accept: text/csv` or `application/x-ndjson` streams every \
         matching network instead of one page.",
    ),
);

impl Served for Network {
    const ITEM: &'static str = "/networks/{id}";
    const COLLECTION: &'static str = "/networks";
    const TAG: &'static str = "Networks";
    const DELETE_CONFLICTS: bool = true;
    const GET: Doc = Doc::new("getNetwork", "Get a network");
    const CREATE: Doc = Doc::new("createNetwork", "Create a network").describe(
        "A client bound to a municipality may create networks of that municipality only.",
    );
    const UPDATE: Doc = Doc::new("updateNetwork", "Change a network");
    const DELETE: Doc = Doc::new("deleteNetwork", "Delete a network").describe(
        "Deletes the network and its members; refused (409) while feedback entries refer to it. \
         Requires `If-Match`.",
    );
    const UPSERT: Doc = Doc::new(
        "upsertNetworkByExternalId",
        "Create or replace a network by its external reference",
    )
    .describe(
        "For systems that push their own records: the network whose `externalSystem`/`externalId` \
         are the path's is replaced by the body (or created, 201). Repeating the same push \
         changes nothing: no new version, no audit entry, no change-feed entry. `If-Match` is \
         optional: send it to replace only the version you read.",
    );
    type Wire = Self;
    type Parent = ();

    fn wire(&self, _: &Caller) -> Self {
        self.clone()
    }
}

impl Posted for Network {
    type New = NewNetwork;

    fn values(_: (), new: NewNetwork) -> Self::Values {
        NetworkValues::from_new(new)
    }
}

impl Pushed for Network {
    fn external_ref(new: &mut NewNetwork) -> (&mut Option<String>, &mut Option<String>) {
        (&mut new.external_system, &mut new.external_id)
    }
}

// ---------------------------------------------------------------------------------------------
// Members

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = network_members, check_for_backend(diesel::pg::Pg))]
pub(crate) struct MemberRow {
    id: Uuid,
    network_id: Uuid,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    municipality_id: Option<String>,
    external_system: Option<String>,
    external_id: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A person in a network. `email` and `phone` are shown only to administrators and to `write`
/// clients of the association or of the member's municipality; others get null.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "7f0b1d2e-3c4a-4b5c-8d6e-9f0a1b2c3d4e", "networkId": "3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51",
    "name": "Anna Lindqvist", "email": "anna.lindqvist@example.se", "phone": "070-000 00 01",
    "title": "Kommundirektör", "municipalityId": "2281", "externalSystem": null, "externalId": null,
    "version": 1, "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Member {
    pub id: Uuid,
    pub network_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Title or role, e.g. `Kommundirektör`.
    pub title: Option<String>,
    #[schema(value_type = Option<MunicipalityCode>)]
    pub municipality_id: Option<String>,
    pub external_system: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Member {
    fn for_caller(r: MemberRow, caller: &Caller) -> Self {
        let visible = caller.sees_personal_data_of(r.municipality_id.as_deref());
        Self {
            id: r.id,
            network_id: r.network_id,
            name: r.name,
            email: if visible { r.email } else { None },
            phone: if visible { r.phone } else { None },
            title: r.title,
            municipality_id: r.municipality_id,
            external_system: r.external_system,
            external_id: r.external_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

page_type!(MemberPage, Member, "A page of network members.");

/// A new member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Anna Lindqvist", "email": "anna.lindqvist@example.se", "phone": "070-000 00 01", "title": "Kommundirektör", "municipalityId": "2281"}))]
pub struct NewMember {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    #[schema(max_length = 254, format = Email)]
    pub email: Option<String>,
    #[schema(max_length = 50)]
    pub phone: Option<String>,
    #[schema(max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    #[schema(pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<String>,
    #[schema(max_length = 100, pattern = "\\S")]
    pub external_system: Option<String>,
    #[schema(max_length = 200, pattern = "\\S")]
    pub external_id: Option<String>,
}

/// Changes to a member (JSON Merge Patch, RFC 7396).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"title": "Biträdande kommundirektör"}))]
pub struct MemberPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 254, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "\\S")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<MunicipalityCode>)]
    pub municipality_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "\\S")]
    pub external_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "\\S")]
    pub external_id: Option<Option<String>>,
}

impl MemberValues {
    fn new(network_id: Uuid, n: NewMember) -> Self {
        Self {
            network_id,
            name: n.name.trim().to_owned(),
            email: n.email.map(|e| e.trim().to_owned()),
            phone: n.phone,
            title: n.title,
            municipality_id: n.municipality_id,
            external_system: n.external_system,
            external_id: n.external_id,
        }
    }
}

/// What is written of a member: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = network_members, treat_none_as_null = true)]
pub(crate) struct MemberValues {
    #[diesel(skip_update)]
    network_id: Uuid,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    municipality_id: Option<String>,
    external_system: Option<String>,
    external_id: Option<String>,
}

/// A member's key: its network's id and its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemberKey {
    network: Uuid,
    id: Uuid,
}

impl std::fmt::Display for MemberKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of network {}", self.id, self.network)
    }
}

impl Resource for MemberRow {
    const KIND: &'static str = "member";
    const NOUN: &'static str = "member";
    type Key = MemberKey;
    type Values = MemberValues;
    type Patch = MemberPatch;

    fn id(&self) -> String {
        self.id.to_string()
    }
    fn key(&self) -> MemberKey {
        MemberKey {
            network: self.network_id,
            id: self.id,
        }
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn location(&self) -> String {
        format!("/v1/networks/{}/members/{}", self.network_id, self.id)
    }
    fn owners(&self) -> Vec<String> {
        self.municipality_id.iter().cloned().collect()
    }
    /// No name, no contact details.
    fn audit_view(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "id": self.id, "networkId": self.network_id, "municipalityId": self.municipality_id,
            "version": self.version, "personalData": "redacted"
        }))
    }

    async fn find(
        conn: &mut AsyncPgConnection,
        key: &MemberKey,
        lock: Lock,
    ) -> QueryResult<Option<Self>> {
        let query = network_members::table
            .filter(network_members::network_id.eq(key.network))
            .filter(network_members::id.eq(key.id))
            .select(MemberRow::as_select());
        crate::first_row!(query, conn, lock)
    }
    async fn update(
        conn: &mut AsyncPgConnection,
        key: &MemberKey,
        values: &MemberValues,
    ) -> QueryResult<Self> {
        crate::update_row!(conn, network_members, key.id, values, MemberRow)
    }
    async fn value_owners(
        _: &mut AsyncPgConnection,
        values: &MemberValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(values.municipality_id.iter().cloned().collect())
    }
    fn check_patch(p: &MemberPatch) -> Result<(), ApiError> {
        match p.name {
            Some(None) => Err(ApiError::invalid("name", "must not be null")),
            _ => Ok(()),
        }
    }
    fn patched(&self, p: MemberPatch) -> MemberValues {
        let before = self;
        MemberValues {
            network_id: before.network_id,
            name: p
                .name
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| before.name.clone()),
            email: p
                .email
                .map(|e| e.map(|e| e.trim().to_owned()))
                .unwrap_or_else(|| before.email.clone()),
            phone: p.phone.unwrap_or_else(|| before.phone.clone()),
            title: p.title.unwrap_or_else(|| before.title.clone()),
            municipality_id: p
                .municipality_id
                .unwrap_or_else(|| before.municipality_id.clone()),
            external_system: p
                .external_system
                .unwrap_or_else(|| before.external_system.clone()),
            external_id: p.external_id.unwrap_or_else(|| before.external_id.clone()),
        }
    }
}

crate::creatable_row!(MemberRow, network_members, MemberRow);

crate::removable_row!(MemberRow, network_members, |key| key.id);

impl External for MemberRow {
    const EXTERNAL_KEY: &'static str = "network_members_external_system_external_id_key";

    /// A network's member by its external reference.
    async fn find_external(
        conn: &mut AsyncPgConnection,
        values: &MemberValues,
    ) -> QueryResult<Option<Self>> {
        network_members::table
            .filter(network_members::network_id.eq(values.network_id))
            .filter(network_members::external_system.eq(&values.external_system))
            .filter(network_members::external_id.eq(&values.external_id))
            .select(MemberRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }
}

impl Importable for MemberRow {
    const COLLECTION: &'static str = "members";

    /// A member's row names its network (`networkId`), which its path names in the API.
    fn from_row(mut row: Map<String, Value>) -> Result<MemberValues, Vec<Violation>> {
        let network = kernel::take_id(&mut row, "networkId")?;
        kernel::form::<NewMember>(row).map(|new| MemberValues::new(network, new))
    }
}

/// Parameters of the member list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MemberListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only members from this municipality.
    #[param(pattern = "^[0-9]{4}$", example = "2281")]
    pub municipality_id: Option<String>,
    /// Search of the members' names and titles (contact details are not searched), with the
    /// rules of `GET /v1/search`: every word must match; inflections, parts of compound words
    /// and typos are forgiven. Ranked by relevance (the name first), then by name. At most 200
    /// characters and 8 words.
    #[param(max_length = 200, example = "skolchef")]
    pub q: Option<String>,
    /// With `Accept: text/csv`: `sv` writes Swedish column headers and labels, as every
    /// exporting list does.
    #[param(inline, example = "sv")]
    pub labels: Option<crate::rules::labels::FileLabels>,
}

impl PathKey for MemberKey {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        let [network, id] = uuid_segments(req, ["id", "memberId"])?;
        Ok(MemberKey { network, id })
    }

    fn parameters(_: &str) -> Vec<Parameter> {
        vec![
            uuid_parameter("id", "The network's id"),
            uuid_parameter("memberId", "The member's id"),
        ]
    }
}

impl Listed for MemberRow {
    const LIST: Doc = Doc::new("listNetworkMembers", "List a network's members").describe(
        "Sorted by name the Swedish way. Contact details only for entitled callers (see \
         `Member`).",
    );
    const PLURAL: &'static str = "members";
    type Params = MemberListParams;
    type Page = MemberPage;

    async fn list(request: ListRequest<Self>) -> Result<HttpResponse, ApiError> {
        let ListRequest {
            req,
            exports,
            db,
            caller,
            parent: network,
            params,
            ..
        } = request;
        let format = export::negotiate(&req)?;
        let p = params;
        let mut v = Violations::default();
        let paging = v.check(list::paging(p.limit, p.page));
        crate::rules::MunicipalityId::check_optional(
            &mut v,
            "municipalityId",
            p.municipality_id.as_deref(),
        );
        let search = v
            .check(crate::http::search::Search::parse(p.q, true))
            .flatten();
        let paging = v.finish_with(paging)?;
        let mut conn = db.conn().await?;
        find_network(&mut conn, network, Lock::No).await?;
        let municipality = p.municipality_id.clone();
        let filtered = move |search: Option<&crate::http::search::Corrected>| {
            let mut q = network_members::table
                .filter(network_members::network_id.eq(network))
                .into_boxed();
            if let Some(m) = municipality.clone() {
                q = q.filter(network_members::municipality_id.eq(m));
            }
            crate::full_text!(q, search);
            q
        };
        if format != Format::Json {
            drop(conn);
            return exports
                .respond::<Member, _, _>(format, "members", &db, move |sink, mut conn| async move {
                    let search = crate::http::search::corrected(search, &mut conn).await?;
                    let search = search.as_ref();
                    let rows = crate::ranked!(
                        filtered(search),
                        search,
                        &mut crate::http::search::Words::Literal
                    )
                    .select(MemberRow::as_select())
                    .then_order_by((network_members::name.asc(), network_members::id.asc()))
                    .load_stream::<MemberRow>(&mut conn)
                    .await?;
                    sink.drain(rows, |row| Member::for_caller(row, &caller))
                        .await
                })
                .await;
        }
        let search = crate::http::search::corrected(search, &mut conn).await?;
        let search = search.as_ref();
        let (rows, total) = crate::counted_page!(
            conn,
            db,
            network_members,
            filtered,
            |query: network_members::BoxedQuery<'static, diesel::pg::Pg>| {
                query.then_order_by((network_members::name.asc(), network_members::id.asc()))
            },
            MemberRow,
            paging,
            search
        );
        let items: Vec<Member> = rows
            .into_iter()
            .map(|r| Member::for_caller(r, &caller))
            .collect();
        let page = MemberPage {
            meta: paging.meta(items.len(), total),
            items,
        };
        conditional_json(&req, &page, None)
    }
}

impl Served for MemberRow {
    const ITEM: &'static str = "/networks/{id}/members/{memberId}";
    const COLLECTION: &'static str = "/networks/{id}/members";
    const TAG: &'static str = "Networks";
    const DELETED: &'static str = "Erased";
    const PARENT: &'static str = "network";
    const GET: Doc = Doc::new("getNetworkMember", "Get a network member");
    const CREATE: Doc = Doc::new("createNetworkMember", "Add a member to a network")
        .describe("A client bound to a municipality adds members of that municipality only.");
    const UPDATE: Doc = Doc::new("updateNetworkMember", "Change a network member");
    const DELETE: Doc = Doc::new("deleteNetworkMember", "Remove a network member").describe(
        "Erases the member for good (GDPR): nothing of the person is kept. Requires `If-Match`.",
    );
    const UPSERT: Doc = Doc::new(
        "upsertNetworkMemberByExternalId",
        "Create or replace a network member by its external reference",
    )
    .describe(
        "For systems that push their own records (for example an intranet's staff directory): the \
         member of this network whose `externalSystem`/`externalId` are the path's is replaced by \
         the body (or created, 201). Repeating the same push changes nothing. `If-Match` is \
         optional.",
    );
    type Wire = Member;
    type Parent = Uuid;

    fn wire(&self, caller: &Caller) -> Member {
        Member::for_caller(self.clone(), caller)
    }
}

impl Posted for MemberRow {
    type New = NewMember;

    fn values(network: Uuid, new: NewMember) -> Self::Values {
        MemberValues::new(network, new)
    }
}

impl Pushed for MemberRow {
    fn external_ref(new: &mut NewMember) -> (&mut Option<String>, &mut Option<String>) {
        (&mut new.external_system, &mut new.external_id)
    }
}

/// A request to erase a person from every network.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"email": "anna.lindqvist@example.se"}))]
pub struct ErasureRequest {
    /// The person's e-mail address (compared case-insensitively).
    #[schema(min_length = 3, max_length = 254, format = Email)]
    pub email: String,
}

/// What an erasure removed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"erased": 3}))]
pub struct ErasureResult {
    /// How many memberships were erased.
    pub erased: usize,
}

/// Erase a person from every network
///
/// GDPR erasure: deletes every membership with this e-mail address, for good. The audit log
/// records that memberships were erased, not whose.
#[utoipa::path(
    operation_id = "eraseMember",
    tag = "Networks",
    request_body = ErasureRequest,
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "The number of memberships erased", body = ErasureResult),
        AuthErrors,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/members/erasure")]
pub async fn erase_member(
    writer: Writer,
    body: Json<ErasureRequest>,
) -> Result<HttpResponse, ApiError> {
    writer.caller.may_write_for_association()?;
    let email = body.0.email.trim().to_lowercase();
    if email.is_empty() || email.chars().count() > 254 {
        return Err(ApiError::invalid("email", "must be an e-mail address"));
    }
    let erased = writer
        .run(async |work| {
            let rows: Vec<MemberRow> = diesel::delete(
                network_members::table.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(email) = ")
                        .bind::<diesel::sql_types::Text, _>(&email),
                ),
            )
            .returning(MemberRow::as_returning())
            .get_results(work.conn())
            .await?;
            let created: Vec<String> = rows
                .iter()
                .map(|r| format!("{} {}", MemberRow::KIND, r.id))
                .collect();
            crate::integration::idempotency::forget_answers(work.conn(), &created).await?;
            for row in &rows {
                kernel::audit(work, "erase", Some(row), None).await?;
            }
            Ok(rows.len())
        })
        .await?;
    Ok(HttpResponse::Ok().json(ErasureResult { erased }))
}
