//! Samverkan API's integration tests: the real app, in process, on a real PostgreSQL database of
//! its own per test. Reads like the API's specification.

mod support;

mod contract;
mod database;
mod domain;
mod errors;
mod events;
mod files;
mod hardening;
mod http_layer;
mod imports;
mod integration;
mod links;
mod meta;
mod open_requests;
mod openapi;
mod people;
mod plans;
mod reference_data;
mod reports;
mod search;
mod security;
mod webhooks;
