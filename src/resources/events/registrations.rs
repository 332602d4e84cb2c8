//! Registrations for events. Personal data: a registration's name and e-mail address are shown
//! only to callers entitled to them ([`Caller::sees_personal_data_of`]), never reach the logs,
//! the audit log or the change feed, and are erased for good on request.
//!
//! Places are counted in the writing transaction, with the event's row locked (`FOR NO KEY
//! UPDATE`): a registration is `confirmed` while the event has places left and `waitlisted`
//! after that, so concurrent registrations never overbook. A cancelled registration (a delete),
//! an erasure or added places move the waiting list up, in the order of registration, in the
//! same transaction: triggers do it (migration `events`), whichever statement frees the places.
//! Every write of a registration locks its event first, so they queue per event and never
//! deadlock with each other.

use actix_web::{HttpRequest, HttpResponse, post};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Violations;
use crate::error::responses::{AuthErrors, CommonErrors, WriteErrors};
use crate::http::list;
use crate::http::{Json, PathKey, conditional_json, merge_member, uuid_parameter, uuid_segments};
use crate::integration::export::{self, Format};
use crate::integration::work::Writer;
use crate::kernel::operations::{Doc, ListRequest, Listed, Posted, Served};
use crate::kernel::{self, Form, Lock, Resource};
use crate::page_type;
use crate::resources::networks::{ErasureRequest, ErasureResult};
use crate::rules;
use crate::rules::MunicipalityCode;
use crate::store::schema::{events, registrations};
use crate::text_enum;
use utoipa::openapi::path::Parameter;

text_enum! {
    /// Whether the registration has a place (`confirmed`) or waits for one (`waitlisted`).
    RegistrationStatus {
        Confirmed = "confirmed" ["Bekräftad", "plats"],
        Waitlisted = "waitlisted" ["Väntelista", "reserv"],
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = registrations, check_for_backend(diesel::pg::Pg))]
pub(crate) struct RegistrationRow {
    id: Uuid,
    event_id: Uuid,
    name: String,
    email: String,
    municipality_id: Option<String>,
    organisation: Option<String>,
    status: RegistrationStatus,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A registration for an event. `name` and `email` are shown only to administrators and to
/// `write` clients of the association or of the registration's municipality; others get null.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "d7000000-0000-4000-8000-000000000001", "eventId": "d6000000-0000-4000-8000-000000000003",
    "name": "Karin Nilsson", "email": "karin.nilsson@example.se", "municipalityId": "2281",
    "organisation": "Sundsvalls kommun", "status": "confirmed", "version": 1,
    "createdAt": "2022-04-12T08:30:00Z", "updatedAt": "2022-04-12T08:30:00Z"
}))]
pub struct Registration {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The municipality the person comes from (counted in the annual report).
    #[schema(value_type = Option<MunicipalityCode>)]
    pub municipality_id: Option<String>,
    pub organisation: Option<String>,
    pub status: RegistrationStatus,
    pub version: i64,
    /// When the person registered: the waiting list moves up in this order.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Registration {
    fn for_caller(r: RegistrationRow, caller: &Caller) -> Self {
        let visible = caller.sees_personal_data_of(r.municipality_id.as_deref());
        Self {
            id: r.id,
            event_id: r.event_id,
            name: visible.then_some(r.name),
            email: visible.then_some(r.email),
            municipality_id: r.municipality_id,
            organisation: r.organisation,
            status: r.status,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

page_type!(RegistrationPage, Registration, "A page of registrations.");

/// A new registration. Whether it gets a place is the service's to say (`status`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Karin Nilsson", "email": "karin.nilsson@example.se",
    "municipalityId": "2281", "organisation": "Sundsvalls kommun"}))]
pub struct NewRegistration {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// One registration per address and event (compared case-insensitively).
    #[schema(min_length = 3, max_length = 254, format = Email)]
    pub email: String,
    #[schema(pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<String>,
    #[schema(max_length = 200)]
    pub organisation: Option<String>,
}

/// Changes to a registration (JSON Merge Patch, RFC 7396). Its place is not among them.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"organisation": "Timrå kommun, socialtjänsten"}))]
pub struct RegistrationPatch {
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = String, required = false, min_length = 3, max_length = 254, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<MunicipalityCode>)]
    pub municipality_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "merge_member")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub organisation: Option<Option<String>>,
}

/// What is written of a registration: a new one, or the current one with a patch applied.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = registrations, treat_none_as_null = true)]
pub(crate) struct RegistrationValues {
    #[diesel(skip_update)]
    event_id: Uuid,
    name: String,
    email: String,
    municipality_id: Option<String>,
    organisation: Option<String>,
    /// Whether this is a new registration, which needs the event open for registration.
    #[diesel(skip_insertion, skip_update)]
    new: bool,
}

impl Form for RegistrationValues {
    fn check(&self, v: &mut Violations) {
        rules::required_text(v, "name", &self.name, 200);
        rules::email(v, "email", Some(&self.email));
        if let Some(m) = &self.municipality_id {
            rules::municipality_codes(v, "municipalityId", std::slice::from_ref(m));
        }
        rules::optional_text(v, "organisation", self.organisation.as_deref(), 200);
    }

    /// A new registration needs its event (locked from here to the commit, so that places are
    /// counted once at a time): not cancelled, not over, before its deadline.
    async fn check_references(&self, conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
        if let Some(m) = &self.municipality_id {
            crate::store::checks::municipalities_exist(
                conn,
                "municipalityId",
                std::slice::from_ref(m),
            )
            .await?;
        }
        if !self.new {
            return Ok(());
        }
        let (cancelled, ends_at, deadline) = lock_event(conn, self.event_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("Event {}", self.event_id)))?;
        let now = Utc::now();
        let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if cancelled {
            return Err(ApiError::Conflict(
                "The event is cancelled and takes no registrations".to_owned(),
            ));
        }
        if ends_at <= now {
            return Err(ApiError::Conflict(format!(
                "The event ended at {}; it takes no registrations",
                stamp(ends_at)
            )));
        }
        if let Some(deadline) = deadline.filter(|d| *d <= now) {
            return Err(ApiError::Conflict(format!(
                "Registration closed at {}",
                stamp(deadline)
            )));
        }
        Ok(())
    }
}

/// Locks the event for the rest of the transaction (`FOR NO KEY UPDATE`: registrations queue
/// on it; readers and the foreign key's checks do not) and reads whether it takes
/// registrations: cancelled, its end, its deadline.
async fn lock_event(
    conn: &mut AsyncPgConnection,
    event: Uuid,
) -> QueryResult<Option<(bool, DateTime<Utc>, Option<DateTime<Utc>>)>> {
    events::table
        .find(event)
        .select((
            events::cancelled,
            events::ends_at,
            events::registration_deadline,
        ))
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// A registration's key: its event's id and its own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegistrationKey {
    event: Uuid,
    id: Uuid,
}

impl std::fmt::Display for RegistrationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of event {}", self.id, self.event)
    }
}

impl PathKey for RegistrationKey {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        let [event, id] = uuid_segments(req, ["id", "registrationId"])?;
        Ok(RegistrationKey { event, id })
    }

    fn parameters(_: &str) -> Vec<Parameter> {
        vec![
            uuid_parameter("id", "The event's id"),
            uuid_parameter("registrationId", "The registration's id"),
        ]
    }
}

impl Resource for RegistrationRow {
    const KIND: &'static str = "registration";
    const NOUN: &'static str = "registration";
    type Key = RegistrationKey;
    type Values = RegistrationValues;
    type Patch = RegistrationPatch;

    fn id(&self) -> String {
        self.id.to_string()
    }
    fn key(&self) -> RegistrationKey {
        RegistrationKey {
            event: self.event_id,
            id: self.id,
        }
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn location(&self) -> String {
        format!("/v1/events/{}/registrations/{}", self.event_id, self.id)
    }
    fn owners(&self) -> Vec<String> {
        self.municipality_id.iter().cloned().collect()
    }
    /// No name, no e-mail address.
    fn audit_view(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "id": self.id, "eventId": self.event_id, "municipalityId": self.municipality_id,
            "status": self.status, "version": self.version, "personalData": "redacted"
        }))
    }

    /// Locking a registration locks its event first (see the module's documentation).
    async fn find(
        conn: &mut AsyncPgConnection,
        key: &RegistrationKey,
        lock: Lock,
    ) -> QueryResult<Option<Self>> {
        if lock == Lock::ForUpdate && lock_event(conn, key.event).await?.is_none() {
            return Ok(None);
        }
        let query = registrations::table
            .filter(registrations::event_id.eq(key.event))
            .filter(registrations::id.eq(key.id))
            .select(RegistrationRow::as_select());
        crate::first_row!(query, conn, lock)
    }
    async fn update(
        conn: &mut AsyncPgConnection,
        key: &RegistrationKey,
        values: &RegistrationValues,
    ) -> QueryResult<Self> {
        crate::update_row!(conn, registrations, key.id, values, RegistrationRow)
    }
    async fn value_owners(
        _: &mut AsyncPgConnection,
        values: &RegistrationValues,
    ) -> Result<Vec<String>, ApiError> {
        Ok(values.municipality_id.iter().cloned().collect())
    }
    fn check_patch(p: &RegistrationPatch) -> Result<(), ApiError> {
        kernel::refuse_nulls(&[
            ("name", kernel::is_null(&p.name)),
            ("email", kernel::is_null(&p.email)),
        ])
    }
    fn patched(&self, p: RegistrationPatch) -> RegistrationValues {
        RegistrationValues {
            event_id: self.event_id,
            name: p
                .name
                .flatten()
                .map(|n| n.trim().to_owned())
                .unwrap_or_else(|| self.name.clone()),
            email: p
                .email
                .flatten()
                .map(|e| e.trim().to_owned())
                .unwrap_or_else(|| self.email.clone()),
            municipality_id: p
                .municipality_id
                .unwrap_or_else(|| self.municipality_id.clone()),
            organisation: p.organisation.unwrap_or_else(|| self.organisation.clone()),
            new: false,
        }
    }
    fn conflict(_: &RegistrationValues, constraint: Option<&str>) -> ApiError {
        match constraint {
            Some("registrations_event_email") => ApiError::Conflict(
                "This e-mail address is already registered for the event".to_owned(),
            ),
            _ => ApiError::Conflict("The registration conflicts with an existing one".to_owned()),
        }
    }
}

impl kernel::Creatable for RegistrationRow {
    /// Written `confirmed` while the event (locked by the check) has places left, else
    /// `waitlisted`.
    async fn insert(
        conn: &mut AsyncPgConnection,
        values: &RegistrationValues,
    ) -> QueryResult<Self> {
        let capacity: Option<i32> = events::table
            .find(values.event_id)
            .select(events::capacity)
            .first(conn)
            .await?;
        let status = match capacity {
            None => RegistrationStatus::Confirmed,
            Some(places) => {
                let confirmed: i64 = registrations::table
                    .filter(registrations::event_id.eq(values.event_id))
                    .filter(registrations::status.eq(RegistrationStatus::Confirmed))
                    .count()
                    .get_result(conn)
                    .await?;
                if confirmed < i64::from(places) {
                    RegistrationStatus::Confirmed
                } else {
                    RegistrationStatus::Waitlisted
                }
            }
        };
        diesel::insert_into(registrations::table)
            .values((
                registrations::id.eq(Uuid::new_v4()),
                registrations::status.eq(status),
                values,
            ))
            .returning(RegistrationRow::as_returning())
            .get_result(conn)
            .await
    }
}

impl kernel::Removable for RegistrationRow {
    /// Cancels the registration, erasing it (and the stored answer a retry of its creation
    /// would replay); the first on the waiting list takes a freed place (the trigger
    /// `registrations_places_freed`).
    async fn delete(conn: &mut AsyncPgConnection, key: &RegistrationKey) -> QueryResult<()> {
        diesel::delete(registrations::table.find(key.id))
            .execute(conn)
            .await?;
        let created = [format!("{} {}", Self::KIND, key.id)];
        crate::integration::idempotency::forget_answers(conn, &created).await
    }
}

/// Filters and paging of an event's registrations.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RegistrationListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only confirmed or only waitlisted registrations.
    #[param(example = "confirmed")]
    pub status: Option<RegistrationStatus>,
    /// Only registrations from this municipality.
    #[param(pattern = "^[0-9]{4}$", example = "2281")]
    pub municipality_id: Option<String>,
    /// With `Accept: text/csv`: `sv` writes Swedish column headers and labels, as every
    /// exporting list does.
    #[param(inline, example = "sv")]
    pub labels: Option<crate::rules::labels::FileLabels>,
}

impl Listed for RegistrationRow {
    const LIST: Doc = Doc::new("listEventRegistrations", "List an event's registrations").describe(
        "In the order people registered: the waiting list moves up in this order. Names and \
         e-mail addresses only for entitled callers (see `Registration`); `status=confirmed` \
         with `_meta.totalRecords` gives the places taken. `Accept: text/csv` gives the whole \
         list (a participant list for Excel).",
    );
    const PLURAL: &'static str = "registrations";
    type Params = RegistrationListParams;
    type Page = RegistrationPage;

    async fn list(request: ListRequest<Self>) -> Result<HttpResponse, ApiError> {
        let ListRequest {
            req,
            exports,
            db,
            caller,
            parent: event,
            params: p,
            // Refused by the kernel when any (this list does not weigh them).
            set_aside: _,
        } = request;
        let format = export::negotiate(&req)?;
        let mut v = Violations::default();
        let paging = v.check(list::paging(p.limit, p.page));
        crate::rules::MunicipalityId::check_optional(
            &mut v,
            "municipalityId",
            p.municipality_id.as_deref(),
        );
        let paging = v.finish_with(paging)?;
        let mut conn = db.conn().await?;
        kernel::find::<super::Event>(&mut conn, &event, Lock::No).await?;
        let (status, municipality) = (p.status, p.municipality_id);
        let filtered = move || {
            let mut q = registrations::table
                .filter(registrations::event_id.eq(event))
                .into_boxed();
            if let Some(s) = status {
                q = q.filter(registrations::status.eq(s));
            }
            if let Some(m) = municipality.clone() {
                q = q.filter(registrations::municipality_id.eq(m));
            }
            q.order((registrations::created_at.asc(), registrations::id.asc()))
        };
        if format != Format::Json {
            drop(conn);
            return exports
                .respond::<Registration, _, _>(
                    format,
                    "registrations",
                    &db,
                    move |sink, mut conn| async move {
                        let rows = filtered()
                            .select(RegistrationRow::as_select())
                            .load_stream::<RegistrationRow>(&mut conn)
                            .await?;
                        sink.drain(rows, |row| Registration::for_caller(row, &caller))
                            .await
                    },
                )
                .await;
        }
        let rows: Vec<RegistrationRow> = filtered()
            .select(RegistrationRow::as_select())
            .limit(i64::from(paging.limit))
            .offset(paging.offset())
            .load(&mut conn)
            .await?;
        let total = paging
            .total(&mut conn, rows.len(), || {
                filtered().select(registrations::id)
            })
            .await?;
        let items: Vec<Registration> = rows
            .into_iter()
            .map(|r| Registration::for_caller(r, &caller))
            .collect();
        let page = RegistrationPage {
            meta: paging.meta(items.len(), total),
            items,
        };
        conditional_json(&req, &page, None)
    }
}

impl Served for RegistrationRow {
    const ITEM: &'static str = "/events/{id}/registrations/{registrationId}";
    const COLLECTION: &'static str = "/events/{id}/registrations";
    const TAG: &'static str = "Events";
    const UPDATE_CONFLICTS: bool = true;
    const DELETED: &'static str =
        "Cancelled: the registration is erased, and the first on the waiting list has the place";
    const PARENT: &'static str = "event";
    const GET: Doc = Doc::new("getEventRegistration", "Get a registration");
    const CREATE: Doc = Doc::new("createEventRegistration", "Register for an event").describe(
        "Answers the registration with its `status`: `confirmed` while the event has places \
         left, else `waitlisted` (places are counted in the same transaction, so concurrent \
         registrations never overbook). 409 when the event is cancelled, over or past its \
         registration deadline, or the e-mail address is already registered for it. A client \
         bound to a municipality registers people of that municipality only.",
    );
    const UPDATE: Doc = Doc::new("updateEventRegistration", "Change a registration").describe(
        "JSON Merge Patch (RFC 7396) of the person's details; requires `If-Match`. The place \
         is the service's: cancel and register again to queue anew.",
    );
    const DELETE: Doc = Doc::new("cancelEventRegistration", "Cancel a registration").describe(
        "Erases the registration for good (nothing of the person is kept) and gives a freed \
         place to the first on the waiting list, in the same transaction. Requires `If-Match`.",
    );
    type Wire = Registration;
    type Parent = Uuid;

    fn wire(&self, caller: &Caller) -> Registration {
        Registration::for_caller(self.clone(), caller)
    }
}

impl Posted for RegistrationRow {
    type New = NewRegistration;

    fn values(event: Uuid, new: NewRegistration) -> RegistrationValues {
        RegistrationValues {
            event_id: event,
            name: new.name.trim().to_owned(),
            email: new.email.trim().to_owned(),
            municipality_id: new.municipality_id,
            organisation: new
                .organisation
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty()),
            new: true,
        }
    }
}

/// Erase a person's registrations
///
/// GDPR erasure: deletes every registration with this e-mail address, for every event, for
/// good; freed places go to the first on each event's waiting list. The audit log records that
/// registrations were erased, not whose.
#[utoipa::path(
    operation_id = "eraseRegistrations",
    tag = "Events",
    request_body = ErasureRequest,
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "The number of registrations erased", body = ErasureResult),
        AuthErrors,
        WriteErrors,
        CommonErrors,
    ),
)]
#[post("/registrations/erasure")]
pub async fn erase_registrations(
    writer: Writer,
    body: Json<ErasureRequest>,
) -> Result<HttpResponse, ApiError> {
    writer.caller.may_write_for_association()?;
    let email = body.0.email.trim().to_owned();
    if email.is_empty() || email.chars().count() > 254 {
        return Err(ApiError::invalid("email", "must be an e-mail address"));
    }
    // Compared as PostgreSQL lowers text, on both sides.
    let same_address = || {
        diesel::dsl::sql::<diesel::sql_types::Bool>("lower(email) = lower(")
            .bind::<diesel::sql_types::Text, _>(email.clone())
            .sql(")")
    };
    let erased = writer
        .run(async |work| {
            // The registrations go event by event, each event locked first as every write of
            // a registration does; a registration made meanwhile for another event is found
            // in the next round.
            let mut erased = Vec::new();
            for _ in 0..10 {
                let mut events: Vec<Uuid> = registrations::table
                    .filter(same_address())
                    .select(registrations::event_id)
                    .load(work.conn())
                    .await?;
                if events.is_empty() {
                    break;
                }
                events.sort();
                events.dedup();
                for event in &events {
                    lock_event(work.conn(), *event).await?;
                }
                let rows: Vec<RegistrationRow> = diesel::delete(
                    registrations::table
                        .filter(same_address())
                        .filter(registrations::event_id.eq_any(&events)),
                )
                .returning(RegistrationRow::as_returning())
                .get_results(work.conn())
                .await?;
                erased.extend(rows);
            }
            let created: Vec<String> = erased
                .iter()
                .map(|r| format!("{} {}", RegistrationRow::KIND, r.id))
                .collect();
            crate::integration::idempotency::forget_answers(work.conn(), &created).await?;
            for row in &erased {
                kernel::audit(work, "erase", Some(row), None).await?;
            }
            Ok(erased.len())
        })
        .await?;
    Ok(HttpResponse::Ok().json(ErasureResult { erased }))
}
