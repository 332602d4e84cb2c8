//! The board's reports: the tertial report (tertialrapport) and the annual report
//! (verksamhetsberättelse), computed in SQL from the assignments' status history, the progress
//! reports and the feedback, as JSON, CSV (for the board's spreadsheets) and a printable Swedish
//! HTML page with inline SVG charts.
//!
//! Status is taken "at the end of the period" from the status history, so a past period's report
//! stays the same when assignments move on.

pub mod links;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::NaiveDate;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, SmallInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use crate::error::responses::{AuthErrors, CommonErrors, NotAcceptable, NotFound};
use crate::http::{Query, conditional_json, escape_html as esc};
use crate::resources::feedback::{self, GoalSummary};
use crate::resources::plans::{self, MAX_YEAR, MIN_YEAR};
use crate::store::db::Db;

/// One assignment in a tertial report.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedAssignment {
    pub id: Uuid,
    pub title: String,
    pub area_id: Uuid,
    pub area_name: String,
    pub challenge: Option<String>,
    pub municipality_ids: Vec<String>,
    /// The status at the end of the period.
    pub status: String,
    pub budget_sek: i64,
    /// From the period's progress report; null without one.
    pub spent_sek: Option<i64>,
    pub forecast_sek: Option<i64>,
    pub deviation: Option<String>,
    pub deviation_note: Option<String>,
    /// Whether the assignment reported for the period.
    pub reported: bool,
}

/// Budget against spent and forecast, in SEK. An assignment without a progress report for the
/// period has no forecast: it is never counted as a forecast of 0. The forecast and the
/// variance are those of the assignments that reported; the budget of the others is shown
/// apart (`unreportedBudgetSek`).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"budgetSek": 21400000, "spentSek": 6100000, "forecastSek": 17050000,
    "reportedBudgetSek": 16400000, "unreportedBudgetSek": 5000000, "unreportedAssignments": 2, "varianceSek": 650000}))]
pub struct Money {
    /// The budget of every assignment counted.
    pub budget_sek: i64,
    /// Spent so far, as the progress reports say.
    pub spent_sek: i64,
    /// The forecast of the assignments that reported.
    pub forecast_sek: i64,
    /// The budget of the assignments that reported.
    pub reported_budget_sek: i64,
    /// The budget of the assignments without a report for the period: in no forecast.
    pub unreported_budget_sek: i64,
    /// How many assignments have no report for the period.
    pub unreported_assignments: i64,
    /// Forecast minus budget of the assignments that reported: positive means an expected
    /// overrun. The same as the variance of the whole if the others keep to their budgets.
    pub variance_sek: i64,
}

impl Money {
    fn add(&mut self, other: &Money) {
        self.budget_sek += other.budget_sek;
        self.spent_sek += other.spent_sek;
        self.forecast_sek += other.forecast_sek;
        self.reported_budget_sek += other.reported_budget_sek;
        self.unreported_budget_sek += other.unreported_budget_sek;
        self.unreported_assignments += other.unreported_assignments;
        self.variance_sek = self.forecast_sek - self.reported_budget_sek;
    }

    /// What the figures assume, in words (Swedish, as the report's page prints it).
    pub fn assumption(&self) -> String {
        let reported = if self.reported_budget_sek > 0 || self.forecast_sek > 0 {
            format!(
                "Prognosen ({} kr) och avvikelsen ({} kr) gäller de uppdrag som har rapporterat för perioden, med en budget på {} kr.",
                sek(self.forecast_sek),
                signed_sek(self.variance_sek),
                sek(self.reported_budget_sek)
            )
        } else {
            "Inget uppdrag har rapporterat för perioden: det finns ingen prognos och ingen avvikelse att redovisa.".to_owned()
        };
        match self.unreported_assignments {
            0 => format!("{reported} Alla uppdrag har rapporterat."),
            n => format!(
                "{reported} {} utan rapport, med en budget på {} kr, ingår inte i prognosen; avvikelsen förutsätter att {} håller sin budget.",
                if n == 1 {
                    "Ett uppdrag".to_owned()
                } else {
                    format!("{n} uppdrag")
                },
                sek(self.unreported_budget_sek),
                if n == 1 { "det" } else { "de" }
            ),
        }
    }
}

/// Counts by status at the end of the period, with money.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"key": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002", "name": "Digitalisering",
    "incoming": 1, "ongoing": 4, "outgoing": 0, "budgetSek": 3450000, "spentSek": 1200000,
    "forecastSek": 3000000, "reportedBudgetSek": 3000000, "unreportedBudgetSek": 450000,
    "unreportedAssignments": 1, "varianceSek": 0}))]
pub struct Breakdown {
    /// The area's or challenge's key (`null` challenge: assignments serving no challenge).
    pub key: Option<String>,
    /// The area's name, or the challenge.
    pub name: String,
    pub incoming: i64,
    pub ongoing: i64,
    pub outgoing: i64,
    #[serde(flatten)]
    pub money: Money,
}

/// A reported deviation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedDeviation {
    pub assignment_id: Uuid,
    pub title: String,
    /// `minor` or `major`.
    pub deviation: String,
    pub note: Option<String>,
}

/// The tertial report (tertialrapport).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"year": 2022, "tertial": 2, "periodStart": "2022-05-01", "periodEnd": "2022-08-31",
    "counts": {"incoming": 2, "ongoing": 14, "outgoing": 3}, "incoming": [], "ongoing": [], "outgoing": [],
    "byArea": [], "byChallenge": [], "totals": {"budgetSek": 21400000, "spentSek": 6100000, "forecastSek": 17050000,
        "reportedBudgetSek": 16400000, "unreportedBudgetSek": 5000000, "unreportedAssignments": 2, "varianceSek": 650000},
    "assumption": "Prognosen (17 050 000 kr) och avvikelsen (+650 000 kr) gäller de uppdrag som har rapporterat för perioden, med en budget på 16 400 000 kr. 2 uppdrag utan rapport, med en budget på 5 000 000 kr, ingår inte i prognosen; avvikelsen förutsätter att de håller sin budget.",
    "deviations": [], "missingReports": []}))]
pub struct TertialReport {
    pub year: i32,
    #[schema(minimum = 1, maximum = 3)]
    pub tertial: i16,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub counts: StatusCounts,
    /// På väg in.
    pub incoming: Vec<ReportedAssignment>,
    /// Pågår.
    pub ongoing: Vec<ReportedAssignment>,
    /// På väg ut.
    pub outgoing: Vec<ReportedAssignment>,
    pub by_area: Vec<Breakdown>,
    pub by_challenge: Vec<Breakdown>,
    pub totals: Money,
    /// What the money figures assume about the assignments without a report, in words
    /// (Swedish, as the page prints it).
    pub assumption: String,
    /// Every deviation reported for the period, with its note.
    pub deviations: Vec<ReportedDeviation>,
    /// Ongoing and outgoing assignments without a report for the period.
    pub missing_reports: Vec<ReportedAssignment>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[schema(example = json!({"incoming": 2, "ongoing": 18, "outgoing": 2}))]
pub struct StatusCounts {
    pub incoming: i64,
    pub ongoing: i64,
    pub outgoing: i64,
}

/// The first day of a tertial and the first day after it.
pub fn period(year: i32, tertial: i16) -> Option<(NaiveDate, NaiveDate)> {
    let (start_month, end_month) = match tertial {
        1 => (1, 5),
        2 => (5, 9),
        3 => (9, 13),
        _ => return None,
    };
    let start = NaiveDate::from_ymd_opt(year, start_month, 1)?;
    let after = if end_month == 13 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, end_month, 1)?
    };
    Some((start, after))
}

#[derive(diesel::QueryableByName)]
struct LineRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    area_id: Uuid,
    #[diesel(sql_type = Text)]
    area_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    challenge: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    municipality_ids: Vec<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    budget_sek: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    spent_sek: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    forecast_sek: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    deviation: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    deviation_note: Option<String>,
    #[diesel(sql_type = Bool)]
    reported: bool,
}

/// The assignments' status at the start of the day `$1` in Swedish time (the end of a period).
const STATUS_AT: &str = "WITH status_at AS ( \
        SELECT DISTINCT ON (h.assignment_id) h.assignment_id, h.status \
        FROM assignment_status_history h \
        WHERE h.changed_at < ($1::timestamp AT TIME ZONE 'Europe/Stockholm') \
        ORDER BY h.assignment_id, h.changed_at DESC, h.id DESC) ";

#[derive(diesel::QueryableByName)]
struct BreakdownRow {
    #[diesel(sql_type = Nullable<Text>)]
    key: Option<String>,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    incoming: i64,
    #[diesel(sql_type = BigInt)]
    ongoing: i64,
    #[diesel(sql_type = BigInt)]
    outgoing: i64,
    #[diesel(sql_type = BigInt)]
    budget_sek: i64,
    #[diesel(sql_type = BigInt)]
    spent_sek: i64,
    #[diesel(sql_type = BigInt)]
    forecast_sek: i64,
    #[diesel(sql_type = BigInt)]
    reported_budget_sek: i64,
    #[diesel(sql_type = BigInt)]
    unreported: i64,
}

impl From<BreakdownRow> for Breakdown {
    fn from(r: BreakdownRow) -> Self {
        Self {
            key: r.key,
            name: r.name,
            incoming: r.incoming,
            ongoing: r.ongoing,
            outgoing: r.outgoing,
            money: Money {
                budget_sek: r.budget_sek,
                spent_sek: r.spent_sek,
                forecast_sek: r.forecast_sek,
                reported_budget_sek: r.reported_budget_sek,
                unreported_budget_sek: r.budget_sek - r.reported_budget_sek,
                unreported_assignments: r.unreported,
                variance_sek: r.forecast_sek - r.reported_budget_sek,
            },
        }
    }
}

#[derive(diesel::QueryableByName)]
struct DeviationRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    assignment_id: Uuid,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    deviation: String,
    #[diesel(sql_type = Nullable<Text>)]
    deviation_note: Option<String>,
}

/// Computes a tertial report.
pub async fn tertial_report(
    conn: &mut AsyncPgConnection,
    year: i32,
    tertial: i16,
) -> Result<TertialReport, ApiError> {
    let (start, after) =
        period(year, tertial).ok_or_else(|| ApiError::invalid("tertial", "must be 1, 2 or 3"))?;
    let lines: Vec<LineRow> = diesel::sql_query(format!(
        "{STATUS_AT} \
         SELECT a.id, a.title, a.area_id, ar.name AS area_name, a.challenge, a.municipality_ids, s.status, a.budget_sek, \
                r.spent_sek, r.forecast_sek, r.deviation, r.deviation_note, r.id IS NOT NULL AS reported \
         FROM status_at s JOIN assignments a ON a.id = s.assignment_id JOIN areas ar ON ar.id = a.area_id \
         LEFT JOIN progress_reports r ON r.assignment_id = a.id AND r.year = $2 AND r.tertial = $3 \
         WHERE s.status IN ('incoming', 'ongoing', 'outgoing') \
         ORDER BY a.title, a.id"
    ))
    .bind::<diesel::sql_types::Date, _>(after)
    .bind::<Integer, _>(year)
    .bind::<SmallInt, _>(tertial)
    .load(conn)
    .await?;
    let breakdown = |group: &str, name: &str| {
        format!(
            "{STATUS_AT} \
             SELECT {group} AS key, {name} AS name, \
                    count(*) FILTER (WHERE s.status = 'incoming') AS incoming, \
                    count(*) FILTER (WHERE s.status = 'ongoing') AS ongoing, \
                    count(*) FILTER (WHERE s.status = 'outgoing') AS outgoing, \
                    coalesce(sum(a.budget_sek), 0)::bigint AS budget_sek, \
                    coalesce(sum(r.spent_sek), 0)::bigint AS spent_sek, \
                    coalesce(sum(r.forecast_sek), 0)::bigint AS forecast_sek, \
                    coalesce(sum(a.budget_sek) FILTER (WHERE r.id IS NOT NULL), 0)::bigint AS reported_budget_sek, \
                    count(*) FILTER (WHERE r.id IS NULL) AS unreported \
             FROM status_at s JOIN assignments a ON a.id = s.assignment_id JOIN areas ar ON ar.id = a.area_id \
             LEFT JOIN progress_reports r ON r.assignment_id = a.id AND r.year = $2 AND r.tertial = $3 \
             WHERE s.status IN ('incoming', 'ongoing', 'outgoing') \
             GROUP BY 1, 2 ORDER BY 2"
        )
    };
    let by_area: Vec<BreakdownRow> = diesel::sql_query(breakdown("ar.id::text", "ar.name"))
        .bind::<diesel::sql_types::Date, _>(after)
        .bind::<Integer, _>(year)
        .bind::<SmallInt, _>(tertial)
        .load(conn)
        .await?;
    let by_challenge: Vec<BreakdownRow> =
        diesel::sql_query(breakdown("a.challenge", "coalesce(a.challenge, 'none')"))
            .bind::<diesel::sql_types::Date, _>(after)
            .bind::<Integer, _>(year)
            .bind::<SmallInt, _>(tertial)
            .load(conn)
            .await?;
    let deviations: Vec<DeviationRow> = diesel::sql_query(
        "SELECT r.assignment_id, a.title, r.deviation, r.deviation_note \
         FROM progress_reports r JOIN assignments a ON a.id = r.assignment_id \
         WHERE r.year = $1 AND r.tertial = $2 AND r.deviation <> 'none' \
         ORDER BY CASE r.deviation WHEN 'major' THEN 0 ELSE 1 END, a.title",
    )
    .bind::<Integer, _>(year)
    .bind::<SmallInt, _>(tertial)
    .load(conn)
    .await?;

    let lines: Vec<ReportedAssignment> = lines
        .into_iter()
        .map(|l| ReportedAssignment {
            id: l.id,
            title: l.title,
            area_id: l.area_id,
            area_name: l.area_name,
            challenge: l.challenge,
            municipality_ids: l.municipality_ids,
            status: l.status,
            budget_sek: l.budget_sek,
            spent_sek: l.spent_sek,
            forecast_sek: l.forecast_sek,
            deviation: l.deviation,
            deviation_note: l.deviation_note,
            reported: l.reported,
        })
        .collect();
    let by_area: Vec<Breakdown> = by_area.into_iter().map(Into::into).collect();
    let mut totals = Money::default();
    for b in &by_area {
        totals.add(&b.money);
    }
    let of = |status: &str| {
        lines
            .iter()
            .filter(|l| l.status == status)
            .cloned()
            .collect::<Vec<_>>()
    };
    let (incoming, ongoing, outgoing) = (of("incoming"), of("ongoing"), of("outgoing"));
    let missing_reports = lines
        .iter()
        .filter(|l| !l.reported && (l.status == "ongoing" || l.status == "outgoing"))
        .cloned()
        .collect();
    Ok(TertialReport {
        year,
        tertial,
        period_start: start,
        period_end: after - chrono::Duration::days(1),
        counts: StatusCounts {
            incoming: incoming.len() as i64,
            ongoing: ongoing.len() as i64,
            outgoing: outgoing.len() as i64,
        },
        incoming,
        ongoing,
        outgoing,
        by_area,
        by_challenge: by_challenge.into_iter().map(Into::into).collect(),
        assumption: totals.assumption(),
        totals,
        deviations: deviations
            .into_iter()
            .map(|d| ReportedDeviation {
                assignment_id: d.assignment_id,
                title: d.title,
                deviation: d.deviation,
                note: d.deviation_note,
            })
            .collect(),
        missing_reports,
    })
}

/// An assignment serving a goal, with how it stood at the end of the year.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoalAssignment {
    pub id: Uuid,
    pub title: String,
    pub area_name: String,
    /// The status at the end of the year.
    pub status: String,
    pub budget_sek: i64,
}

/// One goal of the year: its statement, the feedback on it and the assignments that served it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnnualGoal {
    pub goal: String,
    pub name: String,
    pub theme: Option<String>,
    pub statement: String,
    /// Responses, rating distribution and mean, suggested areas by kind.
    pub feedback: GoalSummary,
    /// Responses per kind of network (`management`, `presidium`, …).
    pub responses_by_network_kind: BTreeMap<String, i64>,
    /// Assignments serving this goal that ran during the year.
    pub assignments: Vec<GoalAssignment>,
    /// How those assignments stood at the end of the year: status → count.
    pub outcomes: BTreeMap<String, i64>,
}

/// One tertial in the annual report.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TertialSummary {
    pub tertial: i16,
    pub counts: StatusCounts,
    pub totals: Money,
    pub deviations: usize,
    pub missing_reports: usize,
}

/// The annual report (verksamhetsberättelse).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"year": 2022, "title": "Verksamhetsplan 2022", "vision": "Tillsammans för välfärd och utveckling",
    "goals": [], "tertials": []}))]
pub struct AnnualReport {
    pub year: i32,
    pub title: String,
    pub vision: String,
    /// The plan's goals in the order core, focus, internal.
    pub goals: Vec<AnnualGoal>,
    /// The year's three tertials side by side.
    pub tertials: Vec<TertialSummary>,
    /// The events that started in the year.
    pub events: EventSummary,
}

/// The year's events (by the day in Sweden they started) and who took part.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"held": 47, "planned": 0, "cancelled": 2,
    "byKind": {"conference": 3, "network_meeting": 25, "presidium_meeting": 9, "training": 6, "webinar": 4},
    "byArea": {"Digitalisering": 8, "Utbildning & Arbetsliv": 12},
    "participants": 70,
    "participantsByMunicipality": {"2260": 7, "2262": 9, "2280": 9, "2281": 11, "2282": 10, "2283": 10, "2284": 11, "none": 3}}))]
pub struct EventSummary {
    /// Events held: started in the year, ended by now, not cancelled.
    pub held: i64,
    /// Events of the year still to come or under way (not cancelled): not counted as held.
    pub planned: i64,
    /// Events of the year that were cancelled.
    pub cancelled: i64,
    /// Events held, by kind.
    pub by_kind: BTreeMap<String, i64>,
    /// Events held, by the name of their area (`Utan område` for none).
    pub by_area: BTreeMap<String, i64>,
    /// Confirmed registrations for the events held.
    pub participants: i64,
    /// The same by the participant's municipality (kommunkod; `none` for those from elsewhere).
    pub participants_by_municipality: BTreeMap<String, i64>,
}

#[derive(diesel::QueryableByName)]
struct Tally {
    #[diesel(sql_type = Text)]
    dimension: String,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The year's events, counted in one statement.
async fn event_summary(conn: &mut AsyncPgConnection, year: i32) -> Result<EventSummary, ApiError> {
    let tallies: Vec<Tally> = diesel::sql_query(
        "WITH y AS (SELECT e.*, a.name AS area_name FROM events e LEFT JOIN areas a ON a.id = e.area_id \
                    WHERE e.start_date BETWEEN make_date($1, 1, 1) AND make_date($1, 12, 31)) \
         SELECT 'cancelled' AS dimension, '' AS key, count(*) AS n FROM y WHERE cancelled \
         UNION ALL SELECT 'planned', '', count(*) FROM y WHERE NOT cancelled AND ends_at > now() \
         UNION ALL SELECT 'kind', kind, count(*) FROM y WHERE NOT cancelled AND ends_at <= now() GROUP BY kind \
         UNION ALL SELECT 'area', coalesce(area_name, 'Utan område'), count(*) FROM y \
                   WHERE NOT cancelled AND ends_at <= now() GROUP BY area_name \
         UNION ALL SELECT 'municipality', coalesce(r.municipality_id, 'none'), count(*) \
                   FROM y JOIN registrations r ON r.event_id = y.id \
                   WHERE NOT y.cancelled AND y.ends_at <= now() AND r.status = 'confirmed' \
                   GROUP BY r.municipality_id",
    )
    .bind::<Integer, _>(year)
    .load(conn)
    .await?;
    let mut s = EventSummary::default();
    for t in tallies {
        match t.dimension.as_str() {
            "cancelled" => s.cancelled = t.n,
            "planned" => s.planned = t.n,
            "kind" => {
                s.held += t.n;
                s.by_kind.insert(t.key, t.n);
            }
            "area" => {
                s.by_area.insert(t.key, t.n);
            }
            _ => {
                s.participants += t.n;
                s.participants_by_municipality.insert(t.key, t.n);
            }
        }
    }
    Ok(s)
}

#[derive(diesel::QueryableByName)]
struct KindCount {
    #[diesel(sql_type = Text)]
    goal: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(diesel::QueryableByName)]
struct GoalAssignmentRow {
    #[diesel(sql_type = Text)]
    challenge: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    area_name: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    budget_sek: i64,
}

/// Computes the annual report; `None` without a plan for the year.
pub async fn annual_report(
    conn: &mut AsyncPgConnection,
    year: i32,
) -> Result<Option<AnnualReport>, ApiError> {
    let Some(plan) = plans::find(conn, year).await? else {
        return Ok(None);
    };
    let summary = feedback::summary(conn, year)
        .await?
        .map(|s| s.goals)
        .unwrap_or_default();
    let kinds: Vec<KindCount> = diesel::sql_query(
        "SELECT f.goal, n.kind, count(*) AS count FROM feedback f JOIN networks n ON n.id = f.network_id \
         WHERE f.year = $1 GROUP BY f.goal, n.kind ORDER BY f.goal, n.kind",
    )
    .bind::<Integer, _>(year)
    .load(conn)
    .await?;
    let year_after = NaiveDate::from_ymd_opt(year + 1, 1, 1)
        .ok_or_else(|| ApiError::invalid("year", "is out of range"))?;
    let served: Vec<GoalAssignmentRow> = diesel::sql_query(format!(
        "{STATUS_AT} \
         SELECT a.challenge, a.id, a.title, ar.name AS area_name, s.status, a.budget_sek \
         FROM status_at s JOIN assignments a ON a.id = s.assignment_id JOIN areas ar ON ar.id = a.area_id \
         WHERE a.challenge IS NOT NULL AND s.status <> 'proposed' \
           AND (a.start_date IS NULL OR a.start_date < $1) \
           AND (a.end_date IS NULL OR a.end_date >= make_date($2, 1, 1)) \
         ORDER BY a.title, a.id"
    ))
    .bind::<diesel::sql_types::Date, _>(year_after)
    .bind::<Integer, _>(year)
    .load(conn)
    .await?;
    let goals = plan
        .goals
        .iter()
        .map(|g| {
            let key = g.challenge.as_str();
            let feedback = summary
                .iter()
                .find(|s| s.goal == g.challenge)
                .cloned()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("summary lacks goal {key}")))?;
            let assignments: Vec<GoalAssignment> = served
                .iter()
                .filter(|a| a.challenge == key)
                .map(|a| GoalAssignment {
                    id: a.id,
                    title: a.title.clone(),
                    area_name: a.area_name.clone(),
                    status: a.status.clone(),
                    budget_sek: a.budget_sek,
                })
                .collect();
            let mut outcomes = BTreeMap::new();
            for a in &assignments {
                *outcomes.entry(a.status.clone()).or_insert(0) += 1;
            }
            Ok(AnnualGoal {
                goal: key.to_owned(),
                name: g.name.clone(),
                theme: g.theme.clone(),
                statement: g.statement.clone(),
                feedback,
                responses_by_network_kind: kinds
                    .iter()
                    .filter(|k| k.goal == key)
                    .map(|k| (k.kind.clone(), k.count))
                    .collect(),
                assignments,
                outcomes,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut tertials = Vec::new();
    for t in 1..=3 {
        let r = tertial_report(conn, year, t).await?;
        tertials.push(TertialSummary {
            tertial: t,
            counts: r.counts,
            totals: r.totals,
            deviations: r.deviations.len(),
            missing_reports: r.missing_reports.len(),
        });
    }
    let events = event_summary(conn, year).await?;
    Ok(Some(AnnualReport {
        year,
        title: plan.title,
        vision: plan.vision,
        goals,
        tertials,
        events,
    }))
}

// ---------------------------------------------------------------------------------------------
// Representations

/// Parameters of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Overrides `Accept` (handy in a browser).
    #[param(value_type = Option<ReportFormat>, inline, example = "html")]
    pub format: Option<String>,
}

crate::text_enum! {
    /// The formats of a report.
    ReportFormat {
        Json = "json",
        Csv = "csv",
        Html = "html",
    }
}

fn format_of(req: &HttpRequest, p: &ReportParams) -> Result<ReportFormat, ApiError> {
    if let Some(f) = &p.format {
        return ReportFormat::parse(f)
            .ok_or_else(|| ApiError::invalid("format", "must be json, csv or html"));
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut best: Option<(f32, ReportFormat)> = None;
    for range in accept.split(',').filter(|r| !r.trim().is_empty()) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .next()
            .unwrap_or(1.0);
        let f = match media.as_str() {
            "application/json" | "application/*" | "*/*" => ReportFormat::Json,
            "text/csv" => ReportFormat::Csv,
            "text/html" | "text/*" => ReportFormat::Html,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, f));
        }
    }
    match (best, accept.trim().is_empty()) {
        (Some((_, f)), _) => Ok(f),
        (None, true) => Ok(ReportFormat::Json),
        (None, false) => Err(ApiError::NotAcceptable(
            "Reports can be had as application/json, text/csv or text/html".to_owned(),
        )),
    }
}

fn sek(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{a0}');
        }
        out.push(c);
    }
    if amount < 0 { format!("−{out}") } else { out }
}

/// An amount with its sign: `+390 000`, `−5 260 000`, `0`.
fn signed_sek(amount: i64) -> String {
    if amount > 0 {
        format!("+{}", sek(amount))
    } else {
        sek(amount)
    }
}

fn status_sv(status: &str) -> &'static str {
    match status {
        "proposed" => "Föreslaget",
        "incoming" => "På väg in",
        "ongoing" => "Pågår",
        "outgoing" => "På väg ut",
        "completed" => "Avslutat",
        "cancelled" => "Avbrutet",
        _ => "Okänt",
    }
}

fn challenge_sv(challenge: Option<&str>) -> &'static str {
    match challenge {
        Some("core") => "Kärnutmaningen",
        Some("focus") => "Fokusutmaningen",
        Some("internal") => "Den interna utmaningen",
        _ => "Ingen utmaning",
    }
}

fn deviation_sv(d: Option<&str>) -> &'static str {
    match d {
        Some("none") => "Ingen",
        Some("minor") => "Mindre",
        Some("major") => "Större",
        _ => "",
    }
}

fn csv_response(name: &str, rows: Vec<Vec<String>>) -> HttpResponse {
    let mut body = Vec::from("\u{feff}".as_bytes());
    for row in rows {
        body.extend(crate::integration::export::csv_record(row));
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(body)
}

fn tertial_csv(r: &TertialReport) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "Status",
            "Uppdrag",
            "Område",
            "Utmaning",
            "Kommuner",
            "Budget (SEK)",
            "Förbrukat (SEK)",
            "Prognos (SEK)",
            "Avvikelse",
            "Kommentar",
            "Rapporterat",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for a in r.incoming.iter().chain(&r.ongoing).chain(&r.outgoing) {
        rows.push(vec![
            status_sv(&a.status).to_owned(),
            a.title.clone(),
            a.area_name.clone(),
            challenge_sv(a.challenge.as_deref()).to_owned(),
            a.municipality_ids.join("|"),
            a.budget_sek.to_string(),
            a.spent_sek.map(|v| v.to_string()).unwrap_or_default(),
            a.forecast_sek.map(|v| v.to_string()).unwrap_or_default(),
            deviation_sv(a.deviation.as_deref()).to_owned(),
            a.deviation_note.clone().unwrap_or_default(),
            if a.reported { "Ja" } else { "Nej" }.to_owned(),
        ]);
    }
    let t = &r.totals;
    let sum = |label: &str,
               budget: i64,
               spent: String,
               forecast: String,
               deviation: String,
               note: &str| {
        vec![
            label.to_owned(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            budget.to_string(),
            spent,
            forecast,
            deviation,
            note.to_owned(),
            String::new(),
        ]
    };
    rows.push(sum(
        "Summa",
        t.budget_sek,
        t.spent_sek.to_string(),
        t.forecast_sek.to_string(),
        String::new(),
        &r.assumption,
    ));
    rows.push(sum(
        "Varav rapporterat",
        t.reported_budget_sek,
        t.spent_sek.to_string(),
        t.forecast_sek.to_string(),
        t.variance_sek.to_string(),
        "Avvikelse: prognos minus budget för de uppdrag som rapporterat",
    ));
    rows.push(sum(
        "Varav ej rapporterat",
        t.unreported_budget_sek,
        String::new(),
        String::new(),
        String::new(),
        &format!(
            "{} uppdrag utan rapport: ingår inte i prognosen",
            t.unreported_assignments
        ),
    ));
    rows
}

fn annual_csv(r: &AnnualReport) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "Utmaning",
            "Målsättning",
            "Svar",
            "Medelbetyg",
            "Betyg 1",
            "Betyg 2",
            "Betyg 3",
            "Betyg 4",
            "Betyg 5",
            "Utvecklingsområden",
            "Samordningsområden",
            "Påverkansområden",
            "Uppdrag",
            "Avslutade uppdrag",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for g in &r.goals {
        let f = &g.feedback;
        let list = |items: &[feedback::SuggestedArea]| {
            items
                .iter()
                .map(|s| format!("{} ({})", s.text, s.count))
                .collect::<Vec<_>>()
                .join("|")
        };
        rows.push(vec![
            g.name.clone(),
            g.statement.clone(),
            f.responses.to_string(),
            f.mean_rating
                .map(|m| format!("{m:.2}").replace('.', ","))
                .unwrap_or_default(),
            f.distribution.one.to_string(),
            f.distribution.two.to_string(),
            f.distribution.three.to_string(),
            f.distribution.four.to_string(),
            f.distribution.five.to_string(),
            list(&f.suggestions.development),
            list(&f.suggestions.coordination),
            list(&f.suggestions.advocacy),
            g.assignments.len().to_string(),
            g.outcomes
                .get("completed")
                .copied()
                .unwrap_or(0)
                .to_string(),
        ]);
    }
    rows
}

/// `text` in lines of at most `width` characters, broken between words (a longer word stands
/// alone on its line, whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// SVG text of `lines` from (`x`, `y`), one line every 14 units.
fn svg_lines(x: usize, y: usize, lines: &[String]) -> String {
    let mut out = format!("<text x=\"{x}\" y=\"{y}\">");
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "<tspan x=\"{x}\" dy=\"{}\">{}</tspan>",
            if i == 0 { 0 } else { 14 },
            esc(line)
        );
    }
    out.push_str("</text>");
    out
}

const BUDGET: &str = "#1f5f8b";
const FORECAST: &str = "#e39b2d";
const UNREPORTED: &str = "#b9b9b9";

/// A horizontal bar chart per area: the budget, and beneath it the forecast of the assignments
/// that reported followed by the budget of those that did not (grey), on one axis in kronor,
/// with a legend and axis titles. Area names are written in full, wrapped.
fn budget_chart(rows: &[Breakdown]) -> String {
    let max = rows
        .iter()
        .map(|r| {
            r.money
                .budget_sek
                .max(r.money.forecast_sek + r.money.unreported_budget_sek)
        })
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (left, span) = (250usize, 300.0);
    let names: Vec<Vec<String>> = rows.iter().map(|r| wrap(&r.name, 34)).collect();
    let heights: Vec<usize> = names.iter().map(|n| (n.len() * 14 + 8).max(44)).collect();
    let top = 52;
    let height = top + heights.iter().sum::<usize>() + 44;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Budget och prognos per område, i kronor\" width=\"860\" height=\"{height}\" viewBox=\"0 0 860 {height}\" style=\"max-width:100%;height:auto\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect x=\"{left}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{BUDGET}\"/><text x=\"{}\" y=\"16\">Budget</text>\
         <rect x=\"{}\" y=\"6\" width=\"12\" height=\"12\" fill=\"{FORECAST}\"/><text x=\"{}\" y=\"16\">Prognos (rapporterade uppdrag)</text>\
         <rect x=\"{left}\" y=\"24\" width=\"12\" height=\"12\" fill=\"{UNREPORTED}\"/><text x=\"{}\" y=\"34\">Budget för uppdrag utan rapport (ingen prognos)</text>\
         <text x=\"0\" y=\"{}\" font-weight=\"bold\">Område</text>",
        left + 16,
        left + 80,
        left + 96,
        left + 16,
        top - 4,
    );
    let mut y = top;
    for ((r, name), h) in rows.iter().zip(&names).zip(&heights) {
        let bw = (r.money.budget_sek as f64 / max * span).round();
        let fw = (r.money.forecast_sek as f64 / max * span).round();
        let uw = (r.money.unreported_budget_sek as f64 / max * span).round();
        svg.push_str(&svg_lines(0, y + 14, name));
        let _ = write!(
            svg,
            "<rect x=\"{left}\" y=\"{}\" width=\"{bw}\" height=\"14\" fill=\"{BUDGET}\"/><text x=\"{}\" y=\"{}\">{} kr</text>\
             <rect x=\"{left}\" y=\"{}\" width=\"{fw}\" height=\"14\" fill=\"{FORECAST}\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"{uw}\" height=\"14\" fill=\"{UNREPORTED}\"/><text x=\"{}\" y=\"{}\">{} kr{}</text>",
            y + 2,
            left as f64 + bw + 5.0,
            y + 13,
            sek(r.money.budget_sek),
            y + 19,
            left as f64 + fw,
            y + 19,
            left as f64 + fw + uw + 5.0,
            y + 30,
            sek(r.money.forecast_sek),
            if r.money.unreported_assignments > 0 {
                format!(" + {} kr utan rapport", sek(r.money.unreported_budget_sek))
            } else {
                String::new()
            },
        );
        y += h;
    }
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#555\"/>\
         <text x=\"{left}\" y=\"{}\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} kr</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">Kronor</text>",
        left as f64 + span,
        y + 14,
        left as f64 + span,
        y + 14,
        sek(max as i64),
        left as f64 + span / 2.0,
        y + 32,
    );
    svg.push_str("</svg>");
    svg
}

/// A column chart of the rating distribution 1–5, as inline SVG, with a legend and axis titles.
fn rating_chart(goal: &AnnualGoal) -> String {
    let d = &goal.feedback.distribution;
    let counts = [d.one, d.two, d.three, d.four, d.five];
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Betygsfördelning för {}: antal svar per betyg\" width=\"380\" height=\"215\" viewBox=\"0 0 380 215\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect x=\"60\" y=\"4\" width=\"12\" height=\"12\" fill=\"{BUDGET}\"/><text x=\"76\" y=\"14\">Antal svar med betyget</text>\
         <text x=\"14\" y=\"100\" transform=\"rotate(-90 14 100)\" text-anchor=\"middle\" font-weight=\"bold\">Antal svar</text>\
         <line x1=\"40\" y1=\"170\" x2=\"370\" y2=\"170\" stroke=\"#555\"/>",
        esc(&goal.name)
    );
    for (i, c) in counts.iter().enumerate() {
        let h = (*c as f64 / max * 120.0).round();
        let x = 50 + i * 64;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"40\" height=\"{h}\" fill=\"{BUDGET}\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{c}</text>\
             <text x=\"{}\" y=\"185\" text-anchor=\"middle\">{}</text>",
            170.0 - h,
            x + 20,
            166.0 - h,
            x + 20,
            i + 1
        );
    }
    svg.push_str(
        "<text x=\"210\" y=\"207\" text-anchor=\"middle\" font-weight=\"bold\">Betyg (1 = lägst, 5 = högst)</text></svg>",
    );
    svg
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1b1b;line-height:1.45}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.9rem}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
td.n,th.n{text-align:right;white-space:nowrap}.muted{color:#555}\
.notice{background:#eef4fb;border:1px solid #9db8d9;padding:.6rem .8rem;border-radius:.3rem}@page{size:A4;margin:15mm}@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}svg,tr{page-break-inside:avoid}}";

/// A page: `notice` (already HTML) goes above the report, as a shared link's "who shared it".
fn page(title: &str, notice: Option<&str>, body: &str) -> HttpResponse {
    let (robots, notice) = match notice {
        Some(n) => (
            "<meta name=\"robots\" content=\"noindex, nofollow\">",
            format!("<p class=\"notice\">{n}</p>"),
        ),
        None => ("", String::new()),
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"sv\"><head><meta charset=\"utf-8\">{robots}<title>{}</title><style>{STYLE}</style></head><body>{notice}{body}\
         <p class=\"muted\">Kommunförbundet Västernorrland · Samverkan API</p></body></html>",
        esc(title)
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

fn assignment_table(rows: &[ReportedAssignment]) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">Inga uppdrag.</p>".to_owned();
    }
    let mut t = String::from(
        "<table><tr><th>Uppdrag</th><th>Område</th><th>Utmaning</th><th class=\"n\">Budget</th><th class=\"n\">Förbrukat</th><th class=\"n\">Prognos</th><th>Avvikelse</th></tr>",
    );
    for a in rows {
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{} kr</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&a.title),
            esc(&a.area_name),
            challenge_sv(a.challenge.as_deref()),
            sek(a.budget_sek),
            a.spent_sek
                .map(|v| format!("{} kr", sek(v)))
                .unwrap_or_else(|| "–".to_owned()),
            a.forecast_sek
                .map(|v| format!("{} kr", sek(v)))
                .unwrap_or_else(|| "–".to_owned()),
            if a.reported {
                deviation_sv(a.deviation.as_deref())
            } else {
                "Ej rapporterat"
            },
        );
    }
    t.push_str("</table>");
    t
}

fn tertial_html(r: &TertialReport, notice: Option<&str>) -> HttpResponse {
    let title = format!("Tertialrapport – tertial {} {}", r.tertial, r.year);
    let mut b = format!(
        "<h1>Tertialrapport {} {}</h1><p class=\"muted\">Perioden {} – {}. Status vid periodens slut.</p>\
         <p>På väg in: <strong>{}</strong> · Pågår: <strong>{}</strong> · På väg ut: <strong>{}</strong></p>",
        r.tertial,
        r.year,
        r.period_start,
        r.period_end,
        r.counts.incoming,
        r.counts.ongoing,
        r.counts.outgoing
    );
    let t = &r.totals;
    let _ = write!(
        b,
        "<h2>Ekonomi</h2><table><tr><th></th><th class=\"n\">Budget</th><th class=\"n\">Förbrukat</th><th class=\"n\">Prognos</th><th class=\"n\">Avvikelse mot budget</th></tr>\
         <tr><td>Uppdrag som rapporterat</td><td class=\"n\">{} kr</td><td class=\"n\">{} kr</td><td class=\"n\">{} kr</td><td class=\"n\">{} kr</td></tr>\
         <tr><td>Uppdrag utan rapport ({})</td><td class=\"n\">{} kr</td><td class=\"n\">–</td><td class=\"n\">ingen prognos</td><td class=\"n\">–</td></tr>\
         <tr><th>Summa</th><th class=\"n\">{} kr</th><th class=\"n\">{} kr</th><th class=\"n\"></th><th class=\"n\"></th></tr></table>\
         <p class=\"notice\">{}</p>{}",
        sek(t.reported_budget_sek),
        sek(t.spent_sek),
        sek(t.forecast_sek),
        signed_sek(t.variance_sek),
        t.unreported_assignments,
        sek(t.unreported_budget_sek),
        sek(t.budget_sek),
        sek(t.spent_sek),
        esc(&r.assumption),
        budget_chart(&r.by_area)
    );
    for (heading, rows) in [
        ("På väg in", &r.incoming),
        ("Pågår", &r.ongoing),
        ("På väg ut", &r.outgoing),
    ] {
        let _ = write!(b, "<h2>{heading}</h2>{}", assignment_table(rows));
    }
    b.push_str("<h2>Avvikelser</h2>");
    if r.deviations.is_empty() {
        b.push_str("<p class=\"muted\">Inga avvikelser rapporterade.</p>");
    } else {
        b.push_str("<table><tr><th>Uppdrag</th><th>Avvikelse</th><th>Kommentar</th></tr>");
        for d in &r.deviations {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&d.title),
                deviation_sv(Some(&d.deviation)),
                esc(d.note.as_deref().unwrap_or(""))
            );
        }
        b.push_str("</table>");
    }
    let _ = write!(
        b,
        "<h2>Saknar återrapportering</h2>{}",
        assignment_table(&r.missing_reports)
    );
    page(&title, notice, &b)
}

fn annual_html(r: &AnnualReport, notice: Option<&str>) -> HttpResponse {
    let title = format!("Verksamhetsberättelse {}", r.year);
    let mut b = format!(
        "<h1>Verksamhetsberättelse {}</h1><p class=\"muted\">{} · Vision: ”{}”</p>",
        r.year,
        esc(&r.title),
        esc(&r.vision)
    );
    for g in &r.goals {
        let f = &g.feedback;
        let _ = write!(
            b,
            "<h2>{}{}</h2><p><em>{}</em></p><p>Svar: <strong>{}</strong> · medelbetyg: <strong>{}</strong></p>{}",
            esc(&g.name),
            g.theme
                .as_ref()
                .map(|t| format!(" – {}", esc(t)))
                .unwrap_or_default(),
            esc(&g.statement),
            f.responses,
            f.mean_rating
                .map(|m| format!("{m:.2}").replace('.', ","))
                .unwrap_or_else(|| "–".to_owned()),
            rating_chart(g)
        );
        if !g.responses_by_network_kind.is_empty() {
            let _ = write!(
                b,
                "<p><strong>Svar per nätverkstyp:</strong> {}</p>",
                g.responses_by_network_kind
                    .iter()
                    .map(|(kind, n)| format!(
                        "{} {n}",
                        esc(crate::resources::networks::NetworkKind::VOCABULARY.label(kind))
                    ))
                    .collect::<Vec<_>>()
                    .join(" · ")
            );
        }
        for (heading, items) in [
            ("Utvecklingsområden", &f.suggestions.development),
            ("Samordningsområden", &f.suggestions.coordination),
            ("Påverkansområden", &f.suggestions.advocacy),
        ] {
            if !items.is_empty() {
                let _ = write!(
                    b,
                    "<p><strong>{heading}:</strong> {}</p>",
                    items
                        .iter()
                        .map(|s| format!("{} ({})", esc(&s.text), s.count))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        if g.assignments.is_empty() {
            b.push_str("<p class=\"muted\">Inga uppdrag kopplade till målet.</p>");
        } else {
            b.push_str("<table><tr><th>Uppdrag</th><th>Område</th><th>Status vid årets slut</th><th class=\"n\">Budget</th></tr>");
            for a in &g.assignments {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{} kr</td></tr>",
                    esc(&a.title),
                    esc(&a.area_name),
                    status_sv(&a.status),
                    sek(a.budget_sek)
                );
            }
            b.push_str("</table>");
        }
    }
    b.push_str("<h2>Året per tertial</h2><table><tr><th>Tertial</th><th class=\"n\">På väg in</th><th class=\"n\">Pågår</th><th class=\"n\">På väg ut</th><th class=\"n\">Budget</th><th class=\"n\">Förbrukat</th><th class=\"n\">Prognos (rapporterade)</th><th class=\"n\">Avvikelse mot budget (rapporterade)</th><th class=\"n\">Budget utan rapport</th><th class=\"n\">Avvikelser</th><th class=\"n\">Saknar rapport</th></tr>");
    for t in &r.tertials {
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} kr</td><td class=\"n\">{} kr</td><td class=\"n\">{} kr</td><td class=\"n\">{} kr</td><td class=\"n\">{} kr</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            t.tertial,
            t.counts.incoming,
            t.counts.ongoing,
            t.counts.outgoing,
            sek(t.totals.budget_sek),
            sek(t.totals.spent_sek),
            sek(t.totals.forecast_sek),
            signed_sek(t.totals.variance_sek),
            sek(t.totals.unreported_budget_sek),
            t.deviations,
            t.missing_reports
        );
    }
    b.push_str("</table><p class=\"muted\">Prognos och avvikelse gäller de uppdrag som rapporterat för tertialen; budgeten för uppdrag utan rapport står för sig och ingår inte i prognosen.</p>");
    events_html(&mut b, &r.events);
    page(&title, notice, &b)
}

/// The annual page's section on the year's events.
fn events_html(b: &mut String, e: &EventSummary) {
    use crate::resources::events::EventKind;
    let _ = write!(
        b,
        "<h2>Arrangemang</h2><p>Genomförda: <strong>{}</strong> · planerade: {} · inställda: {} · \
         deltagare (bekräftade anmälningar): <strong>{}</strong></p>",
        e.held, e.planned, e.cancelled, e.participants
    );
    let table = |b: &mut String, heading: &str, rows: Vec<(String, i64)>| {
        let _ = write!(
            b,
            "<table><tr><th>{heading}</th><th class=\"n\">Antal</th></tr>"
        );
        for (name, n) in rows {
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
                esc(&name)
            );
        }
        b.push_str("</table>");
    };
    table(
        b,
        "Slag",
        e.by_kind
            .iter()
            .map(|(k, n)| (EventKind::VOCABULARY.label(k).to_owned(), *n))
            .collect(),
    );
    table(
        b,
        "Område",
        e.by_area.iter().map(|(k, n)| (k.clone(), *n)).collect(),
    );
    table(
        b,
        "Deltagare per kommun",
        e.participants_by_municipality
            .iter()
            .map(|(code, n)| {
                let name = crate::store::seed::MUNICIPALITIES
                    .iter()
                    .find(|m| m.0 == code)
                    .map_or("Övriga", |m| m.1);
                (name.to_owned(), *n)
            })
            .collect(),
    );
}

fn check_year(year: &str) -> Result<i32, ApiError> {
    year.parse::<i32>()
        .ok()
        .filter(|y| (MIN_YEAR..=MAX_YEAR).contains(y))
        .ok_or_else(|| {
            ApiError::invalid(
                "year",
                format!("must be a year between {MIN_YEAR} and {MAX_YEAR}"),
            )
        })
}

/// The tertial report
///
/// For a year and tertial (1: January–April, 2: May–August, 3: September–December): the
/// assignments incoming, ongoing and outgoing by their status at the end of the period, counts
/// and money by area and by challenge, budget against spent and forecast with totals, every
/// deviation reported for the period, and the running assignments that have not reported. As
/// JSON, as CSV (`;`, BOM) or as a printable Swedish HTML page with charts.
#[utoipa::path(
    operation_id = "getTertialReport",
    tag = "Reports",
    params(
        ("year" = i32, Path, description = "The year", example = 2022, minimum = 2000, maximum = 2100),
        ("tertial" = i16, Path, description = "The tertial, 1–3", example = 2, minimum = 1, maximum = 3),
        ReportParams,
    ),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "The report",
            content((TertialReport = "application/json"), (String = "text/csv"), (String = "text/html"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        AuthErrors,
        NotAcceptable,
        CommonErrors,
    ),
)]
#[get("/reports/tertial/{year}/{tertial}")]
pub async fn get_tertial_report(
    req: HttpRequest,
    db: Db,
    path: web::Path<(String, String)>,
    params: Query<ReportParams>,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(&req, &params.0)?;
    let year = check_year(&path.0)?;
    let tertial = path
        .1
        .parse::<i16>()
        .ok()
        .filter(|t| (1..=3).contains(t))
        .ok_or_else(|| ApiError::invalid("tertial", "must be 1, 2 or 3"))?;
    let mut conn = db.conn().await?;
    render(&req, &mut conn, Which::Tertial(year, tertial), format, None).await
}

/// The annual report (verksamhetsberättelse)
///
/// For each of the year's three goals: its statement, the feedback (responses, rating
/// distribution and mean, responses by network kind, suggested development, coordination and
/// advocacy areas), the assignments that served it and how they stood at the end of the year;
/// and the year's three tertials side by side. As JSON, CSV or a printable Swedish HTML page.
#[utoipa::path(
    operation_id = "getAnnualReport",
    tag = "Reports",
    params(("year" = i32, Path, description = "The year", example = 2022, minimum = 2000, maximum = 2100), ReportParams),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "The report",
            content((AnnualReport = "application/json"), (String = "text/csv"), (String = "text/html"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current"),
        AuthErrors,
        NotFound,
        NotAcceptable,
        CommonErrors,
    ),
)]
#[get("/reports/annual/{year}")]
pub async fn get_annual_report(
    req: HttpRequest,
    db: Db,
    path: web::Path<String>,
    params: Query<ReportParams>,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(&req, &params.0)?;
    let year = check_year(&path)?;
    let mut conn = db.conn().await?;
    render(&req, &mut conn, Which::Annual(year), format, None).await
}

/// Which report: a year's tertial, or a year's annual report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Tertial(i32, i16),
    Annual(i32),
}

/// The report in `format`; an HTML page shows `notice` (HTML) above it.
pub(crate) async fn render(
    req: &HttpRequest,
    conn: &mut AsyncPgConnection,
    which: Which,
    format: ReportFormat,
    notice: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    Ok(match which {
        Which::Tertial(year, tertial) => {
            let report = tertial_report(conn, year, tertial).await?;
            match format {
                ReportFormat::Json => conditional_json(req, &report, None)?,
                ReportFormat::Csv => csv_response(
                    &format!("tertialrapport-{year}-{tertial}"),
                    tertial_csv(&report),
                ),
                ReportFormat::Html => tertial_html(&report, notice),
            }
        }
        Which::Annual(year) => {
            let report = annual_report(conn, year)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("The plan for {year}")))?;
            match format {
                ReportFormat::Json => conditional_json(req, &report, None)?,
                ReportFormat::Csv => csv_response(
                    &format!("verksamhetsberattelse-{year}"),
                    annual_csv(&report),
                ),
                ReportFormat::Html => annual_html(&report, notice),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tertials_cover_the_year() {
        assert_eq!(
            period(2022, 1),
            NaiveDate::from_ymd_opt(2022, 1, 1).zip(NaiveDate::from_ymd_opt(2022, 5, 1))
        );
        assert_eq!(
            period(2022, 3).map(|p| p.1),
            NaiveDate::from_ymd_opt(2023, 1, 1)
        );
        assert_eq!(period(2022, 4), None);
    }

    #[test]
    fn amounts_are_grouped_the_swedish_way() {
        assert_eq!(sek(1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(sek(-500), "−500");
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
