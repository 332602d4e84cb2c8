//! The yearly operational plans (verksamhetsplaner) and their three challenges with one goal
//! statement each (målsättningar).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Violations;
use crate::error::responses::ReadPage;
use crate::http::list::{self, Paging, SortKey};
use crate::http::{PathKey, Query, conditional_json, merge_member, path_parameter, segment};
use crate::kernel::operations::{Doc, Posted, Served};
use crate::kernel::{Creatable, Form, Lock, Resource};
use crate::page_type;
use crate::rules;
use crate::store::db::{Db, PgConn};
use crate::store::schema::{plan_goals, plans};

pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 2100;

crate::text_enum! {
    /// The plan's three challenges.
    Challenge {
        /// Kärnutmaningen: equal, good quality in the municipalities' services.
        Core = "core" ["Kärnutmaningen", "kärnutmaning", "kärn"],
        /// Fokusutmaningen: the year's focus (2022: competence supply, kompetensförsörjning).
        Focus = "focus" ["Fokusutmaningen", "fokusutmaning", "fokus"],
        /// Den interna utmaningen: the association's own ways of working.
        Internal = "internal" ["Den interna utmaningen", "interna utmaningen", "intern"],
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = plans, check_for_backend(diesel::pg::Pg))]
struct PlanRow {
    year: i32,
    title: String,
    vision: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = plan_goals, check_for_backend(diesel::pg::Pg))]
struct GoalRow {
    year: i32,
    challenge: Challenge,
    name: String,
    theme: Option<String>,
    statement: String,
}

/// One of the plan's challenges with its goal statement.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "challenge": "focus", "name": "Fokusutmaningen", "theme": "Kompetensförsörjning",
    "statement": "Efter 2022 kommer kommunerna uppleva att möjligheten att tillvarata befintlig kompetens och utveckla nödvändig ny kunskap har stärkts."
}))]
pub struct Goal {
    pub challenge: Challenge,
    /// The challenge's name in the plan, e.g. `Fokusutmaningen`.
    pub name: String,
    /// The challenge's theme that year, if it has one (e.g. `Kompetensförsörjning`).
    pub theme: Option<String>,
    /// The goal statement (målsättning) the networks judge at the end of the year.
    pub statement: String,
}

/// A year's operational plan (verksamhetsplan).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "year": 2022, "title": "Verksamhetsplan 2022", "vision": "Tillsammans för välfärd och utveckling",
    "goals": [
        {"challenge": "core", "name": "Kärnutmaningen", "theme": null, "statement": "Efter 2022 kommer länets kommuner att uppleva att de fått stöd för att ta ytterligare steg mot verksamheter som håller en likställd och god kvalitet."},
        {"challenge": "focus", "name": "Fokusutmaningen", "theme": "Kompetensförsörjning", "statement": "Efter 2022 kommer kommunerna uppleva att möjligheten att tillvarata befintlig kompetens och utveckla nödvändig ny kunskap har stärkts."},
        {"challenge": "internal", "name": "Den interna utmaningen", "theme": null, "statement": "Efter 2022 kommer kommunerna att uppleva att de får stöd av medarbetare som har bred kompetens, och att Kommunförbundets medarbetare ”krokar arm” med varandra när det gynnar kommunerna."}
    ],
    "version": 1, "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Plan {
    /// The plan's year; it identifies the plan.
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    pub title: String,
    /// The association's vision as stated in the plan.
    pub vision: String,
    /// The challenges in the order core, focus, internal.
    pub goals: Vec<Goal>,
    /// Increases on every change of the plan or its goals; the `ETag` is derived from it.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(PlanPage, Plan, "A page of plans.");

fn assemble(rows: Vec<PlanRow>, goals: Vec<GoalRow>) -> Vec<Plan> {
    let mut by_year: HashMap<i32, Vec<Goal>> = HashMap::new();
    for g in goals {
        let challenge = g.challenge;
        by_year.entry(g.year).or_default().push(Goal {
            challenge,
            name: g.name,
            theme: g.theme,
            statement: g.statement,
        });
    }
    rows.into_iter()
        .map(|r| {
            let mut goals = by_year.remove(&r.year).unwrap_or_default();
            goals.sort_by_key(|g| g.challenge as u8);
            Plan {
                year: r.year,
                title: r.title,
                vision: r.vision,
                goals,
                version: r.version,
                created_at: r.created_at,
                updated_at: r.updated_at,
            }
        })
        .collect()
}

crate::sort_fields! {
    /// The fields the list sorts by.
    PlanSort for plans {
        Year = "year" => plans::year,
        UpdatedAt = "updatedAt" => plans::updated_at,
    }
}

crate::list_params! {
    /// Filters, sorting and paging of the plan list.
    pub struct PlanListParams {
        /// Comma-separated sort keys, `-` for descending: `year`, `updatedAt`.
        sort(default = "-year", example = "-year", pattern = "^[-+]?(year|updatedAt)(,[-+]?(year|updatedAt))*$"),
        /// Only the plan of this year.
        #[param(minimum = 2000, maximum = 2100, example = 2022)]
        pub year: Option<i32>,
        /// Only plans from this year on.
        #[param(minimum = 2000, maximum = 2100, example = 2020)]
        pub from_year: Option<i32>,
        /// Only plans up to and including this year.
        #[param(minimum = 2000, maximum = 2100, example = 2025)]
        pub to_year: Option<i32>,
        /// Full-text search with Swedish stemming in the title, vision and goal statements
        /// (`kompetensförsörjningen` finds `Kompetensförsörjning`).
        #[param(max_length = 200, example = "kompetensförsörjningen")]
        pub q: Option<String>,
    }
}

struct ListFilter {
    paging: Paging,
    sort: Vec<SortKey<PlanSort>>,
    year: Option<i32>,
    from_year: Option<i32>,
    to_year: Option<i32>,
    q: Option<String>,
}

fn check_year(v: &mut Violations, field: &str, year: Option<i32>) {
    if let Some(y) = year {
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            v.push(field, format!("must be between {MIN_YEAR} and {MAX_YEAR}"));
        }
    }
}

impl PlanListParams {
    fn validate(self) -> Result<ListFilter, ApiError> {
        let mut v = Violations::default();
        let listing = self.listing(&mut v, SortKey::desc(PlanSort::Year));
        let q = v.check(list::search_text(self.q));
        check_year(&mut v, "year", self.year);
        check_year(&mut v, "fromYear", self.from_year);
        check_year(&mut v, "toYear", self.to_year);
        if let (Some(from), Some(to)) = (self.from_year, self.to_year) {
            if from > to {
                v.push("toYear", "must not be before fromYear");
            }
        }
        let (listing, q) = v.finish_with(listing.zip(q))?;
        Ok(ListFilter {
            paging: listing.paging,
            sort: listing.sort,
            year: self.year,
            from_year: self.from_year,
            to_year: self.to_year,
            q,
        })
    }
}

async fn goals_of(conn: &mut AsyncPgConnection, years: &[i32]) -> QueryResult<Vec<GoalRow>> {
    plan_goals::table
        .filter(plan_goals::year.eq_any(years))
        .select(GoalRow::as_select())
        .load(conn)
        .await
}

async fn list(conn: &mut PgConn, f: &ListFilter) -> QueryResult<(Vec<Plan>, i64)> {
    let filtered = || {
        let mut q = plans::table.into_boxed();
        if let Some(y) = f.year {
            q = q.filter(plans::year.eq(y));
        }
        if let Some(y) = f.from_year {
            q = q.filter(plans::year.ge(y));
        }
        if let Some(y) = f.to_year {
            q = q.filter(plans::year.le(y));
        }
        if let Some(text) = &f.q {
            q = q.filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "(to_tsvector('swedish', title || ' ' || vision) @@ websearch_to_tsquery('swedish', ",
                )
                .bind::<diesel::sql_types::Text, _>(text.clone())
                .sql(") OR EXISTS (SELECT 1 FROM plan_goals g WHERE g.year = plans.year AND \
                      to_tsvector('swedish', g.name || ' ' || coalesce(g.theme, '') || ' ' || g.statement) \
                      @@ websearch_to_tsquery('swedish', ")
                .bind::<diesel::sql_types::Text, _>(text.clone())
                .sql(")))"),
            );
        }
        q
    };
    let total: i64 = filtered().count().get_result(conn).await?;
    let rows = PlanSort::order(filtered(), &f.sort)
        .select(PlanRow::as_select())
        .then_order_by(plans::year.asc())
        .limit(i64::from(f.paging.limit))
        .offset(f.paging.offset())
        .load(conn)
        .await?;
    let years: Vec<i32> = rows.iter().map(|r| r.year).collect();
    let goals = goals_of(conn, &years).await?;
    Ok((assemble(rows, goals), total))
}

/// The plan of `year`, if there is one.
pub async fn find(conn: &mut AsyncPgConnection, year: i32) -> QueryResult<Option<Plan>> {
    let Some(row) = plans::table
        .find(year)
        .select(PlanRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let goals = goals_of(conn, &[year]).await?;
    Ok(assemble(vec![row], goals).pop())
}

/// List the yearly plans
///
/// The operational plans with their three challenges and goal statements, newest first unless
/// `sort` says otherwise.
#[utoipa::path(
    operation_id = "listPlans",
    tag = "Plans",
    security(("clientCredentials" = ["read"])),
    params(PlanListParams),
    responses(
        (status = 200, description = "A page of plans", body = PlanPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        ReadPage,
    ),
)]
#[get("/plans")]
pub async fn list_plans(
    req: HttpRequest,
    db: Db,
    params: Query<PlanListParams>,
) -> Result<HttpResponse, ApiError> {
    let filter = params.0.validate()?;
    let mut conn = db.conn().await?;
    let (items, total) = list(&mut conn, &filter).await?;
    let page = PlanPage {
        meta: filter.paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

/// A goal of a new plan.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewGoal {
    pub challenge: Challenge,
    /// The challenge's name, e.g. `Fokusutmaningen`.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    #[schema(max_length = 200)]
    pub theme: Option<String>,
    #[schema(min_length = 1, max_length = 2000, pattern = "\\S")]
    pub statement: String,
}

/// A new yearly plan with its three goals.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "year": 2023, "title": "Verksamhetsplan 2023", "vision": "Tillsammans för välfärd och utveckling",
    "goals": [
        {"challenge": "core", "name": "Kärnutmaningen", "statement": "Efter 2023 kommer länets kommuner att …"},
        {"challenge": "focus", "name": "Fokusutmaningen", "theme": "Kompetensförsörjning", "statement": "Efter 2023 kommer kommunerna …"},
        {"challenge": "internal", "name": "Den interna utmaningen", "statement": "Efter 2023 kommer kommunerna …"}
    ]
}))]
pub struct NewPlan {
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub vision: String,
    /// Exactly one goal per challenge: core, focus and internal.
    #[schema(min_items = 3, max_items = 3)]
    pub goals: Vec<NewGoal>,
}

/// Changes to a goal: members left out are unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GoalPatch {
    pub challenge: Challenge,
    #[schema(max_length = 200, pattern = "\\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub theme: Option<Option<String>>,
    #[schema(max_length = 2000, pattern = "\\S")]
    pub statement: Option<String>,
}

/// Changes to a plan (JSON Merge Patch for title and vision; goals are matched by challenge).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"goals": [{"challenge": "focus", "statement": "Efter 2022 kommer kommunerna uppleva att …"}]}))]
pub struct PlanPatch {
    #[schema(max_length = 200, pattern = "\\S")]
    pub title: Option<String>,
    #[schema(max_length = 1000)]
    pub vision: Option<String>,
    /// The goals to change, each challenge at most once.
    #[serde(default)]
    #[schema(max_items = 3)]
    pub goals: Vec<GoalPatch>,
}

/// What is written of a plan: a new one, or the current one with a patch applied.
pub struct PlanValues {
    year: i32,
    title: String,
    vision: String,
    goals: Vec<NewGoal>,
    /// Goals a patch named that the plan does not have.
    unknown_goals: Vec<Challenge>,
    /// Goals a patch listed more than once.
    repeated_goals: Vec<usize>,
}

/// A theme of only blanks is no theme.
fn blank_is_none(theme: Option<String>) -> Option<String> {
    theme.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

impl From<NewPlan> for PlanValues {
    fn from(new: NewPlan) -> Self {
        Self {
            year: new.year,
            title: new.title.trim().to_owned(),
            vision: new.vision,
            goals: new
                .goals
                .into_iter()
                .map(|g| NewGoal {
                    name: g.name.trim().to_owned(),
                    statement: g.statement.trim().to_owned(),
                    theme: blank_is_none(g.theme),
                    ..g
                })
                .collect(),
            unknown_goals: Vec::new(),
            repeated_goals: Vec::new(),
        }
    }
}

impl Form for PlanValues {
    fn check(&self, v: &mut Violations) {
        check_year(v, "year", Some(self.year));
        rules::required_text(v, "title", &self.title, 200);
        rules::optional_text(v, "vision", Some(&self.vision), 1000);
        for &challenge in Challenge::ALL {
            let count = self
                .goals
                .iter()
                .filter(|g| g.challenge == challenge)
                .count();
            if count != 1 {
                v.push(
                    "goals",
                    format!("must have exactly one {} goal", challenge.as_str()),
                );
            }
        }
        for (i, g) in self.goals.iter().enumerate() {
            rules::required_text(v, &format!("goals[{i}].name"), &g.name, 200);
            rules::optional_text(v, &format!("goals[{i}].theme"), g.theme.as_deref(), 200);
            rules::required_text(v, &format!("goals[{i}].statement"), &g.statement, 2000);
        }
        for c in &self.unknown_goals {
            v.push("goals", format!("the plan has no {} goal", c.as_str()));
        }
        for i in &self.repeated_goals {
            v.push(format!("goals[{i}].challenge"), "is listed twice");
        }
    }
}

impl Resource for Plan {
    const KIND: &'static str = "plan";
    const NOUN: &'static str = "plan";
    type Key = PlanYear;
    type Values = PlanValues;
    type Patch = PlanPatch;

    fn id(&self) -> String {
        self.year.to_string()
    }
    fn key(&self) -> PlanYear {
        PlanYear(self.year)
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn location(&self) -> String {
        format!("/v1/plans/{}", self.year)
    }
    /// The plans are the association's.
    fn owners(&self) -> Vec<String> {
        Vec::new()
    }
    fn audit_view(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    async fn find(
        conn: &mut AsyncPgConnection,
        year: &PlanYear,
        lock: Lock,
    ) -> QueryResult<Option<Self>> {
        if lock == Lock::ForUpdate {
            let locked: Option<i32> = plans::table
                .find(year.0)
                .select(plans::year)
                .for_update()
                .first(conn)
                .await
                .optional()?;
            if locked.is_none() {
                return Ok(None);
            }
        }
        find(conn, year.0).await
    }
    async fn update(
        conn: &mut AsyncPgConnection,
        year: &PlanYear,
        values: &PlanValues,
    ) -> QueryResult<Self> {
        diesel::update(plans::table.find(year.0))
            .set((
                plans::title.eq(&values.title),
                plans::vision.eq(&values.vision),
            ))
            .execute(conn)
            .await?;
        for g in &values.goals {
            diesel::update(
                plan_goals::table
                    .filter(plan_goals::year.eq(year.0))
                    .filter(plan_goals::challenge.eq(g.challenge)),
            )
            .set((
                plan_goals::name.eq(&g.name),
                plan_goals::theme.eq(&g.theme),
                plan_goals::statement.eq(&g.statement),
            ))
            .execute(conn)
            .await?;
        }
        find(conn, year.0)
            .await?
            .ok_or(diesel::result::Error::NotFound)
    }
    async fn value_owners(
        _: &mut AsyncPgConnection,
        _: &PlanValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(Vec::new())
    }
    fn patched(&self, patch: PlanPatch) -> PlanValues {
        let mut goals: Vec<NewGoal> = self
            .goals
            .iter()
            .map(|g| NewGoal {
                challenge: g.challenge,
                name: g.name.clone(),
                theme: g.theme.clone(),
                statement: g.statement.clone(),
            })
            .collect();
        let mut unknown_goals = Vec::new();
        let mut repeated_goals = Vec::new();
        for (i, g) in patch.goals.iter().enumerate() {
            if patch.goals[..i].iter().any(|o| o.challenge == g.challenge) {
                repeated_goals.push(i);
            }
            let Some(current) = goals.iter_mut().find(|c| c.challenge == g.challenge) else {
                unknown_goals.push(g.challenge);
                continue;
            };
            if let Some(name) = &g.name {
                current.name = name.trim().to_owned();
            }
            if let Some(theme) = &g.theme {
                current.theme = blank_is_none(theme.clone());
            }
            if let Some(statement) = &g.statement {
                current.statement = statement.trim().to_owned();
            }
        }
        PlanValues {
            year: self.year,
            title: patch
                .title
                .as_deref()
                .map(|t| t.trim().to_owned())
                .unwrap_or_else(|| self.title.clone()),
            vision: patch.vision.unwrap_or_else(|| self.vision.clone()),
            goals,
            unknown_goals,
            repeated_goals,
        }
    }
    fn conflict(values: &PlanValues, _: Option<&str>) -> ApiError {
        ApiError::Conflict(format!("There is already a plan for {}", values.year))
    }
}

impl Creatable for Plan {
    async fn insert(conn: &mut AsyncPgConnection, values: &PlanValues) -> QueryResult<Self> {
        diesel::insert_into(plans::table)
            .values((
                plans::year.eq(values.year),
                plans::title.eq(&values.title),
                plans::vision.eq(&values.vision),
            ))
            .execute(conn)
            .await?;
        for g in &values.goals {
            diesel::insert_into(plan_goals::table)
                .values((
                    plan_goals::year.eq(values.year),
                    plan_goals::challenge.eq(g.challenge),
                    plan_goals::name.eq(&g.name),
                    plan_goals::theme.eq(&g.theme),
                    plan_goals::statement.eq(&g.statement),
                ))
                .execute(conn)
                .await?;
        }
        find(conn, values.year)
            .await?
            .ok_or(diesel::result::Error::NotFound)
    }
}

/// A plan's key: its year, at `{year}` in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanYear(pub i32);

impl std::fmt::Display for PlanYear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PathKey for PlanYear {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        segment(req, "year")?
            .parse::<i32>()
            .ok()
            .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
            .map(PlanYear)
            .ok_or_else(|| {
                ApiError::invalid(
                    "year",
                    format!("must be a year between {MIN_YEAR} and {MAX_YEAR}"),
                )
            })
    }

    fn parameters(_: &str) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(MIN_YEAR))
            .maximum(Some(MAX_YEAR));
        vec![path_parameter(
            "year",
            "The plan's year",
            schema,
            Some(serde_json::json!(2022)),
        )]
    }
}

impl Served for Plan {
    const ITEM: &'static str = "/plans/{year}";
    const COLLECTION: &'static str = "/plans";
    const TAG: &'static str = "Plans";
    const WRITE_SCOPE: &'static str = "admin";
    const UPDATE_CONFLICTS: bool = false;
    const GET: Doc = Doc::new("getPlan", "Get a year's plan")
        .describe("The plan of one year with its three challenges and goal statements.");
    const CREATE: Doc = Doc::new("createPlan", "Create a year's plan").describe(
        "A plan has exactly three goals, one per challenge (`core`, `focus`, `internal`).",
    );
    const UPDATE: Doc = Doc::new("updatePlan", "Change a year's plan or its goals").describe(
        "Title and vision as in JSON Merge Patch; `goals` lists goals to change, each identified \
         by its `challenge`. Requires `If-Match`.",
    );
    type Wire = Self;
    type Parent = ();

    fn wire(&self, _: &Caller) -> Self {
        self.clone()
    }
}

impl Posted for Plan {
    type New = NewPlan;

    fn values(_: (), new: NewPlan) -> PlanValues {
        new.into()
    }
}
