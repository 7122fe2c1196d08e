-- apalis.jobs: each job's row is written four times (inserted, claimed, running, done) and
-- no update is HOT (the status is indexed), so every write adds an entry to each index
-- whose predicate the new row meets. Eleven indexes made a no-op job cost about thirty
-- index entries. Two were copies (apalis's first migration made `unique_job_id` beside
-- the primary key, and `lidx` beside its later `idx_apalis_jobs_lock_by`); two covered
-- every row where only some are ever looked up:
-- - `lock_by` is looked up for rows claimed or running (rescue, release, acks by id);
-- - `done_at` for runs that ended (the throughput rollup's time range).
-- Dropped and made partial; what each lookup reads is unchanged.
DROP INDEX IF EXISTS apalis.unique_job_id;
DROP INDEX IF EXISTS apalis.lidx;
DROP INDEX IF EXISTS apalis.idx_apalis_jobs_lock_by;
CREATE INDEX gatehouse_jobs_locked_idx ON apalis.jobs (lock_by) WHERE status IN ('Queued', 'Running');
DROP INDEX IF EXISTS apalis.gatehouse_jobs_done_at_idx;
CREATE INDEX gatehouse_jobs_done_at_idx ON apalis.jobs (done_at) WHERE done_at IS NOT NULL;
