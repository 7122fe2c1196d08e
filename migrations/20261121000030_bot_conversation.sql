-- The membership bot: owner's admins, deep-link attribution, access tokens.

-- People the owner lets run owner commands in the bot, besides the owner.
CREATE TABLE project_admins (
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    telegram_user_id  bigint NOT NULL,
    added_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, telegram_user_id)
);

-- /start payloads that named no code, plan or token: kept for attribution (which
-- campaign brought whom).
CREATE TABLE start_payloads (
    id                bigserial PRIMARY KEY,
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    telegram_user_id  bigint NOT NULL,
    payload           text NOT NULL,
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX start_payloads_project_idx ON start_payloads (project_id, payload);

-- Single-use activation tokens an integrator creates (`/start accesstoken_<token>`):
-- whoever opens the deep link first gets the plan. Only a SHA-256 of the token is kept.
CREATE TABLE access_tokens (
    id                uuid PRIMARY KEY,
    project_id        uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    plan_id           uuid NOT NULL REFERENCES plans(id),
    token_hash        bytea NOT NULL UNIQUE,
    -- NULL = the plan's own duration.
    duration_days     integer CHECK (duration_days > 0),
    expires_at        timestamptz,
    used_by           bigint,
    used_at           timestamptz,
    grant_id          uuid REFERENCES grants(id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
