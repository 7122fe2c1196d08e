//! What an operator reads and does to the queue (`gatehouse jobs`, `/console`):
//! `apalis.jobs` by state, `job_errors` (every failed run) and `job_throughput` (runs
//! ended per minute). Every query here stays under 50 ms with 1,000,000 finished jobs
//! and 10,000 waiting ones (`cargo bench --bench console`, indexes of migration
//! `20261201000070`).
//!
//! The states an operator sees, from a row's `status`, `run_at` and attempts:
//!
//! | state | rows |
//! |---|---|
//! | `pending` | `Pending`, due |
//! | `scheduled` | `Pending`, due later (snoozed, planned) |
//! | `running` | `Queued` (claimed) or `Running` |
//! | `failed` | `Failed` with attempts left: it runs again after its backoff |
//! | `dead` | `Killed`, or `Failed` with no attempts left: it never runs again by itself |
//! | `done` | `Done` |

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// A state as the operator sees it (the table above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Due, waiting for a worker.
    Pending,
    /// Due later.
    Scheduled,
    /// Claimed or running.
    Running,
    /// Failed, with attempts left.
    Failed,
    /// Killed, or out of attempts.
    Dead,
    /// Succeeded.
    Done,
}

impl State {
    /// Every state, in the order a queue's life goes.
    pub const ALL: [State; 6] =
        [State::Pending, State::Scheduled, State::Running, State::Failed, State::Dead, State::Done];

    /// Its name (CLI arguments, JSON, the console).
    pub const fn name(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Scheduled => "scheduled",
            State::Running => "running",
            State::Failed => "failed",
            State::Dead => "dead",
            State::Done => "done",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The rows of this state, as a condition on `apalis.jobs` (each matches an index).
    const fn condition(self) -> &'static str {
        match self {
            State::Pending => "status = 'Pending' AND run_at <= now()",
            State::Scheduled => "status = 'Pending' AND run_at > now()",
            State::Running => "status IN ('Queued', 'Running')",
            State::Failed => "status = 'Failed' AND attempts < max_attempts",
            State::Dead => "(status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))",
            State::Done => "status = 'Done'",
        }
    }

    /// The order a list of this state is read in: the most urgent first.
    const fn order(self) -> &'static str {
        match self {
            State::Failed | State::Dead => "done_at DESC NULLS LAST, id DESC",
            State::Pending | State::Scheduled => "run_at, id",
            State::Running | State::Done => "id DESC",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The state of a row, in SQL (the one definition of the table above).
const STATE_OF_ROW: &str = "CASE
      WHEN status = 'Done' THEN 'done'
      WHEN status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts) THEN 'dead'
      WHEN status = 'Failed' THEN 'failed'
      WHEN status IN ('Queued', 'Running') THEN 'running'
      WHEN run_at > now() THEN 'scheduled'
      ELSE 'pending'
    END";

/// Jobs of one queue in one state.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct StateCount {
    /// The queue.
    pub queue: String,
    /// The state's name.
    pub state: String,
    /// How many.
    pub jobs: i64,
    /// The earliest `run_at` among them: for waiting jobs, since when the oldest waits.
    pub oldest_run_at: Option<DateTime<Utc>>,
}

/// Jobs per queue and state, finished ones left out (the console and `jobs stats`
/// count finished work with [`throughput`]).
pub async fn open_counts(db: impl PgExecutor<'_>) -> Result<Vec<StateCount>, sqlx::Error> {
    let sql = format!(
        "SELECT job_type AS queue, {STATE_OF_ROW} AS state, count(*) AS jobs, min(run_at) AS oldest_run_at
         FROM apalis.jobs WHERE status <> 'Done'
         GROUP BY 1, 2 ORDER BY 1, 2"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(db).await
}

/// Finished jobs per queue (`jobs stats`; a count over the whole history, slower than
/// the console's queries).
pub async fn done_counts(db: impl PgExecutor<'_>) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT job_type, count(*) FROM apalis.jobs WHERE status = 'Done' GROUP BY 1 ORDER BY 1")
        .fetch_all(db)
        .await
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    /// Only this state.
    pub state: Option<State>,
    /// Only this kind.
    pub kind: Option<&'a str>,
    /// Only jobs of this project (known for the jobs that have failed at least once: those
    /// of its latest 5,000 failed runs).
    pub project: Option<Uuid>,
    /// Only these ids.
    pub ids: Option<&'a [String]>,
}

/// How many bytes of a row [`list`] reads: enough for the kind, which the envelope
/// writes first (`{"kind":"…","args":…}`), never the whole of a large update.
pub const HEAD_BYTES: i32 = 256;

/// One job in a list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobSummary {
    /// ULID.
    pub id: String,
    /// Queue.
    pub queue: String,
    /// `apalis.jobs.status`.
    pub status: String,
    /// Its [`State`]'s name.
    pub state: String,
    /// Runs so far.
    pub attempts: i32,
    /// Runs allowed.
    pub max_attempts: i32,
    /// Next (or last) run.
    pub run_at: DateTime<Utc>,
    /// When its last run ended.
    pub done_at: Option<DateTime<Utc>>,
    /// The last error, when the last run failed.
    pub last_error: Option<String>,
    /// The first [`HEAD_BYTES`] of the row.
    pub head: Vec<u8>,
}

/// The condition and the arguments of a [`Filter`]; `$1` is the kind's prefix, `$2` the
/// project, `$3` the ids (all always bound, NULL when not asked for).
fn filter_sql(filter: &Filter<'_>) -> String {
    let mut conditions = vec![filter.state.map_or("true", State::condition)];
    if filter.kind.is_some() {
        conditions.push("substring(job from 1 for octet_length($1::bytea)) = $1::bytea");
    }
    if filter.project.is_some() {
        // The project's jobs among its latest failed runs: a short list of ids, looked up
        // by the primary key, instead of a scan of every failed job of every project.
        conditions.push(
            "id = ANY(ARRAY(SELECT job_id FROM job_errors WHERE project_id = $2::uuid ORDER BY at DESC LIMIT 5000))",
        );
    }
    if filter.ids.is_some() {
        conditions.push("id = ANY($3::text[])");
    }
    conditions.join(" AND ")
}

/// The bytes a row of `kind` starts with (the envelope writes its kind first).
fn kind_prefix(kind: &str) -> Vec<u8> {
    let quoted = serde_json::to_string(kind).unwrap_or_default();
    format!("{{\"kind\":{quoted},").into_bytes()
}

/// The jobs matching `filter`, the most urgent first for a state (failed and dead:
/// newest failure first; waiting: longest waiting first), else newest first; at most `limit`.
pub async fn list(db: impl PgExecutor<'_>, filter: &Filter<'_>, limit: i64) -> Result<Vec<JobSummary>, sqlx::Error> {
    let order = filter.state.map_or("id DESC", State::order);
    let sql = format!(
        "SELECT id, job_type AS queue, status, {STATE_OF_ROW} AS state, attempts, max_attempts, run_at, done_at,
                CASE WHEN status IN ('Failed', 'Killed') THEN last_result ->> 'Err' END AS last_error,
                substring(job from 1 for {HEAD_BYTES}) AS head
         FROM apalis.jobs
         WHERE {}
         ORDER BY {order}
         LIMIT $4",
        filter_sql(filter)
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(filter.kind.map(kind_prefix))
        .bind(filter.project)
        .bind(filter.ids)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// One job, all of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    /// ULID.
    pub id: String,
    /// Queue.
    pub queue: String,
    /// `apalis.jobs.status`.
    pub status: String,
    /// Its [`State`]'s name.
    pub state: String,
    /// Runs so far.
    pub attempts: i32,
    /// Runs allowed.
    pub max_attempts: i32,
    /// Runs that were snoozes (rate limits), not failures.
    pub snoozes: i32,
    /// Next (or last) run.
    pub run_at: DateTime<Utc>,
    /// When its last run ended.
    pub done_at: Option<DateTime<Utc>>,
    /// The worker holding it.
    pub lock_by: Option<String>,
    /// The last result, as apalis recorded it.
    pub last_result: Option<serde_json::Value>,
    /// The idempotency key.
    pub idempotency_key: Option<String>,
    /// The stored envelope.
    pub job: Vec<u8>,
}

/// A job by id.
pub async fn get(db: impl PgExecutor<'_>, job_id: &str) -> Result<Option<JobRecord>, sqlx::Error> {
    let sql = format!(
        "SELECT id, job_type AS queue, status, {STATE_OF_ROW} AS state, attempts, max_attempts,
                COALESCE((metadata -> 'snoozes')::int, 0) AS snoozes, run_at, done_at, lock_by, last_result,
                idempotency_key, job
         FROM apalis.jobs WHERE id = $1"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(job_id).fetch_optional(db).await
}

/// A job an operator acted on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Touched {
    /// ULID.
    pub id: String,
    /// Queue.
    pub queue: String,
    /// The first [`HEAD_BYTES`] of the row (its kind).
    pub head: Vec<u8>,
}

/// Gives failed and dead jobs matching `filter` another run now (at most `limit`): the
/// runs so far are kept, and a job out of attempts gets one more. Returns the jobs.
pub async fn retry(conn: &mut PgConnection, filter: &Filter<'_>, limit: i64) -> Result<Vec<Touched>, sqlx::Error> {
    let sql = format!(
        "UPDATE apalis.jobs SET status = 'Pending', run_at = now(), done_at = NULL, lock_by = NULL, lock_at = NULL,
                max_attempts = greatest(max_attempts, attempts + 1)
         WHERE id IN (SELECT id FROM apalis.jobs
                      WHERE status IN ('Failed', 'Killed') AND {}
                      ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING id, job_type AS queue, substring(job from 1 for {HEAD_BYTES}) AS head",
        filter_sql(filter)
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(filter.kind.map(kind_prefix))
        .bind(filter.project)
        .bind(filter.ids)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The reason a cancelled job carries.
pub const CANCELLED: &str = "cancelled by an operator";

/// Ends jobs that wait (pending, scheduled, or failed with a retry to come) as Killed,
/// with [`CANCELLED`] as their last error. A claimed or running job is left alone: its
/// worker holds it. Returns the jobs cancelled.
pub async fn cancel(conn: &mut PgConnection, filter: &Filter<'_>, limit: i64) -> Result<Vec<Touched>, sqlx::Error> {
    let sql = format!(
        "UPDATE apalis.jobs SET status = 'Killed', done_at = now(), lock_by = NULL, lock_at = NULL,
                last_result = jsonb_build_object('Err', '{CANCELLED}'::text)
         WHERE id IN (SELECT id FROM apalis.jobs
                      WHERE status IN ('Pending', 'Failed') AND {}
                      ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING id, job_type AS queue, substring(job from 1 for {HEAD_BYTES}) AS head",
        filter_sql(filter)
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(filter.kind.map(kind_prefix))
        .bind(filter.project)
        .bind(filter.ids)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// A failed run to record.
#[derive(Debug, Clone)]
pub struct FailedRun<'a> {
    /// The job.
    pub job_id: &'a str,
    /// The run, from 1.
    pub attempt: i32,
    /// Its kind.
    pub kind: &'a str,
    /// Its queue.
    pub queue: &'a str,
    /// Its args, from which `gatehouse_job_project` (migration 20261201000101) tells
    /// the project it acts for.
    pub args: serde_json::Value,
    /// Why it failed.
    pub error: &'a str,
}

/// Records a failed run, with the project its job acts for.
pub async fn record_failed_run(db: impl PgExecutor<'_>, run: &FailedRun<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO job_errors (job_id, attempt, kind, queue, project_id, error)
         VALUES ($1, $2, $3, $4, gatehouse_job_project($5), $6)",
    )
    .bind(run.job_id)
    .bind(run.attempt)
    .bind(run.kind)
    .bind(run.queue)
    .bind(&run.args)
    .bind(run.error)
    .execute(db)
    .await?;
    Ok(())
}

/// One failed run.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FailedRunRow {
    /// The run, from 1.
    pub attempt: i32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// Why.
    pub error: String,
}

/// Every failed run of a job, oldest first.
pub async fn failed_runs(db: impl PgExecutor<'_>, job_id: &str) -> Result<Vec<FailedRunRow>, sqlx::Error> {
    sqlx::query_as("SELECT attempt, at, error FROM job_errors WHERE job_id = $1 ORDER BY id")
        .bind(job_id)
        .fetch_all(db)
        .await
}

/// The project a job acts for, if one of its runs failed (that is when it is resolved).
pub async fn project_of(db: impl PgExecutor<'_>, job_id: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT project_id FROM job_errors WHERE job_id = $1 AND project_id IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(job_id)
    .fetch_optional(db)
    .await
}

/// Deletes failed runs recorded before `before` (with the finished jobs' retention).
pub async fn prune_failed_runs(db: impl PgExecutor<'_>, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM job_errors WHERE at < $1").bind(before).execute(db).await?;
    Ok(done.rows_affected())
}

/// Recounts the runs ended in the latest minutes (from the last minute counted, at most
/// an hour back) into `job_throughput`, and drops minutes older than a day.
pub async fn roll_up_throughput(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH since AS (
            SELECT greatest(COALESCE(max(minute), '-infinity'), date_trunc('minute', now() - interval '1 hour')) AS t
            FROM job_throughput
         )
         INSERT INTO job_throughput (minute, queue, succeeded, failed)
         SELECT date_trunc('minute', j.done_at), j.job_type,
                count(*) FILTER (WHERE j.status = 'Done'),
                count(*) FILTER (WHERE j.status IN ('Failed', 'Killed'))
         FROM apalis.jobs j, since
         WHERE j.done_at >= since.t AND j.done_at <= now()
         GROUP BY 1, 2
         ON CONFLICT (minute, queue) DO UPDATE SET succeeded = EXCLUDED.succeeded, failed = EXCLUDED.failed",
    )
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM job_throughput WHERE minute < now() - interval '1 day'").execute(pool).await?;
    Ok(())
}

/// Runs ended in one minute of one queue.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Throughput {
    /// The minute.
    pub minute: DateTime<Utc>,
    /// The queue.
    pub queue: String,
    /// Runs that succeeded.
    pub succeeded: i32,
    /// Runs that failed.
    pub failed: i32,
}

/// The rolled-up minutes since `since`, oldest first.
pub async fn throughput(db: impl PgExecutor<'_>, since: DateTime<Utc>) -> Result<Vec<Throughput>, sqlx::Error> {
    sqlx::query_as(
        "SELECT minute, queue, succeeded, failed FROM job_throughput WHERE minute >= $1 ORDER BY minute, queue",
    )
    .bind(since)
    .fetch_all(db)
    .await
}

/// A bot as the operator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BotState {
    /// Its project.
    pub project_id: Uuid,
    /// The project's name.
    pub project_name: String,
    /// Telegram's id of the bot.
    pub telegram_bot_id: i64,
    /// Its @username.
    pub username: Option<String>,
    /// `connecting`, `connected`, `failed`.
    pub status: String,
    /// Calls it made in the last second (its budget's recent slots).
    pub calls_last_second: i32,
    /// Its own calls-per-second limit, if it has one.
    pub own_limit: Option<i32>,
    /// 429 answers in the last hour.
    pub rate_limited_last_hour: i64,
    /// Paused until then (a 429's retry_after, or an operator's pause).
    pub paused_until: Option<DateTime<Utc>>,
}

/// Every bot (of one project, or all), by project name.
pub async fn bots(db: impl PgExecutor<'_>, project: Option<Uuid>) -> Result<Vec<BotState>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.project_id, p.name AS project_name, b.telegram_bot_id, b.username, b.status,
                COALESCE((SELECT count(*)::int FROM unnest(r.recent_slots) s
                          WHERE s > clock_timestamp() - interval '1 second' AND s <= clock_timestamp()), 0)
                    AS calls_last_second,
                l.calls_per_second AS own_limit,
                COALESCE((SELECT sum(h.hits) FROM telegram_rate_limit_hits h
                          WHERE h.telegram_bot_id = b.telegram_bot_id AND h.minute > now() - interval '1 hour'), 0)::bigint
                    AS rate_limited_last_hour,
                CASE WHEN r.paused_until > now() THEN r.paused_until END AS paused_until
         FROM bots b
         JOIN projects p ON p.id = b.project_id
         LEFT JOIN rate_budgets r ON r.telegram_bot_id = b.telegram_bot_id AND r.telegram_chat_id = 0
         LEFT JOIN bot_rate_limits l ON l.telegram_bot_id = b.telegram_bot_id
         WHERE $1::uuid IS NULL OR b.project_id = $1
         ORDER BY p.name, b.telegram_bot_id",
    )
    .bind(project)
    .fetch_all(db)
    .await
}
