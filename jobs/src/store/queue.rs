//! `apalis.jobs` and `apalis.workers`: writing a job (the statement behind
//! [`crate::queue::enqueue`]), and what apalis-postgres does not do itself: moving a
//! job's next run, pruning, rescuing, and the figures for metrics and tests.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};

/// A job row to write.
#[derive(Debug, Clone, Copy)]
pub struct NewJob<'a> {
    /// Its id (a ULID).
    pub id: &'a str,
    /// The queue (`job_type`).
    pub queue: &'a str,
    /// The stored envelope.
    pub body: &'a [u8],
    /// Runs allowed.
    pub max_attempts: i32,
    /// Not before; `None` = now, by the database's clock (the clock apalis claims by).
    pub run_at: Option<DateTime<Utc>>,
    /// The idempotency key, prefixed with the kind.
    pub idempotency_key: Option<&'a str>,
}

/// Writes a job row `Pending`, unless a row with the same queue and idempotency key
/// exists (in any state): `ON CONFLICT DO NOTHING`, so "already enqueued" never
/// poisons the caller's transaction. Returns the id when the row is new.
pub async fn insert(conn: &mut PgConnection, job: NewJob<'_>) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata, idempotency_key)
         VALUES ($1, $2, $3, 'Pending', 0, $4, COALESCE($5, now()), 0, ''::hstore, $6)
         ON CONFLICT (job_type, idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(job.id)
    .bind(job.queue)
    .bind(job.body)
    .bind(job.max_attempts)
    .bind(job.run_at)
    .bind(job.idempotency_key)
    .fetch_optional(conn)
    .await
}

/// Wakes the idle workers of `queue` (apalis-postgres listens on `apalis::job::insert`
/// and claims on any notification naming its queue). On a transaction, it is delivered
/// at commit. Debounced by [`crate::queue::wake`].
pub async fn wake_workers(conn: &mut PgConnection, queue: &str, job_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_notify('apalis::job::insert', json_build_object('job_type', $1::text, 'id', $2::text)::text)",
    )
    .bind(queue)
    .bind(job_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves a running job's next run to `at` without counting the run (rate limited, not
/// failed): `max_attempts` grows by one, and the snooze is counted in the row's
/// `metadata -> 'snoozes'` so the backoff can leave it out. The ack that follows keeps
/// `run_at` as set here, so the row is claimed again only at `at`.
pub async fn snooze(pool: &PgPool, job_id: &str, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE apalis.jobs
         SET run_at = $2, max_attempts = max_attempts + 1,
             metadata = COALESCE(metadata, ''::hstore)
                        || hstore('snoozes', (COALESCE((metadata -> 'snoozes')::int, 0) + 1)::text)
         WHERE id = $1",
    )
    .bind(job_id)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// A failed run's row, as the backoff needs it.
#[derive(Debug, Clone, Copy)]
pub struct FailedRun {
    /// Runs allowed (snoozes added).
    pub max_attempts: i32,
    /// Runs that were snoozes, not failures.
    pub snoozes: i32,
}

/// How many of a job's runs were snoozes (rate limited), not failures.
pub async fn snoozes(pool: &PgPool, job_id: &str) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT COALESCE((metadata -> 'snoozes')::int, 0) FROM apalis.jobs WHERE id = $1")
        .bind(job_id)
        .fetch_optional(pool)
        .await
        .map(Option::unwrap_or_default)
}

/// Moves a failed job's next run to `at` (its backoff); returns its allowed runs and
/// snoozes.
pub async fn reschedule_failed(pool: &PgPool, job_id: &str, at: DateTime<Utc>) -> Result<FailedRun, sqlx::Error> {
    let (max_attempts, snoozes): (i32, i32) = sqlx::query_as(
        "UPDATE apalis.jobs SET run_at = $2 WHERE id = $1
         RETURNING max_attempts, COALESCE((metadata -> 'snoozes')::int, 0)",
    )
    .bind(job_id)
    .bind(at)
    .fetch_one(pool)
    .await?;
    Ok(FailedRun { max_attempts, snoozes })
}

/// The rows a worker stream (`apalis.workers.id`) had claimed but not started when it
/// ended: their ids and stored bytes.
pub async fn claimed_not_started(pool: &PgPool, worker: &str) -> Result<Vec<(String, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, job FROM apalis.jobs WHERE lock_by = $1 AND status = 'Queued'")
        .bind(worker)
        .fetch_all(pool)
        .await
}

/// Gives a claimed, not started row back to the queue (its stream ended).
pub async fn release_claimed(pool: &PgPool, job_id: &str, worker: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL
         WHERE id = $1 AND lock_by = $2 AND status = 'Queued'",
    )
    .bind(job_id)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Ends a row that cannot be run (it does not decode) as Killed, with the reason.
pub async fn kill_unreadable(pool: &PgPool, job_id: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE apalis.jobs SET status = 'Killed', done_at = now(), lock_by = NULL,
                last_result = jsonb_build_object('Err', $2::text)
         WHERE id = $1 AND status IN ('Pending', 'Queued', 'Running', 'Failed')",
    )
    .bind(job_id)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes finished jobs older than `before`; returns how many.
pub async fn prune_finished(pool: &PgPool, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM apalis.jobs
         WHERE (status IN ('Done', 'Killed') OR (status = 'Failed' AND attempts >= max_attempts))
           AND COALESCE(done_at, run_at) < $1",
    )
    .bind(before)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Gives back the jobs held by workers that have not sent a heartbeat for
/// `silent_secs`, whatever their queue: apalis only rescues within a queue, and only
/// while a live worker of that queue is polling. A rescue counts as an attempt (as
/// apalis's own does), and a job out of attempts stays failed: a job that kills its
/// worker every time is not rescued forever. Returns how many were rescued.
pub async fn rescue_orphans(pool: &PgPool, silent_secs: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE apalis.jobs j
         SET status = CASE WHEN j.attempts + 1 >= j.max_attempts THEN 'Failed' ELSE 'Pending' END,
             attempts = j.attempts + 1, lock_by = NULL, lock_at = NULL, done_at = NULL,
             last_result = '{\"Err\": \"rescued: its worker stopped sending heartbeats\"}'::jsonb
         FROM apalis.workers w
         WHERE j.lock_by = w.id
           AND j.status IN ('Running', 'Queued')
           AND w.last_seen < now() - make_interval(secs => $1)",
    )
    .bind(silent_secs as f64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Marks these workers (`apalis.workers.id`) as alive now. apalis records a heartbeat
/// only when a worker polls for more work, which a worker still busy with a claimed batch
/// (jobs waiting for their bot's rate budget, say) may not do within the rescue time; a
/// live process vouches for its workers instead, so only a dead process's jobs are rescued.
pub async fn keep_alive(pool: &PgPool, workers: &[String]) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("UPDATE apalis.workers SET last_seen = now() WHERE id = ANY($1)")
        .bind(workers)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Jobs per queue and state, as exported in `gatehouse_queue_depth`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueDepth {
    /// Queue name.
    pub queue: String,
    /// `available` (due, unclaimed), `scheduled` (future run_at), `running` (claimed),
    /// `retrying` (failed, will run again), `done`, `failed` (killed or exhausted).
    pub state: String,
    /// Number of rows.
    pub jobs: i64,
}

/// Counts the unfinished and failed jobs per queue and state (the finished ones are
/// [`crate::store::operator::done_counts`]): an index-only read of
/// `gatehouse_jobs_open_idx`, whatever the history.
pub async fn depth(pool: &PgPool) -> Result<Vec<QueueDepth>, sqlx::Error> {
    sqlx::query_as(
        "SELECT job_type AS queue,
                CASE
                  WHEN status IN ('Queued', 'Running') THEN 'running'
                  WHEN status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts) THEN 'failed'
                  WHEN run_at > now() AND status = 'Failed' THEN 'retrying'
                  WHEN run_at > now() THEN 'scheduled'
                  ELSE 'available'
                END AS state,
                count(*) AS jobs
         FROM apalis.jobs
         WHERE status <> 'Done'
         GROUP BY 1, 2",
    )
    .fetch_all(pool)
    .await
}

/// Seconds the oldest due, unclaimed job of each queue has waited.
pub async fn oldest_available_age(pool: &PgPool) -> Result<Vec<(String, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT job_type, EXTRACT(EPOCH FROM now() - min(run_at))::float8
         FROM apalis.jobs
         WHERE run_at <= now()
           AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
         GROUP BY job_type",
    )
    .fetch_all(pool)
    .await
}

/// How many jobs are due or in progress (claimed, running): zero means nothing
/// is left to do now. Jobs scheduled for later are not counted.
pub async fn due_or_running(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs
         WHERE status IN ('Queued', 'Running')
            OR (run_at <= now() AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts)))",
    )
    .fetch_one(pool)
    .await
}

/// How many jobs are not finished, whenever they are due.
pub async fn unfinished(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM apalis.jobs j WHERE {}", still_to_run("j"))))
        .fetch_one(pool)
        .await
}

/// The condition that the `apalis.jobs` row aliased `job` is still to run: waiting,
/// claimed, running, or failed with attempts left.
pub(crate) fn still_to_run(job: &str) -> String {
    format!(
        "({job}.status IN ('Pending', 'Queued', 'Running') OR ({job}.status = 'Failed' AND {job}.attempts < {job}.max_attempts))"
    )
}

/// One job row, for tests and the CLI.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    /// ULID.
    pub id: String,
    /// Queue.
    pub job_type: String,
    /// Pending, Queued, Running, Done, Failed, Killed.
    pub status: String,
    /// Runs so far.
    pub attempts: i32,
    /// Allowed runs.
    pub max_attempts: i32,
    /// Next (or last) run time.
    pub run_at: DateTime<Utc>,
    /// The last result or error, as apalis recorded it.
    pub last_result: Option<serde_json::Value>,
    /// The idempotency key, prefixed with the kind.
    pub idempotency_key: Option<String>,
    /// The envelope kind.
    pub kind: Option<String>,
}

type ListedRow = (String, String, String, i32, i32, DateTime<Utc>, Option<serde_json::Value>, Option<String>, Vec<u8>);

/// Every job row, oldest first. The kind is read from the row's bytes here, not in SQL:
/// a row that is not UTF-8 or holds `\u0000` (which jsonb refuses) is listed too.
pub async fn list(pool: &PgPool) -> Result<Vec<JobRow>, sqlx::Error> {
    let rows: Vec<ListedRow> = sqlx::query_as(
        "SELECT id, job_type, status, attempts, max_attempts, run_at, last_result, idempotency_key, job
         FROM apalis.jobs ORDER BY id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, job_type, status, attempts, max_attempts, run_at, last_result, idempotency_key, job)| JobRow {
            id,
            job_type,
            status,
            attempts,
            max_attempts,
            run_at,
            last_result,
            idempotency_key,
            kind: kind_of(&job),
        })
        .collect())
}

/// The kind a stored row names, if it can be read (its args, however deep, are skipped
/// without recursion).
pub fn kind_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: String,
    }
    serde_json::from_slice::<Kind>(bytes).ok().map(|k| k.kind)
}

/// A job as a project sees it (`/v1/projects/{id}/jobs`): the project is the one
/// `gatehouse_job_project` (migration 20261201000101) reads from the job's args.
#[derive(Debug, Clone)]
pub struct ProjectJob {
    /// ULID.
    pub id: String,
    /// The queue.
    pub queue: String,
    /// The envelope kind, when the row is JSON.
    pub kind: Option<String>,
    /// `pending` (due or scheduled), `running`, `retrying` (failed, will run again),
    /// `done`, `failed` (killed, or out of attempts).
    pub state: String,
    /// Runs so far.
    pub attempts: i32,
    /// Runs allowed.
    pub max_attempts: i32,
    /// The next (or last) run.
    pub run_at: DateTime<Utc>,
    /// When it finished.
    pub done_at: Option<DateTime<Utc>>,
    /// The last error, as recorded.
    pub last_error: Option<String>,
}

/// A [`ProjectJob`] as read, its kind still in the row's bytes.
#[derive(sqlx::FromRow)]
struct ProjectJobRow {
    id: String,
    queue: String,
    job: Vec<u8>,
    state: String,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl From<ProjectJobRow> for ProjectJob {
    fn from(r: ProjectJobRow) -> Self {
        ProjectJob {
            kind: kind_of(&r.job),
            id: r.id,
            queue: r.queue,
            state: r.state,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            done_at: r.done_at,
            last_error: r.last_error,
        }
    }
}

/// The columns of a [`ProjectJobRow`] of `apalis.jobs j`.
const PROJECT_JOB: &str = "SELECT j.id, j.job_type AS queue, j.job,
        CASE
          WHEN j.status IN ('Queued', 'Running') THEN 'running'
          WHEN j.status = 'Done' THEN 'done'
          WHEN j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts) THEN 'failed'
          WHEN j.status = 'Failed' THEN 'retrying'
          ELSE 'pending'
        END AS state,
        j.attempts, j.max_attempts, j.run_at, j.done_at,
        COALESCE(j.last_result ->> 'Err', CASE WHEN j.status IN ('Failed', 'Killed') THEN j.last_result::text END) AS last_error
     FROM apalis.jobs j";

/// The project's job `job_id`, if it is one of the project's.
pub async fn of_project(
    db: impl PgExecutor<'_>,
    project_id: uuid::Uuid,
    job_id: &str,
) -> Result<Option<ProjectJob>, sqlx::Error> {
    let row: Option<ProjectJobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PROJECT_JOB} WHERE j.id = $1 AND gatehouse_job_project(j.job) = $2"
    )))
    .bind(job_id)
    .bind(project_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(ProjectJob::from))
}

/// The project's failed jobs (killed, or out of attempts), newest first, strictly
/// after the job id `after`, at most `limit`.
pub async fn failed_of_project(
    pool: &PgPool,
    project_id: uuid::Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ProjectJob>, sqlx::Error> {
    let rows: Vec<ProjectJobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{PROJECT_JOB}
         WHERE (j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
           AND ($2::text IS NULL OR j.id < $2)
           AND gatehouse_job_project(j.job) = $1
         ORDER BY j.id DESC
         LIMIT $3"
    )))
    .bind(project_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(ProjectJob::from).collect())
}

/// Gives a failed job of the project (killed, or out of attempts) a new run now, with
/// its attempts counted from zero (snoozes forgotten). Returns its id; `None` if it is
/// not a failed job of the project (the caller tells which with [`of_project`]).
pub async fn retry_failed(
    db: impl PgExecutor<'_>,
    project_id: uuid::Uuid,
    job_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE apalis.jobs j
         SET status = 'Pending', attempts = 0, run_at = now(), done_at = NULL, lock_by = NULL, lock_at = NULL,
             max_attempts = GREATEST(j.max_attempts - COALESCE((j.metadata -> 'snoozes')::int, 0), 1),
             metadata = COALESCE(j.metadata, ''::hstore) - 'snoozes'::text
         WHERE j.id = $1
           AND (j.status = 'Killed' OR (j.status = 'Failed' AND j.attempts >= j.max_attempts))
           AND gatehouse_job_project(j.job) = $2
         RETURNING j.id",
    )
    .bind(job_id)
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// Replaces every occurrence of `secret` in job `id`'s row by `[redacted]`: a job whose
/// input carried a secret (a bot token pasted to the platform bot) drops it once it has
/// consumed it, in the transaction that does so. `secret` is at least 20 characters, so
/// it cannot match the envelope's own structure.
pub async fn scrub_job(db: impl PgExecutor<'_>, id: &str, secret: &str) -> Result<(), sqlx::Error> {
    if secret.len() < 20 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE apalis.jobs SET job = convert_to(replace(convert_from(job, 'UTF8'), $2, '[redacted]'), 'UTF8')
         WHERE id = $1",
    )
    .bind(id)
    .bind(secret)
    .execute(db)
    .await?;
    Ok(())
}
