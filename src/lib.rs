//! Samverkan API: the data service of Kommunförbundet Västernorrland.
//!
//! The layers, from the bottom (see `ARCHITECTURE.md`):
//! - [`error`], [`config`], [`telemetry`], [`rules`]: the problem type, settings, logging and the
//!   typed input rules every layer above uses;
//! - [`store`]: the pool, the schema, enums as SQL types, lists' queries, the seed;
//! - [`http`]: extractors, conditional requests, lists, the guarded front door, rate budgets;
//! - [`auth`]: the gate that admits every request, tokens, keys;
//! - [`integration`]: the unit of work (audit log, idempotency), change feed, imports, exports;
//! - [`kernel`]: the resource trait and the one write protocol every resource uses;
//! - [`resources`]: one folder per resource (model, handlers), written against the kernel;
//! - [`reports`]: the board's tertial and annual reports;
//! - [`search`]: one search box across the collections;
//! - [`app`]: wiring, the route list, the OpenAPI document, the command line.

pub mod app;
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod integration;
pub mod kernel;
pub mod reports;
pub mod resources;
pub mod rules;
pub mod search;
pub mod store;
pub mod telemetry;
