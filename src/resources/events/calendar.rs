//! Calendar feeds (iCalendar, RFC 5545) of the events: everything, or one network's, area's or
//! municipality's, for Outlook, Google Calendar and the intranets' calendars.
//!
//! An event's `UID` is its id and never changes; its `SEQUENCE` is its version less one; a
//! cancelled event stays in the feed with `STATUS:CANCELLED`, so that subscribed calendars take
//! it away. Times are written in Swedish time with the `VTIMEZONE` of Europe/Stockholm (the EU's
//! summer-time rule), all-day events as dates. `DTSTAMP` is when the event last changed, so the
//! same events always give the same bytes, and the `ETag` (a hash of them) answers
//! `If-None-Match` with 304. Feeds carry no personal data.
//!
//! Calendar programs send no bearer token: a calendar link (`/v1/calendars/{token}`) opens one
//! feed without one. Its token is the link's id and an HMAC of it under the link key, as a
//! report link's ([`crate::reports::links`]); links are revoked one by one, and a new signing
//! key revokes them all.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Event, EventKind};
use crate::auth::keys::{link_token, verify_link_token};
use crate::auth::{Authenticator, Caller};
use crate::error::responses::{AuthErrors, CommonErrors, NotFound, ReadOne, WriteErrors};
use crate::error::{ApiError, Violations};
use crate::http::{
    Json, PublicUrl, Query, conditional_json, content_etag, if_none_match, list, version_etag,
};
use crate::integration::work::Writer;
use crate::page_type;
use crate::rules::dates::{instant_opt, stockholm};
use crate::store::db::Db;
use crate::store::schema::{areas, calendar_links, events, municipalities, networks};

/// What a calendar link's HMAC is made for (a report link's token opens no calendar).
const PURPOSE: &[u8] = b"calendar-link\0";
/// The most events one feed carries: the latest by start.
const MAX_EVENTS: i64 = 5000;
/// How often one link may be opened in a minute (429 beyond).
pub const OPENS_PER_MINUTE: u32 = 60;

/// Which events a feed carries (the feed's parameters, and what a calendar link opens): at most
/// one of them; none, every event.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CalendarParams {
    /// Only this network's events.
    #[param(example = "d1000000-0000-4000-8000-000000000002")]
    pub network_id: Option<Uuid>,
    /// Only this area's events.
    #[param(example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0005")]
    pub area_id: Option<Uuid>,
    /// Only the events for this municipality.
    #[param(pattern = "^[0-9]{4}$", example = "2281")]
    pub municipality_id: Option<String>,
}

impl CalendarParams {
    /// The parameters, checked: a kommunkod, at most one scope.
    fn checked(self) -> Result<Self, ApiError> {
        let mut v = Violations::default();
        crate::rules::MunicipalityId::check_optional(
            &mut v,
            "municipalityId",
            self.municipality_id.as_deref(),
        );
        let given = [
            self.network_id.is_some(),
            self.area_id.is_some(),
            self.municipality_id.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            v.push(
                "networkId",
                "give at most one of networkId, areaId and municipalityId",
            );
        }
        v.finish()?;
        Ok(self)
    }

    /// The calendar's name: the association's, with the network's, area's or municipality's
    /// after it; 404 when there is no such network, area or municipality.
    async fn name(&self, conn: &mut AsyncPgConnection) -> Result<String, ApiError> {
        let of = match (&self.network_id, &self.area_id, &self.municipality_id) {
            (Some(n), _, _) => Some(
                networks::table
                    .find(n)
                    .select(networks::name)
                    .first::<String>(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| ApiError::not_found(format!("Network {n}")))?,
            ),
            (_, Some(a), _) => Some(
                areas::table
                    .find(a)
                    .select(areas::name)
                    .first::<String>(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| ApiError::not_found(format!("Area {a}")))?,
            ),
            (_, _, Some(m)) => Some(
                municipalities::table
                    .find(m)
                    .select(municipalities::name)
                    .first::<String>(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| ApiError::not_found(format!("Municipality {m}")))?,
            ),
            _ => None,
        };
        let association = "Kommunförbundet Västernorrland";
        Ok(match of {
            Some(of) => format!("{association}: {of}"),
            None => association.to_owned(),
        })
    }
}

/// The feed of a scope: its name and its text.
async fn feed(conn: &mut AsyncPgConnection, scope: &CalendarParams) -> Result<String, ApiError> {
    let name = scope.name(conn).await?;
    let mut query = events::table.into_boxed();
    if let Some(n) = scope.network_id {
        query = query.filter(events::network_id.eq(n));
    }
    if let Some(a) = scope.area_id {
        query = query.filter(events::area_id.eq(a));
    }
    if let Some(m) = &scope.municipality_id {
        query = query.filter(events::municipality_ids.contains(vec![m.clone()]));
    }
    let mut list: Vec<Event> = query
        .select(Event::as_select())
        .order((events::starts_at.desc(), events::id.desc()))
        .limit(MAX_EVENTS)
        .load(conn)
        .await?;
    list.reverse();
    Ok(write(&name, &list))
}

/// The feed as an answer: `text/calendar` with its `ETag`, or 304.
fn answer(req: &HttpRequest, body: String, cache: &'static str) -> HttpResponse {
    let etag = content_etag(body.as_bytes());
    let mut res = if if_none_match(req, &etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type("text/calendar; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                "inline; filename=\"samverkan.ics\"",
            ))
            .body(body)
    };
    let headers = res.headers_mut();
    if let Ok(value) = header::HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(cache),
    );
    res
}

/// Get a calendar feed
///
/// The events as an iCalendar feed (RFC 5545): every event (the latest 5 000 by start), or one
/// network's, area's or municipality's, cancelled ones as cancelled. For
/// programs with a token; calendar programs subscribe through a calendar link
/// (`POST /v1/calendar-links`). `ETag` and `If-None-Match` spare unchanged feeds.
#[utoipa::path(
    operation_id = "getEventCalendar",
    tag = "Events",
    params(CalendarParams),
    security(("clientCredentials" = ["read"])),
    responses(
        (status = 200, description = "The feed", content_type = "text/calendar", body = String,
            headers(("ETag" = String, description = "Strong entity tag of the feed"))),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`"),
        ReadOne,
    ),
)]
#[get("/events/calendar")]
pub async fn get_event_calendar(
    req: HttpRequest,
    db: Db,
    params: Query<CalendarParams>,
) -> Result<HttpResponse, ApiError> {
    let scope = params.0.checked()?;
    let mut conn = db.conn().await?;
    let body = feed(&mut conn, &scope).await?;
    Ok(answer(&req, body, "private, max-age=300"))
}

// ---------------------------------------------------------------------------------------------
// iCalendar

/// Europe/Stockholm: CET, and CEST from the last Sunday of March to the last Sunday of October
/// (the EU's rule since 1996, as [`stockholm`] computes it).
const VTIMEZONE: &[&str] = &[
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Stockholm",
    "X-LIC-LOCATION:Europe/Stockholm",
    "BEGIN:DAYLIGHT",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "TZNAME:CEST",
    "DTSTART:19700329T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "END:DAYLIGHT",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "TZNAME:CET",
    "DTSTART:19701025T030000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
];

/// The longest a content line may be, in octets, without its CRLF (RFC 5545 §3.1).
const LINE_OCTETS: usize = 75;

/// Appends one content line, folded: a line longer than 75 octets goes on in lines that start
/// with a space, never splitting a character's UTF-8 bytes.
fn line(out: &mut String, content: &str) {
    let mut used = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if used + len > LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

/// A TEXT value (RFC 5545 §3.3.11): `\`, `;` and `,` escaped, a line break as `\n`.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A timed `DTSTART` or `DTEND` (`name`) at `at`: in Swedish time with its `TZID`, except in
/// the hour that autumn's change of clocks repeats, whose second pass a local time cannot name
/// (RFC 5545 §3.3.5 reads it as the first): that one in UTC.
fn timed(name: &str, at: DateTime<Utc>) -> String {
    let here = stockholm(at);
    if stockholm(at - Duration::hours(1)) == here {
        format!("{name}:{}", utc(at))
    } else {
        format!(
            "{name};TZID=Europe/Stockholm:{}",
            here.format("%Y%m%dT%H%M%S")
        )
    }
}

/// The Swedish name of a kind, as calendars show it in `CATEGORIES`.
fn kind_label(kind: EventKind) -> &'static str {
    EventKind::VOCABULARY.label(kind.as_str())
}

/// A calendar named `name` with `events`.
pub fn write(name: &str, events: &[Event]) -> String {
    let mut out = String::with_capacity(1024 + events.len() * 600);
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Kommunförbundet Västernorrland//Samverkan API//SV",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        line(&mut out, l);
    }
    line(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    line(&mut out, &format!("NAME:{}", text(name)));
    line(&mut out, "X-WR-TIMEZONE:Europe/Stockholm");
    line(&mut out, "REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    line(&mut out, "X-PUBLISHED-TTL:PT1H");
    for l in VTIMEZONE {
        line(&mut out, l);
    }
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", e.id));
        line(&mut out, &format!("DTSTAMP:{}", utc(e.updated_at)));
        line(&mut out, &format!("CREATED:{}", utc(e.created_at)));
        line(&mut out, &format!("LAST-MODIFIED:{}", utc(e.updated_at)));
        line(&mut out, &format!("SEQUENCE:{}", (e.version - 1).max(0)));
        if e.all_day {
            line(
                &mut out,
                &format!("DTSTART;VALUE=DATE:{}", e.start_date.format("%Y%m%d")),
            );
            let after = e.end_date + Duration::days(1);
            line(
                &mut out,
                &format!("DTEND;VALUE=DATE:{}", after.format("%Y%m%d")),
            );
        } else {
            line(&mut out, &timed("DTSTART", e.starts_at));
            line(&mut out, &timed("DTEND", e.ends_at));
        }
        let summary = if e.cancelled {
            format!("Inställt: {}", e.title)
        } else {
            e.title.clone()
        };
        line(&mut out, &format!("SUMMARY:{}", text(&summary)));
        let mut about = e.description.trim().to_owned();
        for (label, value) in [
            ("Arrangör", e.organiser.as_deref()),
            ("Delta digitalt", e.online_url.as_deref()),
        ] {
            if let Some(value) = value {
                if !about.is_empty() {
                    about.push('\n');
                }
                about.push_str(&format!("{label}: {value}"));
            }
        }
        if !about.is_empty() {
            line(&mut out, &format!("DESCRIPTION:{}", text(&about)));
        }
        if let Some(place) = e.location.as_deref().or(e.online_url.as_deref()) {
            line(&mut out, &format!("LOCATION:{}", text(place)));
        }
        if let Some(link) = &e.online_url {
            line(&mut out, &format!("URL:{}", link.replace(['\r', '\n'], "")));
        }
        line(
            &mut out,
            &format!("CATEGORIES:{}", text(kind_label(e.kind))),
        );
        line(
            &mut out,
            if e.cancelled {
                "STATUS:CANCELLED"
            } else {
                "STATUS:CONFIRMED"
            },
        );
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

// ---------------------------------------------------------------------------------------------
// Calendar links

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = calendar_links, check_for_backend(diesel::pg::Pg))]
struct LinkRow {
    id: Uuid,
    network_id: Option<Uuid>,
    area_id: Option<Uuid>,
    municipality_id: Option<String>,
    description: Option<String>,
    expires_at: Option<DateTime<Utc>>,
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

crate::text_enum! {
    /// Whether a calendar link opens: `active`, or no longer (`expired`, `revoked`).
    CalendarLinkState {
        Active = "active",
        Expired = "expired",
        Revoked = "revoked",
    }
}

/// A calendar link (never with its URL, which is shown once, when it is created).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "7b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "networkId": "d1000000-0000-4000-8000-000000000002",
    "areaId": null, "municipalityId": null, "description": "Skolchefsnätverkets möten i Outlook",
    "state": "active", "expiresAt": null, "sharedBy": "Sundsvalls intranät",
    "calendarUrl": "/v1/events/calendar?networkId=d1000000-0000-4000-8000-000000000002",
    "openCount": 12, "lastOpenedAt": "2026-12-03T08:15:00Z", "revokedAt": null, "revokedBy": null,
    "version": 13, "createdAt": "2026-12-02T10:00:00Z", "updatedAt": "2026-12-03T08:15:00Z"
}))]
pub struct CalendarLink {
    pub id: Uuid,
    /// The network whose events the feed carries (or `areaId`, `municipalityId`; none: all).
    pub network_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    #[schema(value_type = Option<crate::rules::MunicipalityCode>)]
    pub municipality_id: Option<String>,
    /// What the link is for, for those who manage it.
    pub description: Option<String>,
    pub state: CalendarLinkState,
    /// Until when it opens; `null`: until revoked.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who made it: the person's name, or the client's.
    pub shared_by: String,
    /// The same feed through the API, for callers with a token.
    pub calendar_url: String,
    /// How many times calendar programs fetched it.
    pub open_count: i64,
    pub last_opened_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LinkRow {
    fn state(&self, now: DateTime<Utc>) -> CalendarLinkState {
        if self.revoked_at.is_some() {
            CalendarLinkState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            CalendarLinkState::Expired
        } else {
            CalendarLinkState::Active
        }
    }

    fn scope(&self) -> CalendarParams {
        CalendarParams {
            network_id: self.network_id,
            area_id: self.area_id,
            municipality_id: self.municipality_id.clone(),
        }
    }
}

impl From<LinkRow> for CalendarLink {
    fn from(r: LinkRow) -> Self {
        let query = match (&r.network_id, &r.area_id, &r.municipality_id) {
            (Some(n), _, _) => format!("?networkId={n}"),
            (_, Some(a), _) => format!("?areaId={a}"),
            (_, _, Some(m)) => format!("?municipalityId={m}"),
            _ => String::new(),
        };
        Self {
            state: r.state(Utc::now()),
            calendar_url: format!("/v1/events/calendar{query}"),
            id: r.id,
            network_id: r.network_id,
            area_id: r.area_id,
            municipality_id: r.municipality_id,
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

/// A new calendar link: which feed (at most one of `networkId`, `areaId`, `municipalityId`;
/// none: every event), what it is for and, if it should stop, when.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"networkId": "d1000000-0000-4000-8000-000000000002",
    "description": "Skolchefsnätverkets möten i Outlook"}))]
pub struct NewCalendarLink {
    pub network_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    #[schema(pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub description: Option<String>,
    /// In the future; default none: the link opens until it is revoked.
    #[serde(default, deserialize_with = "instant_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new calendar link with its URL, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "url": "https://samverkan.example.se/v1/calendars/Wg88Ho0rT2qcfhstPk9aa3xh2w9Ci0nR1XU4pQ2eL0Y",
    "webcalUrl": "webcal://samverkan.example.se/v1/calendars/Wg88Ho0rT2qcfhstPk9aa3xh2w9Ci0nR1XU4pQ2eL0Y",
    "link": {"id": "7b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "networkId": "d1000000-0000-4000-8000-000000000002",
        "areaId": null, "municipalityId": null, "description": "Skolchefsnätverkets möten i Outlook",
        "state": "active", "expiresAt": null, "sharedBy": "Sundsvalls intranät",
        "calendarUrl": "/v1/events/calendar?networkId=d1000000-0000-4000-8000-000000000002",
        "openCount": 0, "lastOpenedAt": null, "revokedAt": null, "revokedBy": null, "version": 1,
        "createdAt": "2026-12-02T10:00:00Z", "updatedAt": "2026-12-02T10:00:00Z"}
}))]
pub struct CreatedCalendarLink {
    /// The feed's address to subscribe to ("Lägg till kalender → Från internet" in Outlook,
    /// "Från webbadress" in Google Calendar). It is not stored and cannot be shown again.
    pub url: String,
    /// The same address with the `webcal` scheme, which opens the subscription dialogue.
    pub webcal_url: String,
    pub link: CalendarLink,
}

/// Create a calendar link
///
/// Makes an address that opens one calendar feed (every event, or one network's, area's or
/// municipality's) without a token, for calendar programs, which send none. Answers the URL
/// once: it is not stored and cannot be shown again. The link opens until revoked
/// (`…/revoke`) or until `expiresAt`; a new signing key revokes every link. The feed carries no
/// personal data.
#[utoipa::path(
    operation_id = "createCalendarLink",
    tag = "Events",
    request_body = NewCalendarLink,
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 201, description = "The new link with its one-time URL", body = CreatedCalendarLink,
            headers(("Location" = String, description = "The link's URL in the API"),
                ("ETag" = String, description = "Strong entity tag"))),
        AuthErrors,
        NotFound,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/calendar-links")]
pub async fn create_calendar_link(
    req: HttpRequest,
    writer: Writer,
    auth: web::Data<Authenticator>,
    public: web::Data<PublicUrl>,
    body: Json<NewCalendarLink>,
) -> Result<HttpResponse, ApiError> {
    let new = body.0;
    let scope = CalendarParams {
        network_id: new.network_id,
        area_id: new.area_id,
        municipality_id: new.municipality_id.clone(),
    }
    .checked()?;
    let mut v = Violations::default();
    if let Some(d) = &new.description {
        crate::rules::text::required_text(&mut v, "description", d, 200);
    }
    if new
        .expires_at
        .is_some_and(|at| at <= Utc::now() + Duration::minutes(1))
    {
        v.push("expiresAt", "must be in the future");
    }
    v.finish()?;
    let owner = writer.caller.client_id;
    let link = writer
        .run(async |work| {
            // The scope must name something that exists (404 otherwise).
            scope.name(work.conn()).await?;
            let shared_by = work.sharer().await?;
            let row: LinkRow = diesel::insert_into(calendar_links::table)
                .values((
                    calendar_links::id.eq(Uuid::new_v4()),
                    calendar_links::network_id.eq(scope.network_id),
                    calendar_links::area_id.eq(scope.area_id),
                    calendar_links::municipality_id.eq(&scope.municipality_id),
                    calendar_links::description.eq(new.description.as_deref().map(str::trim)),
                    calendar_links::expires_at.eq(new.expires_at),
                    calendar_links::owner_id.eq(owner),
                    calendar_links::shared_by.eq(&shared_by),
                ))
                .returning(LinkRow::as_returning())
                .get_result(work.conn())
                .await?;
            let link = CalendarLink::from(row);
            record(work, "create", None, &link).await?;
            Ok(link)
        })
        .await?;
    let url = format!(
        "{}/v1/calendars/{}",
        public.base(&req),
        link_token(PURPOSE, &auth.keys().link_key, link.id)
    );
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/calendar-links/{}", link.id)))
        .insert_header((header::ETAG, version_etag(link.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedCalendarLink {
            url,
            webcal_url,
            link,
        }))
}

crate::link_management!(
    calendar_links,
    LinkRow,
    CalendarLink,
    "calendarLink",
    "Calendar link"
);

page_type!(CalendarLinkPage, CalendarLink, "A page of calendar links.");

/// Paging of the calendar links.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CalendarLinkListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
}

/// List calendar links
///
/// The caller's own links, newest first; an administrator (`admin`) sees everyone's. Each with
/// its state and how often it was fetched; never with its URL.
#[utoipa::path(
    operation_id = "listCalendarLinks",
    tag = "Events",
    params(CalendarLinkListParams),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "A page of calendar links, newest first", body = CalendarLinkPage,
            headers(("ETag" = String, description = "Strong entity tag of this page"))),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/calendar-links")]
pub async fn list_calendar_links(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    params: Query<CalendarLinkListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.0;
    let paging = list::paging(p.limit, p.page)?;
    let mut conn = db.conn().await?;
    let rows: Vec<LinkRow> = managed(&caller)
        .select(LinkRow::as_select())
        .order((calendar_links::created_at.desc(), calendar_links::id.asc()))
        .limit(i64::from(paging.limit))
        .offset(paging.offset())
        .load(&mut conn)
        .await?;
    let total = paging
        .total(&mut conn, rows.len(), || {
            managed(&caller).select(calendar_links::id)
        })
        .await?;
    let items: Vec<CalendarLink> = rows.into_iter().map(Into::into).collect();
    let page = CalendarLinkPage {
        meta: paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}

/// Revoke a calendar link
///
/// The link stops opening at once, on every replica; subscribed calendars stop updating. It
/// stays listed (`revoked`); revoking a revoked link changes nothing. The caller's own links;
/// an administrator's: anyone's.
#[utoipa::path(
    operation_id = "revokeCalendarLink",
    tag = "Events",
    params(("id" = Uuid, Path, description = "The link id", example = "7b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e")),
    security(("clientCredentials" = ["write"])),
    responses(
        (status = 200, description = "The revoked link", body = CalendarLink,
            headers(("ETag" = String, description = "The new strong entity tag"))),
        AuthErrors,
        NotFound,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/calendar-links/{id}/revoke")]
pub async fn revoke_calendar_link(
    writer: Writer,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    revoke(writer, crate::rules::uuid_param("id", &path.into_inner())?).await
}

/// A calendar link takes no parameters: the link says which feed it opens.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarLinkParams {}

/// Open a calendar link
///
/// The feed a calendar link was made for, without a token, as `GET /v1/events/calendar`
/// gives it. A token this service did not make, or one altered by a single character, is 404;
/// a revoked or expired link is 410. Each fetch is counted on the link (`openCount`); at most
/// 60 fetches a minute per link (429).
#[utoipa::path(
    operation_id = "openCalendarLink",
    tag = "Events",
    params(
        ("token" = String, Path, description = "The link's token, as in the URL it was made with",
            pattern = "^[A-Za-z0-9_-]{43}$", example = "Wg88Ho0rT2qcfhstPk9aa3xh2w9Ci0nR1XU4pQ2eL0Y"),
        CalendarLinkParams,
    ),
    responses(
        (status = 200, description = "The feed", content_type = "text/calendar", body = String,
            headers(("ETag" = String, description = "Strong entity tag of the feed"))),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`"),
        (status = 404, description = "No such link (or a forged or altered token)",
            body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 410, description = "The link was revoked or has expired",
            body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors,
    ),
)]
#[get("/calendars/{token}")]
pub async fn open_calendar_link(
    req: HttpRequest,
    db: Db,
    auth: web::Data<Authenticator>,
    path: web::Path<String>,
    _params: Query<CalendarLinkParams>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let unknown = || {
        ApiError::NotFound(
            "There is no such calendar link; check that the whole link was copied".to_owned(),
        )
    };
    let id = verify_link_token(PURPOSE, &auth.keys().link_key, &token).ok_or_else(unknown)?;
    crate::http::ratelimit::check(&db, &format!("calendar:{id}"), OPENS_PER_MINUTE).await?;
    let mut conn = db.conn().await?;
    let row: LinkRow = calendar_links::table
        .find(id)
        .select(LinkRow::as_select())
        .first(&mut conn)
        .await
        .optional()?
        .ok_or_else(unknown)?;
    let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match (row.state(Utc::now()), row.revoked_at, row.expires_at) {
        (CalendarLinkState::Revoked, Some(at), _) => {
            return Err(ApiError::LinkGone(format!(
                "This calendar link was revoked at {}; ask whoever shared it for a new one",
                stamp(at)
            )));
        }
        (CalendarLinkState::Expired, _, Some(at)) => {
            return Err(ApiError::LinkGone(format!(
                "This calendar link expired at {}; ask whoever shared it for a new one",
                stamp(at)
            )));
        }
        _ => {}
    }
    // Counting a fetch changes no record a client wrote: no audit entry, no change-feed entry.
    diesel::update(calendar_links::table.find(id))
        .set((
            calendar_links::open_count.eq(calendar_links::open_count + 1),
            calendar_links::last_opened_at.eq(diesel::dsl::now),
        ))
        .execute(&mut conn)
        .await?;
    let body = feed(&mut conn, &row.scope()).await?;
    Ok(answer(&req, body, "private, max-age=300"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let mut out = String::new();
        let value = "Länskonferens om kompetensförsörjning i välfärden, ".repeat(4);
        line(&mut out, &format!("SUMMARY:{}", text(&value)));
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert!(lines.len() > 3);
        assert_eq!(lines.last(), Some(&""));
        for l in &lines {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        for l in &lines[1..lines.len() - 1] {
            assert!(l.starts_with(' '));
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, format!("SUMMARY:{}", text(&value)));
    }

    #[test]
    fn the_repeated_autumn_hour_is_written_in_utc() {
        let at = |s: &str| crate::rules::dates::parse_instant(s).unwrap();
        // 30 October 2022: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        assert_eq!(
            timed("DTSTART", at("2022-10-30T00:30:00Z")),
            "DTSTART;TZID=Europe/Stockholm:20221030T023000"
        );
        assert_eq!(
            timed("DTSTART", at("2022-10-30T01:30:00Z")),
            "DTSTART:20221030T013000Z"
        );
        assert_eq!(
            timed("DTEND", at("2022-03-27T01:30:00Z")),
            "DTEND;TZID=Europe/Stockholm:20220327T033000"
        );
    }

    #[test]
    fn text_escapes_what_rfc_5545_reserves() {
        assert_eq!(
            text("Plats: A-huset; sal 3, plan 2\\4\r\nAnmälan\nsenast"),
            "Plats: A-huset\\; sal 3\\, plan 2\\\\4\\nAnmälan\\nsenast"
        );
    }
}
