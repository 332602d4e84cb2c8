//! Webhooks: every change pushed to the subscribers' URLs, as the Standard Webhooks
//! specification describes (`webhook-id`, `webhook-timestamp`, `webhook-signature`), from the
//! change feed, at least once, in order per record, retried for about three days, never to an
//! address that is not public unless configured. [`dispatch`] delivers, [`signing`] signs,
//! [`outbound`] makes the requests; the subscriptions' API is `resources::webhooks`.

pub use crate::config::WebhookSettings;

pub mod dispatch;
pub mod outbound;
pub mod signing;

pub use dispatch::Dispatcher;

/// The type of the event `POST /v1/webhooks/{id}/test` sends.
pub const EVENT_TEST: &str = "webhook.test";

/// The actions an event type names after its resource type (`assignment.updated`).
pub const ACTIONS: [&str; 3] = ["created", "updated", "deleted"];

/// The event type of a change: the resource type and `created` (its first version),
/// `updated` or `deleted`.
pub fn event_type(resource_type: &str, op: &str, version: i64) -> String {
    let action = match (op, version) {
        ("delete", _) => "deleted",
        (_, 1) => "created",
        _ => "updated",
    };
    format!("{resource_type}.{action}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_type_names_its_resource_and_what_happened() {
        assert_eq!(event_type("assignment", "upsert", 1), "assignment.created");
        assert_eq!(event_type("assignment", "upsert", 4), "assignment.updated");
        assert_eq!(event_type("feedback", "delete", 4), "feedback.deleted");
    }

    #[test]
    fn the_retries_last_about_three_days() {
        use std::time::Duration;
        let total: Duration = WebhookSettings::default().retries.iter().sum();
        let hours = total.as_secs() / 3600;
        assert!((60..=84).contains(&hours), "{hours} h");
    }
}
