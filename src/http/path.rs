//! Keys as a URL carries them: each is parsed and documented by the same code, so the OpenAPI
//! document states exactly the path parameters a handler reads.

use actix_web::HttpRequest;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{KnownFormat, ObjectBuilder, Required, SchemaFormat, Type};
use uuid::Uuid;

use crate::error::{ApiError, Violations};
use crate::rules;

/// A key read from path segments (`{id}`, `{id}/…/{memberId}`).
pub trait PathKey: Sized {
    /// The key in this request's path; every malformed segment is a 400 naming it.
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError>;
    /// Its path parameters as the OpenAPI document states them; `noun` names the resource.
    fn parameters(noun: &str) -> Vec<Parameter>;
}

/// The raw text of path segment `name`.
pub fn segment<'r>(req: &'r HttpRequest, name: &str) -> Result<&'r str, ApiError> {
    req.match_info()
        .get(name)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the route has no {{{name}}} segment")))
}

/// The UUIDs in path segments `names`, all of them checked (each malformed one named).
pub fn uuid_segments<const N: usize>(
    req: &HttpRequest,
    names: [&str; N],
) -> Result<[Uuid; N], ApiError> {
    let mut v = Violations::default();
    let mut ids = [Uuid::nil(); N];
    for (id, name) in ids.iter_mut().zip(names) {
        if let Some(parsed) = v.check(rules::uuid_param(name, segment(req, name)?)) {
            *id = parsed;
        }
    }
    v.finish()?;
    Ok(ids)
}

/// A required path parameter with this schema.
pub fn path_parameter(
    name: &str,
    description: &str,
    schema: ObjectBuilder,
    example: Option<serde_json::Value>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .example(example)
        .build()
}

/// A required path parameter of type string.
fn string_parameter(
    name: &str,
    description: &str,
    format: Option<KnownFormat>,
    example: Option<&str>,
) -> Parameter {
    let mut schema = ObjectBuilder::new().schema_type(Type::String);
    if let Some(format) = format {
        schema = schema.format(Some(SchemaFormat::KnownFormat(format)));
    }
    path_parameter(
        name,
        description,
        schema,
        example.map(serde_json::Value::from),
    )
}

/// A required UUID path parameter.
pub fn uuid_parameter(name: &str, description: &str) -> Parameter {
    string_parameter(name, description, Some(KnownFormat::Uuid), None)
}

/// A resource whose key is its UUID, at `{id}`.
impl PathKey for Uuid {
    fn from_path(req: &HttpRequest) -> Result<Self, ApiError> {
        uuid_segments(req, ["id"]).map(|[id]| id)
    }

    fn parameters(noun: &str) -> Vec<Parameter> {
        vec![uuid_parameter("id", &format!("The {noun}'s id"))]
    }
}

/// The `{system}/{externalId}` of a push by external reference.
#[derive(Debug, Clone)]
pub struct ExternalPath {
    pub system: String,
    pub id: String,
}

impl ExternalPath {
    /// Fills the body's external reference from the path; a body that names another one is a
    /// 400 naming `externalSystem` or `externalId`.
    pub fn claim(
        &self,
        system: &mut Option<String>,
        id: &mut Option<String>,
    ) -> Result<(), ApiError> {
        rules::external_ref_matches_path(system, id, &self.system, &self.id)
    }
}

impl actix_web::FromRequest for ExternalPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready((|| {
            Ok(ExternalPath {
                system: segment(req, "system")?.to_owned(),
                id: segment(req, "externalId")?.to_owned(),
            })
        })())
    }
}

impl utoipa::IntoParams for ExternalPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            string_parameter(
                "system",
                "The pushing system's name",
                None,
                Some("sundsvall-intranet"),
            ),
            string_parameter(
                "externalId",
                "The record's id in that system",
                None,
                Some("N-17"),
            ),
        ]
    }
}
