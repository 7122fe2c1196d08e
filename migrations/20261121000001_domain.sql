-- Gatehouse domain schema, first version (DESIGN §4).
-- Forward-only: once applied anywhere, this file is never edited; changes go in a new migration.
-- All times are UTC timestamptz. Telegram ids are bigint (user and chat ids exceed 2^31).

-- A tenant: one creator (or brand) selling memberships with one bot.
CREATE TABLE projects (
    id                 uuid PRIMARY KEY,
    -- URL-safe short name, used by the membership page /p/{handle}.
    handle             text NOT NULL UNIQUE CHECK (handle ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
    name               text NOT NULL,
    -- The Telegram user allowed to run owner commands in the bot.
    owner_telegram_id  bigint NOT NULL,
    -- How long a past_due subscription keeps access before it is removed.
    grace_period       interval NOT NULL DEFAULT interval '3 days',
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Integrator API keys. Only a SHA-256 of the key is stored; the key is shown once.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    key_hash     bytea NOT NULL UNIQUE,
    -- First characters of the key, so an operator can tell keys apart without the secret.
    key_prefix   text NOT NULL,
    abilities    text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- The creator's own bot. One per project.
CREATE TABLE bots (
    id                   uuid PRIMARY KEY,
    project_id           uuid NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
    -- The numeric id Telegram gives the bot (the part of the token before ':').
    -- Webhook URLs carry it: /hooks/telegram/{telegram_bot_id}.
    telegram_bot_id      bigint NOT NULL UNIQUE,
    username             text,
    -- The token, encrypted with GATEHOUSE_ENCRYPTION_KEY (nonce || ciphertext).
    token_ciphertext     bytea NOT NULL,
    -- SHA-256 of the secret sent to setWebhook; Telegram echoes the secret in
    -- X-Telegram-Bot-Api-Secret-Token and we compare hashes in constant time.
    webhook_secret_hash  bytea,
    status               text NOT NULL DEFAULT 'connecting'
                         CHECK (status IN ('connecting', 'connected', 'failed')),
    status_reason        text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- A managed channel or group.
CREATE TABLE chats (
    id                    uuid PRIMARY KEY,
    project_id            uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    telegram_chat_id      bigint NOT NULL,
    kind                  text CHECK (kind IN ('channel', 'supergroup', 'group')),
    title                 text,
    -- single_use_link: personal links with member_limit=1; join_request: entry is
    -- approved per identity (stricter, no link can be shared).
    join_strategy         text NOT NULL DEFAULT 'single_use_link'
                          CHECK (join_strategy IN ('single_use_link', 'join_request')),
    status                text NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'ready', 'not_ready')),
    status_reason         text,
    can_invite_users      boolean NOT NULL DEFAULT false,
    can_restrict_members  boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, telegram_chat_id)
);

-- What creators sell.
CREATE TABLE plans (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name           text NOT NULL,
    -- Price in the currency's minor unit (cents); Stars have no minor unit.
    price_minor    bigint NOT NULL CHECK (price_minor >= 0),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Price in Telegram Stars (XTR), when the plan can be paid with Stars.
    stars_price    integer CHECK (stars_price > 0),
    -- NULL = lifetime access.
    duration_days  integer CHECK (duration_days > 0),
    recurring      boolean NOT NULL DEFAULT false,
    trial_days     integer NOT NULL DEFAULT 0 CHECK (trial_days >= 0),
    on_sale        boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- The chats a plan grants.
CREATE TABLE plan_chats (
    plan_id  uuid NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    chat_id  uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    PRIMARY KEY (plan_id, chat_id)
);

-- A Telegram user as known to one project.
CREATE TABLE subscribers (
    id                uuid PRIMARY KEY,
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    telegram_user_id  bigint NOT NULL,
    username          text,
    first_name        text,
    language_code     text,
    -- banned: set by the owner (/ban); a banned subscriber is refused everything and stays banned.
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned')),
    -- Never removed from any chat of the project (staff, partners).
    whitelisted       boolean NOT NULL DEFAULT false,
    -- Set when the user blocked the bot (403): messages to them are not retried.
    unreachable_since timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, telegram_user_id)
);

-- An entitlement: while a grant is in an entitled state and not past ends_at, its
-- subscriber may be in every chat of its plan. Manual grants, Stripe and Stars
-- subscriptions, access codes and trials are all grants, told apart by source.
CREATE TABLE grants (
    id             uuid PRIMARY KEY,
    project_id     uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    subscriber_id  uuid NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    plan_id        uuid NOT NULL REFERENCES plans(id),
    source         text NOT NULL CHECK (source IN ('manual', 'stripe', 'stars', 'access_code', 'trial')),
    state          text NOT NULL DEFAULT 'active'
                   CHECK (state IN ('trialing', 'active', 'past_due', 'canceled', 'expired', 'revoked', 'banned')),
    starts_at      timestamptz NOT NULL DEFAULT now(),
    -- NULL = no end (lifetime).
    ends_at        timestamptz,
    -- Provider reference: Stripe subscription id, Stars charge id, access code id.
    external_ref   text,
    -- Time of the newest provider event applied, so an older event never undoes a newer state.
    last_event_at  timestamptz,
    note           text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grants_subscriber_idx ON grants (subscriber_id);
-- The expiry scan looks for entitled grants whose end has passed.
CREATE INDEX grants_ends_at_idx ON grants (ends_at) WHERE state IN ('trialing', 'active', 'past_due', 'canceled');
CREATE UNIQUE INDEX grants_external_ref_idx ON grants (project_id, source, external_ref) WHERE external_ref IS NOT NULL;

-- Personal invite links Gatehouse created.
CREATE TABLE invite_links (
    id                 uuid PRIMARY KEY,
    project_id         uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    chat_id            uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    subscriber_id      uuid NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    grant_id           uuid REFERENCES grants(id) ON DELETE SET NULL,
    -- The t.me/+… link as Telegram returned it. NULL until the job created it.
    link               text UNIQUE,
    -- The link's `name` (≤ 32 chars) identifying the grant, so a join can be traced back.
    name               text NOT NULL,
    member_limit       integer,
    expire_at          timestamptz,
    state              text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'open', 'used', 'revoked', 'expired')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    used_at            timestamptz,
    revoked_at         timestamptz
);
CREATE INDEX invite_links_subscriber_idx ON invite_links (subscriber_id, chat_id);

-- Observed membership, from chat_member updates and getChatMember checks.
-- Telegram cannot list a chat's members, so this is Gatehouse's view of who is inside.
CREATE TABLE memberships (
    chat_id           uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    telegram_user_id  bigint NOT NULL,
    -- Telegram's ChatMember status: creator, administrator, member, restricted, left, kicked.
    status            text NOT NULL,
    joined_at         timestamptz,
    left_at           timestamptz,
    -- The invite link the user joined with, when Telegram said.
    via_link          text,
    observed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, telegram_user_id)
);

CREATE TABLE access_codes (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    plan_id     uuid NOT NULL REFERENCES plans(id),
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{4,64}$'),
    -- NULL = unlimited uses.
    max_uses    integer CHECK (max_uses > 0),
    uses        integer NOT NULL DEFAULT 0,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, code),
    CHECK (max_uses IS NULL OR uses <= max_uses)
);

CREATE TABLE access_code_redemptions (
    code_id        uuid NOT NULL REFERENCES access_codes(id) ON DELETE CASCADE,
    subscriber_id  uuid NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    redeemed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code_id, subscriber_id)
);

-- Payment provider events and charges, each stored once.
CREATE TABLE payment_events (
    id           uuid PRIMARY KEY,
    project_id   uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    provider     text NOT NULL CHECK (provider IN ('stripe', 'stars')),
    -- Stripe event id (evt_…) or Telegram telegram_payment_charge_id.
    external_id  text NOT NULL,
    kind         text NOT NULL,
    -- The provider's own time for the event (Stripe `created`), for ordering.
    occurred_at  timestamptz,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    UNIQUE (project_id, provider, external_id)
);

-- One row per managed chat per day.
CREATE TABLE member_counts (
    chat_id     uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    day         date NOT NULL,
    members     integer NOT NULL,
    counted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, day)
);

-- Every action taken on a member, with its reason and the job that took it.
CREATE TABLE audit_log (
    id                bigserial PRIMARY KEY,
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    telegram_user_id  bigint,
    chat_id           uuid REFERENCES chats(id) ON DELETE SET NULL,
    -- link_issued, link_revoked, removed, approved, declined, unbanned, …
    action            text NOT NULL,
    reason            text NOT NULL,
    -- apalis job id (ULID) of the job that acted, when a job did.
    job_id            text,
    details           jsonb NOT NULL DEFAULT '{}'::jsonb,
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_member_idx ON audit_log (project_id, telegram_user_id, at);

-- Side effects of the diagnostic `probe` job: lets operators (and the queue tests)
-- count how many times each probe ran, by which worker, independently of logs.
CREATE TABLE diagnostic_probe_runs (
    id         bigserial PRIMARY KEY,
    probe_key  text NOT NULL,
    phase      text NOT NULL CHECK (phase IN ('started', 'finished')),
    worker     text NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX diagnostic_probe_runs_key_idx ON diagnostic_probe_runs (probe_key);
