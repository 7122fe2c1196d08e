-- The owner's setup from Telegram: the platform bot for creators
-- (GATEHOUSE_MANAGER_BOT_TOKEN) and the guided flows of creators and owners.

-- A guided flow a Telegram user is in with a bot (the platform bot's sign-up and
-- bot connection, an owner's /addplan), kept here so that it resumes after any pause
-- or restart. One per (bot, user): starting another flow replaces it. `last_cause`
-- is the update that moved it last, so an update processed twice moves it once.
CREATE TABLE dialogs (
    telegram_bot_id bigint NOT NULL,
    telegram_user_id bigint NOT NULL,
    flow text NOT NULL,
    step text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_cause text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (telegram_bot_id, telegram_user_id)
);

-- What the platform bot says to creators: recorded under a dedupe key (the turn
-- that caused it and its position) in the turn's transaction, then sent once by a
-- `send-manager-message` job. Its bot belongs to no project, so these are apart
-- from `outbound_messages`.
CREATE TABLE manager_messages (
    id uuid PRIMARY KEY,
    dedupe_key text NOT NULL UNIQUE,
    telegram_user_id bigint NOT NULL,
    text text NOT NULL,
    reply_markup jsonb,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'undeliverable')),
    telegram_message_id bigint,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
