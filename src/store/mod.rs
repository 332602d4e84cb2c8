//! Storage: the connection pool, the schema, enums as SQL types, and the resource kernel that
//! every write goes through.

pub mod checks;
pub mod db;
pub mod embedded_pg;
pub mod schema;
pub mod seed;
