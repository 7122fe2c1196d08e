-- One definition of entitlement. Forward-only.
--
-- "A grant entitles its subscriber" was written out in every query that needed it,
-- some with the job's clock and some with the database's now(), and the list of
-- entitling states appeared about ten times. Every query now calls these two
-- functions. Their Rust twin is `payments::subscription::State::entitles`; a test
-- (tests/tests/lifecycle.rs) pins one to the other for every state.
--
-- Both are IMMUTABLE and LANGUAGE sql with a single expression, so the planner
-- inlines them into the calling query: they cost nothing at run time, and a call
-- in a WHERE clause still matches the partial index `grants_ends_at_idx`.
-- The time is always an argument, from Gatehouse's clock (DESIGN rule 5): never now().

-- Whether a grant in `state` lets its subscriber in (while its end has not passed).
CREATE FUNCTION gatehouse_entitling_state(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT state IN ('trialing', 'active', 'past_due', 'canceled')
$$;

COMMENT ON FUNCTION gatehouse_entitling_state(text) IS
    'Whether a grant in this state lets its subscriber in while its end has not passed (Rust: State::entitles).';

-- Whether a grant (its `state` and `ends_at`) entitles its subscriber (whose status is
-- `subscriber_status`: a banned subscriber is entitled to nothing) at time `at`.
CREATE FUNCTION gatehouse_entitles(state text, ends_at timestamptz, subscriber_status text, at timestamptz)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT gatehouse_entitling_state(state)
       AND (ends_at IS NULL OR ends_at > at)
       AND subscriber_status = 'active'
$$;

COMMENT ON FUNCTION gatehouse_entitles(text, timestamptz, text, timestamptz) IS
    'Whether a grant entitles its subscriber at the given time; the time always comes from the caller''s clock.';
