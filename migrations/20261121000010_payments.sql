-- Payments and subscriptions: Stripe settings, checkout requests, Stars and Stripe
-- events tied to the grants they changed, access-code terms, reminder offsets.
-- Forward-only: once applied anywhere, this file is never edited; changes go in a new migration.
-- The subscription state machine these tables serve is drawn in docs/subscriptions.md.

-- A project's Stripe account. Secrets are sealed with GATEHOUSE_ENCRYPTION_KEY
-- (nonce || ciphertext, as bot tokens). Two webhook secrets may be in force at once
-- while the endpoint's secret is rolled: a delivery is accepted if either matches.
CREATE TABLE stripe_settings (
    project_id                      uuid PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    secret_key_sealed               bytea NOT NULL,
    -- The last four characters of the secret key, so an operator can tell keys apart.
    secret_key_hint                 text NOT NULL,
    webhook_secret_sealed           bytea NOT NULL,
    -- The secret in force before the last change, still accepted (rotation).
    previous_webhook_secret_sealed  bytea,
    updated_at                      timestamptz NOT NULL DEFAULT now()
);

-- A request to pay for a plan (or to start its trial): made by the api or the bot,
-- carried out by a job. Its id travels with the payment (Stripe metadata
-- `gatehouse_ref`, the Stars invoice payload), so every provider event finds its
-- way back to one subscriber and plan; the grant it produces has it as external_ref.
CREATE TABLE checkout_requests (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    subscriber_id  uuid NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    plan_id        uuid NOT NULL REFERENCES plans(id),
    provider       text NOT NULL CHECK (provider IN ('stripe', 'stars')),
    -- Stripe Checkout Session id, or the Stars invoice link, once made.
    external_id    text,
    url            text,
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkout_requests_subscriber_idx ON checkout_requests (subscriber_id);

-- The grant a provider event (or Stars charge) acted on, and what became of it:
-- applied, stale (older than the grant's last event), refused (the state machine
-- forbids it), ignored (not a Gatehouse payment, or a type Gatehouse does not use).
ALTER TABLE payment_events ADD COLUMN grant_id uuid REFERENCES grants(id) ON DELETE SET NULL;
ALTER TABLE payment_events ADD COLUMN outcome text
    CHECK (outcome IN ('applied', 'stale', 'refused', 'ignored'));
CREATE INDEX payment_events_grant_idx ON payment_events (grant_id) WHERE grant_id IS NOT NULL;
-- Stripe charges name their invoice, not their subscription: a refund finds its grant
-- through the invoice event that paid it.
CREATE INDEX payment_events_object_idx ON payment_events (project_id, (payload #>> '{data,object,id}'))
    WHERE provider = 'stripe';

-- An access code may grant its plan for its own number of days (else the plan's).
ALTER TABLE access_codes ADD COLUMN duration_days integer CHECK (duration_days > 0);

-- Days before an entitlement ends when its subscriber is reminded, once each.
ALTER TABLE projects ADD COLUMN reminder_days integer[] NOT NULL DEFAULT '{3,1}'
    CHECK (cardinality(reminder_days) <= 10 AND 0 < ALL (reminder_days) AND 366 > ALL (reminder_days));
