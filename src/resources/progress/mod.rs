//! Progress reports (återrapportering): each running assignment reports per tertial (1: Jan–Apr,
//! 2: May–Aug, 3: Sep–Dec) its progress, money spent, budget forecast and any deviation, so that
//! deviations are caught early. One report per assignment, year and tertial.

use actix_web::{HttpRequest, HttpResponse, get};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::responses::ReadExport;
use crate::error::{Violation, Violations};
use crate::http::list;
use crate::http::{PathKey, Query, conditional_json, merge_member, uuid_parameter, uuid_segments};
use crate::integration::export::{self, Exporter, Format};
use crate::kernel::operations::{Doc, ListRequest, Listed, Posted, Pushed, Served};
use crate::kernel::{self, Creatable, External, Form, Importable, Lock, Resource};
use crate::page_type;
use crate::resources::assignments::{self, Assignment, AssignmentStatus};
use crate::resources::plans::{MAX_YEAR, MIN_YEAR};
use crate::rules;
use crate::store::db::Db;
use crate::store::schema::progress_reports;
use crate::text_enum;
use utoipa::openapi::path::Parameter;

text_enum! {
    /// How far the assignment deviates from its plan.
    Deviation {
        None = "none" ["Ingen avvikelse", "ingen"],
        Minor = "minor" ["Mindre avvikelse", "mindre", "liten"],
        Major = "major" ["Större avvikelse", "större", "stor"],
    }
}

/// An assignment's report for one tertial.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = progress_reports, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "assignmentId": "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
    "year": 2022, "tertial": 2, "summary": "Rekrytering av samordnare klar; första utbildningen genomförd.",
    "spentSek": 820000, "forecastSek": 2500000, "deviation": "minor",
    "deviationNote": "Utbildningen försenad en månad på grund av sjukdom.",
    "externalSystem": null, "externalId": null, "version": 1,
    "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct ProgressReport {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub year: i32,
    /// 1 (January–April), 2 (May–August) or 3 (September–December).
    #[schema(minimum = 1, maximum = 3)]
    pub tertial: i16,
    /// What has been done.
    pub summary: String,
    /// Spent so far, whole SEK.
    pub spent_sek: i64,
    /// Expected total cost, whole SEK.
    pub forecast_sek: i64,
    pub deviation: Deviation,
    /// Required unless `deviation` is `none`.
    pub deviation_note: Option<String>,
    pub external_system: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(
    ProgressReportPage,
    ProgressReport,
    "A page of progress reports."
);

/// A new progress report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "year": 2022, "tertial": 2, "summary": "Rekrytering av samordnare klar.", "spentSek": 820000,
    "forecastSek": 2500000, "deviation": "minor", "deviationNote": "Utbildningen försenad en månad."
}))]
pub struct NewProgressReport {
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    #[schema(minimum = 1, maximum = 3)]
    pub tertial: i16,
    #[schema(min_length = 1, max_length = 10000, pattern = "\\S")]
    pub summary: String,
    #[schema(minimum = 0)]
    pub spent_sek: i64,
    #[schema(minimum = 0)]
    pub forecast_sek: i64,
    pub deviation: Deviation,
    #[schema(max_length = 4000)]
    pub deviation_note: Option<String>,
    #[schema(max_length = 100, pattern = "\\S")]
    pub external_system: Option<String>,
    #[schema(max_length = 200, pattern = "\\S")]
    pub external_id: Option<String>,
}

/// Changes to a report (JSON Merge Patch, RFC 7396). Year and tertial identify the report and
/// do not change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"deviation": "none", "deviationNote": null}))]
pub struct ProgressReportPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 10000, pattern = "\\S")]
    pub summary: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = i64, required = false, minimum = 0)]
    pub spent_sek: Option<Option<i64>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = i64, required = false, minimum = 0)]
    pub forecast_sek: Option<Option<i64>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Deviation, required = false)]
    pub deviation: Option<Option<Deviation>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub deviation_note: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "\\S")]
    pub external_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "\\S")]
    pub external_id: Option<Option<String>>,
}

impl ReportValues {
    fn new(assignment_id: Uuid, n: NewProgressReport) -> Self {
        Self {
            assignment_id,
            year: n.year,
            tertial: n.tertial,
            summary: n.summary,
            spent_sek: n.spent_sek,
            forecast_sek: n.forecast_sek,
            deviation: n.deviation,
            deviation_note: n.deviation_note,
            external_system: n.external_system,
            external_id: n.external_id,
        }
    }
}

/// What is written of a report: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = progress_reports, treat_none_as_null = true)]
pub struct ReportValues {
    #[diesel(skip_update)]
    assignment_id: Uuid,
    #[diesel(skip_update)]
    year: i32,
    #[diesel(skip_update)]
    tertial: i16,
    summary: String,
    spent_sek: i64,
    forecast_sek: i64,
    deviation: Deviation,
    deviation_note: Option<String>,
    external_system: Option<String>,
    external_id: Option<String>,
}

impl ReportValues {
    async fn insert(&self, conn: &mut AsyncPgConnection) -> QueryResult<ProgressReport> {
        diesel::insert_into(progress_reports::table)
            .values((progress_reports::id.eq(Uuid::new_v4()), self))
            .returning(ProgressReport::as_returning())
            .get_result(conn)
            .await
    }
}

/// A report's key: its assignment's id and its own.
#[derive(Debug, Clone, Copy)]
pub struct ReportKey {
    pub assignment: Uuid,
    pub id: Uuid,
}

impl std::fmt::Display for ReportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of assignment {}", self.id, self.assignment)
    }
}

/// A stored report with the municipalities of its assignment, who own it.
pub struct StoredReport {
    pub report: ProgressReport,
    owners: Vec<String>,
}

impl StoredReport {
    async fn of(conn: &mut AsyncPgConnection, row: ProgressReport) -> QueryResult<Self> {
        let owners = assignments::find_owners(conn, row.assignment_id).await?;
        Ok(Self {
            report: row,
            owners: owners.unwrap_or_default(),
        })
    }
}

impl Form for ReportValues {
    fn check(&self, v: &mut Violations) {
        if !(MIN_YEAR..=MAX_YEAR).contains(&self.year) {
            v.push("year", format!("must be between {MIN_YEAR} and {MAX_YEAR}"));
        }
        if !(1..=3).contains(&self.tertial) {
            v.push("tertial", "must be 1, 2 or 3");
        }
        rules::required_text(v, "summary", &self.summary, 10_000);
        if self.spent_sek < 0 {
            v.push("spentSek", "must not be negative");
        }
        if self.forecast_sek < 0 {
            v.push("forecastSek", "must not be negative");
        }
        let has_note = self
            .deviation_note
            .as_deref()
            .is_some_and(|n| !n.trim().is_empty());
        if self.deviation != Deviation::None && !has_note {
            v.push(
                "deviationNote",
                "is required when deviation is minor or major",
            );
        }
        rules::optional_text(v, "deviationNote", self.deviation_note.as_deref(), 4000);
        rules::external_ref(
            v,
            self.external_system.as_deref(),
            self.external_id.as_deref(),
        );
    }

    /// Its assignment exists and reports progress (it is past `proposed`).
    async fn check_references(&self, conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
        let owner = assignments::find(conn, self.assignment_id, Lock::No).await?;
        if owner.status == AssignmentStatus::Proposed {
            return Err(ApiError::Conflict(
                "A proposed assignment does not report progress; move it to incoming first"
                    .to_owned(),
            ));
        }
        Ok(())
    }
}

impl Resource for StoredReport {
    const KIND: &'static str = "progress_report";
    const NOUN: &'static str = "progress report";
    type Key = ReportKey;
    type Values = ReportValues;
    type Patch = ProgressReportPatch;

    fn id(&self) -> String {
        self.report.id.to_string()
    }
    fn key(&self) -> ReportKey {
        ReportKey {
            assignment: self.report.assignment_id,
            id: self.report.id,
        }
    }
    fn version(&self) -> i64 {
        self.report.version
    }
    fn location(&self) -> String {
        format!(
            "/v1/assignments/{}/reports/{}",
            self.report.assignment_id, self.report.id
        )
    }
    fn owners(&self) -> Vec<String> {
        self.owners.clone()
    }
    fn audit_view(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.report).ok()
    }

    async fn find(
        conn: &mut AsyncPgConnection,
        key: &ReportKey,
        lock: Lock,
    ) -> QueryResult<Option<Self>> {
        let query = progress_reports::table
            .filter(progress_reports::assignment_id.eq(key.assignment))
            .filter(progress_reports::id.eq(key.id))
            .select(ProgressReport::as_select());
        let row = crate::first_row!(query, conn, lock)?;
        match row {
            Some(row) => Ok(Some(Self::of(conn, row).await?)),
            None => Ok(None),
        }
    }
    async fn update(
        conn: &mut AsyncPgConnection,
        key: &ReportKey,
        values: &ReportValues,
    ) -> QueryResult<Self> {
        let row = crate::update_row!(conn, progress_reports, key.id, values, ProgressReport)?;
        Self::of(conn, row).await
    }

    /// The assignment's municipalities; 404 when there is no such assignment.
    async fn value_owners(
        conn: &mut AsyncPgConnection,
        values: &ReportValues,
    ) -> Result<Vec<String>, ApiError> {
        assignments::find_owners(conn, values.assignment_id)
            .await?
            .ok_or_else(|| kernel::not_found::<Assignment>(&values.assignment_id))
    }

    fn check_patch(p: &ProgressReportPatch) -> Result<(), ApiError> {
        kernel::refuse_nulls(&[
            ("summary", kernel::is_null(&p.summary)),
            ("spentSek", kernel::is_null(&p.spent_sek)),
            ("forecastSek", kernel::is_null(&p.forecast_sek)),
            ("deviation", kernel::is_null(&p.deviation)),
        ])
    }

    fn patched(&self, p: ProgressReportPatch) -> ReportValues {
        let current = self.report.clone();
        ReportValues {
            assignment_id: current.assignment_id,
            year: current.year,
            tertial: current.tertial,
            summary: p.summary.flatten().unwrap_or(current.summary),
            spent_sek: p.spent_sek.flatten().unwrap_or(current.spent_sek),
            forecast_sek: p.forecast_sek.flatten().unwrap_or(current.forecast_sek),
            deviation: p.deviation.flatten().unwrap_or(current.deviation),
            deviation_note: p.deviation_note.unwrap_or(current.deviation_note),
            external_system: p.external_system.unwrap_or(current.external_system),
            external_id: p.external_id.unwrap_or(current.external_id),
        }
    }

    /// Year and tertial identify a report: a replace may not move it.
    fn may_become(&self, values: &ReportValues) -> Result<(), ApiError> {
        if (self.report.year, self.report.tertial) != (values.year, values.tertial) {
            return Err(ApiError::invalid(
                "tertial",
                "a report's year and tertial do not change",
            ));
        }
        Ok(())
    }

    fn conflict(values: &ReportValues, constraint: Option<&str>) -> ApiError {
        if constraint == Some("progress_reports_one_per_tertial") {
            ApiError::Conflict(format!(
                "The assignment already has a report for tertial {} of {}; change that one instead",
                values.tertial, values.year
            ))
        } else {
            ApiError::Conflict("The progress report conflicts with an existing one".to_owned())
        }
    }
}

impl Creatable for StoredReport {
    async fn insert(conn: &mut AsyncPgConnection, values: &ReportValues) -> QueryResult<Self> {
        let row = values.insert(conn).await?;
        Self::of(conn, row).await
    }
}

crate::removable_row!(StoredReport, progress_reports, |key| key.id);

impl External for StoredReport {
    const EXTERNAL_KEY: &'static str = "progress_reports_external_system_external_id_key";

    /// An assignment's report by its external reference.
    async fn find_external(
        conn: &mut AsyncPgConnection,
        values: &ReportValues,
    ) -> QueryResult<Option<Self>> {
        let row: Option<ProgressReport> = progress_reports::table
            .filter(progress_reports::assignment_id.eq(values.assignment_id))
            .filter(progress_reports::external_system.eq(&values.external_system))
            .filter(progress_reports::external_id.eq(&values.external_id))
            .select(ProgressReport::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()?;
        match row {
            Some(row) => Ok(Some(Self::of(conn, row).await?)),
            None => Ok(None),
        }
    }
}

impl Importable for StoredReport {
    const COLLECTION: &'static str = "progress-reports";

    /// A report's row names its assignment (`assignmentId`), which its path names in the API.
    fn from_row(mut row: Map<String, Value>) -> Result<ReportValues, Vec<Violation>> {
        let assignment = kernel::take_id(&mut row, "assignmentId")?;
        kernel::form::<NewProgressReport>(row).map(|new| ReportValues::new(assignment, new))
    }
}

impl PathKey for ReportKey {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        let [assignment, id] = uuid_segments(req, ["id", "reportId"])?;
        Ok(ReportKey { assignment, id })
    }

    fn parameters(_: &str) -> Vec<Parameter> {
        vec![
            uuid_parameter("id", "The assignment's id"),
            uuid_parameter("reportId", "The report's id"),
        ]
    }
}

/// Filters and paging of report lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ReportListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only reports of this year.
    #[param(minimum = 2000, maximum = 2100, example = 2022)]
    pub year: Option<i32>,
    /// Only reports of this tertial.
    #[param(minimum = 1, maximum = 3, example = 2)]
    pub tertial: Option<i16>,
    /// Only reports with this deviation.
    #[param(example = "major")]
    pub deviation: Option<Deviation>,
    /// Only reports of this assignment (for `/v1/progress-reports`).
    pub assignment_id: Option<Uuid>,
    /// Search of the summary and the deviation note. Every word must match, Swedish-style:
    /// inflections, the start or a part of a compound word, names with dots and hyphens, one or
    /// two typos in words of six letters or more (see `GET /v1/search`). Ranked by relevance
    /// (name or title first) unless `sort` is given. At most 200 characters and 8 words.
    #[param(max_length = 200, example = "försenad")]
    pub q: Option<String>,
    /// With `Accept: text/csv`: `sv` writes Swedish column headers and labels, as every
    /// exporting list does.
    #[param(inline, example = "sv")]
    pub labels: Option<crate::rules::labels::FileLabels>,
}

async fn list(
    req: HttpRequest,
    exports: Exporter,
    db: &Db,
    assignment: Option<Uuid>,
    p: ReportListParams,
) -> Result<HttpResponse, ApiError> {
    let format = export::negotiate(&req)?;
    let mut v = Violations::default();
    let paging = v.check(list::paging(p.limit, p.page));
    let search = v
        .check(crate::http::search::Search::parse(p.q, true))
        .flatten();
    if let Some(y) = p.year {
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            v.push("year", format!("must be between {MIN_YEAR} and {MAX_YEAR}"));
        }
    }
    if p.tertial.is_some_and(|t| !(1..=3).contains(&t)) {
        v.push("tertial", "must be 1, 2 or 3");
    }
    let paging = v.finish_with(paging)?;
    let mut conn = db.conn().await?;
    if let Some(a) = assignment {
        assignments::find(&mut conn, a, Lock::No).await?;
    }
    let assignment = assignment.or(p.assignment_id);
    let (year, tertial, deviation) = (p.year, p.tertial, p.deviation);
    let filtered = move |search: Option<&crate::http::search::Corrected>| {
        let mut query = progress_reports::table.into_boxed();
        if let Some(a) = assignment {
            query = query.filter(progress_reports::assignment_id.eq(a));
        }
        if let Some(y) = year {
            query = query.filter(progress_reports::year.eq(y));
        }
        if let Some(t) = tertial {
            query = query.filter(progress_reports::tertial.eq(t));
        }
        if let Some(d) = deviation {
            query = query.filter(progress_reports::deviation.eq(d.as_str()));
        }
        crate::full_text!(query, search);
        query
    };
    let ordered = (
        progress_reports::year.desc(),
        progress_reports::tertial.desc(),
        progress_reports::assignment_id.asc(),
        progress_reports::id.asc(),
    );
    if format != Format::Json {
        drop(conn);
        return exports
            .respond::<ProgressReport, _, _>(
                format,
                "progress-reports",
                db,
                move |sink, mut conn| async move {
                    let search = crate::http::search::corrected(search, &mut conn).await?;
                    let search = search.as_ref();
                    let rows = crate::ranked!(
                        filtered(search),
                        search,
                        &mut crate::http::search::Words::Literal
                    )
                    .then_order_by(ordered)
                    .select(ProgressReport::as_select())
                    .load_stream::<ProgressReport>(&mut conn)
                    .await?;
                    sink.drain(rows, ProgressReport::from).await
                },
            )
            .await;
    }
    let search = crate::http::search::corrected(search, &mut conn).await?;
    let search = search.as_ref();
    let (items, total) = crate::counted_page!(
        conn,
        db,
        progress_reports,
        filtered,
        |query: progress_reports::BoxedQuery<'static, diesel::pg::Pg>| query.then_order_by(ordered),
        ProgressReport,
        paging,
        search
    );
    let page = ProgressReportPage {
        meta: paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

impl Listed for StoredReport {
    const LIST: Doc = Doc::new(
        "listAssignmentReports",
        "List an assignment's progress reports",
    )
    .describe(
        "Newest period first. `Accept: text/csv` or `application/x-ndjson` streams them all.",
    );
    const PLURAL: &'static str = "progress reports";
    type Params = ReportListParams;
    type Page = ProgressReportPage;

    async fn list(request: ListRequest<Self>) -> Result<HttpResponse, ApiError> {
        let ListRequest {
            req,
            exports,
            db,
            parent: id,
            params,
            ..
        } = request;
        list(req, exports, &db, Some(id), params).await
    }
}

/// List progress reports of every assignment
///
/// For following up a period: filter by `year`, `tertial`, `deviation`.
#[utoipa::path(
    operation_id = "listProgressReports",
    tag = "Progress reports",
    params(ReportListParams),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "A page of reports",
            content((ProgressReportPage = "application/json"), (String = "text/csv"), (ProgressReport = "application/x-ndjson"))),
        ReadExport,
    ),
)]
#[get("/progress-reports")]
pub async fn list_progress_reports(
    req: HttpRequest,
    exports: Exporter,
    db: Db,
    params: Query<ReportListParams>,
) -> Result<HttpResponse, ApiError> {
    list(req, exports, &db, None, params.0).await
}

impl Served for StoredReport {
    const ITEM: &'static str = "/assignments/{id}/reports/{reportId}";
    const COLLECTION: &'static str = "/assignments/{id}/reports";
    const TAG: &'static str = "Progress reports";
    const PARENT: &'static str = "assignment";
    const GET: Doc = Doc::new("getAssignmentReport", "Get a progress report");
    const CREATE: Doc = Doc::new("createAssignmentReport", "Report progress for a tertial")
    .describe(
        "One report per assignment, year and tertial (409 for a second one); not for assignments \
         that are still `proposed` (409).",
    );
    const UPDATE: Doc = Doc::new("updateAssignmentReport", "Change a progress report");
    const DELETE: Doc = Doc::new("deleteAssignmentReport", "Delete a progress report");
    const UPSERT: Doc = Doc::new(
        "upsertAssignmentReportByExternalId",
        "Create or replace a progress report by its external reference",
    )
    .describe(
        "For systems that push their own reports: the assignment's report whose \
         `externalSystem`/`externalId` are the path's is replaced by the body (or created, 201; \
         year and tertial identify it and do not change). Repeating the same push changes \
         nothing. `If-Match` is optional.",
    );
    type Wire = ProgressReport;
    type Parent = Uuid;

    fn wire(&self, _: &Caller) -> ProgressReport {
        self.report.clone()
    }
}

impl Posted for StoredReport {
    type New = NewProgressReport;

    fn values(assignment: Uuid, new: NewProgressReport) -> Self::Values {
        ReportValues::new(assignment, new)
    }
}

impl Pushed for StoredReport {
    fn external_ref(new: &mut NewProgressReport) -> (&mut Option<String>, &mut Option<String>) {
        (&mut new.external_system, &mut new.external_id)
    }
}
