DROP TABLE webhook_attempts, webhook_events, webhook_secrets, webhook_state, webhook_subscriptions;
