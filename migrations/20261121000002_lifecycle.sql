-- Membership lifecycle additions.

-- Messages Gatehouse sends to users, each once: a job records the message before
-- sending it, under a key that names the logical message (e.g. the link for one
-- grant and chat), so a retried or duplicated job never sends it twice.
CREATE TABLE outbound_messages (
    id                   uuid PRIMARY KEY,
    project_id           uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    telegram_user_id     bigint NOT NULL,
    dedupe_key           text NOT NULL,
    text                 text NOT NULL,
    reply_markup         jsonb,
    state                text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'sent', 'undeliverable')),
    telegram_message_id  bigint,
    error                text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    sent_at              timestamptz,
    UNIQUE (project_id, dedupe_key)
);

-- The bot's own status in the chat as last seen (administrator, member, left, kicked).
ALTER TABLE chats ADD COLUMN bot_status text;
-- Members Telegram counts beyond those Gatehouse knows, at the last sweep.
ALTER TABLE chats ADD COLUMN unknown_members integer;

-- Who an invite link was used by, when it was not its owner.
ALTER TABLE invite_links ADD COLUMN used_by_telegram_user_id bigint;
CREATE INDEX invite_links_open_idx ON invite_links (chat_id) WHERE state = 'open';
