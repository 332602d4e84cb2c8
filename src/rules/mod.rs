//! The input rules: one typed parser per kind of value, used by the JSON extractors, the query
//! extractor and the importer alike.

pub mod codes;
pub mod dates;
pub mod labels;
pub mod text;

pub use codes::{MunicipalityCode, MunicipalityId, municipality_codes};
pub use text::{email, external_ref, external_ref_matches_path, optional_text, required_text};

use uuid::Uuid;

use crate::error::ApiError;

/// Parses a UUID path parameter.
pub fn uuid_param(field: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid(field, "must be a UUID"))
}
