-- Telegram rate budgets shared by every worker process (DESIGN §1 rule 4, §6).
-- Forward-only: once applied anywhere, this file is never edited; changes go in a new migration.
--
-- Telegram limits each bot token, whatever the number of processes calling with it. So the
-- budget lives here, one row per bot (and one per chat that receives messages), and every
-- worker takes its calls from it. A worker does not come here for every call: it leases a few
-- slots at a time (the next ~250 ms of a bot's budget) in one short statement and spends them
-- itself (jobs/src/telegram/budget.rs, jobs/src/store/budget.rs).
--
-- The budget is a slot schedule (GCRA, "theoretical arrival time"): slots are handed out at or
-- after `next_slot_at`, each one interval after the previous, so calls stay evenly spaced and
-- no sliding second ever holds more than the limit, across all workers.

CREATE TABLE rate_budgets (
    -- The bot (the number before ':' in its token).
    telegram_bot_id          bigint NOT NULL,
    -- 0: the bot's budget for every call. Otherwise a chat's message budget (1/s per chat,
    -- 20/min per group): one slot per message, taken in the same statement that checks it.
    telegram_chat_id         bigint NOT NULL DEFAULT 0,
    -- The next free slot, for any lane.
    next_slot_at             timestamptz NOT NULL DEFAULT '-infinity',
    -- The next slot lifecycle and bulk work may take: spaced by the longer interval of
    -- (limit − interactive reserve), so interactive work always finds room in between.
    next_background_slot_at  timestamptz NOT NULL DEFAULT '-infinity',
    -- Where the next background job that found the budget full is planned to run: jobs of a
    -- mass expiry are spread at the budget's pace instead of all being claimed again at once.
    next_planned_at          timestamptz NOT NULL DEFAULT '-infinity',
    -- Set from a 429's retry_after: no slot before this, for any worker.
    paused_until             timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (telegram_bot_id, telegram_chat_id)
);

-- Per-bot limits, when a bot's differ from the process defaults (GATEHOUSE_TG_* settings).
-- A NULL column means "the default". Workers re-read a bot's row every 30 s.
CREATE TABLE bot_rate_limits (
    telegram_bot_id            bigint PRIMARY KEY,
    -- All methods together.
    calls_per_second           integer CHECK (calls_per_second > 0),
    -- Messages to one chat.
    chat_messages_per_second   integer CHECK (chat_messages_per_second > 0),
    -- Messages to one group, supergroup or channel.
    group_messages_per_minute  integer CHECK (group_messages_per_minute > 0),
    -- Calls per second that lifecycle and bulk work leave to interactive work.
    interactive_reserve        integer CHECK (interactive_reserve >= 0),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CHECK (interactive_reserve IS NULL OR calls_per_second IS NULL OR interactive_reserve < calls_per_second)
);
