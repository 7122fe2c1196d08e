-- Broadcasts from the owner to a segment of subscribers, and the support relay
-- between subscribers and the owner. Forward-only.

-- A broadcast: what the owner wrote (text and Telegram entities as they sent them, an
-- optional URL button), to whom (a segment, resolved into recipient rows when the owner
-- confirms), and where it stands. Counts are not kept here: they are counted from the
-- recipient rows, which the sending jobs write, so no two workers contend for one row.
CREATE TABLE broadcasts (
    id                   uuid PRIMARY KEY,
    project_id           uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- The update that composed it (`tg:<bot>:<update_id>`): a redelivered update
    -- finds the same draft.
    cause                text NOT NULL,
    -- Who composed it: the progress message goes to them, in their language.
    owner_telegram_id    bigint NOT NULL,
    lang                 text NOT NULL CHECK (lang IN ('en', 'ru')),
    segment              text NOT NULL CHECK (segment IN ('active', 'trialing', 'past_due', 'expired', 'all')),
    -- For `expired`: ended within this many days.
    within_days          integer CHECK (within_days BETWEEN 1 AND 3660),
    text                 text NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
    -- Telegram's MessageEntity array (offsets in UTF-16 units of `text`), or NULL.
    entities             jsonb,
    button_text          text CHECK (length(button_text) BETWEEN 1 AND 64),
    button_url           text CHECK (length(button_url) BETWEEN 1 AND 2048),
    -- draft (awaiting the owner's confirmation) → sending → done; cancelled from either.
    state                text NOT NULL DEFAULT 'draft'
                         CHECK (state IN ('draft', 'sending', 'done', 'cancelled')),
    -- Recipients when it was confirmed (the rows below).
    total                integer,
    -- The owner's progress message (an outbound message: its Telegram id is there once sent).
    progress_message_id  uuid REFERENCES outbound_messages(id) ON DELETE SET NULL,
    -- The progress text last shown, so an edit that changes nothing is not made.
    progress_shown       text,
    progress_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    UNIQUE (project_id, cause),
    CHECK ((segment = 'expired') = (within_days IS NOT NULL)),
    CHECK ((button_text IS NULL) = (button_url IS NULL))
);

-- One row per recipient, written when the owner confirms (the segment as it was then).
-- `seq` numbers them 0…total-1: batch k of a broadcast is seq in [k·N, (k+1)·N).
-- pending → sending (written before the call) → sent / unreachable (403: blocked the
-- bot) / failed (another refusal). A worker that dies mid-call leaves `sending`: the
-- row is sent again when the batch is rescued, so at most the calls in flight at
-- that moment are sent twice; `attempts` shows which.
CREATE TABLE broadcast_recipients (
    broadcast_id         uuid NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    seq                  integer NOT NULL,
    telegram_user_id     bigint NOT NULL,
    state                text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'sending', 'sent', 'unreachable', 'failed')),
    attempts             integer NOT NULL DEFAULT 0,
    telegram_message_id  bigint,
    error                text,
    done_at              timestamptz,
    PRIMARY KEY (broadcast_id, seq),
    UNIQUE (broadcast_id, telegram_user_id)
);

-- Support relay: on or off per project (off until the owner sends /support on).
CREATE TABLE support_settings (
    project_id  uuid PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    enabled     boolean NOT NULL,
    changed_by  bigint NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

-- Every message the relay put into a staff member's chat (the header naming the
-- subscriber, and the copy of their message), so a reply to either goes back to
-- the subscriber it came from.
CREATE TABLE support_relays (
    project_id           uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- The staff member's chat, and the message there.
    staff_telegram_id    bigint NOT NULL,
    telegram_message_id  bigint NOT NULL,
    subscriber_telegram_id bigint NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, staff_telegram_id, telegram_message_id)
);

-- Each relayed copy (either way), keyed by the update it relays and its target, so a
-- re-run job does not copy twice once the copy is recorded.
CREATE TABLE support_copies (
    project_id           uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    dedupe_key           text NOT NULL,
    telegram_message_id  bigint NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, dedupe_key)
);
