-- The integrator API: named keys that expire and record their last use, a per-key
-- request window for the rate limit (shared by every api process), Idempotency-Key
-- answers for every write, and the plan numbers of the TGmembership-compatible API.

ALTER TABLE api_keys
    ADD COLUMN name text NOT NULL DEFAULT 'default' CHECK (length(name) BETWEEN 1 AND 100),
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_used_at timestamptz;

-- Calls per key and per minute. `bucket` separates limits (the HTTP api, MCP tools).
CREATE TABLE api_key_windows (
    key_id        uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    bucket        text NOT NULL,
    window_start  timestamptz NOT NULL,
    calls         integer NOT NULL,
    PRIMARY KEY (key_id, bucket, window_start)
);
CREATE INDEX api_key_windows_window_start_idx ON api_key_windows (window_start);

-- The first answer to a write sent with an Idempotency-Key, per credential. A row
-- without a status is a request still being handled.
CREATE TABLE idempotent_requests (
    -- SHA-256 of the credential (api key or admin token) the request came with.
    owner            bytea NOT NULL,
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, path, query and body.
    request_digest   bytea NOT NULL,
    response_status  smallint,
    response_body    bytea,
    response_type    text,
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotent_requests_created_at_idx ON idempotent_requests (created_at);

-- TGmembership's plan_id is an integer: each plan gets one, never reused.
ALTER TABLE plans ADD COLUMN number bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
