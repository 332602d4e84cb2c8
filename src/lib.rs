//! Samverkan API: the data service of Kommunförbundet Västernorrland.
//!
//! The crate is organised like the domain: one module per aggregate (municipalities, areas,
//! plans, …) holding its model, queries and handlers side by side, and a few modules of shared
//! plumbing (config, telemetry, db, error, pagination, http).

pub mod app;
pub mod areas;
pub mod assignments;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod embedded_pg;
pub mod error;
pub mod export;
pub mod feedback;
pub mod formats;
pub mod front;
pub mod http;
pub mod idempotency;
pub mod imports;
pub mod meta;
pub mod metrics;
pub mod municipalities;
pub mod networks;
pub mod openapi;
pub mod pagination;
pub mod plans;
pub mod progress;
pub mod ratelimit;
pub mod reports;
pub mod routes;
pub mod schema;
pub mod seed;
pub mod spool;
pub mod telemetry;
pub mod transfer;
