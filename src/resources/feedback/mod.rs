//! Feedback entries ("Röster från kommunerna"): how well the networks and presidia judge each of
//! the year's goals met (1–5), with a comment and suggested development, coordination or
//! advocacy areas. The summary per goal is computed in SQL.

use actix_web::{HttpRequest, HttpResponse, get};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::responses::ReadOne;
use crate::error::{Violation, Violations};
use crate::http::list::{Listing, SortKey};
use crate::http::{Query, conditional_json, merge_member};
use crate::kernel::operations::{Doc, Posted, Pushed, Served};
use crate::kernel::{self, Form, Importable, Resource};
use crate::page_type;
use crate::resources::plans::{Challenge, MAX_YEAR, MIN_YEAR};
use crate::rules;
use crate::rules::MunicipalityCode;
use crate::store::checks;
use crate::store::db::Db;
use crate::store::schema::{feedback, networks, plan_goals};
use crate::text_enum;

text_enum! {
    /// The kind of a suggested area.
    SuggestionKind {
        /// utvecklingsområde
        Development = "development" ["Utvecklingsområde", "utveckling"],
        /// samordningsområde
        Coordination = "coordination" ["Samordningsområde", "samordning"],
        /// påverkansområde
        Advocacy = "advocacy" ["Påverkansområde", "påverkan"],
    }
}

/// A suggested development, coordination or advocacy area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "coordination", "text": "Samordnad upphandling av e-tjänster"}))]
pub struct Suggestion {
    pub kind: SuggestionKind,
    #[schema(min_length = 1, max_length = 500)]
    pub text: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = feedback, check_for_backend(diesel::pg::Pg))]
struct FeedbackRow {
    id: Uuid,
    year: i32,
    goal: Challenge,
    network_id: Uuid,
    municipality_id: Option<String>,
    rating: i16,
    comment: String,
    suggestions: SuggestionList,
    external_system: Option<String>,
    external_id: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One network's or presidium's judgement of one goal.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b", "year": 2022, "goal": "focus",
    "networkId": "3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51", "municipalityId": "2282", "rating": 4,
    "comment": "Satsningarna på kompetensförsörjning har gett konkreta resultat.",
    "suggestions": [{"kind": "development", "text": "Gemensam kompetensförsörjningsstrategi"}],
    "externalSystem": null, "externalId": null, "version": 1,
    "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Feedback {
    pub id: Uuid,
    pub year: i32,
    /// The goal judged: one of the year's plan challenges.
    pub goal: Challenge,
    /// The network or presidium giving the feedback.
    pub network_id: Uuid,
    /// The municipality whose representatives gave it, if one.
    #[schema(value_type = Option<MunicipalityCode>)]
    pub municipality_id: Option<String>,
    /// How well the goal was met, 1 (not at all) to 5 (fully).
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i16,
    pub comment: String,
    pub suggestions: Vec<Suggestion>,
    pub external_system: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FeedbackRow> for Feedback {
    fn from(r: FeedbackRow) -> Self {
        Self {
            id: r.id,
            year: r.year,
            goal: r.goal,
            network_id: r.network_id,
            municipality_id: r.municipality_id,
            rating: r.rating,
            comment: r.comment,
            suggestions: r.suggestions.0,
            external_system: r.external_system,
            external_id: r.external_id,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

page_type!(FeedbackPage, Feedback, "A page of feedback entries.");

/// A feedback entry's suggestions as stored: a JSON array of `{kind, text}`.
#[derive(
    Debug, Clone, Default, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Jsonb)]
pub struct SuggestionList(pub Vec<Suggestion>);

impl diesel::deserialize::FromSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for SuggestionList {
    /// Read straight from jsonb's binary format (a version byte, then the JSON text), without
    /// building a `serde_json::Value` first. The table's check keeps the column an array of
    /// `{kind, text}`; anything else reads as no suggestions, with a warning.
    fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
        let text = crate::store::jsonb_text(&value)?;
        Ok(Self(serde_json::from_slice(text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "feedback suggestions that are not a list of suggestions");
            Vec::new()
        })))
    }
}

impl std::ops::Deref for SuggestionList {
    type Target = [Suggestion];
    fn deref(&self) -> &[Suggestion] {
        &self.0
    }
}

impl diesel::serialize::ToSql<diesel::sql_types::Jsonb, diesel::pg::Pg> for SuggestionList {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        use std::io::Write;
        // jsonb's binary format: a version byte, then the JSON text.
        out.write_all(&[1])?;
        serde_json::to_writer(out, &self.0)?;
        Ok(diesel::serialize::IsNull::No)
    }
}

/// A new feedback entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "year": 2022, "goal": "focus", "networkId": "3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51", "municipalityId": "2282",
    "rating": 4, "comment": "Satsningarna på kompetensförsörjning har gett konkreta resultat.",
    "suggestions": [{"kind": "development", "text": "Gemensam kompetensförsörjningsstrategi"}]
}))]
pub struct NewFeedback {
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    pub goal: Challenge,
    pub network_id: Uuid,
    #[schema(pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<String>,
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i16,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub comment: String,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub suggestions: Vec<Suggestion>,
    #[schema(max_length = 100, pattern = "\\S")]
    pub external_system: Option<String>,
    #[schema(max_length = 200, pattern = "\\S")]
    pub external_id: Option<String>,
}

/// Changes to a feedback entry (JSON Merge Patch, RFC 7396).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"rating": 3}))]
pub struct FeedbackPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = i32, required = false)]
    pub year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Challenge, required = false)]
    pub goal: Option<Option<Challenge>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Uuid, required = false)]
    pub network_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<MunicipalityCode>)]
    pub municipality_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = i16, required = false, minimum = 1, maximum = 5)]
    pub rating: Option<Option<i16>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub comment: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Vec<Suggestion>>)]
    pub suggestions: Option<Option<Vec<Suggestion>>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "\\S")]
    pub external_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "\\S")]
    pub external_id: Option<Option<String>>,
}

impl From<NewFeedback> for FeedbackValues {
    fn from(n: NewFeedback) -> Self {
        Self {
            year: n.year,
            goal: n.goal,
            network_id: n.network_id,
            municipality_id: n.municipality_id,
            rating: n.rating,
            comment: n.comment,
            suggestions: SuggestionList(n.suggestions),
            external_system: n.external_system,
            external_id: n.external_id,
        }
    }
}

/// What is written of a feedback entry: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = feedback, treat_none_as_null = true)]
pub struct FeedbackValues {
    year: i32,
    goal: Challenge,
    network_id: Uuid,
    municipality_id: Option<String>,
    rating: i16,
    comment: String,
    suggestions: SuggestionList,
    external_system: Option<String>,
    external_id: Option<String>,
}

impl Form for FeedbackValues {
    /// The rules that need no database, every violation at once.
    fn check(&self, v: &mut Violations) {
        if !(MIN_YEAR..=MAX_YEAR).contains(&self.year) {
            v.push("year", format!("must be between {MIN_YEAR} and {MAX_YEAR}"));
        }
        if !(1..=5).contains(&self.rating) {
            v.push("rating", "must be 1, 2, 3, 4 or 5");
        }
        rules::optional_text(v, "comment", Some(&self.comment), 10_000);
        if self.suggestions.len() > 20 {
            v.push("suggestions", "must list at most 20 suggestions");
        }
        for (i, s) in self.suggestions.iter().enumerate() {
            if s.text.trim().is_empty() || s.text.chars().count() > 500 {
                v.push(
                    format!("suggestions[{i}].text"),
                    "must be 1 to 500 characters",
                );
            }
        }
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
        let goal_exists: bool = diesel::select(diesel::dsl::exists(
            plan_goals::table
                .filter(plan_goals::year.eq(self.year))
                .filter(plan_goals::challenge.eq(self.goal)),
        ))
        .get_result(conn)
        .await?;
        if !goal_exists {
            return Err(ApiError::invalid(
                "goal",
                format!(
                    "the plan for {} has no goal {}",
                    self.year,
                    self.goal.as_str()
                ),
            ));
        }
        let network_exists: bool =
            diesel::select(diesel::dsl::exists(networks::table.find(self.network_id)))
                .get_result(conn)
                .await?;
        if !network_exists {
            return Err(ApiError::invalid(
                "networkId",
                format!("no network has the id {}", self.network_id),
            ));
        }
        if let Some(m) = &self.municipality_id {
            checks::municipalities_exist(conn, "municipalityId", std::slice::from_ref(m)).await?;
        }
        Ok(())
    }
}

impl Resource for Feedback {
    const KIND: &'static str = "feedback";
    const NOUN: &'static str = "feedback entry";
    type Key = Uuid;
    type Values = FeedbackValues;
    type Patch = FeedbackPatch;

    crate::uuid_record!("/v1/feedback", feedback, FeedbackRow);
    fn owners(&self) -> Vec<String> {
        self.municipality_id.iter().cloned().collect()
    }

    async fn value_owners(
        _: &mut AsyncPgConnection,
        values: &FeedbackValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(values.municipality_id.iter().cloned().collect())
    }

    fn check_patch(p: &FeedbackPatch) -> Result<(), ApiError> {
        kernel::refuse_nulls(&[
            ("year", kernel::is_null(&p.year)),
            ("goal", kernel::is_null(&p.goal)),
            ("networkId", kernel::is_null(&p.network_id)),
            ("rating", kernel::is_null(&p.rating)),
        ])
    }

    fn patched(&self, p: FeedbackPatch) -> FeedbackValues {
        let current = self.clone();
        FeedbackValues {
            year: p.year.flatten().unwrap_or(current.year),
            goal: p.goal.flatten().unwrap_or(current.goal),
            network_id: p.network_id.flatten().unwrap_or(current.network_id),
            municipality_id: p.municipality_id.unwrap_or(current.municipality_id),
            rating: p.rating.flatten().unwrap_or(current.rating),
            comment: p
                .comment
                .map(Option::unwrap_or_default)
                .unwrap_or(current.comment),
            suggestions: SuggestionList(
                p.suggestions
                    .map(Option::unwrap_or_default)
                    .unwrap_or(current.suggestions),
            ),
            external_system: p.external_system.unwrap_or(current.external_system),
            external_id: p.external_id.unwrap_or(current.external_id),
        }
    }
}

crate::creatable_row!(Feedback, feedback, FeedbackRow);

crate::removable_row!(Feedback, feedback, |id| *id);

crate::external_row!(
    Feedback,
    feedback,
    FeedbackRow,
    "feedback_external_system_external_id_key"
);

impl Importable for Feedback {
    const COLLECTION: &'static str = "feedback";

    fn from_row(row: Map<String, Value>) -> Result<FeedbackValues, Vec<Violation>> {
        kernel::form::<NewFeedback>(row).map(FeedbackValues::from)
    }
}

crate::sort_fields! {
    /// The fields the list sorts by.
    FeedbackSort for feedback with timestamps {
        Year = "year" => feedback::year,
        Rating = "rating" => feedback::rating,
    }
}

crate::list_params! {
    /// Filters, sorting and paging of the feedback list.
    pub struct FeedbackListParams {
        /// Sort keys, `-` for descending: `year`, `rating`, `createdAt`, `updatedAt`.
        sort(default = "-createdAt", example = "-rating", pattern = "^[-+]?(year|rating|createdAt|updatedAt)(,[-+]?(year|rating|createdAt|updatedAt))*$"),
        external(system = "enkatverktyget", id = "svar-1187"),
        exports(labels),
        keyset(after),
        /// Only entries of this year.
        #[param(minimum = 2000, maximum = 2100, example = 2022)]
        pub year: Option<i32>,
        /// Only entries on this goal.
        #[param(example = "focus")]
        pub goal: Option<Challenge>,
        /// Only entries given by this network or presidium.
        pub network_id: Option<Uuid>,
        /// Only entries given for this municipality.
        #[param(pattern = "^[0-9]{4}$", example = "2282")]
        pub municipality_id: Option<String>,
        /// Only entries with this rating.
        #[param(minimum = 1, maximum = 5, example = 4)]
        pub rating: Option<i16>,
        /// Search of the comment and the suggestions. Every word must match, Swedish-style:
        /// inflections, the start or a part of a compound word, names with dots and hyphens,
        /// one or two typos in words of six letters or more (see `GET /v1/search`). Ranked by
        /// relevance (name or title first) unless `sort` is given. At most 200 characters and 8
        /// words.
        #[param(max_length = 200, example = "kompetensförsörjningen")]
        pub q: Option<String>,
    }
}

type FeedbackQuery = feedback::BoxedQuery<'static, diesel::pg::Pg>;

#[allow(clippy::type_complexity)]
fn filter(
    p: FeedbackListParams,
) -> Result<(Listing<FeedbackSort>, impl Fn() -> FeedbackQuery), ApiError> {
    let mut v = Violations::default();
    let listing = p.listing(&mut v, SortKey::desc(FeedbackSort::CreatedAt));
    let search = v
        .check(crate::http::search::Search::parse(p.q, p.sort.is_none()))
        .flatten();
    crate::rules::MunicipalityId::check_optional(
        &mut v,
        "municipalityId",
        p.municipality_id.as_deref(),
    );
    if p.rating.is_some_and(|r| !(1..=5).contains(&r)) {
        v.push("rating", "must be 1, 2, 3, 4 or 5");
    }
    if p.year.is_some_and(|y| !(MIN_YEAR..=MAX_YEAR).contains(&y)) {
        v.push("year", format!("must be between {MIN_YEAR} and {MAX_YEAR}"));
    }
    let listing = v.finish_with(listing)?.searching(search);
    let filtered = move || {
        let mut query = feedback::table.into_boxed();
        if let Some(y) = p.year {
            query = query.filter(feedback::year.eq(y));
        }
        if let Some(g) = p.goal {
            query = query.filter(feedback::goal.eq(g.as_str()));
        }
        if let Some(n) = p.network_id {
            query = query.filter(feedback::network_id.eq(n));
        }
        if let Some(m) = p.municipality_id.clone() {
            query = query.filter(feedback::municipality_id.eq(m));
        }
        if let Some(r) = p.rating {
            query = query.filter(feedback::rating.eq(r));
        }
        crate::external_filters!(query, feedback, p);
        query
    };
    Ok((listing, filtered))
}

crate::table_list!(
    Feedback, feedback, FeedbackRow, "feedback", FeedbackListParams => FeedbackPage,
    filter: filter, sort: FeedbackSort, plural: "feedback entries",
    Doc::new("listFeedback", "List feedback entries")
        .describe("`Accept: text/csv` or `application/x-ndjson` streams every matching entry."),
);

impl Served for Feedback {
    const ITEM: &'static str = "/feedback/{id}";
    const COLLECTION: &'static str = "/feedback";
    const TAG: &'static str = "Feedback";
    const GET: Doc = Doc::new("getFeedback", "Get a feedback entry");
    const CREATE: Doc = Doc::new("createFeedback", "File a feedback entry").describe(
        "The goal must be one of that year's plan. A client bound to a municipality files \
         feedback for its own municipality only (`municipalityId` set to it).",
    );
    const UPDATE: Doc = Doc::new("updateFeedback", "Change a feedback entry");
    const DELETE: Doc = Doc::new("deleteFeedback", "Delete a feedback entry");
    const UPSERT: Doc = Doc::new(
        "upsertFeedbackByExternalId",
        "Create or replace a feedback entry by its external reference",
    )
    .describe(
        "For systems that push their own records: the entry whose `externalSystem`/`externalId` \
         are the path's is replaced by the body (or created, 201). Repeating the same push \
         changes nothing. `If-Match` is optional.",
    );
    type Wire = Self;
    type Parent = ();

    fn wire(&self, _: &Caller) -> Self {
        self.clone()
    }
}

impl Posted for Feedback {
    type New = NewFeedback;

    fn values(_: (), new: NewFeedback) -> Self::Values {
        new.into()
    }
}

impl Pushed for Feedback {
    fn external_ref(new: &mut NewFeedback) -> (&mut Option<String>, &mut Option<String>) {
        (&mut new.external_system, &mut new.external_id)
    }
}

// ---------------------------------------------------------------------------------------------
// Summary

/// How many responses gave each rating.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"1": 0, "2": 1, "3": 4, "4": 6, "5": 2}))]
pub struct RatingDistribution {
    #[serde(rename = "1")]
    pub one: i64,
    #[serde(rename = "2")]
    pub two: i64,
    #[serde(rename = "3")]
    pub three: i64,
    #[serde(rename = "4")]
    pub four: i64,
    #[serde(rename = "5")]
    pub five: i64,
}

/// A suggested area and how many entries suggested it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"text": "Gemensam kompetensförsörjningsstrategi", "count": 3}))]
pub struct SuggestedArea {
    pub text: String,
    pub count: i64,
}

/// The suggested areas, grouped by kind, most suggested first.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SuggestionGroups {
    pub development: Vec<SuggestedArea>,
    pub coordination: Vec<SuggestedArea>,
    pub advocacy: Vec<SuggestedArea>,
}

/// The feedback on one goal.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalSummary {
    pub goal: Challenge,
    /// The goal statement from the plan.
    pub statement: String,
    /// How many entries judged this goal.
    pub responses: i64,
    /// The mean rating, two decimals; null without responses.
    pub mean_rating: Option<f64>,
    pub distribution: RatingDistribution,
    pub suggestions: SuggestionGroups,
}

/// The year's feedback per goal.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"year": 2022, "goals": [{"goal": "focus", "statement": "Efter 2022 kommer kommunerna uppleva att …",
    "responses": 13, "meanRating": 3.69, "distribution": {"1": 0, "2": 1, "3": 4, "4": 6, "5": 2},
    "suggestions": {"development": [{"text": "Gemensam kompetensförsörjningsstrategi", "count": 3}], "coordination": [], "advocacy": []}}]}))]
pub struct FeedbackSummary {
    pub year: i32,
    /// One per goal of the year's plan, in the order core, focus, internal.
    pub goals: Vec<GoalSummary>,
}

#[derive(QueryableByName)]
struct GoalFigures {
    #[diesel(sql_type = Text)]
    goal: String,
    #[diesel(sql_type = Text)]
    statement: String,
    #[diesel(sql_type = BigInt)]
    responses: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean_rating: Option<f64>,
    #[diesel(sql_type = BigInt)]
    r1: i64,
    #[diesel(sql_type = BigInt)]
    r2: i64,
    #[diesel(sql_type = BigInt)]
    r3: i64,
    #[diesel(sql_type = BigInt)]
    r4: i64,
    #[diesel(sql_type = BigInt)]
    r5: i64,
}

#[derive(QueryableByName)]
struct SuggestionFigure {
    #[diesel(sql_type = Text)]
    goal: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    text: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Computes the summary of `year` in SQL; `None` when there is no plan for the year.
pub async fn summary(
    conn: &mut AsyncPgConnection,
    year: i32,
) -> Result<Option<FeedbackSummary>, ApiError> {
    let figures: Vec<GoalFigures> = diesel::sql_query(
        "SELECT g.challenge AS goal, g.statement, count(f.id) AS responses, \
                round(avg(f.rating)::numeric, 2)::float8 AS mean_rating, \
                count(f.id) FILTER (WHERE f.rating = 1) AS r1, count(f.id) FILTER (WHERE f.rating = 2) AS r2, \
                count(f.id) FILTER (WHERE f.rating = 3) AS r3, count(f.id) FILTER (WHERE f.rating = 4) AS r4, \
                count(f.id) FILTER (WHERE f.rating = 5) AS r5 \
         FROM plan_goals g LEFT JOIN feedback f ON f.year = g.year AND f.goal = g.challenge \
         WHERE g.year = $1 \
         GROUP BY g.challenge, g.statement \
         ORDER BY array_position(ARRAY['core', 'focus', 'internal'], g.challenge)",
    )
    .bind::<Integer, _>(year)
    .load(conn)
    .await?;
    if figures.is_empty() {
        return Ok(None);
    }
    let suggestions: Vec<SuggestionFigure> = diesel::sql_query(
        "SELECT f.goal, s.kind, s.text, count(*) AS count \
         FROM feedback f \
         CROSS JOIN LATERAL jsonb_to_recordset(f.suggestions) AS s(kind text, text text) \
         WHERE f.year = $1 \
         GROUP BY f.goal, s.kind, s.text \
         ORDER BY count(*) DESC, s.text COLLATE swedish",
    )
    .bind::<Integer, _>(year)
    .load(conn)
    .await?;
    let goals = figures
        .into_iter()
        .map(|f| {
            let mut groups = SuggestionGroups::default();
            for s in suggestions.iter().filter(|s| s.goal == f.goal) {
                let area = SuggestedArea {
                    text: s.text.clone(),
                    count: s.count,
                };
                match SuggestionKind::parse(&s.kind) {
                    Some(SuggestionKind::Development) => groups.development.push(area),
                    Some(SuggestionKind::Coordination) => groups.coordination.push(area),
                    Some(SuggestionKind::Advocacy) => groups.advocacy.push(area),
                    None => {}
                }
            }
            GoalSummary {
                goal: Challenge::parse(&f.goal).unwrap_or(Challenge::Core),
                statement: f.statement,
                responses: f.responses,
                mean_rating: f.mean_rating,
                distribution: RatingDistribution {
                    one: f.r1,
                    two: f.r2,
                    three: f.r3,
                    four: f.r4,
                    five: f.r5,
                },
                suggestions: groups,
            }
        })
        .collect();
    Ok(Some(FeedbackSummary { year, goals }))
}

/// Parameters of the summary.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// The year whose plan's goals are summarised.
    #[param(minimum = 2000, maximum = 2100, example = 2022)]
    pub year: i32,
}

/// Summarise a year's feedback per goal
///
/// For each goal of the year's plan: how many answered, the mean rating and the distribution of
/// ratings 1–5, and the suggested development, coordination and advocacy areas with how often
/// each was suggested. Computed in the database.
#[utoipa::path(
    operation_id = "summariseFeedback",
    tag = "Feedback",
    params(SummaryParams),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "The summary", body = FeedbackSummary),
        ReadOne,
    ),
)]
#[get("/feedback/summary")]
pub async fn feedback_summary(
    req: HttpRequest,
    db: Db,
    params: Query<SummaryParams>,
) -> Result<HttpResponse, ApiError> {
    let year = params.0.year;
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return Err(ApiError::invalid(
            "year",
            format!("must be between {MIN_YEAR} and {MAX_YEAR}"),
        ));
    }
    let mut conn = db.conn().await?;
    let summary = summary(&mut conn, year)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The plan for {year}")))?;
    conditional_json(&req, &summary, None)
}
