-- Each attempt that holds an idempotency key's lease is identified, so that the write's own
-- transaction can confirm, when it marks the key's effect, that its lease was not taken over by
-- a retry in the meantime (the write then rolls back instead of happening twice).
ALTER TABLE idempotency_keys ADD COLUMN attempt uuid;
