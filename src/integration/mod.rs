//! What connects a write to the world around it: the audit log, `Idempotency-Key`, the change
//! feed, bulk imports and streamed exports.

pub mod audit;
pub mod changes;
pub mod encoding;
pub mod export;
pub mod idempotency;
pub mod imports;
pub mod links;
pub mod webhooks;
pub mod work;
