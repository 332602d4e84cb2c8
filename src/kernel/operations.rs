//! The standard operations of a resource, served and documented once for all of them: read one
//! (`GET`), create (`POST`), change (`PATCH`, JSON Merge Patch), delete (`DELETE`) and create or
//! replace by external reference (`PUT …/by-external-id/{system}/{externalId}`).
//!
//! A resource that implements [`Served`] lists the ones it offers in the route list,
//! `.service(Get::<Network>::new())`; each is an actix service and an OpenAPI operation at once,
//! built from the same types, so what is served is what is documented. The generic handlers are
//! as thin as hand-written ones: they parse the request and call [`super::get`],
//! [`super::create`], [`super::update`], [`super::delete`] or [`super::upsert`].

use std::collections::BTreeMap;
use std::marker::PhantomData;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::{HttpRequest, HttpResponse, guard};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterIn, PathItem, Paths,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Required, Schema, Type,
};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use utoipa_actix_web::OpenApiFactory;

use super::{Creatable, External, Key, Removable, Resource};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::responses::{
    ChangeErrors, ChangeErrorsWithoutConflict, CreateErrors, CreateUnderErrors, ReadExport,
    ReadExportUnder, ReadOne, UpsertErrors,
};
use crate::http::{ExternalPath, IfMatch, Json, OptionalIfMatch, PathKey};
use crate::integration::export::Exporter;
use crate::integration::work::Writer;
use crate::store::db::Db;

/// An operation's name and documentation: `operationId`, the summary (its first line) and the
/// description (what a client must know beyond the shape: rules across fields, who may).
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    pub id: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
}

impl Doc {
    /// The documentation of an operation the resource does not offer.
    pub const NONE: Doc = Doc::new("", "");

    /// An operation with only a summary.
    pub const fn new(id: &'static str, summary: &'static str) -> Self {
        Self {
            id,
            summary,
            description: "",
        }
    }

    /// The same with a description.
    pub const fn describe(self, description: &'static str) -> Self {
        Self {
            description,
            ..self
        }
    }
}

/// A resource served through the standard operations.
pub trait Served: Resource<Key: PathKey, Patch: DeserializeOwned + ToSchema> + 'static {
    /// Where one record is, below `/v1`: `/networks/{id}`, `/networks/{id}/members/{memberId}`.
    const ITEM: &'static str;
    /// Where the collection is (`POST`; `…/by-external-id/{system}/{externalId}` below it).
    const COLLECTION: &'static str;
    /// The OpenAPI tag of the operations.
    const TAG: &'static str;
    /// The scope a write needs: `write`, or `admin` for the association's reference data.
    const WRITE_SCOPE: &'static str = "write";
    /// Whether a change can conflict with other records (a unique name: 409).
    const UPDATE_CONFLICTS: bool = true;
    /// Whether a delete can be refused because others still refer to the record (409).
    const DELETE_CONFLICTS: bool = false;
    /// What the 204 of a delete says happened.
    const DELETED: &'static str = "Deleted";
    /// What the record lives under, in a sentence (`network`): names the parent's path key.
    const PARENT: &'static str = "";
    const GET: Doc;
    const CREATE: Doc = Doc::NONE;
    const UPDATE: Doc;
    const DELETE: Doc = Doc::NONE;
    const UPSERT: Doc = Doc::NONE;

    /// The record as a client reads it.
    type Wire: Serialize + ToSchema;
    /// The key of what the record lives under in its path: `()` for a top-level collection.
    type Parent: PathKey;

    /// The record as this caller may read it (members' contact details only for the entitled).
    fn wire(&self, caller: &Caller) -> Self::Wire;
}

/// A served resource that clients create (the [`Create`] operation, and [`Upsert`] with
/// [`Pushed`]).
pub trait Posted: Served + Creatable {
    /// What a client sends to create one (`POST`, `PUT` by external reference).
    type New: DeserializeOwned + ToSchema + 'static;

    /// The values of a new record under `parent`.
    fn values(parent: Self::Parent, new: Self::New) -> Self::Values;
}

/// A served resource that systems push by their own ids (the [`Upsert`] operation).
pub trait Pushed: Posted + External {
    /// The external reference of a new record (`externalSystem`, `externalId`), which a push
    /// fills from its path.
    fn external_ref(new: &mut Self::New) -> (&mut Option<String>, &mut Option<String>);
}

/// A served resource whose collection is listed (a JSON page, or every match as CSV or
/// NDJSON: the [`List`] operation).
#[allow(async_fn_in_trait)]
pub trait Listed: Served {
    const LIST: Doc;
    /// Whether [`Listed::list`] answers the query parameters set aside (unknown or malformed)
    /// together with the violations of its own checks, before it reads anything
    /// ([`crate::kernel::with_set_aside`]); otherwise the kernel refuses them first.
    const WEIGHS_SET_ASIDE: bool = false;
    /// The records in a sentence: `networks`, `feedback entries`.
    const PLURAL: &'static str;
    /// The list's query parameters (filters, sort, paging).
    type Params: DeserializeOwned + IntoParams + 'static;
    /// The JSON page.
    type Page: ToSchema;

    /// The answer: a page of the matches, or every match in the negotiated format.
    async fn list(request: ListRequest<Self>) -> Result<HttpResponse, ApiError>;
}

/// A list request as the [`List`] operation received it.
pub struct ListRequest<R: Listed> {
    pub req: HttpRequest,
    pub exports: Exporter,
    pub db: Db,
    pub caller: Caller,
    /// The key of what the records live under (`()` at the top level).
    pub parent: R::Parent,
    pub params: R::Params,
    /// The query parameters that were unknown or malformed, set aside: a list with
    /// `WEIGHS_SET_ASIDE` answers them together with its own checks' violations.
    pub set_aside: Vec<crate::error::Violation>,
}

/// The key of what a record lives under, from the request path (nothing at the top level).
pub struct Under<R: Served>(pub R::Parent);

impl<R: Served> actix_web::FromRequest for Under<R> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(R::Parent::from_path(req).map(Under))
    }
}

/// A record at the top of the path: nothing above it.
impl PathKey for () {
    fn from_path(_: &HttpRequest) -> Result<Self, ApiError> {
        Ok(())
    }

    fn parameters(_: &str) -> Vec<Parameter> {
        Vec::new()
    }
}

async fn list<R: Listed>(
    req: HttpRequest,
    exports: Exporter,
    db: Db,
    caller: Caller,
    parent: Under<R>,
    params: crate::http::Lenient<R::Params>,
) -> Result<HttpResponse, ApiError> {
    let crate::http::Lenient(params, set_aside) = params;
    // A list that does not take the parameters set aside into its own checks is refused here,
    // before it reads anything.
    if !R::WEIGHS_SET_ASIDE && !set_aside.is_empty() {
        return Err(ApiError::Validation(set_aside));
    }
    R::list(ListRequest {
        req,
        exports,
        db,
        caller,
        parent: parent.0,
        params,
        set_aside,
    })
    .await
}

async fn get<R: Served>(
    req: HttpRequest,
    db: Db,
    caller: Caller,
    key: Key<R>,
) -> Result<HttpResponse, ApiError> {
    let record = super::get::<R>(&db, &key.0).await?;
    super::current(&req, &record, &record.wire(&caller))
}

async fn create<R: Posted>(
    writer: Writer,
    parent: Under<R>,
    body: Json<R::New>,
) -> Result<HttpResponse, ApiError> {
    let written = super::create::<R>(&writer, R::values(parent.0, body.0)).await?;
    Ok(written.reply(&written.record.wire(&writer.caller)))
}

async fn update<R: Served>(
    writer: Writer,
    key: Key<R>,
    expected: IfMatch,
    body: Json<R::Patch>,
) -> Result<HttpResponse, ApiError> {
    let written = super::update::<R>(&writer, &key.0, expected.0, body.0).await?;
    Ok(written.reply(&written.record.wire(&writer.caller)))
}

async fn delete<R: Served + Removable>(
    writer: Writer,
    key: Key<R>,
    expected: IfMatch,
) -> Result<HttpResponse, ApiError> {
    super::delete::<R>(&writer, &key.0, expected.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn upsert<R: Pushed>(
    writer: Writer,
    parent: Under<R>,
    path: ExternalPath,
    expected: OptionalIfMatch,
    body: Json<R::New>,
) -> Result<HttpResponse, ApiError> {
    let mut new = body.0;
    let (system, id) = R::external_ref(&mut new);
    path.claim(system, id)?;
    let written = super::upsert::<R>(&writer, R::values(parent.0, new), expected.0).await?;
    Ok(written.reply(&written.record.wire(&writer.caller)))
}

/// The standard operations, one type each: `.service(Get::<Area>::new())` in the route list.
macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident<R: $($bound:path),+> = $method:ident $guard:ident
        $handler:ident $doc_const:ident with $parts:expr $(, $schema:ty)*;)+) => {$(
        $(#[$doc])*
        pub struct $name<R>(PhantomData<fn() -> R>);

        impl<R: Served $(+ $bound)+> $name<R> {
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(PhantomData)
            }
        }

        impl<R: Served $(+ $bound)+> HttpServiceFactory for $name<R> {
            fn register(self, config: &mut AppService) {
                actix_web::Resource::new(path_of::<R>(Op::$name))
                    .name(R::$doc_const.id)
                    .guard(guard::$guard())
                    .to($handler::<R>)
                    .register(config)
            }
        }

        impl<R: Served $(+ $bound)+> OpenApiFactory for $name<R> {
            fn paths(&self) -> Paths {
                let operation = operation::<R>(Op::$name, R::$doc_const, $parts);
                Paths::builder()
                    .path(path_of::<R>(Op::$name), PathItem::new(HttpMethod::$method, operation))
                    .build()
            }

            fn schemas(&self, schemas: &mut Vec<(String, RefOr<Schema>)>) {
                collect::<R::Wire>(schemas);
                $(collect::<$schema>(schemas);)*
            }
        }
    )+};
}

operations! {
    /// `GET` of the collection: a page, or every match as CSV or NDJSON.
    List<R: Listed> = Get Get list LIST with list_parts::<R>(), R::Wire, R::Page;
    /// `GET` of one record.
    Get<R: Resource> = Get Get get GET with Parts::default(), R::Wire;
    /// `POST` to the collection.
    Create<R: Posted> = Post Post create CREATE with posted_parts::<R>(), R::Wire, R::New;
    /// `PATCH` (JSON Merge Patch) of one record, `If-Match` required.
    Update<R: Resource> = Patch Patch update UPDATE with patch_parts::<R>(), R::Wire, R::Patch;
    /// `DELETE` of one record, `If-Match` required.
    Delete<R: Removable> = Delete Delete delete DELETE with Parts::default(), R::Wire;
    /// `PUT` by external reference: create, replace, or leave as it is.
    Upsert<R: Pushed> = Put Put upsert UPSERT with posted_parts::<R>(), R::Wire, R::New;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    List,
    Get,
    Create,
    Update,
    Delete,
    Upsert,
}

fn path_of<R: Served>(op: Op) -> String {
    match op {
        Op::Get | Op::Update | Op::Delete => R::ITEM.to_owned(),
        Op::List | Op::Create => R::COLLECTION.to_owned(),
        Op::Upsert => format!("{}/by-external-id/{{system}}/{{externalId}}", R::COLLECTION),
    }
}

fn collect<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// A response in these media types (each with its schema), with the string headers named.
fn response(
    description: String,
    contents: Vec<(&str, RefOr<Schema>)>,
    headers: &[(&str, &str)],
) -> RefOr<Response> {
    let mut response = ResponseBuilder::new().description(description);
    for (name, description) in headers {
        let header = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some(*description))
            .build();
        response = response.header(*name, header);
    }
    for (media_type, schema) in contents {
        response = response.content(
            media_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    }
    response.build().into()
}

/// The schema of `T`, by reference.
fn schema_of<T: ToSchema>() -> RefOr<Schema> {
    Ref::from_schema_name(T::name()).into()
}

/// A JSON answer of `T` with the headers named.
fn answer<T: ToSchema>(description: String, headers: &[(&str, &str)]) -> RefOr<Response> {
    response(
        description,
        vec![("application/json", schema_of::<T>())],
        headers,
    )
}

/// What only some operations document: a list's query parameters and its page.
#[derive(Default)]
struct Parts {
    query: Vec<Parameter>,
    page: Option<RefOr<Response>>,
    /// The request body's schema and media type.
    body: Option<(String, &'static str)>,
}

fn posted_parts<R: Posted>() -> Parts {
    Parts {
        body: Some((R::New::name().into_owned(), "application/json")),
        ..Parts::default()
    }
}

fn patch_parts<R: Served>() -> Parts {
    Parts {
        body: Some((
            R::Patch::name().into_owned(),
            "application/merge-patch+json",
        )),
        ..Parts::default()
    }
}

fn list_parts<R: Listed>() -> Parts {
    let csv = RefOr::T(Schema::Object(
        ObjectBuilder::new().schema_type(Type::String).build(),
    ));
    let page = response(
        format!("A page of {} (or every match, as CSV or NDJSON)", R::PLURAL),
        vec![
            ("application/json", schema_of::<R::Page>()),
            ("text/csv", csv),
            ("application/x-ndjson", schema_of::<R::Wire>()),
        ],
        &[("ETag", "Strong entity tag of this page (JSON only)")],
    );
    Parts {
        query: R::Params::into_params(|| Some(ParameterIn::Query)),
        page: Some(page),
        body: None,
    }
}

/// What every operation of its kind does, for an operation whose resource says nothing more.
fn standard_description<R: Served>(op: Op, scope: &str) -> String {
    let noun = R::NOUN;
    match op {
        Op::List => format!(
            "A page of {noun} records (`limit`, `page` or `after`, `sort`, the filters), or all \
             of them as CSV or NDJSON with `Accept`. Needs the `{scope}` scope."
        ),
        Op::Get => format!(
            "One {noun} by its id, with a strong `ETag` (its version): send it back in \
             `If-None-Match` for a 304 while it has not changed, or in `If-Match` to change it. \
             Needs the `{scope}` scope."
        ),
        Op::Create => format!(
            "Creates a {noun}: the answer is the new record with its `Location` and `ETag`. An \
             `Idempotency-Key` makes a retry safe (the same answer, nothing written twice). \
             Needs the `{scope}` scope."
        ),
        Op::Update => format!(
            "Changes a {noun} with a JSON Merge Patch (RFC 7396); `If-Match` with its current \
             `ETag` is required (412 when someone changed it since). Needs the `{scope}` scope."
        ),
        Op::Delete => format!(
            "Deletes a {noun}; `If-Match` with its current `ETag` is required. The deletion \
             stays in the change feed. Needs the `{scope}` scope."
        ),
        Op::Upsert => format!(
            "Creates or replaces the {noun} known by this external reference (the id in the \
             caller's own system): 201 when created, 200 when replaced or unchanged. Needs the \
             `{scope}` scope."
        ),
    }
}

fn operation<R: Served>(op: Op, doc: Doc, parts: Parts) -> Operation {
    let noun = R::NOUN;
    let under = !R::Parent::parameters("").is_empty();
    let mut parameters = match op {
        Op::List => {
            let mut p = R::Parent::parameters(R::PARENT);
            p.extend(parts.query);
            p
        }
        Op::Get | Op::Update | Op::Delete => Key::<R>::into_params(|| None),
        Op::Create => R::Parent::parameters(R::PARENT),
        Op::Upsert => {
            let mut p = R::Parent::parameters(R::PARENT);
            p.extend(ExternalPath::into_params(|| None));
            p
        }
    };
    match op {
        Op::Update | Op::Delete => parameters.extend(IfMatch::into_params(|| None)),
        Op::Upsert => parameters.extend(OptionalIfMatch::into_params(|| None)),
        Op::List | Op::Get | Op::Create => {}
    }
    let url = format!("The {noun}'s URL");
    let mut responses: BTreeMap<String, RefOr<Response>> = match op {
        Op::List if under => ReadExportUnder::responses(),
        Op::List => ReadExport::responses(),
        Op::Get => ReadOne::responses(),
        Op::Create if under => CreateUnderErrors::responses(),
        Op::Create => CreateErrors::responses(),
        Op::Update if R::UPDATE_CONFLICTS => ChangeErrors::responses(),
        Op::Update => ChangeErrorsWithoutConflict::responses(),
        Op::Delete if R::DELETE_CONFLICTS => ChangeErrors::responses(),
        Op::Delete => ChangeErrorsWithoutConflict::responses(),
        Op::Upsert if under => ChangeErrors::responses(),
        Op::Upsert => UpsertErrors::responses(),
    };
    let ok = match op {
        Op::List => parts.page,
        Op::Get => Some(answer::<R::Wire>(
            format!("The {noun}"),
            &[("ETag", "Strong entity tag: the quoted version")],
        )),
        Op::Update => Some(answer::<R::Wire>(
            format!("The changed {noun}"),
            &[("ETag", "The new strong entity tag")],
        )),
        Op::Upsert => Some(answer::<R::Wire>(
            "Replaced (or unchanged)".to_owned(),
            &[("ETag", "Strong entity tag")],
        )),
        Op::Create | Op::Delete => None,
    };
    if let Some(ok) = ok {
        responses.insert("200".to_owned(), ok);
    }
    let created = match op {
        Op::Create => Some(format!("The new {noun}")),
        Op::Upsert => Some("Created".to_owned()),
        _ => None,
    };
    if let Some(description) = created {
        let headers = [("Location", url.as_str()), ("ETag", "Strong entity tag")];
        responses.insert("201".to_owned(), answer::<R::Wire>(description, &headers));
    }
    if op == Op::Delete {
        let gone = ResponseBuilder::new().description(R::DELETED).build();
        responses.insert("204".to_owned(), gone.into());
    }
    let scope = match op {
        Op::List | Op::Get => "read",
        _ => R::WRITE_SCOPE,
    };
    let description = if doc.description.is_empty() {
        standard_description::<R>(op, scope)
    } else {
        doc.description.to_owned()
    };
    let mut builder = OperationBuilder::new()
        .operation_id(Some(doc.id))
        .tag(R::TAG)
        .summary(Some(doc.summary))
        .description(Some(description))
        .parameters((!parameters.is_empty()).then_some(parameters))
        .securities(Some([SecurityRequirement::new(
            "clientCredentials",
            [scope],
        )]));
    if let Some((schema, content_type)) = parts.body {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build();
        builder = builder.request_body(Some(
            RequestBodyBuilder::new()
                .content(content_type, content)
                .required(Some(Required::True))
                .build(),
        ));
    }
    let mut operation = builder.build();
    operation.responses.responses = responses;
    operation
}
