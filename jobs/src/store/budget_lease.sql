-- Leases up to $3 of a bot's next slots, none later than $5 seconds from now, in one
-- statement: the row is locked (FOR UPDATE reads its latest version), the slots are
-- computed, and the schedule is moved past them.
--   $1 telegram_bot_id   $2 background lane?   $3 slots wanted
--   $4 seconds between two slots   $5 horizon (seconds)   $6 seconds between two background slots
-- Background slots start no earlier than next_background_slot_at, which advances by the
-- longer background interval: the difference is the reserve interactive work can use.
WITH b AS (
    SELECT next_slot_at, next_background_slot_at, paused_until, clock_timestamp() AS now
    FROM rate_budgets
    WHERE telegram_bot_id = $1 AND telegram_chat_id = 0
    FOR UPDATE
),
s AS (
    SELECT now,
           greatest(next_slot_at,
                    CASE WHEN $2 THEN next_background_slot_at ELSE next_slot_at END,
                    now,
                    COALESCE(paused_until, now)) AS start
    FROM b
),
g AS (
    SELECT now, start,
           CASE WHEN start > now + $5 * interval '1 second' THEN 0
                ELSE least($3, 1 + floor(extract(epoch FROM (now + $5 * interval '1 second' - start)) / $4))::int4
           END AS granted
    FROM s
),
u AS (
    UPDATE rate_budgets r
    SET next_slot_at = g.start + g.granted * $4 * interval '1 second',
        next_background_slot_at = CASE WHEN $2 THEN g.start + g.granted * $6 * interval '1 second'
                                       ELSE r.next_background_slot_at END,
        updated_at = g.now
    FROM g
    WHERE r.telegram_bot_id = $1 AND r.telegram_chat_id = 0 AND g.granted > 0
)
SELECT now, start, granted FROM g
