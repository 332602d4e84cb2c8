//! Municipality codes (SCB kommunkoder).

use crate::error::{ApiError, Violations};

/// A municipality's id: its four-digit SCB kommunkod, e.g. `2281` for Sundsvall.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MunicipalityId(pub(crate) String);

impl std::fmt::Display for MunicipalityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl MunicipalityId {
    /// An optional kommunkod (a list filter): when given, it must be one; what is wrong goes
    /// to `v`.
    pub fn check_optional(v: &mut crate::error::Violations, field: &str, raw: Option<&str>) {
        if let Some(raw) = raw {
            v.check(Self::parse(field, raw));
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        if raw.len() == 4 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::invalid(
                field,
                "must be a four-digit kommunkod, e.g. 2281",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Kommunkoder: four digits each, no duplicates (existence is checked against the database).
pub fn municipality_codes(v: &mut Violations, field: &str, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        if id.len() != 4 || !id.bytes().all(|b| b.is_ascii_digit()) {
            v.push(format!("{field}[{i}]"), "must be a four-digit kommunkod");
        } else if ids[..i].contains(id) {
            v.push(format!("{field}[{i}]"), "is listed twice");
        }
    }
}

/// A municipality's SCB kommunkod: four digits (`2281` is Sundsvall). The schema of every
/// municipality reference in the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, pattern = "^[0-9]{4}$", example = "2281")]
pub struct MunicipalityCode(pub String);
