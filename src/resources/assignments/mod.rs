//! Development assignments (utvecklingsuppdrag) commissioned by the municipalities, with their
//! lifecycle `proposed → incoming → ongoing → outgoing → completed` (and `cancelled` from any
//! state before completion). Status changes only through transitions.

use actix_web::{HttpResponse, post};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::responses::{AuthErrors, CommonErrors, NotFound, WriteErrors};
use crate::error::{Violation, Violations};
use crate::http::list::{Listing, SortKey};
use crate::http::{Json, OptionalIfMatch, merge_member};
use crate::integration::work::Writer;
use crate::kernel::operations::{Doc, Posted, Pushed, Served};
use crate::kernel::{self, Form, Importable, Key, Lock, Resource};
use crate::page_type;
use crate::resources::plans::Challenge;
use crate::rules;
use crate::rules::MunicipalityCode;
use crate::store::checks;
use crate::store::schema::assignments;
use crate::text_enum;

text_enum! {
    /// Where an assignment is in its lifecycle (the board follows what is "på väg in, pågår,
    /// på väg ut").
    AssignmentStatus {
        /// Proposed, not yet decided.
        Proposed = "proposed" ["Förslag", "föreslaget"],
        /// På väg in: decided, starting.
        Incoming = "incoming" ["På väg in"],
        /// Pågår: running.
        Ongoing = "ongoing" ["Pågår", "pågående"],
        /// På väg ut: finishing.
        Outgoing = "outgoing" ["På väg ut"],
        Completed = "completed" ["Avslutat", "avslutad", "klart"],
        Cancelled = "cancelled" ["Avbrutet", "avbruten", "inställt"],
    }
}

impl AssignmentStatus {
    /// The states this one may move to.
    pub fn next(self) -> &'static [AssignmentStatus] {
        use AssignmentStatus::*;
        match self {
            Proposed => &[Incoming, Cancelled],
            Incoming => &[Ongoing, Cancelled],
            Ongoing => &[Outgoing, Cancelled],
            Outgoing => &[Completed, Cancelled],
            Completed | Cancelled => &[],
        }
    }
}

text_enum! {
    /// How the assignment is paid for.
    FundingType {
        /// From the association's or the municipalities' own means.
        Internal = "internal" ["Egen finansiering", "egen", "intern"],
        /// By an outside funder (ESF+, an EU programme, the Region, a state agency, …).
        External = "external" ["Extern finansiering", "extern"],
    }
}

/// A development assignment.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = assignments, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "title": "Resurscentrum mot våld",
    "description": "Ett länsgemensamt resurscentrum mot våld i nära relationer.",
    "municipalityIds": ["2260", "2262", "2280", "2281", "2282", "2283", "2284"],
    "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003", "challenge": "focus", "fundingType": "external",
    "funder": "Länsstyrelsen Västernorrland", "budgetSek": 2400000, "partners": ["Region Västernorrland"],
    "startDate": "2022-01-01", "endDate": "2023-12-31", "responsible": "Maria Holm", "status": "ongoing",
    "externalSystem": null, "externalId": null, "version": 3,
    "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Assignment {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    /// The commissioning municipalities (at least one).
    #[schema(value_type = Vec<MunicipalityCode>)]
    pub municipality_ids: Vec<String>,
    pub area_id: Uuid,
    /// The plan challenge the assignment serves, if any.
    pub challenge: Option<Challenge>,
    pub funding_type: FundingType,
    /// The outside funder (required when `fundingType` is `external`).
    pub funder: Option<String>,
    /// Budget in whole SEK.
    pub budget_sek: i64,
    /// Partner organisations, e.g. MIUN, SKR, Digg.
    pub partners: Vec<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    /// The responsible person.
    pub responsible: Option<String>,
    pub status: AssignmentStatus,
    pub external_system: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(AssignmentPage, Assignment, "A page of assignments.");

/// A new assignment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "title": "Digitaliseringsguiden.se", "description": "Utveckling av den gemensamma webbplatsen.",
    "municipalityIds": ["2281", "2262"], "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002",
    "challenge": "focus", "fundingType": "internal", "budgetSek": 450000, "partners": ["Digg"],
    "startDate": "2022-02-01", "endDate": "2022-12-31", "responsible": "Johan Ek"
}))]
pub struct NewAssignment {
    #[schema(min_length = 1, max_length = 300, pattern = "\\S")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    #[schema(value_type = Vec<MunicipalityCode>, min_items = 1)]
    pub municipality_ids: Vec<String>,
    pub area_id: Uuid,
    pub challenge: Option<Challenge>,
    pub funding_type: FundingType,
    #[schema(max_length = 200)]
    pub funder: Option<String>,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub budget_sek: i64,
    #[serde(default)]
    pub partners: Vec<String>,
    #[serde(default, deserialize_with = "crate::rules::dates::date_opt")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::rules::dates::date_opt")]
    pub end_date: Option<NaiveDate>,
    #[schema(max_length = 200)]
    pub responsible: Option<String>,
    /// The initial state (default `proposed`), for systems that push assignments already under
    /// way; later changes go through transitions.
    pub status: Option<AssignmentStatus>,
    #[schema(max_length = 100, pattern = "\\S")]
    pub external_system: Option<String>,
    #[schema(max_length = 200, pattern = "\\S")]
    pub external_id: Option<String>,
}

/// Changes to an assignment (JSON Merge Patch, RFC 7396). `status` is not among them: use
/// `POST /v1/assignments/{id}/transitions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"budgetSek": 500000, "endDate": "2023-06-30"}))]
pub struct AssignmentPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 300, pattern = "\\S")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Vec<MunicipalityCode>, required = false, min_items = 1)]
    pub municipality_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Uuid, required = false)]
    pub area_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Challenge>)]
    pub challenge: Option<Option<Challenge>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = FundingType, required = false)]
    pub funding_type: Option<Option<FundingType>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub funder: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = i64, required = false, minimum = 0)]
    pub budget_sek: Option<Option<i64>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Vec<String>>)]
    pub partners: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "crate::rules::dates::date_merge")]
    #[schema(value_type = Option<NaiveDate>)]
    pub start_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "crate::rules::dates::date_merge")]
    #[schema(value_type = Option<NaiveDate>)]
    pub end_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub responsible: Option<Option<String>>,
    /// Not changeable here (the status moves through transitions): read only to explain the
    /// refusal, and so not part of the documented schema.
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(ignore)]
    pub status: Option<Option<AssignmentStatus>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "\\S")]
    pub external_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "\\S")]
    pub external_id: Option<Option<String>>,
}

/// What is written of an assignment: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = assignments, treat_none_as_null = true)]
pub struct AssignmentValues {
    title: String,
    description: String,
    municipality_ids: Vec<String>,
    area_id: Uuid,
    challenge: Option<Challenge>,
    funding_type: FundingType,
    funder: Option<String>,
    budget_sek: i64,
    partners: Vec<String>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    responsible: Option<String>,
    external_system: Option<String>,
    external_id: Option<String>,
    /// The status of a new assignment; afterwards it moves only through transitions.
    #[diesel(skip_update)]
    status: AssignmentStatus,
}

impl AssignmentValues {
    fn from_new(n: &NewAssignment) -> Self {
        Self {
            status: n.status.unwrap_or(AssignmentStatus::Proposed),
            title: n.title.trim().to_owned(),
            description: n.description.clone(),
            municipality_ids: n.municipality_ids.clone(),
            area_id: n.area_id,
            challenge: n.challenge,
            funding_type: n.funding_type,
            funder: n.funder.clone(),
            budget_sek: n.budget_sek,
            partners: n.partners.clone(),
            start_date: n.start_date,
            end_date: n.end_date,
            responsible: n.responsible.clone(),
            external_system: n.external_system.clone(),
            external_id: n.external_id.clone(),
        }
    }

    fn patched(current: &Assignment, p: AssignmentPatch) -> Self {
        let current = current.clone();
        Self {
            status: current.status,
            title: p
                .title
                .flatten()
                .map(|t| t.trim().to_owned())
                .unwrap_or(current.title),
            description: p
                .description
                .map(Option::unwrap_or_default)
                .unwrap_or(current.description),
            municipality_ids: p
                .municipality_ids
                .flatten()
                .unwrap_or(current.municipality_ids),
            area_id: p.area_id.flatten().unwrap_or(current.area_id),
            challenge: p.challenge.unwrap_or(current.challenge),
            funding_type: p.funding_type.flatten().unwrap_or(current.funding_type),
            funder: p.funder.unwrap_or(current.funder),
            budget_sek: p.budget_sek.flatten().unwrap_or(current.budget_sek),
            partners: p
                .partners
                .map(Option::unwrap_or_default)
                .unwrap_or(current.partners),
            start_date: p.start_date.unwrap_or(current.start_date),
            end_date: p.end_date.unwrap_or(current.end_date),
            responsible: p.responsible.unwrap_or(current.responsible),
            external_system: p.external_system.unwrap_or(current.external_system),
            external_id: p.external_id.unwrap_or(current.external_id),
        }
    }
}

impl Form for AssignmentValues {
    /// The rules that need no database, every violation at once.
    fn check(&self, v: &mut Violations) {
        rules::required_text(v, "title", &self.title, 300);
        rules::optional_text(v, "description", Some(&self.description), 10_000);
        if self.municipality_ids.is_empty() {
            v.push(
                "municipalityIds",
                "must name at least one commissioning municipality",
            );
        }
        rules::municipality_codes(v, "municipalityIds", &self.municipality_ids);
        if self.funding_type == FundingType::External
            && self.funder.as_deref().is_none_or(|f| f.trim().is_empty())
        {
            v.push("funder", "is required when fundingType is external");
        }
        rules::optional_text(v, "funder", self.funder.as_deref(), 200);
        if self.budget_sek < 0 {
            v.push("budgetSek", "must not be negative");
        }
        for (i, partner) in self.partners.iter().enumerate() {
            if partner.trim().is_empty() || partner.chars().count() > 200 || partner.contains('|') {
                v.push(
                    format!("partners[{i}]"),
                    "must be 1 to 200 characters, without |",
                );
            }
        }
        if self.partners.len() > 50 {
            v.push("partners", "must list at most 50 partners");
        }
        if let (Some(start), Some(end)) = (self.start_date, self.end_date) {
            if end < start {
                v.push("endDate", "must not be before startDate");
            }
        }
        rules::optional_text(v, "responsible", self.responsible.as_deref(), 200);
        rules::external_ref(
            v,
            self.external_system.as_deref(),
            self.external_id.as_deref(),
        );
    }

    /// The rules that read the database (references).
    async fn check_references(&self, conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
        checks::municipalities_exist(conn, "municipalityIds", &self.municipality_ids).await?;
        checks::area_exists(conn, "areaId", self.area_id).await?;
        Ok(())
    }
}

impl Resource for Assignment {
    const KIND: &'static str = "assignment";
    const NOUN: &'static str = "assignment";
    type Key = Uuid;
    type Values = AssignmentValues;
    type Patch = AssignmentPatch;

    crate::uuid_record!("/v1/assignments", assignments, Assignment);
    fn owners(&self) -> Vec<String> {
        self.municipality_ids.clone()
    }

    async fn value_owners(
        _: &mut AsyncPgConnection,
        values: &AssignmentValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(values.municipality_ids.clone())
    }
    fn check_patch(p: &AssignmentPatch) -> Result<(), ApiError> {
        let mut v = Violations::default();
        if p.status.is_some() {
            v.push(
                "status",
                "cannot be changed by PATCH; POST /v1/assignments/{id}/transitions with {\"to\": …}",
            );
        }
        for (field, is_null) in [
            ("title", matches!(p.title, Some(None))),
            ("municipalityIds", matches!(p.municipality_ids, Some(None))),
            ("areaId", matches!(p.area_id, Some(None))),
            ("fundingType", matches!(p.funding_type, Some(None))),
            ("budgetSek", matches!(p.budget_sek, Some(None))),
        ] {
            if is_null {
                v.push(field, "must not be null");
            }
        }
        v.finish()
    }
    fn patched(&self, patch: AssignmentPatch) -> AssignmentValues {
        AssignmentValues::patched(self, patch)
    }
}

crate::creatable_row!(Assignment, assignments, Assignment);

// Its progress reports go with it (`ON DELETE CASCADE`).
crate::removable_row!(Assignment, assignments, |id| *id);

crate::external_row!(
    Assignment,
    assignments,
    Assignment,
    "assignments_external_system_external_id_key"
);

impl Importable for Assignment {
    const COLLECTION: &'static str = "assignments";

    fn from_row(row: Map<String, Value>) -> Result<AssignmentValues, Vec<Violation>> {
        kernel::form::<NewAssignment>(row).map(|new| AssignmentValues::from_new(&new))
    }
}

/// The municipalities that commissioned the assignment, if it exists.
pub(crate) async fn find_owners(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Vec<String>>> {
    assignments::table
        .find(id)
        .select(assignments::municipality_ids)
        .first(conn)
        .await
        .optional()
}

/// The assignment, optionally locked for the rest of the transaction (404 if there is none).
pub(crate) async fn find(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    lock: Lock,
) -> Result<Assignment, ApiError> {
    kernel::find::<Assignment>(conn, &id, lock).await
}

crate::sort_fields! {
    /// The fields the list sorts by.
    AssignmentSort for assignments with timestamps {
        Title = "title" => assignments::title,
        Status = "status" => assignments::status,
        StartDate = "startDate" => assignments::start_date; nulls last,
        EndDate = "endDate" => assignments::end_date; nulls last,
        BudgetSek = "budgetSek" => assignments::budget_sek,
    }
}

crate::list_params! {
    /// Filters, sorting and paging of the assignment list.
    pub struct AssignmentListParams {
        /// Sort keys, `-` for descending: `title`, `status`, `startDate`, `endDate`, `budgetSek`,
        /// `createdAt`, `updatedAt`.
        sort(default = "title", example = "-budgetSek", pattern = "^[-+]?(title|status|startDate|endDate|budgetSek|createdAt|updatedAt)(,[-+]?(title|status|startDate|endDate|budgetSek|createdAt|updatedAt))*$"),
        external(system = "kramfors-diarium", id = "KS 2022/114"),
        exports(labels),
        keyset(after),
        /// Only assignments in this state.
        #[param(example = "ongoing")]
        pub status: Option<AssignmentStatus>,
        /// Only assignments this municipality commissioned.
        #[param(pattern = "^[0-9]{4}$", example = "2281")]
        pub municipality_id: Option<String>,
        /// Only assignments of this area.
        #[param(example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0003")]
        pub area_id: Option<Uuid>,
        /// Only assignments serving this challenge.
        #[param(example = "focus")]
        pub challenge: Option<Challenge>,
        /// Only internally or externally funded assignments.
        #[param(example = "external")]
        pub funding_type: Option<FundingType>,
        /// Only assignments running at some time during this year (by start and end date).
        #[param(minimum = 2000, maximum = 2100, example = 2022)]
        pub active_in: Option<i32>,
        /// Search of the title, description, partners, funder and responsible (`familjehem`
        /// finds `Gemensam familjehemsorganisation`, `ESF+` the ESF+ programme). Every word
        /// must match, Swedish-style: inflections, the start or a part of a compound word,
        /// names with dots and hyphens, one or two typos in words of six letters or more (see
        /// `GET /v1/search`). Ranked by relevance (name or title first) unless `sort` is given.
        /// At most 200 characters and 8 words.
        #[param(max_length = 200, example = "våld")]
        pub q: Option<String>,
    }
}

type AssignmentQuery = assignments::BoxedQuery<'static, diesel::pg::Pg>;

#[allow(clippy::type_complexity)]
fn filter(
    p: AssignmentListParams,
) -> Result<(Listing<AssignmentSort>, impl Fn() -> AssignmentQuery), ApiError> {
    let mut v = Violations::default();
    let listing = p.listing(&mut v, SortKey::asc(AssignmentSort::Title));
    let search = v
        .check(crate::http::search::Search::parse(p.q, p.sort.is_none()))
        .flatten();
    crate::rules::MunicipalityId::check_optional(
        &mut v,
        "municipalityId",
        p.municipality_id.as_deref(),
    );
    if let Some(y) = p.active_in {
        if !(crate::resources::plans::MIN_YEAR..=crate::resources::plans::MAX_YEAR).contains(&y) {
            v.push("activeIn", "must be a year between 2000 and 2100");
        }
    }
    let listing = v.finish_with(listing)?.searching(search);
    let filtered = move || {
        let mut query = assignments::table.into_boxed();
        if let Some(s) = p.status {
            query = query.filter(assignments::status.eq(s.as_str()));
        }
        if let Some(m) = p.municipality_id.clone() {
            query = query.filter(assignments::municipality_ids.contains(vec![m]));
        }
        if let Some(a) = p.area_id {
            query = query.filter(assignments::area_id.eq(a));
        }
        if let Some(c) = p.challenge {
            query = query.filter(assignments::challenge.eq(c));
        }
        if let Some(f) = p.funding_type {
            query = query.filter(assignments::funding_type.eq(f.as_str()));
        }
        if let Some(year) = p.active_in {
            let first = NaiveDate::from_ymd_opt(year, 1, 1);
            let last = NaiveDate::from_ymd_opt(year, 12, 31);
            if let (Some(first), Some(last)) = (first, last) {
                query = query
                    .filter(
                        assignments::start_date
                            .is_null()
                            .or(assignments::start_date.le(last)),
                    )
                    .filter(
                        assignments::end_date
                            .is_null()
                            .or(assignments::end_date.ge(first)),
                    );
            }
        }
        crate::external_filters!(query, assignments, p);
        query
    };
    Ok((listing, filtered))
}

crate::table_list!(
    Assignment, assignments, Assignment, "assignments", AssignmentListParams => AssignmentPage,
    filter: filter, sort: AssignmentSort, plural: "assignments",
    Doc::new("listAssignments", "List development assignments").describe(
        "Filters combine with AND. `Accept: text/csv` or `application/x-ndjson` streams every \
         matching assignment instead of one page.",
    ),
);

impl Served for Assignment {
    const ITEM: &'static str = "/assignments/{id}";
    const COLLECTION: &'static str = "/assignments";
    const TAG: &'static str = "Assignments";
    const GET: Doc = Doc::new("getAssignment", "Get an assignment");
    const CREATE: Doc = Doc::new("createAssignment", "Create an assignment").describe(
        "A client bound to a municipality creates assignments commissioned by that municipality \
         only.",
    );
    const UPDATE: Doc = Doc::new("updateAssignment", "Change an assignment").describe(
        "JSON Merge Patch (RFC 7396); requires `If-Match`. The status changes only through \
         transitions.",
    );
    const DELETE: Doc = Doc::new("deleteAssignment", "Delete an assignment")
        .describe("Deletes the assignment with its progress reports. Requires `If-Match`.");
    const UPSERT: Doc = Doc::new(
        "upsertAssignmentByExternalId",
        "Create or replace an assignment by its external reference",
    )
    .describe(
        "For systems that push their own records: the assignment whose \
         `externalSystem`/`externalId` are the path's is replaced by the body (or created, 201). \
         The body's `status` is used only when creating; afterwards the status moves through \
         transitions. Repeating the same push changes nothing (no new version, no audit entry, no \
         change-feed entry). `If-Match` is optional.",
    );
    type Wire = Self;
    type Parent = ();

    fn wire(&self, _: &Caller) -> Self {
        self.clone()
    }
}

impl Posted for Assignment {
    type New = NewAssignment;

    fn values(_: (), new: NewAssignment) -> Self::Values {
        AssignmentValues::from_new(&new)
    }
}

impl Pushed for Assignment {
    fn external_ref(new: &mut NewAssignment) -> (&mut Option<String>, &mut Option<String>) {
        (&mut new.external_system, &mut new.external_id)
    }
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"to": "ongoing"}))]
pub struct Transition {
    /// The state to move to.
    pub to: AssignmentStatus,
}

/// Move an assignment through its lifecycle
///
/// `proposed → incoming → ongoing → outgoing → completed`, and `cancelled` from any state before
/// `completed`. Any other move is refused with 409, naming the moves allowed from the current
/// state. `If-Match` is optional here: send it to be sure nobody moved the assignment meanwhile.
#[utoipa::path(
    operation_id = "transitionAssignment",
    tag = "Assignments",
    params(
        Key<Assignment>,
        OptionalIfMatch,
    ),
    request_body = Transition,
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "The assignment in its new state", body = Assignment,
            headers(("ETag" = String, description = "The new strong entity tag"))),
        (status = 409, description = "The move is not allowed from the current state", body = crate::error::Problem,
            content_type = "application/problem+json",
            example = json!({"type": "/problems/conflict", "title": "Conflict with the current state", "status": 409,
                "detail": "An assignment that is proposed cannot become completed; allowed: incoming, cancelled",
                "instance": "/v1/assignments/5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f/transitions",
                "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c"})),
        (status = 412, description = "`If-Match` is stale", body = crate::error::Problem, content_type = "application/problem+json"),
        AuthErrors,
        NotFound,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/assignments/{id}/transitions")]
pub async fn transition_assignment(
    writer: Writer,
    Key(id, _): Key<Assignment>,
    expected: OptionalIfMatch,
    body: Json<Transition>,
) -> Result<HttpResponse, ApiError> {
    let to = body.0.to;
    let assignment = writer
        .run(async |work| {
            let before = kernel::lock::<Assignment>(work, &id, expected.0).await?;
            let from = before.status;
            if !from.next().contains(&to) {
                let allowed: Vec<&str> = from.next().iter().map(|s| s.as_str()).collect();
                return Err(ApiError::Conflict(format!(
                    "An assignment that is {} cannot become {}; allowed: {}",
                    from.as_str(),
                    to.as_str(),
                    if allowed.is_empty() {
                        "none (it is final)".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                )));
            }
            let after = diesel::update(assignments::table.find(id))
                .set(assignments::status.eq(to))
                .returning(Assignment::as_returning())
                .get_result(work.conn())
                .await?;
            kernel::audit(work, "transition", Some(&before), Some(&after)).await?;
            Ok(after)
        })
        .await?;
    Ok(kernel::reply(&assignment, false, &assignment))
}

#[cfg(test)]
mod tests {
    use super::AssignmentStatus::*;

    #[test]
    fn the_lifecycle_moves_forward_or_to_cancelled() {
        assert_eq!(Proposed.next(), [Incoming, Cancelled]);
        assert_eq!(Incoming.next(), [Ongoing, Cancelled]);
        assert_eq!(Ongoing.next(), [Outgoing, Cancelled]);
        assert_eq!(Outgoing.next(), [Completed, Cancelled]);
        assert!(Completed.next().is_empty());
        assert!(Cancelled.next().is_empty());
    }
}
