-- Webhooks: the change feed pushed to the municipalities' systems, signed as the Standard
-- Webhooks specification says, retried for about three days, never lost.
--
-- A subscription belongs to the API client (or person) that made it (`owner_id`). Its
-- position in the change feed lives in `webhook_state`: a dispatcher turns the changes after
-- it into `webhook_events` and moves it in the same transaction, so a committed change is an
-- event exactly once and a rolled-back one never. Events are delivered, and retried, from
-- there; each attempt is one row of `webhook_attempts`.
CREATE TABLE webhook_subscriptions (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL,
    url             text NOT NULL CHECK (char_length(url) BETWEEN 10 AND 2000),
    -- NULL: every event type.
    event_types     text[] CHECK (cardinality(event_types) BETWEEN 1 AND 100),
    municipality_id text REFERENCES municipalities (id),
    description     text CHECK (char_length(description) BETWEEN 1 AND 200),
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text CHECK (char_length(disabled_reason) BETWEEN 1 AND 500),
    disabled_at     timestamptz,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((disabled_reason IS NULL) = (disabled_at IS NULL)),
    CHECK (NOT (enabled AND disabled_reason IS NOT NULL))
);
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions (owner_id, created_at DESC, id);
CREATE INDEX webhook_subscriptions_created ON webhook_subscriptions (created_at DESC, id);
CREATE TRIGGER webhook_subscriptions_touch BEFORE UPDATE ON webhook_subscriptions
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

-- What the dispatchers keep of a subscription (not part of its version): where in the feed it
-- stands, when it was last fanned out (the least recently fanned out go first, so every
-- subscription has its turn however many there are), and since when every delivery has failed.
CREATE TABLE webhook_state (
    subscription_id   uuid PRIMARY KEY REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    feed_txid         xid8 NOT NULL,
    feed_seq          bigint NOT NULL,
    fanned_out_at     timestamptz NOT NULL DEFAULT '-infinity',
    failing_since     timestamptz
);

-- Signing keys. The current one has no end; after a rotation the previous ones stay valid
-- until `expires_at`, and every delivery is signed with each valid key.
CREATE TABLE webhook_secrets (
    id              uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    secret          bytea NOT NULL CHECK (octet_length(secret) BETWEEN 24 AND 64),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
);
CREATE INDEX webhook_secrets_subscription ON webhook_secrets (subscription_id, created_at);

CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY,
    -- The order of the events of one subscription (the feed's order).
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    resource_type   text NOT NULL,
    resource_id     text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    leased_by       text,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
-- A queue: rows leave the partial indexes' condition as they are delivered, so the table is
-- vacuumed often enough that claiming never walks far through dead entries.
ALTER TABLE webhook_events SET (autovacuum_vacuum_scale_factor = 0.02,
                                autovacuum_vacuum_threshold = 500,
                                autovacuum_vacuum_insert_scale_factor = 0.05);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX webhook_events_record ON webhook_events (subscription_id, resource_type, resource_id, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_events_subscription ON webhook_events (subscription_id, created_at DESC, id);

CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    -- NULL when no answer came (`error` says why).
    status_code integer,
    error       text,
    -- The first kilobyte of the answer.
    response    text,
    replica     text NOT NULL
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);
