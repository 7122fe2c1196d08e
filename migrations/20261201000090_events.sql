-- Events and signed outbound webhooks. Forward-only.
--
-- An event is a fact an integrator wants to hear about (a member joined, a
-- subscription renewed…), written in the same transaction as the change it reports.
-- Each carries a per-project sequence number taken from `event_sequences`: the
-- counter row is updated in the event's transaction, so its row lock is held until
-- that transaction ends. Two transactions writing events for one project therefore
-- take their numbers in commit order: a reader that has seen sequence N never sees
-- a smaller one commit later. A rolled-back transaction gives its number back.

-- The last sequence number handed out per project.
CREATE TABLE event_sequences (
    project_id     uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    last_sequence  bigint NOT NULL CHECK (last_sequence > 0)
);

-- The event stream. `data` is a snapshot of the object the event is about.
CREATE TABLE events (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sequence    bigint NOT NULL CHECK (sequence > 0),
    type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    created_at  timestamptz NOT NULL,
    data        jsonb NOT NULL,
    UNIQUE (project_id, sequence)
);

-- Where a project wants its events pushed. The signing secret is sealed with
-- GATEHOUSE_ENCRYPTION_KEY (the receiver needs the secret itself to check a
-- signature, so it cannot be a digest); after a rotation the previous secret keeps
-- signing beside the new one until `previous_secret_until`.
CREATE TABLE webhook_endpoints (
    id                      uuid PRIMARY KEY,
    project_id              uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url                     text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    -- The event types wanted; empty = every type.
    event_types             text[] NOT NULL DEFAULT '{}',
    enabled                 boolean NOT NULL DEFAULT true,
    -- Why Gatehouse disabled it (NULL when enabled, or disabled by the integrator).
    disabled_reason         text,
    secret_sealed           bytea NOT NULL,
    previous_secret_sealed  bytea,
    previous_secret_until   timestamptz,
    -- The first failed attempt since the last success: 3 days of failures disable it.
    failing_since           timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);

CREATE INDEX webhook_endpoints_project_idx ON webhook_endpoints (project_id);

-- One event to one endpoint: retried until it succeeds or its window passes.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- pending (an attempt is due at next_attempt_at), succeeded, failed (given up),
    -- skipped (the endpoint was disabled before it went out).
    state            text NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    -- When this round of attempts began (its creation, or the last redeliver).
    window_start     timestamptz NOT NULL,
    UNIQUE (endpoint_id, event_id)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

-- The delivery log: one row per attempt.
CREATE TABLE webhook_attempts (
    id             bigserial PRIMARY KEY,
    delivery_id    uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt        integer NOT NULL CHECK (attempt > 0),
    at             timestamptz NOT NULL,
    -- The HTTP status, NULL when no answer came (refused, timeout, connection error).
    status         integer,
    latency_ms     integer NOT NULL CHECK (latency_ms >= 0),
    -- Why it failed when no answer came.
    error          text,
    -- The first bytes of the answer's body (at most 512, lossy UTF-8).
    response_head  text NOT NULL DEFAULT ''
);

CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);
