//! The resources, one folder each: model, handlers, written against the kernel in
//! [`crate::store`].

pub mod areas;
pub mod assignments;
pub mod clients;
pub mod feedback;
pub mod municipalities;
pub mod networks;
pub mod plans;
pub mod progress;
