//! The yearly operational plans (verksamhetsplaner) and their three challenges with one goal
//! statement each (målsättningar).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::{Db, PgConn};
use crate::error::ApiError;
use crate::error::responses::{AuthErrors, CommonErrors, NotFound};
use crate::http::{Query, conditional_json, version_etag};
use crate::page_type;
use crate::pagination::{self, Paging, SortField, SortKey, Violations};
use crate::schema::{plan_goals, plans};

pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 2100;

/// The plan's three challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Challenge {
    /// Kärnutmaningen: equal, good quality in the municipalities' services.
    Core,
    /// Fokusutmaningen: the year's focus (2022: competence supply, kompetensförsörjning).
    Focus,
    /// Den interna utmaningen: the association's own ways of working.
    Internal,
}

impl Challenge {
    pub const ALL: [Challenge; 3] = [Challenge::Core, Challenge::Focus, Challenge::Internal];

    pub fn as_str(self) -> &'static str {
        match self {
            Challenge::Core => "core",
            Challenge::Focus => "focus",
            Challenge::Internal => "internal",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
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
    challenge: String,
    name: String,
    theme: Option<String>,
    statement: String,
}

/// One of the plan's challenges with its goal statement.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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
        let Some(challenge) = Challenge::parse(&g.challenge) else {
            continue;
        };
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSort {
    Year,
    UpdatedAt,
}

impl SortField for PlanSort {
    const ALL: &'static [(&'static str, Self)] =
        &[("year", Self::Year), ("updatedAt", Self::UpdatedAt)];
}

/// Filters, sorting and paging of the plan list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PlanListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Comma-separated sort keys, `-` for descending: `year`, `updatedAt`.
    #[param(default = "-year", example = "-year")]
    pub sort: Option<String>,
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
        let paging = v.check(pagination::paging(self.limit, self.page));
        let sort = v.check(pagination::sort(
            self.sort.as_deref(),
            &[SortKey {
                field: PlanSort::Year,
                descending: true,
            }],
        ));
        let q = v.check(pagination::search_text(self.q));
        check_year(&mut v, "year", self.year);
        check_year(&mut v, "fromYear", self.from_year);
        check_year(&mut v, "toYear", self.to_year);
        if let (Some(from), Some(to)) = (self.from_year, self.to_year) {
            if from > to {
                v.push("toYear", "must not be before fromYear");
            }
        }
        v.finish()?;
        match (paging, sort, q) {
            (Some(paging), Some(sort), Some(q)) => Ok(ListFilter {
                paging,
                sort,
                year: self.year,
                from_year: self.from_year,
                to_year: self.to_year,
                q,
            }),
            _ => Err(ApiError::internal(anyhow::anyhow!("unreachable: checked"))),
        }
    }
}

async fn goals_of(conn: &mut PgConn, years: &[i32]) -> QueryResult<Vec<GoalRow>> {
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
    let mut query = filtered().select(PlanRow::as_select());
    for key in &f.sort {
        query = match (key.field, key.descending) {
            (PlanSort::Year, false) => query.then_order_by(plans::year.asc()),
            (PlanSort::Year, true) => query.then_order_by(plans::year.desc()),
            (PlanSort::UpdatedAt, false) => query.then_order_by(plans::updated_at.asc()),
            (PlanSort::UpdatedAt, true) => query.then_order_by(plans::updated_at.desc()),
        };
    }
    let rows = query
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
pub async fn find(conn: &mut PgConn, year: i32) -> QueryResult<Option<Plan>> {
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
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/plans")]
pub async fn list_plans(
    req: HttpRequest,
    db: web::Data<Db>,
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

/// Get a year's plan
///
/// The plan of one year with its three challenges and goal statements.
#[utoipa::path(
    operation_id = "getPlan",
    tag = "Plans",
    security(("clientCredentials" = ["read"])),
    params(
        ("year" = i32, Path, description = "The plan's year", example = 2022, minimum = 2000, maximum = 2100),
    ),
    responses(
        (status = 200, description = "The plan", body = Plan,
            headers(("ETag" = String, description = "Strong entity tag: the quoted version"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        NotFound,
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/plans/{year}")]
pub async fn get_plan(
    req: HttpRequest,
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let raw = path.into_inner();
    let year = raw
        .parse::<i32>()
        .ok()
        .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
        .ok_or_else(|| {
            ApiError::invalid(
                "year",
                format!("must be a year between {MIN_YEAR} and {MAX_YEAR}"),
            )
        })?;
    let mut conn = db.conn().await?;
    let plan = find(&mut conn, year)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The plan for {year}")))?;
    let etag = version_etag(plan.version);
    conditional_json(&req, &plan, Some(etag))
}
