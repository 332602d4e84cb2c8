//! The audit log: every successful change, written in the same transaction as the change.

use actix_web::{HttpRequest, HttpResponse, get};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::Violations;
use crate::error::responses::{AuthErrors, CommonErrors};
use crate::http::list;
use crate::http::{Query, conditional_json};
use crate::integration::work::Change;
use crate::page_type;
use crate::store::db::Db;
use crate::store::schema::audit_log;
use crate::telemetry::current_request;

/// Who made a change.
#[derive(Debug, Clone)]
pub struct Actor {
    pub client_id: Option<Uuid>,
    pub name: String,
    /// The person, when a person signed in at an identity provider made it.
    pub person: Option<crate::auth::oidc::Person>,
    /// On whose behalf a client that may act for its users said it wrote (`X-Sent-By`).
    pub sent_by: Option<String>,
}

impl Actor {
    /// An administrator at the command line of a server.
    pub fn command_line() -> Self {
        Self {
            client_id: None,
            name: "command-line".to_owned(),
            person: None,
            sent_by: None,
        }
    }

    /// Whoever opened a report link (`link:<id>`): the link is all that is known of them.
    pub fn link(id: Uuid) -> Self {
        Self {
            client_id: None,
            name: format!("link:{id}"),
            person: None,
            sent_by: None,
        }
    }
}

impl From<&Caller> for Actor {
    fn from(c: &Caller) -> Self {
        Self {
            // A person's id is this API's, not an API client's.
            client_id: c.person.is_none().then_some(c.client_id),
            name: c.actor(),
            person: c.person.clone(),
            sent_by: None,
        }
    }
}

/// Records one change, in the change's own transaction. Only the unit of work calls this
/// ([`crate::integration::work::Work::record`]).
pub(super) async fn record(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    change: &Change<'_>,
) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::client_id.eq(actor.client_id),
            audit_log::actor.eq(&actor.name),
            audit_log::action.eq(change.action),
            audit_log::resource_type.eq(change.kind),
            audit_log::resource_id.eq(change.id),
            audit_log::before.eq(&change.before),
            audit_log::after.eq(&change.after),
            audit_log::request_id.eq(current_request().map(|r| r.id)),
            audit_log::person_issuer.eq(actor.person.as_ref().map(|p| &p.issuer)),
            audit_log::person_subject.eq(actor.person.as_ref().map(|p| &p.subject)),
            audit_log::person_name.eq(actor.person.as_ref().and_then(|p| p.name.as_ref())),
            audit_log::sent_by.eq(&actor.sent_by),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg))]
struct AuditRow {
    id: i64,
    occurred_at: DateTime<Utc>,
    client_id: Option<Uuid>,
    actor: String,
    action: String,
    resource_type: String,
    resource_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
    person_issuer: Option<String>,
    person_subject: Option<String>,
    person_name: Option<String>,
    sent_by: Option<String>,
}

/// The person who made a change, as their identity provider named them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPerson {
    /// The identity provider (its issuer).
    pub issuer: String,
    /// The person's id there (`oid` for Entra ID, else `sub`).
    pub subject: String,
    /// Their name at the time, for people to read.
    pub name: Option<String>,
}

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": 42, "occurredAt": "2026-11-22T10:15:00Z", "clientId": "0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11",
    "actor": "client:0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11", "action": "update", "resourceType": "area",
    "resourceId": "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002",
    "before": {"name": "Digitalisering", "version": 1}, "after": {"name": "Digitalisering & IT", "version": 2},
    "requestId": "3f0c1a52-6e53-4b8c-9d1e-2f4f6f6a1b7c", "person": null,
    "sentBy": "type=adAccount; anli01"
}))]
pub struct AuditEntry {
    /// Increases with every entry.
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// The API client, or null for a command-line action on the server.
    pub client_id: Option<Uuid>,
    pub actor: String,
    /// `create`, `update`, `delete`, `disable`, `transition`, …
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    /// The resource before the change (personal data redacted); null for a creation.
    pub before: Option<serde_json::Value>,
    /// The resource after the change (personal data redacted); null for a deletion.
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    /// The person who made the change, when a person signed in made it; null for an API
    /// client or the command line.
    pub person: Option<AuditPerson>,
    /// On whose behalf the client said it wrote (`X-Sent-By`, e.g. `type=adAccount; anli01`),
    /// for a client allowed to act for its users.
    pub sent_by: Option<String>,
}

page_type!(
    AuditPage,
    AuditEntry,
    "A page of audit entries, newest first."
);

/// Filters and paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditListParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 20, example = 20)]
    pub limit: Option<u32>,
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1000000, default = 1, example = 1)]
    pub page: Option<u32>,
    /// Only changes of this resource type (`area`, `municipality`, `client`, …).
    #[param(max_length = 50, example = "area")]
    pub resource_type: Option<String>,
    /// Only changes of this resource.
    #[param(max_length = 200, example = "6b1f1c52-5d0e-4c39-9a51-0d1f7c2a0002")]
    pub resource_id: Option<String>,
    /// Only changes made by this client.
    #[param(example = "0b6f3a44-1c1d-4a59-8e8a-3f2f6f0d2b11")]
    pub client_id: Option<Uuid>,
    /// Only changes made by the person with this id at their identity provider (`subject` in
    /// `person`; with `personIssuer` when several providers are trusted).
    #[param(max_length = 200, example = "00000000-0000-0000-66f3-3332eca7ea81")]
    pub person: Option<String>,
    /// With `person`: only that person at this identity provider.
    #[param(
        max_length = 500,
        example = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    )]
    pub person_issuer: Option<String>,
    /// Only this action (`create`, `update`, `delete`, …).
    #[param(max_length = 50, example = "update")]
    pub action: Option<String>,
    /// Only changes at or after this instant (RFC 3339).
    #[param(example = "2026-01-01T00:00:00Z")]
    #[serde(default, deserialize_with = "crate::rules::dates::instant_opt")]
    pub from: Option<DateTime<Utc>>,
    /// Only changes before this instant (RFC 3339).
    #[param(example = "2027-01-01T00:00:00Z")]
    #[serde(default, deserialize_with = "crate::rules::dates::instant_opt")]
    pub to: Option<DateTime<Utc>>,
}

/// Read the audit log
///
/// Every successful change with who made it, when, and the resource before and after; newest
/// first. Personal data (network members' names and contact details) is never recorded here.
#[utoipa::path(
    operation_id = "listAuditEntries",
    tag = "Audit",
    params(AuditListParams),
    security(("clientCredentials" = ["admin"])),
    responses(
        (status = 200, description = "A page of audit entries", body = AuditPage),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/audit")]
pub async fn list_audit(
    req: HttpRequest,
    db: Db,
    params: Query<AuditListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.0;
    let mut v = Violations::default();
    let paging = v.check(list::paging(p.limit, p.page));
    if let (Some(from), Some(to)) = (p.from, p.to) {
        if from > to {
            v.push("to", "must not be before from");
        }
    }
    for (name, value, max) in [
        ("resourceType", &p.resource_type, 50),
        ("resourceId", &p.resource_id, 200),
        ("action", &p.action, 50),
        ("person", &p.person, 200),
        ("personIssuer", &p.person_issuer, 500),
    ] {
        if value.as_ref().is_some_and(|s| s.chars().count() > max) {
            v.push(name, format!("must be at most {max} characters"));
        }
    }
    let paging = v.finish_with(paging)?;
    let filtered = || {
        let mut q = audit_log::table.into_boxed();
        if let Some(t) = &p.resource_type {
            q = q.filter(audit_log::resource_type.eq(t.clone()));
        }
        if let Some(id) = &p.resource_id {
            q = q.filter(audit_log::resource_id.eq(id.clone()));
        }
        if let Some(c) = p.client_id {
            q = q.filter(audit_log::client_id.eq(c));
        }
        if let Some(a) = &p.action {
            q = q.filter(audit_log::action.eq(a.clone()));
        }
        if let Some(s) = &p.person {
            q = q.filter(audit_log::person_subject.eq(s.clone()));
        }
        if let Some(i) = &p.person_issuer {
            q = q.filter(audit_log::person_issuer.eq(i.clone()));
        }
        if let Some(from) = p.from {
            q = q.filter(audit_log::occurred_at.ge(from));
        }
        if let Some(to) = p.to {
            q = q.filter(audit_log::occurred_at.lt(to));
        }
        q
    };
    let mut conn = db.conn().await?;
    let rows: Vec<AuditRow> = filtered()
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .limit(i64::from(paging.limit))
        .offset(paging.offset())
        .load(&mut conn)
        .await?;
    let total = paging
        .total(&mut conn, rows.len(), || filtered().select(audit_log::id))
        .await?;
    let items: Vec<AuditEntry> = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            occurred_at: r.occurred_at,
            client_id: r.client_id,
            actor: r.actor,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
            person: r
                .person_issuer
                .zip(r.person_subject)
                .map(|(issuer, subject)| AuditPerson {
                    issuer,
                    subject,
                    name: r.person_name,
                }),
            sent_by: r.sent_by,
        })
        .collect();
    let page = AuditPage {
        meta: paging.meta(items.len(), total),
        items,
    };
    conditional_json(&req, &page, None)
}
