-- apalis.get_jobs (as migration 20261201000170 defines it) cost about 1.3 ms per claim of
-- 32 rows on an idle machine, of which two parts did no claiming:
-- - it was a LANGUAGE sql function, which PostgreSQL before 18 plans again on every call;
--   the same statement in PL/pgSQL keeps its plan for the session;
-- - `fk_worker_lock_by` (apalis's foreign key from `lock_by` to `apalis.workers`) ran its
--   check, a `SELECT ... FOR KEY SHARE` of the worker's row, once for every row claimed
--   (about 30 us a row, 1 ms a claim in `EXPLAIN ANALYZE`).
-- apalis registers a worker's row before it claims, and nothing of Gatehouse deletes one.
-- What the key still guarded is kept by a trigger: a worker's row cannot be deleted while
-- it holds claimed or running rows (the rescue, `store::queue::rescue_orphans`, finds
-- those through their worker's row). It runs on deletes of `apalis.workers` only.
-- Same signature, same rows picked in the same order, same writes (ops/bench/README.md).
ALTER TABLE apalis.jobs DROP CONSTRAINT IF EXISTS fk_worker_lock_by;

CREATE OR REPLACE FUNCTION apalis.gatehouse_keep_holding_workers()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM apalis.jobs
        WHERE lock_by = OLD.id AND status IN ('Queued', 'Running')
    ) THEN
        RAISE EXCEPTION 'worker % still holds claimed or running jobs: its row is what their rescue goes by', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER gatehouse_keep_holding_workers
    BEFORE DELETE ON apalis.workers
    FOR EACH ROW EXECUTE FUNCTION apalis.gatehouse_keep_holding_workers();

CREATE OR REPLACE FUNCTION apalis.get_jobs(
    worker_id TEXT,
    v_job_type TEXT,
    v_job_count INTEGER DEFAULT 5
)
RETURNS SETOF apalis.jobs
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
    RETURN QUERY
    WITH claimed AS (
        UPDATE apalis.jobs j
        SET
            status = 'Queued',
            lock_by = worker_id,
            lock_at = now()
        WHERE j.id = ANY (ARRAY(
            SELECT w.id
            FROM apalis.jobs w
            WHERE
                (
                    w.status = 'Pending'
                    OR (
                        w.status = 'Failed'
                        AND w.attempts < w.max_attempts
                    )
                )
                AND w.run_at < now()
                AND w.job_type = v_job_type
            ORDER BY w.priority DESC, w.run_at ASC
            LIMIT v_job_count
            FOR UPDATE SKIP LOCKED
        ))
        RETURNING j.*
    )
    SELECT * FROM claimed c ORDER BY c.priority DESC, c.run_at ASC;
END;
$$;
