//! Events (arrangemang): the conferences, trainings (utbildningsinsatser), network and presidium
//! meetings and webinars through which the association works, with their registrations
//! ([`registrations`]) and their calendar feeds ([`calendar`]).
//!
//! Times are instants, stored in UTC; an all-day event runs from midnight to midnight in Sweden
//! (Europe/Stockholm), and its days are what a client sends (`startDate`, `endDate`).

pub mod calendar;
pub mod registrations;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::{Violation, Violations};
use crate::http::list::{Listing, SortKey};
use crate::http::merge_member;
use crate::kernel::operations::{Doc, Posted, Pushed, Served};
use crate::kernel::{self, Form, Importable, Resource};
use crate::page_type;
use crate::rules;
use crate::rules::MunicipalityCode;
use crate::rules::dates::{instant_opt, stockholm, stockholm_midnight};
use crate::store::checks;
use crate::store::schema::{events, networks};
use crate::text_enum;

text_enum! {
    /// What kind of event.
    EventKind {
        /// A conference (konferens), often a day or two.
        Conference = "conference" ["Konferens"],
        /// A training (utbildningsinsats).
        Training = "training" ["Utbildning", "utbildningsinsats"],
        /// A meeting of a network.
        NetworkMeeting = "network_meeting" ["Nätverksmöte"],
        /// A meeting of a presidium.
        PresidiumMeeting = "presidium_meeting" ["Presidiemöte"],
        /// A webinar, online only.
        Webinar = "webinar" ["Webbinarium"],
    }
}

/// The longest an event may run.
pub const MAX_DAYS: i64 = 366;

/// An event.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "d6000000-0000-4000-8000-000000000003", "title": "Länskonferens om kompetensförsörjning",
    "description": "Två dagar om kompetensförsörjning i välfärden, med MIUN och Region Västernorrland.",
    "kind": "conference", "allDay": true,
    "startsAt": "2022-05-09T22:00:00Z", "endsAt": "2022-05-11T22:00:00Z",
    "startDate": "2022-05-10", "endDate": "2022-05-11",
    "location": "Mittuniversitetet, Sundsvall", "onlineUrl": null, "organiser": "Kommunförbundet Västernorrland",
    "networkId": null, "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0005",
    "municipalityIds": ["2260", "2262", "2280", "2281", "2282", "2283", "2284"],
    "capacity": 150, "registrationDeadline": "2022-04-29T21:59:59Z", "cancelled": false,
    "externalSystem": null, "externalId": null, "version": 2,
    "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
}))]
pub struct Event {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub kind: EventKind,
    /// Whether the event takes whole days (`startDate` to `endDate`), with no times.
    pub all_day: bool,
    /// When it starts (for an all-day event: midnight in Sweden at the start of `startDate`).
    pub starts_at: DateTime<Utc>,
    /// When it ends (for an all-day event: midnight in Sweden after `endDate`).
    pub ends_at: DateTime<Utc>,
    /// The day in Sweden (Europe/Stockholm) it starts.
    pub start_date: NaiveDate,
    /// The last day in Sweden it runs (inclusive).
    pub end_date: NaiveDate,
    /// Where it is held (address or room), if anywhere.
    pub location: Option<String>,
    /// The link to join online, if it is held online.
    pub online_url: Option<String>,
    /// Who arranges it.
    pub organiser: Option<String>,
    /// The network whose meeting it is, or that arranges it.
    pub network_id: Option<Uuid>,
    /// The collaboration area it belongs to.
    pub area_id: Option<Uuid>,
    /// The municipalities it is for (at least one).
    #[schema(value_type = Vec<MunicipalityCode>)]
    pub municipality_ids: Vec<String>,
    /// Places; registrations beyond them go to the waiting list. `null`: no limit.
    pub capacity: Option<i32>,
    /// Registrations are taken until then (and never after the event has ended).
    pub registration_deadline: Option<DateTime<Utc>>,
    /// Cancelled events stay listed (and in calendars, as cancelled) and take no registrations.
    pub cancelled: bool,
    pub external_system: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(EventPage, Event, "A page of events.");

/// A new event. A timed event gives `startsAt` and `endsAt` (any offset; stored in UTC); an
/// all-day event (`allDay: true`) gives `startDate` and, for more than one day, `endDate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "title": "Skolchefsnätverket, möte 3", "kind": "network_meeting",
    "startsAt": "2022-03-24T09:00:00+01:00", "endsAt": "2022-03-24T12:00:00+01:00",
    "location": "Kommunförbundet, Köpmangatan 24, Sundsvall",
    "networkId": "d1000000-0000-4000-8000-000000000002", "areaId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0005",
    "municipalityIds": ["2260", "2262", "2280", "2281", "2282", "2283", "2284"]
}))]
pub struct NewEvent {
    #[schema(min_length = 1, max_length = 300, pattern = "\\S")]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    pub kind: EventKind,
    /// Default `false`.
    #[serde(default)]
    pub all_day: bool,
    /// Required unless `allDay`; RFC 3339 with an offset.
    #[serde(default, deserialize_with = "instant_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<DateTime<Utc>>,
    /// Required unless `allDay`; after `startsAt`, at most 366 days later.
    #[serde(default, deserialize_with = "instant_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Required when `allDay`: the first day. For a timed event it may be left out, or must be
    /// the day in Sweden `startsAt` falls on.
    #[serde(default, deserialize_with = "crate::rules::dates::date_opt")]
    #[schema(value_type = Option<NaiveDate>)]
    pub start_date: Option<NaiveDate>,
    /// The last day (inclusive) of an all-day event; default `startDate`. For a timed event it
    /// may be left out, or must be the day in Sweden it ends.
    #[serde(default, deserialize_with = "crate::rules::dates::date_opt")]
    #[schema(value_type = Option<NaiveDate>)]
    pub end_date: Option<NaiveDate>,
    #[schema(max_length = 300)]
    pub location: Option<String>,
    /// An `https` (or `http`) URL.
    #[schema(max_length = 2000, format = "uri")]
    pub online_url: Option<String>,
    #[schema(max_length = 200)]
    pub organiser: Option<String>,
    pub network_id: Option<Uuid>,
    pub area_id: Option<Uuid>,
    #[schema(value_type = Vec<MunicipalityCode>, min_items = 1)]
    pub municipality_ids: Vec<String>,
    #[schema(minimum = 1, maximum = 100000)]
    pub capacity: Option<i32>,
    /// Before the event ends.
    #[serde(default, deserialize_with = "instant_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub registration_deadline: Option<DateTime<Utc>>,
    /// Default `false`.
    #[serde(default)]
    pub cancelled: bool,
    #[schema(max_length = 100, pattern = "\\S")]
    pub external_system: Option<String>,
    #[schema(max_length = 200, pattern = "\\S")]
    pub external_id: Option<String>,
}

/// Changes to an event (JSON Merge Patch, RFC 7396). Moving a timed event's `startsAt` alone
/// keeps its length, as does moving an all-day event's `startDate` alone.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"cancelled": true}))]
pub struct EventPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 300, pattern = "\\S")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = EventKind, required = false)]
    pub kind: Option<Option<EventKind>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = bool, required = false)]
    pub all_day: Option<Option<bool>>,
    #[serde(default, deserialize_with = "crate::rules::dates::instant_merge")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "crate::rules::dates::instant_merge")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "crate::rules::dates::date_merge")]
    #[schema(value_type = Option<NaiveDate>)]
    pub start_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "crate::rules::dates::date_merge")]
    #[schema(value_type = Option<NaiveDate>)]
    pub end_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 300)]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 2000, format = "uri")]
    pub online_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub organiser: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Uuid>)]
    pub network_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<Uuid>)]
    pub area_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Vec<MunicipalityCode>, required = false, min_items = 1)]
    pub municipality_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 100000)]
    pub capacity: Option<Option<i32>>,
    #[serde(default, deserialize_with = "crate::rules::dates::instant_merge")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub registration_deadline: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = bool, required = false)]
    pub cancelled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "\\S")]
    pub external_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = "\\S")]
    pub external_id: Option<Option<String>>,
}

/// When an event runs, as a client gave it: the inputs of [`Timing::resolve`].
#[derive(Debug, Default)]
struct Timing {
    all_day: bool,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
}

impl Timing {
    /// The event's start and end instants, and what is wrong with the inputs.
    fn resolve(&self) -> (DateTime<Utc>, DateTime<Utc>, Vec<Violation>) {
        let mut problems = Vec::new();
        let mut problem =
            |field: &str, message: String| problems.push(Violation::new(field, message));
        let (start, end) = if self.all_day {
            let Some(first) = self.start_date else {
                problem("startDate", "is required for an all-day event".to_owned());
                for (field, given) in [("startsAt", self.starts_at), ("endsAt", self.ends_at)] {
                    if given.is_some() {
                        problem(
                            field,
                            format!(
                                "an all-day event takes startDate and endDate; leave {field} out"
                            ),
                        );
                    }
                }
                return (DateTime::UNIX_EPOCH, DateTime::UNIX_EPOCH, problems);
            };
            let last = self.end_date.unwrap_or(first);
            if last < first {
                problem("endDate", "must not be before startDate".to_owned());
            }
            let start = stockholm_midnight(first);
            let end = stockholm_midnight(last.max(first) + Duration::days(1));
            for (field, given, derived) in [
                ("startsAt", self.starts_at, start),
                ("endsAt", self.ends_at, end),
            ] {
                if given.is_some_and(|g| g != derived) {
                    problem(
                        field,
                        format!(
                            "an all-day event runs from midnight to midnight in Sweden; leave \
                             {field} out or send {}",
                            derived.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    );
                }
            }
            (start, end)
        } else {
            let (Some(start), Some(end)) = (self.starts_at, self.ends_at) else {
                for (field, given) in [("startsAt", self.starts_at), ("endsAt", self.ends_at)] {
                    if given.is_none() {
                        problem(
                            field,
                            "is required unless allDay is true (then give startDate)".to_owned(),
                        );
                    }
                }
                return (DateTime::UNIX_EPOCH, DateTime::UNIX_EPOCH, problems);
            };
            if end <= start {
                problem("endsAt", "must be after startsAt".to_owned());
            }
            let last = stockholm(end - Duration::microseconds(1)).date();
            for (field, given, day) in [
                ("startDate", self.start_date, stockholm(start).date()),
                ("endDate", self.end_date, last),
            ] {
                if given.is_some_and(|g| g != day) {
                    problem(
                        field,
                        format!("must be {day}, the day in Sweden of a timed event, or left out"),
                    );
                }
            }
            (start, end)
        };
        if end - start > Duration::days(MAX_DAYS) {
            problem(
                "endsAt",
                format!("must be at most {MAX_DAYS} days after the start"),
            );
        }
        (start, end, problems)
    }
}

/// What is written of an event: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = events, treat_none_as_null = true)]
pub struct EventValues {
    title: String,
    description: String,
    kind: EventKind,
    all_day: bool,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    location: Option<String>,
    online_url: Option<String>,
    organiser: Option<String>,
    network_id: Option<Uuid>,
    area_id: Option<Uuid>,
    municipality_ids: Vec<String>,
    capacity: Option<i32>,
    registration_deadline: Option<DateTime<Utc>>,
    cancelled: bool,
    external_system: Option<String>,
    external_id: Option<String>,
    /// What was wrong with the times as given (reported by [`Form::check`]).
    #[diesel(skip_insertion, skip_update)]
    timing: Vec<Violation>,
}

/// Text trimmed, and empty text as none.
fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

impl EventValues {
    fn from_new(n: NewEvent) -> Self {
        let (starts_at, ends_at, timing) = Timing {
            all_day: n.all_day,
            starts_at: n.starts_at,
            ends_at: n.ends_at,
            start_date: n.start_date,
            end_date: n.end_date,
        }
        .resolve();
        Self {
            title: n.title.trim().to_owned(),
            description: n.description,
            kind: n.kind,
            all_day: n.all_day,
            starts_at,
            ends_at,
            location: trimmed(n.location),
            online_url: trimmed(n.online_url),
            organiser: trimmed(n.organiser),
            network_id: n.network_id,
            area_id: n.area_id,
            municipality_ids: n.municipality_ids,
            capacity: n.capacity,
            registration_deadline: n.registration_deadline,
            cancelled: n.cancelled,
            external_system: n.external_system,
            external_id: n.external_id,
            timing,
        }
    }

    fn patched(current: &Event, p: EventPatch) -> Self {
        let c = current.clone();
        let all_day = p.all_day.flatten().unwrap_or(c.all_day);
        let given_start_date = p.start_date.flatten();
        let given_starts_at = p.starts_at.flatten();
        let timing = if all_day {
            // Moving the first day alone keeps the length; so does making a timed event
            // all-day (it keeps its days in Sweden).
            let end_date = p.end_date.flatten().or(match given_start_date {
                Some(first) => Some(first + (c.end_date - c.start_date)),
                None => Some(c.end_date),
            });
            Timing {
                all_day,
                starts_at: given_starts_at,
                ends_at: p.ends_at.flatten(),
                start_date: given_start_date.or(Some(c.start_date)),
                end_date,
            }
        } else {
            let starts_at = given_starts_at.unwrap_or(c.starts_at);
            let ends_at = p.ends_at.flatten().unwrap_or(match given_starts_at {
                Some(start) => start + (c.ends_at - c.starts_at),
                None => c.ends_at,
            });
            Timing {
                all_day,
                starts_at: Some(starts_at),
                ends_at: Some(ends_at),
                start_date: given_start_date,
                end_date: p.end_date.flatten(),
            }
        };
        let (starts_at, ends_at, timing) = timing.resolve();
        Self {
            title: p
                .title
                .flatten()
                .map(|t| t.trim().to_owned())
                .unwrap_or(c.title),
            description: p
                .description
                .map(Option::unwrap_or_default)
                .unwrap_or(c.description),
            kind: p.kind.flatten().unwrap_or(c.kind),
            all_day,
            starts_at,
            ends_at,
            location: p.location.map(trimmed).unwrap_or(c.location),
            online_url: p.online_url.map(trimmed).unwrap_or(c.online_url),
            organiser: p.organiser.map(trimmed).unwrap_or(c.organiser),
            network_id: p.network_id.unwrap_or(c.network_id),
            area_id: p.area_id.unwrap_or(c.area_id),
            municipality_ids: p.municipality_ids.flatten().unwrap_or(c.municipality_ids),
            capacity: p.capacity.unwrap_or(c.capacity),
            registration_deadline: p.registration_deadline.unwrap_or(c.registration_deadline),
            cancelled: p.cancelled.flatten().unwrap_or(c.cancelled),
            external_system: p.external_system.unwrap_or(c.external_system),
            external_id: p.external_id.unwrap_or(c.external_id),
            timing,
        }
    }
}

impl Form for EventValues {
    /// The rules that need no database, every violation at once.
    fn check(&self, v: &mut Violations) {
        rules::required_text(v, "title", &self.title, 300);
        rules::optional_text(v, "description", Some(&self.description), 10_000);
        for problem in &self.timing {
            v.push(problem.field.clone(), problem.message.clone());
        }
        // Years as Sweden counts them: an all-day event on 1 January 2000 starts in 1999 in UTC.
        let year = |t: DateTime<Utc>| chrono::Datelike::year(&stockholm(t));
        let years = crate::resources::plans::MIN_YEAR..=crate::resources::plans::MAX_YEAR;
        if self.timing.is_empty() && !years.contains(&year(self.starts_at)) {
            v.push("startsAt", "must be in a year between 2000 and 2100");
        }
        if self
            .registration_deadline
            .is_some_and(|d| !(years.start() - 1..=*years.end()).contains(&year(d)))
        {
            v.push(
                "registrationDeadline",
                "must be in a year between 1999 and 2100",
            );
        }
        rules::optional_text(v, "location", self.location.as_deref(), 300);
        rules::optional_text(v, "organiser", self.organiser.as_deref(), 200);
        if let Some(link) = &self.online_url {
            let ok = link.chars().count() <= 2000
                && url::Url::parse(link).is_ok_and(|u| {
                    matches!(u.scheme(), "https" | "http") && u.host_str().is_some()
                });
            if !ok {
                v.push(
                    "onlineUrl",
                    "must be an https or http URL of at most 2000 characters",
                );
            }
        }
        if self.municipality_ids.is_empty() {
            v.push("municipalityIds", "must name at least one municipality");
        }
        rules::municipality_codes(v, "municipalityIds", &self.municipality_ids);
        if self.capacity.is_some_and(|c| !(1..=100_000).contains(&c)) {
            v.push(
                "capacity",
                "must be between 1 and 100000 places, or null for no limit",
            );
        }
        if self
            .registration_deadline
            .is_some_and(|d| self.timing.is_empty() && d >= self.ends_at)
        {
            v.push("registrationDeadline", "must be before the event ends");
        }
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
        if let Some(network) = self.network_id {
            let known: bool = diesel::select(diesel::dsl::exists(networks::table.find(network)))
                .get_result(conn)
                .await?;
            if !known {
                return Err(ApiError::invalid(
                    "networkId",
                    format!("no network has the id {network}"),
                ));
            }
        }
        Ok(())
    }
}

impl Resource for Event {
    const KIND: &'static str = "event";
    const NOUN: &'static str = "event";
    type Key = Uuid;
    type Values = EventValues;
    type Patch = EventPatch;

    // Added places move the waiting list up: the trigger `events_places_added`.
    crate::uuid_record!("/v1/events", events, Event);
    fn owners(&self) -> Vec<String> {
        self.municipality_ids.clone()
    }

    async fn value_owners(
        _: &mut AsyncPgConnection,
        values: &EventValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(values.municipality_ids.clone())
    }
    fn check_patch(p: &EventPatch) -> Result<(), ApiError> {
        kernel::refuse_nulls(&[
            ("title", kernel::is_null(&p.title)),
            ("kind", kernel::is_null(&p.kind)),
            ("allDay", kernel::is_null(&p.all_day)),
            ("municipalityIds", kernel::is_null(&p.municipality_ids)),
            ("cancelled", kernel::is_null(&p.cancelled)),
        ])
    }
    fn patched(&self, patch: EventPatch) -> EventValues {
        EventValues::patched(self, patch)
    }
}

crate::creatable_row!(Event, events, Event);

// Its registrations go with it (`ON DELETE CASCADE`).
crate::removable_row!(Event, events, |id| *id);

crate::external_row!(
    Event,
    events,
    Event,
    "events_external_system_external_id_key"
);

impl Importable for Event {
    const COLLECTION: &'static str = "events";

    fn from_row(row: Map<String, Value>) -> Result<EventValues, Vec<Violation>> {
        kernel::form::<NewEvent>(row).map(EventValues::from_new)
    }
}

crate::sort_fields! {
    /// The fields the list sorts by.
    EventSort for events with timestamps {
        StartsAt = "startsAt" => events::starts_at,
        Title = "title" => events::title,
    }
}

crate::list_params! {
    /// Filters, sorting and paging of the event list.
    pub struct EventListParams {
        /// Sort keys, `-` for descending: `startsAt`, `title`, `createdAt`, `updatedAt`.
        sort(default = "startsAt", example = "-startsAt", pattern = "^[-+]?(startsAt|title|createdAt|updatedAt)(,[-+]?(startsAt|title|createdAt|updatedAt))*$"),
        external(system = "sundsvall-intranat", id = "kalender-4711"),
        exports(labels),
        keyset(after),
        /// Only events of this kind.
        #[param(example = "conference")]
        pub kind: Option<EventKind>,
        /// Only events still running or to come at this instant (ending after it): `from=` the
        /// current time lists what is coming up.
        #[param(example = "2022-03-01T00:00:00Z")]
        #[serde(default, deserialize_with = "crate::rules::dates::instant_opt")]
        pub from: Option<DateTime<Utc>>,
        /// Only events starting before this instant.
        #[param(example = "2022-07-01T00:00:00+02:00")]
        #[serde(default, deserialize_with = "crate::rules::dates::instant_opt")]
        pub to: Option<DateTime<Utc>>,
        /// Only events for this municipality.
        #[param(pattern = "^[0-9]{4}$", example = "2281")]
        pub municipality_id: Option<String>,
        /// Only this network's events.
        #[param(example = "d1000000-0000-4000-8000-000000000002")]
        pub network_id: Option<Uuid>,
        /// Only events of this area.
        #[param(example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0005")]
        pub area_id: Option<Uuid>,
        /// Only cancelled (`true`) or only not cancelled (`false`) events.
        #[param(example = false)]
        pub cancelled: Option<bool>,
        /// Search of the title, description, place and organiser, with the rules of
        /// `GET /v1/search`. Ranked by relevance unless `sort` is given. At most 200 characters
        /// and 8 words.
        #[param(max_length = 200, example = "kompetensförsörjning")]
        pub q: Option<String>,
    }
}

type EventQuery = events::BoxedQuery<'static, diesel::pg::Pg>;

#[allow(clippy::type_complexity)]
fn filter(p: EventListParams) -> Result<(Listing<EventSort>, impl Fn() -> EventQuery), ApiError> {
    let mut v = Violations::default();
    let listing = p.listing(&mut v, SortKey::asc(EventSort::StartsAt));
    let search = v
        .check(crate::http::search::Search::parse(p.q, p.sort.is_none()))
        .flatten();
    crate::rules::MunicipalityId::check_optional(
        &mut v,
        "municipalityId",
        p.municipality_id.as_deref(),
    );
    let (from, to) = (p.from, p.to);
    let listing = v.finish_with(listing)?.searching(search);
    let filtered = move || {
        let mut query = events::table.into_boxed();
        if let Some(k) = p.kind {
            query = query.filter(events::kind.eq(k.as_str()));
        }
        if let Some(from) = from {
            query = query.filter(events::ends_at.gt(from));
        }
        if let Some(to) = to {
            query = query.filter(events::starts_at.lt(to));
        }
        if let Some(m) = p.municipality_id.clone() {
            query = query.filter(events::municipality_ids.contains(vec![m]));
        }
        if let Some(n) = p.network_id {
            query = query.filter(events::network_id.eq(n));
        }
        if let Some(a) = p.area_id {
            query = query.filter(events::area_id.eq(a));
        }
        if let Some(c) = p.cancelled {
            query = query.filter(events::cancelled.eq(c));
        }
        crate::external_filters!(query, events, p);
        query
    };
    Ok((listing, filtered))
}

crate::table_list!(
    Event, events, Event, "events", EventListParams => EventPage,
    filter: filter, sort: EventSort, plural: "events",
    Doc::new("listEvents", "List events").describe(
        "The next first. Filters combine with AND; `from` set to now lists what is coming up. \
         `Accept: text/csv` or `application/x-ndjson` streams every matching event instead of \
         one page. Calendar programs subscribe to `GET /v1/events/calendar` (or a calendar \
         link) instead.",
    ),
);

impl Served for Event {
    const ITEM: &'static str = "/events/{id}";
    const COLLECTION: &'static str = "/events";
    const TAG: &'static str = "Events";
    const GET: Doc = Doc::new("getEvent", "Get an event");
    const CREATE: Doc = Doc::new("createEvent", "Create an event").describe(
        "A timed event gives `startsAt` and `endsAt`; an all-day event `allDay: true`, \
         `startDate` and, for more than one day, `endDate` (its days in Sweden). A client bound \
         to a municipality creates events for that municipality only.",
    );
    const UPDATE: Doc = Doc::new("updateEvent", "Change an event").describe(
        "JSON Merge Patch (RFC 7396); requires `If-Match`. `cancelled: true` cancels it: it \
         stays listed, calendars show it as cancelled, and it takes no more registrations. Added \
         places move the waiting list up at once; fewer places than confirmed registrations \
         move nobody down, but the next registrations wait until places free up.",
    );
    const DELETE: Doc = Doc::new("deleteEvent", "Delete an event").describe(
        "Deletes the event with its registrations (to keep it in calendars as cancelled, set \
         `cancelled` instead). Requires `If-Match`.",
    );
    const UPSERT: Doc = Doc::new(
        "upsertEventByExternalId",
        "Create or replace an event by its external reference",
    )
    .describe(
        "For systems that push their own calendar (an intranet's, a network's): the event \
         whose `externalSystem`/`externalId` are the path's is replaced by the body (or \
         created, 201). Repeating the same push changes nothing (no new version, no audit \
         entry, no change-feed entry). `If-Match` is optional.",
    );
    type Wire = Self;
    type Parent = ();

    fn wire(&self, _: &Caller) -> Self {
        self.clone()
    }
}

impl Posted for Event {
    type New = NewEvent;

    fn values(_: (), new: NewEvent) -> Self::Values {
        EventValues::from_new(new)
    }
}

impl Pushed for Event {
    fn external_ref(new: &mut NewEvent) -> (&mut Option<String>, &mut Option<String>) {
        (&mut new.external_system, &mut new.external_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        rules::dates::parse_instant(s).unwrap()
    }
    fn day(s: &str) -> NaiveDate {
        rules::dates::parse_date(s).unwrap()
    }

    #[test]
    fn an_all_day_event_runs_from_midnight_to_midnight_in_sweden() {
        let (start, end, problems) = Timing {
            all_day: true,
            start_date: Some(day("2022-03-26")),
            end_date: Some(day("2022-03-27")),
            ..Timing::default()
        }
        .resolve();
        assert!(problems.is_empty());
        assert_eq!(start, at("2022-03-25T23:00:00Z"));
        assert_eq!(end, at("2022-03-27T22:00:00Z"));
    }

    #[test]
    fn times_that_do_not_fit_are_named() {
        let fields =
            |t: Timing| -> Vec<String> { t.resolve().2.into_iter().map(|v| v.field).collect() };
        assert_eq!(fields(Timing::default()), ["startsAt", "endsAt"]);
        assert_eq!(
            fields(Timing {
                all_day: true,
                ..Timing::default()
            }),
            ["startDate"]
        );
        assert_eq!(
            fields(Timing {
                starts_at: Some(at("2022-03-24T09:00:00+01:00")),
                ends_at: Some(at("2022-03-24T09:00:00+01:00")),
                start_date: Some(day("2022-03-25")),
                ..Timing::default()
            }),
            ["endsAt", "startDate"]
        );
        assert_eq!(
            fields(Timing {
                all_day: true,
                start_date: Some(day("2022-05-10")),
                end_date: Some(day("2022-05-09")),
                starts_at: Some(at("2022-05-10T08:00:00Z")),
                ..Timing::default()
            }),
            ["endDate", "startsAt"]
        );
        assert!(
            fields(Timing {
                starts_at: Some(at("2022-03-24T23:30:00+01:00")),
                ends_at: Some(at("2022-03-25T01:00:00+01:00")),
                start_date: Some(day("2022-03-24")),
                end_date: Some(day("2022-03-25")),
                ..Timing::default()
            })
            .is_empty()
        );
    }
}
