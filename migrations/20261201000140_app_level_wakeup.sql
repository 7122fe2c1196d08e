-- Workers are woken by the enqueueing side, debounced per queue (jobs/src/queue/wake.rs),
-- not by a NOTIFY per inserted row.
--
-- apalis-postgres's trigger `notify_workers` called pg_notify for every row inserted into
-- apalis.jobs. A transaction that has notified takes a lock that is database-wide while it
-- commits, so every enqueueing commit (one per webhook update) waited for the others:
-- measured with pgbench at concurrency 32, 8,579 single-row INSERTs/s without the trigger,
-- 2,963/s with it. apalis's listener (LISTEN apalis::job::insert) stays as it is; the
-- notifications it reads now come from `store::queue::wake_workers`, at most a leading and
-- a trailing one per queue and process every 20 ms, and the workers' poll is the fallback.
DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs;
DROP FUNCTION IF EXISTS apalis.notify_new_jobs();
