//! `GET /v1/me`: who the caller is and what it may do, so that a frontend can show or hide
//! what its user may do.

use actix_web::{HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Caller, Scope};
use crate::error::ApiError;
use crate::error::responses::{AuthErrors, CommonErrors};

/// Whether the caller is a person (signed in at an identity provider) or an API client.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallerKind {
    Person,
    Client,
}

/// The caller as this API sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "kind": "person", "id": "5f0c9a4e-7d1b-5e6a-9c3f-2b8d4e6f1a20", "displayName": "Anna Lindqvist",
    "username": "anna.lindqvist@sundsvall.se",
    "issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    "subject": "00000000-0000-0000-66f3-3332eca7ea81", "scopes": ["read", "write"],
    "municipalityId": "2281"
}))]
pub struct Me {
    pub kind: CallerKind,
    /// The client's id; for a person, the stable id this API keys them by.
    pub id: uuid::Uuid,
    /// The person's name (`name`), or null for a client.
    pub display_name: Option<String>,
    /// The person's user name (`preferred_username`), often an e-mail address.
    pub username: Option<String>,
    /// The identity provider that signed the person in (its issuer), or null for a client.
    pub issuer: Option<String>,
    /// The person's id at the provider (`oid` for Entra ID, else `sub`), or null for a client.
    pub subject: Option<String>,
    /// What the caller may do.
    pub scopes: Vec<Scope>,
    /// The municipality the caller is bound to: it changes only that municipality's records.
    #[schema(pattern = "^[0-9]{4}$")]
    pub municipality_id: Option<String>,
}

/// Who am I
///
/// The caller behind the bearer token (a person or an API client), its scopes and its
/// municipality. Needs a valid token, with any scope or none.
#[utoipa::path(
    operation_id = "getMe",
    tag = "Authentication",
    security(("clientCredentials" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        AuthErrors,
        CommonErrors,
    ),
)]
#[get("/me")]
pub async fn me(caller: Caller) -> Result<HttpResponse, ApiError> {
    let person = caller.person.as_ref();
    let me = Me {
        kind: if person.is_some() {
            CallerKind::Person
        } else {
            CallerKind::Client
        },
        id: caller.client_id,
        display_name: person.and_then(|p| p.name.clone()),
        username: person.and_then(|p| p.username.clone()),
        issuer: person.map(|p| p.issuer.clone()),
        subject: person.map(|p| p.subject.clone()),
        scopes: caller.scopes.clone(),
        municipality_id: caller.municipality_id.clone(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(me))
}
