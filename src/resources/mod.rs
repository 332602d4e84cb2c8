//! The resources, one folder each: model, storage and handlers, written against the kernel in
//! [`crate::kernel`].
//!
//! The registry below is the one list of them that the rest of the service derives from: the
//! change feed's types and the import collections (and a test checks that every resource kind
//! is in the OpenAPI document's tags).

pub mod areas;
pub mod assignments;
pub mod clients;
pub mod events;
pub mod feedback;
pub mod municipalities;
pub mod networks;
pub mod plans;
pub mod progress;
pub mod webhooks;

use crate::integration::imports::RowChecks;
use crate::kernel::{Importable, Resource, check_row};
use crate::rules::labels::Vocabularies;

use areas::Area;
use assignments::Assignment;
use events::Event;
use events::registrations::RegistrationRow;
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
pub const REGISTRY: [Entry; 10] = [
    entry::<Municipality>("Municipalities"),
    entry::<Area>("Areas"),
    entry::<Plan>("Plans"),
    entry::<Network>("Networks"),
    entry::<MemberRow>("Networks"),
    entry::<Assignment>("Assignments"),
    entry::<StoredReport>("Progress reports"),
    entry::<Feedback>("Feedback"),
    entry::<Event>("Events"),
    entry::<RegistrationRow>("Events"),
];

const fn entry<R: Resource>(tag: &'static str) -> Entry {
    Entry { kind: R::KIND, tag }
}

/// The change feed's types: every resource kind.
pub fn feed_types() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.kind).collect()
}

/// The Swedish labels of the values files carry (imports read them, `labels=sv` exports write
/// them, the OpenAPI document lists them per value).
pub const VOCABULARIES: Vocabularies = Vocabularies {
    all: &[
        plans::Challenge::VOCABULARY,
        assignments::AssignmentStatus::VOCABULARY,
        assignments::FundingType::VOCABULARY,
        networks::NetworkKind::VOCABULARY,
        networks::NetworkStatus::VOCABULARY,
        progress::Deviation::VOCABULARY,
        feedback::SuggestionKind::VOCABULARY,
        events::EventKind::VOCABULARY,
        events::registrations::RegistrationStatus::VOCABULARY,
    ],
    kinds_of: &[("Suggestion", "SuggestionKind")],
};

/// The import collections, each checked by its resource's own rules.
pub fn row_checks() -> RowChecks {
    fn of<R: Importable>() -> (&'static str, crate::integration::imports::RowCheck) {
        (R::COLLECTION, check_row::<R>)
    }
    RowChecks {
        checks: vec![
            of::<Network>(),
            of::<MemberRow>(),
            of::<Assignment>(),
            of::<StoredReport>(),
            of::<Feedback>(),
            of::<Event>(),
        ],
        vocabularies: VOCABULARIES,
    }
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;
    use crate::rules::labels::fold;

    /// Every value has a Swedish label, and no text names two values of one enum.
    #[test]
    fn every_value_has_a_label_and_no_label_is_ambiguous() {
        for vocabulary in VOCABULARIES.all {
            let mut seen: Vec<(String, &str)> = Vec::new();
            for (value, labels) in vocabulary.values {
                assert!(
                    !labels.is_empty(),
                    "{}: {value} has no label",
                    vocabulary.name
                );
                for text in std::iter::once(value).chain(labels.iter()) {
                    let folded = fold(text);
                    if let Some((_, other)) = seen.iter().find(|(f, v)| *f == folded && v != value)
                    {
                        panic!("{}: {text:?} names {value} and {other}", vocabulary.name);
                    }
                    seen.push((folded, value));
                }
                assert_eq!(vocabulary.resolve(vocabulary.label(value)), Some(*value));
            }
        }
        for (object, kind) in VOCABULARIES.kinds_of {
            assert!(VOCABULARIES.get(kind).is_some(), "{object}: no {kind}");
        }
    }
}
