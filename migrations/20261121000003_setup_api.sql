-- The integrator setup API (/v1/projects/...).
-- Forward-only: once applied anywhere, this file is never edited; changes go in a new migration.

-- Idempotency keys of integrator requests (the `Idempotency-Key` header). The first
-- request with a key stores its answer in the same transaction as its effects; a
-- repeat with the same key for the same project and scope gets that answer back
-- instead of acting twice. A key reused with a different request body is refused,
-- which is what request_digest (SHA-256 of the request as parsed) is for.
CREATE TABLE request_keys (
    project_id      uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- What the key was used for, e.g. 'grants.create': one key may serve several routes.
    scope           text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_digest  bytea NOT NULL,
    -- The answer body given to the first request.
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, scope, key)
);
-- For pruning old keys by age.
CREATE INDEX request_keys_created_at_idx ON request_keys (created_at);
