-- The operator's view (the `gatehouse jobs` / `gatehouse bots` commands and `/console`):
-- what it reads that the queue does not keep, and the indexes that keep its queries fast
-- with a large history (1,000,000 finished jobs: `cargo bench --bench console`).
-- Forward-only: once applied anywhere, this file is never edited.

-- Every failed run of a job, with its time: apalis keeps only the last result. Written by
-- the worker when a run fails (retry, permanent, panic, undecodable row); pruned with the
-- finished jobs. `project_id` is the project the job acted for, resolved once when the
-- run failed (`gatehouse_job_project`), so a project's failed jobs are found by index.
CREATE TABLE job_errors (
    id          bigserial PRIMARY KEY,
    job_id      text NOT NULL,
    -- The run that failed, from 1.
    attempt     integer NOT NULL,
    kind        text NOT NULL,
    queue       text NOT NULL,
    project_id  uuid,
    error       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_errors_job_idx ON job_errors (job_id, id);
CREATE INDEX job_errors_project_idx ON job_errors (project_id, at DESC) WHERE project_id IS NOT NULL;
CREATE INDEX job_errors_at_idx ON job_errors (at);

-- The project a job acts for, from the ids its args carry (`refs`: the args' project_id,
-- grant_id, chat_id, link_id, message_id, event_id, request_id, telegram_bot_id and
-- bot_uuid, each only when it parsed as what it names). NULL for the jobs of no project
-- (maintenance, scans). One rule, one place: the worker calls it as a run fails.
CREATE FUNCTION gatehouse_job_project(refs jsonb) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (refs ->> 'project_id')::uuid,
        (SELECT project_id FROM grants WHERE id = (refs ->> 'grant_id')::uuid),
        (SELECT project_id FROM chats WHERE id = (refs ->> 'chat_id')::uuid),
        (SELECT project_id FROM invite_links WHERE id = (refs ->> 'link_id')::uuid),
        (SELECT project_id FROM outbound_messages WHERE id = (refs ->> 'message_id')::uuid),
        (SELECT project_id FROM payment_events WHERE id = (refs ->> 'event_id')::uuid),
        (SELECT project_id FROM checkout_requests WHERE id = (refs ->> 'request_id')::uuid),
        (SELECT project_id FROM bots WHERE id = (refs ->> 'bot_uuid')::uuid),
        (SELECT project_id FROM bots
          WHERE telegram_bot_id = (refs ->> 'telegram_bot_id')::bigint
          ORDER BY verified_at DESC NULLS LAST LIMIT 1)
    )
$$;

-- Runs ended per minute and queue: the console's throughput of the last hour, without
-- scanning the jobs table. The scheduler's leader recounts the latest minutes every few
-- seconds from `done_at` (an index range of a minute or two).
CREATE TABLE job_throughput (
    minute     timestamptz NOT NULL,
    queue      text NOT NULL,
    succeeded  integer NOT NULL DEFAULT 0,
    failed     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, queue)
);

-- 429 answers per bot and minute (what `gatehouse bots` and the console call "429s in
-- the last hour"); the metric `gatehouse_telegram_rate_limited_total` has no bot label.
CREATE TABLE telegram_rate_limit_hits (
    telegram_bot_id  bigint NOT NULL,
    minute           timestamptz NOT NULL,
    hits             integer NOT NULL DEFAULT 0,
    PRIMARY KEY (telegram_bot_id, minute)
);

-- An operator's retry, cancel, pause or resume is audited like an action on a member,
-- but a job of no project (maintenance) or a bot pause is not about one member of one
-- project: such entries have no project.
ALTER TABLE audit_log ALTER COLUMN project_id DROP NOT NULL;
-- The latest actions (console), and the lines a job wrote (`gatehouse jobs show`).
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_project_at_idx ON audit_log (project_id, at DESC);
CREATE INDEX audit_log_job_idx ON audit_log (job_id) WHERE job_id IS NOT NULL;

-- apalis.jobs: every unfinished or failed row, for depth by queue and state and the age of
-- the oldest (an index-only scan of the rows not Done, however long the history).
CREATE INDEX gatehouse_jobs_open_idx ON apalis.jobs (job_type, status, run_at, attempts, max_attempts)
    WHERE status <> 'Done';
-- The failed jobs (attempts left) and the dead ones (killed, or out of attempts), each newest
-- first: one index per state, in the order the console lists them, so a list of 50 reads 50
-- entries whatever the other state holds.
CREATE INDEX gatehouse_jobs_failed_idx ON apalis.jobs (done_at DESC NULLS LAST, id DESC)
    WHERE status = 'Failed' AND attempts < max_attempts;
CREATE INDEX gatehouse_jobs_dead_idx ON apalis.jobs (done_at DESC NULLS LAST, id DESC)
    WHERE (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts));
-- The waiting jobs, longest waiting first (pending: due; scheduled: due later).
CREATE INDEX gatehouse_jobs_waiting_idx ON apalis.jobs (run_at, id) WHERE status = 'Pending';
-- Runs ended in a time range (the throughput rollup).
CREATE INDEX gatehouse_jobs_done_at_idx ON apalis.jobs (done_at);
