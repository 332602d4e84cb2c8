//! The input rules: one typed parser per kind of value, used by the JSON extractors, the query
//! extractor and the importer alike.

pub mod dates;
