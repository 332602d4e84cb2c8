-- Who made a change, when it was a person signed in at an identity provider: the provider
-- (issuer), the person's id there (subject) and their name as the token gave it.
ALTER TABLE audit_log
    ADD COLUMN person_issuer text,
    ADD COLUMN person_subject text,
    ADD COLUMN person_name text,
    ADD CONSTRAINT audit_log_person_whole
        CHECK ((person_issuer IS NULL) = (person_subject IS NULL));

CREATE INDEX audit_log_person ON audit_log (person_subject, person_issuer, id DESC)
    WHERE person_subject IS NOT NULL;
