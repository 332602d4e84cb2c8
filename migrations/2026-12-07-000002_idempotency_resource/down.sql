DROP INDEX idempotency_keys_resource;
