//! The input rules: one typed parser per kind of value, used by the JSON extractors, the query
//! extractor and the importer alike.

pub mod dates;

/// A municipality's SCB kommunkod: four digits (`2281` is Sundsvall). The schema of every
/// municipality reference in the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, pattern = "^[0-9]{4}$", example = "2281")]
pub struct MunicipalityCode(pub String);
