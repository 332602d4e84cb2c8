-- Links to one board report that open in a browser without a token. The URL carries the link's
-- id and an HMAC of it under a key derived from the service's signing key, so the table holds
-- nothing that opens a report, and rotating the signing key revokes every link at once.
-- `owner_id` is the API client, or for a person the stable id this API derives from issuer and
-- subject; `shared_by` is the name the report page shows.
CREATE TABLE report_links (
    id             uuid PRIMARY KEY,
    report         text NOT NULL CHECK (report IN ('tertial', 'annual')),
    year           integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    tertial        smallint CHECK (tertial BETWEEN 1 AND 3),
    format         text NOT NULL CHECK (format IN ('html', 'json', 'csv')),
    description    text CHECK (char_length(description) BETWEEN 1 AND 200),
    expires_at     timestamptz NOT NULL,
    owner_id       uuid NOT NULL,
    shared_by      text NOT NULL CHECK (char_length(shared_by) BETWEEN 1 AND 300),
    revoked_at     timestamptz,
    revoked_by     text,
    open_count     bigint NOT NULL DEFAULT 0,
    last_opened_at timestamptz,
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((report = 'tertial') = (tertial IS NOT NULL)),
    CHECK (expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX report_links_owner ON report_links (owner_id, created_at DESC, id);
CREATE INDEX report_links_created ON report_links (created_at DESC, id);
CREATE TRIGGER report_links_touch BEFORE UPDATE ON report_links
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();
