-- apalis.get_jobs claims a worker's next batch. Its UPDATE joined the ids it had picked
-- (`WITH jobs AS (... LIMIT v_job_count FOR UPDATE SKIP LOCKED) UPDATE ... FROM jobs`),
-- and with the limit a parameter the planner expected thousands of ids, hashed them and
-- read the whole of apalis.jobs to find their rows: every claim cost a sequential scan
-- (growing with what the table holds). The same claim, with the picked ids as an array
-- the primary key finds one by one, reads only the rows it claims.
-- The planner takes the old plan when it has statistics showing many rows waiting (any
-- server whose autovacuum analyzed the table during a backlog): 23.5-24.9 ms per claim of 32
-- rows at 50,000 waiting, against 2.2-2.4 ms now (ops/bench/README.md).
-- Same signature, same rows picked, same writes; the rows come back in the order they
-- were picked (priority, then run_at). apalis's migrations run before these, so an
-- apalis-postgres upgrade that redefines get_jobs replaces this one: compare them then.
CREATE OR REPLACE FUNCTION apalis.get_jobs(
    worker_id TEXT,
    v_job_type TEXT,
    v_job_count INTEGER DEFAULT 5
)
RETURNS SETOF apalis.jobs
LANGUAGE sql
VOLATILE
AS $$
    WITH claimed AS (
        UPDATE apalis.jobs j
        SET
            status = 'Queued',
            lock_by = worker_id,
            lock_at = now()
        WHERE j.id = ANY (ARRAY(
            SELECT id
            FROM apalis.jobs
            WHERE
                (
                    status = 'Pending'
                    OR (
                        status = 'Failed'
                        AND attempts < max_attempts
                    )
                )
                AND run_at < now()
                AND job_type = v_job_type
            ORDER BY priority DESC, run_at ASC
            LIMIT v_job_count
            FOR UPDATE SKIP LOCKED
        ))
        RETURNING j.*
    )
    SELECT * FROM claimed ORDER BY priority DESC, run_at ASC;
$$;
