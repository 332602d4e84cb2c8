//! The resources, one folder each: model, storage and handlers, written against the kernel in
//! [`crate::kernel`].
//!
//! The registry below is the one list of them that the rest of the service derives from: the
//! change feed's types and the import collections (and a test checks that every resource kind
//! is in the OpenAPI document's tags).

pub mod areas;
pub mod assignments;
pub mod clients;
pub mod feedback;
pub mod municipalities;
pub mod networks;
pub mod plans;
pub mod progress;

use crate::integration::imports::RowChecks;
use crate::kernel::{Importable, Resource, check_row};

use areas::Area;
use assignments::Assignment;
use feedback::Feedback;
use municipalities::Municipality;
use networks::{MemberRow, Network};
use plans::Plan;
use progress::StoredReport;

/// One resource of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Its kind in the audit log and the change feed (`area`, `feedback`, …).
    pub kind: &'static str,
    /// Its tag in the OpenAPI document.
    pub tag: &'static str,
}

/// Every resource whose changes the feed carries, in the feed's order of kinds.
pub const REGISTRY: [Entry; 8] = [
    entry::<Municipality>("Municipalities"),
    entry::<Area>("Areas"),
    entry::<Plan>("Plans"),
    entry::<Network>("Networks"),
    entry::<MemberRow>("Networks"),
    entry::<Assignment>("Assignments"),
    entry::<StoredReport>("Progress reports"),
    entry::<Feedback>("Feedback"),
];

const fn entry<R: Resource>(tag: &'static str) -> Entry {
    Entry { kind: R::KIND, tag }
}

/// The change feed's types: every resource kind.
pub fn feed_types() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.kind).collect()
}

/// The import collections, each checked by its resource's own rules.
pub fn row_checks() -> RowChecks {
    fn of<R: Importable>() -> (&'static str, crate::integration::imports::RowCheck) {
        (R::COLLECTION, check_row::<R>)
    }
    RowChecks(vec![
        of::<Network>(),
        of::<MemberRow>(),
        of::<Assignment>(),
        of::<StoredReport>(),
        of::<Feedback>(),
    ])
}
