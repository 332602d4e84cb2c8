-- Erasing a person's registration or membership also erases the answer kept for a retry of the
-- request that created it (`idempotency::forget_answers`, by `resource`): found by this index,
-- not by reading every key of the last 24 hours on each cancellation.
CREATE INDEX idempotency_keys_resource ON idempotency_keys (resource) WHERE resource IS NOT NULL;
