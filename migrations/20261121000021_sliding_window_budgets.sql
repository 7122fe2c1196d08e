-- Rate budgets as sliding windows, with an interactive reserve lent to background work
-- while no interactive call needs it. Forward-only, like every migration.
--
-- Telegram counts a bot's calls per second; it does not ask for them to be evenly spaced.
-- The even slot schedule of 0020 made a bot with one job in flight wait one interval
-- (35 ms at 30/s) between that job's calls, so fifty bots with a few jobs each used less
-- than half of what their limits allowed. Now a bot may make up to its limit of calls in
-- quick succession, and at most its limit in any window of 1 s / (1 − headroom): the slot k calls
-- after a slot s is never before s + window. The headroom is the margin that keeps
-- network jitter from putting two windows' calls into one second at Telegram. Within a
-- window, consecutive slots are at least half an average slot apart (window / (2 × limit):
-- 17.5 ms at 30/s): thirty calls leaving together would queue at the receiver, and the last
-- of them could be stamped later than the margin allows (seen once in the benchmark with both
-- cores saturated). A sustained drain runs at one average slot per call anyway; a job's calls
-- to an idle bot wait at most that long.
--
-- The interactive reserve is kept while interactive work runs (an interactive slot was
-- taken within the hold, 2 s by default): background calls then take at most
-- (limit − reserve) slots per window. When no interactive call has come for that long,
-- background work may take the whole limit; the next interactive call finds a slot within
-- one background lease (250 ms) and the reserve is held again from then on.

ALTER TABLE rate_budgets
    -- The bot's most recent slots (bot rows only; at most its limit of them, oldest first).
    ADD COLUMN recent_slots timestamptz[] NOT NULL DEFAULT '{}',
    -- When an interactive slot was last taken: the reserve is held for a while after it.
    ADD COLUMN interactive_at timestamptz;

COMMENT ON COLUMN rate_budgets.next_background_slot_at IS
    'Unused since 0021 (sliding windows): background calls are bounded by recent_slots.';

-- Leases up to p_wanted of a bot's next slots, none later than p_horizon seconds from
-- now, in one call (one round-trip): the bot row is locked, the slots computed, the
-- window moved past them. Returns nothing when the bot has no budget row yet.
--   p_limit             calls per window, any lane (the bot's limit per second)
--   p_background_limit  calls per window for background work while the reserve is held
--   p_window            the window, in seconds (1 s / (1 − headroom))
--   p_horizon           how far ahead slots may be taken, in seconds
--   p_reserve_hold      how long after an interactive slot the reserve is held, in seconds
-- Returns the database time, the slots granted (ascending) and, when fewer than wanted
-- were granted, the first slot that was beyond the horizon.
CREATE FUNCTION gatehouse_lease_slots(
    p_bot bigint,
    p_background boolean,
    p_wanted integer,
    p_limit integer,
    p_background_limit integer,
    p_window double precision,
    p_horizon double precision,
    p_reserve_hold double precision
) RETURNS TABLE (now timestamptz, slots timestamptz[], next_free timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    b rate_budgets%ROWTYPE;
    t timestamptz := clock_timestamp();
    win interval := p_window * interval '1 second';
    gap interval := p_window / (2 * greatest(p_limit, 1)) * interval '1 second';
    last_allowed timestamptz := t + p_horizon * interval '1 second';
    recent timestamptz[];
    granted timestamptz[] := '{}';
    cap integer;
    n integer;
    s timestamptz;
BEGIN
    SELECT * INTO b FROM rate_budgets WHERE telegram_bot_id = p_bot AND telegram_chat_id = 0 FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    recent := b.recent_slots;
    cap := CASE WHEN p_background AND b.interactive_at > t - p_reserve_hold * interval '1 second'
                THEN least(p_background_limit, p_limit)
                ELSE p_limit END;
    LOOP
        EXIT WHEN coalesce(array_length(granted, 1), 0) >= p_wanted;
        n := coalesce(array_length(recent, 1), 0);
        -- greatest() skips NULLs: no pause, no previous slot, fewer than cap slots so far.
        s := greatest(t,
                      b.paused_until,
                      recent[n] + gap,
                      CASE WHEN n >= cap THEN recent[n - cap + 1] + win END);
        EXIT WHEN s > last_allowed;
        granted := granted || s;
        recent := recent || s;
        IF array_length(recent, 1) > p_limit THEN
            recent := recent[array_length(recent, 1) - p_limit + 1 :];
        END IF;
        s := NULL;
    END LOOP;
    IF coalesce(array_length(granted, 1), 0) > 0 THEN
        UPDATE rate_budgets
        SET recent_slots = recent,
            next_slot_at = greatest(next_slot_at, recent[array_length(recent, 1)]),
            interactive_at = CASE WHEN p_background THEN interactive_at ELSE t END,
            updated_at = t
        WHERE telegram_bot_id = p_bot AND telegram_chat_id = 0;
    END IF;
    RETURN QUERY SELECT t, granted, s;
END
$$;
