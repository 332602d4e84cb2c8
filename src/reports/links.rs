//! Report links for the board: a URL that opens one report (a year's tertial or annual report,
//! in one format) in any browser, with no token, until it expires or is revoked.
//!
//! The URL is `/v1/shared/{token}`, where the token is the link's id and an HMAC-SHA256 of it
//! (truncated to 128 bits) under a key derived from the service's signing key
//! ([`crate::auth::keys::SigningKeys::link_key`]). A forged or altered token is refused before
//! the database is asked; the table holds nothing that opens a report; a new signing key revokes
//! every link. What a link shows (which report, which format) and until when are the link's row,
//! so a token cannot be pointed at another report. Each opening is counted and audited
//! (`open` on `reportLink`) in its own transaction before the report is rendered; a link
//! opens at most [`OPENS_PER_MINUTE`] times a minute.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ReportFormat, Which, esc, render};
use crate::auth::{Authenticator, Caller};
use crate::error::responses::{AuthErrors, CommonErrors, NotFound, ReadOne, WriteErrors};
use crate::error::{ApiError, Violations};
use crate::http::{Json, PublicUrl, Query, conditional_json, list, version_etag};
use crate::integration::audit::Actor;
use crate::integration::work::{Change, Work, Writer};
use crate::page_type;
use crate::resources::plans::{MAX_YEAR, MIN_YEAR};
use crate::rules::dates::{instant_opt, stockholm, swedish_date};
use crate::store::db::Db;
use crate::store::schema::{plans, report_links};

/// How long a link is valid when its creator does not say.
pub const DEFAULT_VALIDITY_DAYS: i64 = 30;
/// The longest a link may be valid.
pub const MAX_VALIDITY_DAYS: i64 = 366;
/// How often one link may be opened in a minute (429 beyond).
pub const OPENS_PER_MINUTE: u32 = 60;

crate::text_enum! {
    /// Which report a link opens.
    ReportKind {
        Tertial = "tertial",
        Annual = "annual",
    }
}

crate::text_enum! {
    /// Whether a link opens: `active`, or no longer (`expired`, `revoked`).
    LinkState {
        Active = "active",
        Expired = "expired",
        Revoked = "revoked",
    }
}

/// What a report link's HMAC is made for: a token made for another kind of link (a calendar
/// link's) opens no report.
const PURPOSE: &[u8] = b"report-link\0";

/// The token of report link `id` under `key`.
pub fn token(key: &[u8; 32], id: Uuid) -> String {
    crate::auth::keys::link_token(PURPOSE, key, id)
}

/// The report link id a token carries, if the token is one this service made under `key`.
pub fn verify(key: &[u8; 32], token: &str) -> Option<Uuid> {
    crate::auth::keys::verify_link_token(PURPOSE, key, token)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = report_links, check_for_backend(diesel::pg::Pg))]
struct LinkRow {
    id: Uuid,
    report: ReportKind,
    year: i32,
    tertial: Option<i16>,
    format: ReportFormat,
    description: Option<String>,
    expires_at: DateTime<Utc>,
    owner_id: Uuid,
    shared_by: String,
    revoked_at: Option<DateTime<Utc>>,
    revoked_by: Option<String>,
    open_count: i64,
    last_opened_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl LinkRow {
    fn which(&self) -> Which {
        match (self.report, self.tertial) {
            (ReportKind::Tertial, Some(t)) => Which::Tertial(self.year, t),
            _ => Which::Annual(self.year),
        }
    }

    fn state(&self, now: DateTime<Utc>) -> LinkState {
        if self.revoked_at.is_some() {
            LinkState::Revoked
        } else if self.expires_at <= now {
            LinkState::Expired
        } else {
            LinkState::Active
        }
    }
}

/// A report link (never with its URL, which is shown once, when it is created).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "5a0f3c1e-8d2b-4f6a-9c7e-1b2d3e4f5a6b", "report": "annual", "year": 2022, "tertial": null,
    "format": "html", "description": "Till styrelsemötet 12 december", "state": "active",
    "expiresAt": "2027-01-01T00:00:00Z", "sharedBy": "Anna Lind",
    "reportUrl": "/v1/reports/annual/2022?format=html", "openCount": 3,
    "lastOpenedAt": "2026-12-03T08:15:00Z", "revokedAt": null, "revokedBy": null, "version": 4,
    "createdAt": "2026-12-02T10:00:00Z", "updatedAt": "2026-12-03T08:15:00Z"
}))]
pub struct ReportLink {
    pub id: Uuid,
    pub report: ReportKind,
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// The tertial (1–3) of a tertial report; `null` for an annual report.
    #[schema(minimum = 1, maximum = 3)]
    pub tertial: Option<i16>,
    /// What the link opens: the printable page (`html`), the JSON or the CSV.
    pub format: ReportFormat,
    /// What the link is for, for those who manage it (not shown to who opens it).
    pub description: Option<String>,
    pub state: LinkState,
    pub expires_at: DateTime<Utc>,
    /// Who shared it: the person's name, or the client's (and on whose behalf, from
    /// `X-Sent-By`). The report page shows it.
    pub shared_by: String,
    /// The same report through the API, for callers with a token.
    pub report_url: String,
    /// How many times the link was opened.
    pub open_count: i64,
    pub last_opened_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it (as the audit log names callers).
    pub revoked_by: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<LinkRow> for ReportLink {
    fn from(r: LinkRow) -> Self {
        let report_url = match r.which() {
            Which::Tertial(year, t) => format!("/v1/reports/tertial/{year}/{t}"),
            Which::Annual(year) => format!("/v1/reports/annual/{year}"),
        };
        Self {
            state: r.state(Utc::now()),
            report_url: format!("{report_url}?format={}", r.format.as_str()),
            id: r.id,
            report: r.report,
            year: r.year,
            tertial: r.tertial,
            format: r.format,
            description: r.description,
            expires_at: r.expires_at,
            shared_by: r.shared_by,
            open_count: r.open_count,
            last_opened_at: r.last_opened_at,
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new report link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"report": "tertial", "year": 2022, "tertial": 3, "format": "html",
    "description": "Till styrelsemötet 12 december", "expiresAt": "2027-01-31T23:00:00Z"}))]
pub struct NewReportLink {
    pub report: ReportKind,
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    /// Required for a tertial report (1–3); not allowed for an annual report.
    #[schema(minimum = 1, maximum = 3)]
    pub tertial: Option<i16>,
    /// Default `html`, the printable page a board member opens.
    pub format: Option<ReportFormat>,
    /// What the link is for (1–200 characters), for those who manage it.
    #[schema(min_length = 1, max_length = 200)]
    pub description: Option<String>,
    /// Until when it opens: in the future, at most 366 days ahead. Default 30 days from now.
    #[serde(default, deserialize_with = "instant_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new report link with its URL, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "url": "https://samverkan.example.se/v1/shared/Wg88Ho0rT2qcfhstPk9aa3xh2w9Ci0nR1XU4pQ2eL0Y",
    "link": {"id": "5a0f3c1e-8d2b-4f6a-9c7e-1b2d3e4f5a6b", "report": "tertial", "year": 2022,
        "tertial": 3, "format": "html", "description": "Till styrelsemötet 12 december",
        "state": "active", "expiresAt": "2027-01-31T23:00:00Z", "sharedBy": "Anna Lind",
        "reportUrl": "/v1/reports/tertial/2022/3?format=html", "openCount": 0,
        "lastOpenedAt": null, "revokedAt": null, "revokedBy": null, "version": 1,
        "createdAt": "2026-12-02T10:00:00Z", "updatedAt": "2026-12-02T10:00:00Z"}
}))]
pub struct CreatedReportLink {
    /// The link to send: it opens the report without a token. It is not stored and cannot be
    /// shown again.
    pub url: String,
    pub link: ReportLink,
}

fn check(new: &NewReportLink, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let mut v = Violations::default();
    if !(MIN_YEAR..=MAX_YEAR).contains(&new.year) {
        v.push(
            "year",
            format!("must be a year between {MIN_YEAR} and {MAX_YEAR}"),
        );
    }
    match (new.report, new.tertial) {
        (ReportKind::Tertial, None) => v.push("tertial", "is required for a tertial report"),
        (ReportKind::Tertial, Some(t)) if !(1..=3).contains(&t) => {
            v.push("tertial", "must be 1, 2 or 3")
        }
        (ReportKind::Annual, Some(_)) => v.push("tertial", "is only for a tertial report"),
        _ => {}
    }
    if let Some(d) = &new.description {
        crate::rules::text::required_text(&mut v, "description", d, 200);
    }
    let expires = new
        .expires_at
        .unwrap_or(now + Duration::days(DEFAULT_VALIDITY_DAYS));
    if expires <= now + Duration::minutes(1) {
        v.push("expiresAt", "must be in the future");
    } else if expires > now + Duration::days(MAX_VALIDITY_DAYS) {
        v.push("expiresAt", "must be at most 366 days from now");
    }
    v.finish()?;
    Ok(expires)
}

/// Create a report link
///
/// Makes a link that opens one report (a year's tertial or annual report, in one format) in
/// any browser, without a token, until `expiresAt` (default 30 days, at most 366). Answers the
/// URL once: it is not stored and cannot be shown again (create another link instead). The
/// report page says who shared it and until when it is valid. The link shows the report as it
/// stands when opened. Links are revoked one by one (`…/revoke`); a new signing key revokes them
/// all.
#[utoipa::path(
    operation_id = "createReportLink",
    tag = "Report links",
    request_body = NewReportLink,
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 201, description = "The new link with its one-time URL", body = CreatedReportLink,
            headers(("Location" = String, description = "The link's URL in the API"),
                ("ETag" = String, description = "Strong entity tag"))),
        AuthErrors,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/report-links")]
pub async fn create_report_link(
    req: HttpRequest,
    writer: Writer,
    auth: web::Data<Authenticator>,
    public: web::Data<PublicUrl>,
    body: Json<NewReportLink>,
) -> Result<HttpResponse, ApiError> {
    let new = body.0;
    let expires = check(&new, Utc::now())?;
    let owner = writer.caller.client_id;
    let link = writer
        .run(async |work| {
            if new.report == ReportKind::Annual {
                let planned: bool =
                    diesel::select(diesel::dsl::exists(plans::table.find(new.year)))
                        .get_result(work.conn())
                        .await?;
                if !planned {
                    return Err(ApiError::invalid(
                        "year",
                        format!("there is no plan for {}, so no annual report", new.year),
                    ));
                }
            }
            let shared_by = work.sharer().await?;
            let row: LinkRow = diesel::insert_into(report_links::table)
                .values((
                    report_links::id.eq(Uuid::new_v4()),
                    report_links::report.eq(new.report),
                    report_links::year.eq(new.year),
                    report_links::tertial.eq(new.tertial),
                    report_links::format.eq(new.format.unwrap_or(ReportFormat::Html)),
                    report_links::description.eq(new.description.as_deref().map(str::trim)),
                    report_links::expires_at.eq(expires),
                    report_links::owner_id.eq(owner),
                    report_links::shared_by.eq(&shared_by),
                ))
                .returning(LinkRow::as_returning())
                .get_result(work.conn())
                .await?;
            let link = ReportLink::from(row);
            record(work, "create", None, &link).await?;
            Ok(link)
        })
        .await?;
    let url = format!(
        "{}/v1/shared/{}",
        public.base(&req),
        token(&auth.keys().link_key, link.id)
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/report-links/{}", link.id)))
        .insert_header((header::ETAG, version_etag(link.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedReportLink { url, link }))
}

crate::link_management!(
    report_links,
    LinkRow,
    ReportLink,
    "reportLink",
    "Report link"
);

page_type!(ReportLinkPage, ReportLink, "A page of report links.");

/// Filters and paging of the report links.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ReportLinkListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only links in this state.
    #[param(value_type = Option<LinkState>, inline, example = "active")]
    pub state: Option<String>,
    /// Only links to this kind of report.
    #[param(value_type = Option<ReportKind>, inline, example = "annual")]
    pub report: Option<String>,
    /// Only links to this year's reports.
    #[param(minimum = 2000, maximum = 2100, example = 2022)]
    pub year: Option<i32>,
}

/// List report links
///
/// The caller's own links, newest first; an administrator (`admin`) sees everyone's. Each with
/// its state, who shared it and how often it was opened; never with its URL.
#[utoipa::path(
    operation_id = "listReportLinks",
    tag = "Report links",
    params(ReportLinkListParams),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "A page of report links, newest first", body = ReportLinkPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/report-links")]
pub async fn list_report_links(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    params: Query<ReportLinkListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.0;
    let mut v = Violations::default();
    let paging = v.check(list::paging(p.limit, p.page));
    let state = p.state.as_deref().and_then(|s| {
        let parsed = LinkState::parse(s);
        if parsed.is_none() {
            v.push("state", "must be active, expired or revoked");
        }
        parsed
    });
    let report = p.report.as_deref().and_then(|s| {
        let parsed = ReportKind::parse(s);
        if parsed.is_none() {
            v.push("report", "must be tertial or annual");
        }
        parsed
    });
    if p.year.is_some_and(|y| !(MIN_YEAR..=MAX_YEAR).contains(&y)) {
        v.push(
            "year",
            format!("must be a year between {MIN_YEAR} and {MAX_YEAR}"),
        );
    }
    let paging = v.finish_with(paging)?;
    let now = Utc::now();
    let filtered = || {
        let mut q = managed(&caller);
        if let Some(report) = report {
            q = q.filter(report_links::report.eq(report));
        }
        if let Some(year) = p.year {
            q = q.filter(report_links::year.eq(year));
        }
        match state {
            Some(LinkState::Revoked) => q = q.filter(report_links::revoked_at.is_not_null()),
            Some(LinkState::Expired) => {
                q = q
                    .filter(report_links::revoked_at.is_null())
                    .filter(report_links::expires_at.le(now))
            }
            Some(LinkState::Active) => {
                q = q
                    .filter(report_links::revoked_at.is_null())
                    .filter(report_links::expires_at.gt(now))
            }
            None => {}
        }
        q
    };
    let mut conn = db.conn().await?;
    let rows: Vec<LinkRow> = filtered()
        .select(LinkRow::as_select())
        .order((report_links::created_at.desc(), report_links::id.asc()))
        .limit(i64::from(paging.limit))
        .offset(paging.offset())
        .load(&mut conn)
        .await?;
    let total = paging
        .total(&mut conn, rows.len(), || {
            filtered().select(report_links::id)
        })
        .await?;
    let items: Vec<ReportLink> = rows.into_iter().map(Into::into).collect();
    let page = ReportLinkPage {
        meta: paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

fn link_id(raw: &str) -> Result<Uuid, ApiError> {
    crate::rules::uuid_param("id", raw)
}

/// Get a report link
///
/// One of the caller's links (an administrator: anyone's); 404 for another caller's.
#[utoipa::path(
    operation_id = "getReportLink",
    tag = "Report links",
    params(("id" = Uuid, Path, description = "The link id", example = "5a0f3c1e-8d2b-4f6a-9c7e-1b2d3e4f5a6b")),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "The link", body = ReportLink,
            headers(("ETag" = String, description = "Strong entity tag: the quoted version"))),
        ReadOne,
    ),
)]
#[get("/report-links/{id}")]
pub async fn get_report_link(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = link_id(&path.into_inner())?;
    let mut conn = db.conn().await?;
    let row: LinkRow = managed(&caller)
        .filter(report_links::id.eq(id))
        .select(LinkRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(|| ApiError::not_found(format!("Report link {id}")))?;
    let etag = version_etag(row.version);
    conditional_json(&req, &ReportLink::from(row), Some(etag))
}

/// Revoke a report link
///
/// The link stops opening at once, on every replica. The link stays listed (`revoked`, with who
/// revoked it and when); revoking a revoked link changes nothing. The caller's own links; an
/// administrator's: anyone's.
#[utoipa::path(
    operation_id = "revokeReportLink",
    tag = "Report links",
    params(("id" = Uuid, Path, description = "The link id", example = "5a0f3c1e-8d2b-4f6a-9c7e-1b2d3e4f5a6b")),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "The revoked link", body = ReportLink,
            headers(("ETag" = String, description = "The new strong entity tag"))),
        AuthErrors,
        NotFound,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/report-links/{id}/revoke")]
pub async fn revoke_report_link(
    writer: Writer,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    revoke(writer, link_id(&path.into_inner())?).await
}

/// A shared report takes no parameters: the link says what it shows.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SharedParams {}

/// Why a link does not open.
enum Refusal {
    /// Not a token this service made, or the link is gone.
    Unknown,
    Revoked(DateTime<Utc>),
    Expired(DateTime<Utc>),
    Other(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Other(e)
    }
}

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        Refusal::Other(e.into())
    }
}

fn local(at: DateTime<Utc>) -> String {
    let t = stockholm(at);
    format!("{} kl. {}", swedish_date(t.date()), t.format("%H:%M"))
}

impl Refusal {
    /// The answer: problem+json, or for a browser a page in Swedish that says what happened.
    fn answer(self, req: &HttpRequest) -> HttpResponse {
        let stamp = |at: &DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (error, page) = match self {
            Refusal::Unknown => (
                ApiError::NotFound(
                    "There is no such report link; check that the whole link was copied".to_owned(),
                ),
                Some((
                    "Länken finns inte",
                    "Kontrollera att hela länken kom med när den kopierades.".to_owned(),
                )),
            ),
            Refusal::Revoked(at) => (
                ApiError::LinkGone(format!(
                    "This report link was revoked at {}; ask whoever shared it for a new one",
                    stamp(&at)
                )),
                Some((
                    "Länken har återkallats",
                    format!(
                        "Länken återkallades {}. Be den som delade rapporten om en ny länk.",
                        local(at)
                    ),
                )),
            ),
            Refusal::Expired(at) => (
                ApiError::LinkGone(format!(
                    "This report link expired at {}; ask whoever shared it for a new one",
                    stamp(&at)
                )),
                Some((
                    "Länken har gått ut",
                    format!(
                        "Länken gällde till {}. Be den som delade rapporten om en ny länk.",
                        local(at)
                    ),
                )),
            ),
            Refusal::Other(e) => (e, None),
        };
        let mut res = match page {
            Some((title, detail)) if prefers_html(req) => {
                let status = actix_web::ResponseError::status_code(&error);
                error_page(status, title, &detail)
            }
            _ => actix_web::ResponseError::error_response(&error),
        };
        shared_headers(&mut res);
        res
    }
}

fn prefers_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

fn error_page(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    let html = format!(
        "<!DOCTYPE html><html lang=\"sv\"><head><meta charset=\"utf-8\">\
         <meta name=\"robots\" content=\"noindex, nofollow\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:3rem auto;max-width:40rem;color:#1b1b1b}}</style>\
         </head><body><h1>{}</h1><p>{}</p><p style=\"color:#555\">Kommunförbundet Västernorrland · Samverkan API</p></body></html>",
        esc(title),
        esc(title),
        esc(detail)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// A shared report is for the one who holds the link: not cached by others, not indexed, and
/// the link does not leak to other sites through `Referer`.
fn shared_headers(res: &mut HttpResponse) {
    let headers = res.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::HeaderName::from_static("x-robots-tag"),
        header::HeaderValue::from_static("noindex, nofollow"),
    );
}

/// Open a shared report
///
/// What a report link opens, in any browser, without a token: the one report the link was
/// made for, in its format, as it stands now; the page says who shared it and until when the
/// link is valid. A token this service did not make, or one altered by a single character, is
/// 404; a revoked or expired link is 410 (for a browser, a page in Swedish that says so). Each
/// opening is recorded in the audit log (`open` on `reportLink`). At most 60 openings a minute
/// per link (429).
#[utoipa::path(
    operation_id = "openReportLink",
    tag = "Report links",
    params(
        ("token" = String, Path, description = "The link's token, as in the URL it was shared with",
            pattern = "^[A-Za-z0-9_-]{43}$", example = "Wg88Ho0rT2qcfhstPk9aa3xh2w9Ci0nR1XU4pQ2eL0Y"),
        SharedParams,
    ),
    responses(
        (status = 200, description = "The report",
            content((String = "text/html"), (String = "text/csv"),
                (serde_json::Value = "application/json", example = json!({"year": 2022,
                    "title": "Verksamhetsplan 2022", "vision": "Tillsammans för välfärd och utveckling",
                    "goals": [], "tertials": []}))),
            headers(("Cache-Control" = String, description = "`private, no-store`"),
                ("Referrer-Policy" = String, description = "`no-referrer`"))),
        (status = 404, description = "No such link (or a forged or altered token)",
            body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link was revoked or has expired",
            body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors,
    ),
)]
#[get("/shared/{token}")]
pub async fn open_report_link(
    req: HttpRequest,
    db: Db,
    auth: web::Data<Authenticator>,
    path: web::Path<String>,
    _params: Query<SharedParams>,
) -> HttpResponse {
    match open(&req, &db, &auth, &path.into_inner()).await {
        Ok(mut res) => {
            shared_headers(&mut res);
            res
        }
        Err(refusal) => refusal.answer(&req),
    }
}

async fn open(
    req: &HttpRequest,
    db: &Db,
    auth: &Authenticator,
    token: &str,
) -> Result<HttpResponse, Refusal> {
    let id = verify(&auth.keys().link_key, token).ok_or(Refusal::Unknown)?;
    crate::http::ratelimit::check(db, &format!("link:{id}"), OPENS_PER_MINUTE).await?;
    let actor = Actor::link(id);
    let row = Work::run(db, actor, None, None, async |work| {
        let row: Option<LinkRow> = report_links::table
            .find(id)
            .select(LinkRow::as_select())
            .for_update()
            .first(work.conn())
            .await
            .optional()?;
        let Some(row) = row else {
            return Ok(Err(Refusal::Unknown));
        };
        match (row.state(Utc::now()), row.revoked_at) {
            (LinkState::Revoked, Some(at)) => return Ok(Err(Refusal::Revoked(at))),
            (LinkState::Expired, _) => return Ok(Err(Refusal::Expired(row.expires_at))),
            _ => {}
        }
        let row: LinkRow = diesel::update(report_links::table.find(id))
            .set((
                report_links::open_count.eq(report_links::open_count + 1),
                report_links::last_opened_at.eq(diesel::dsl::now),
            ))
            .returning(LinkRow::as_returning())
            .get_result(work.conn())
            .await?;
        work.record(Change {
            action: "open",
            kind: "reportLink",
            id: &id.to_string(),
            before: None,
            after: Some(serde_json::json!({ "openCount": row.open_count })),
        })
        .await?;
        Ok(Ok(row))
    })
    .await??;
    let notice = format!(
        "Delad av <strong>{}</strong> den {}. Länken gäller till {}.",
        esc(&row.shared_by),
        swedish_date(stockholm(row.created_at).date()),
        local(row.expires_at)
    );
    let mut conn = db.conn().await?;
    Ok(render(req, &mut conn, row.which(), row.format, Some(&notice)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_under_their_key_and_unaltered() {
        let key = [7u8; 32];
        let id = Uuid::new_v4();
        let t = token(&key, id);
        assert_eq!(t.len(), 43);
        assert_eq!(verify(&key, &t), Some(id));
        assert_eq!(verify(&[8u8; 32], &t), None);
        let mut altered = t.clone().into_bytes();
        altered[30] = if altered[30] == b'A' { b'B' } else { b'A' };
        assert_eq!(verify(&key, &String::from_utf8(altered).unwrap()), None);
        let other = token(&key, Uuid::new_v4());
        let stitched = format!("{}{}", &t[..22], &other[22..]);
        assert_eq!(verify(&key, &stitched), None);
        assert_eq!(verify(&key, ""), None);
        assert_eq!(verify(&key, "!!!"), None);
    }
}
