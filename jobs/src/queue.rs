//! The durable queue: three priority queues in Postgres, run by apalis-postgres.
//!
//! Every queue holds [`Envelope`]s: a job's stable kind string and its JSON args.
//! Jobs are written with [`enqueue`], inside the caller's transaction, with
//! `ON CONFLICT DO NOTHING` on the idempotency key, so "already enqueued" is a
//! success and never poisons the caller's transaction (apalis's own bulk push
//! fails a whole batch on one duplicate). Idle workers are woken by [`wake`]: a
//! debounced notification per queue, not one per row.
//!
//! ## Job states (the rows in `apalis.jobs`)
//!
//! ```text
//!  enqueue ─▶ Pending ──claim──▶ Queued ─▶ Running ─┬─ ok ───────────────▶ Done
//!               ▲  ▲                                 ├─ Retry (transient) ─▶ Failed, run_at = now + backoff
//!               │  │                                 │      └─ re-claimed at run_at while attempts < max_attempts;
//!               │  │                                 │         at max_attempts it stays Failed (dead)
//!               │  └──────── Snooze (429) ───────────┤  run_at = retry_after, max_attempts + 1 (not counted)
//!               │                                    ├─ Permanent ─────────▶ Killed (never retried)
//!               │                                    ├─ undecodable row ───▶ Killed, with the decode error
//!               │                                    ├─ panic ─────────────▶ Killed, with the panic message
//!               │                                    └─ timeout ───────────▶ Failed, retried like Retry
//!               └──── rescue: worker silent for rescue_after (heartbeats) ── Running/Queued ─▶ Pending
//! ```
//! Long waits never sleep in a worker slot: the row's `run_at` moves and the slot is freed.
//! The retry backoff counts failed runs only: each snooze is counted in the row's
//! `metadata -> 'snoozes'` and left out of it.
//!
//! A worker claims rows as [`StoredJob`]s, which decode from any JSON whatever its
//! depth, so no row can end a worker's stream; [`StoredJob::decode`] then turns the
//! row into an [`Envelope`], and a row that does not decode fails as a job, with its
//! reason. [`enqueue`] refuses args nested deeper than [`MAX_ARGS_DEPTH`], so every
//! row it writes decodes.

use std::{fmt, time::Duration};

pub mod wake;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sqlx::PgConnection;

/// A priority queue. Interactive work is never stuck behind bulk work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    /// Replies to a user, links for a paying user, pre-checkout answers.
    Interactive,
    /// Kicks, revokes, unbans.
    Lifecycle,
    /// Counts, sweeps, reminders, notifications, maintenance.
    Bulk,
}

impl Queue {
    /// Every queue, highest priority first.
    pub const ALL: [Queue; 3] = [Queue::Interactive, Queue::Lifecycle, Queue::Bulk];

    /// The queue's name: `job_type` in `apalis.jobs`, and the `queue` metric label.
    pub const fn name(self) -> &'static str {
        match self {
            Queue::Interactive => "interactive",
            Queue::Lifecycle => "lifecycle",
            Queue::Bulk => "bulk",
        }
    }
}

impl fmt::Display for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a queue row carries: the job's kind and its args.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The job's stable kind string (never renamed once shipped).
    pub kind: String,
    /// The job's args, as its type serializes them.
    pub args: serde_json::Value,
}

/// How deeply a job's args may nest. serde_json decodes at most 128 levels, and the
/// envelope adds its own: args within this bound always decode in a worker.
pub const MAX_ARGS_DEPTH: usize = 100;

/// A queue row as a worker claims it: the stored JSON, not yet decoded. serde_json
/// reads a raw value without recursion, so this decodes from any valid JSON, however
/// deep: a bad row fails as a job instead of ending the worker's stream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredJob(Box<serde_json::value::RawValue>);

impl StoredJob {
    /// A stored row's bytes as a [`StoredJob`], or why they are not JSON.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("the job row cannot be decoded: {e}"))
    }

    /// The row's envelope, or why it cannot be read (a permanent failure).
    pub fn decode(&self) -> Result<Envelope, String> {
        serde_json::from_str(self.0.get()).map_err(|e| format!("the job row cannot be decoded: {e}"))
    }
}

/// How deeply `value` nests (a scalar is 1), counted without recursion.
pub fn json_depth(value: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match v {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Why a job could not be written.
#[derive(Debug, thiserror::Error)]
#[error("job args nest {depth} levels deep, more than the {MAX_ARGS_DEPTH} a worker can read")]
pub struct TooDeep {
    /// How deep they nest.
    pub depth: usize,
}

/// A job type: its args, and the defaults it is enqueued with.
pub trait JobSpec: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable kind string, e.g. `process-telegram-update`.
    const KIND: &'static str;
    /// The queue it runs in.
    const QUEUE: Queue;
    /// How many times it may run before it is given up (snoozes do not count).
    const MAX_ATTEMPTS: i32 = 12;
    /// How long one run may take before it is abandoned and retried.
    const TIMEOUT: Duration = Duration::from_secs(120);

    /// The key that makes enqueueing idempotent: a second enqueue of the same
    /// logical action is "already enqueued". `None` = every enqueue is a new job.
    fn idempotency_key(&self) -> Option<String>;
}

/// A job the scheduler enqueues on a schedule: its cron expression beside the job, and
/// how a tick becomes the job. Listed in the catalog (`catalog::schedules`), the
/// scheduler runs each under its leader, with one idempotency key per tick.
pub trait Periodic: JobSpec {
    /// Six cron fields, seconds first, in UTC.
    const SCHEDULE: &'static str;
    /// The job of the tick at `tick`: its idempotency key must carry the tick, so a tick
    /// enqueued twice (two leaders during a failover, a catch-up) is one job.
    fn at_tick(tick: DateTime<Utc>) -> Self;
}

/// When a job should run.
#[derive(Debug, Clone, Copy)]
pub enum RunAt {
    /// As soon as a worker is free.
    Now,
    /// Not before this time.
    At(DateTime<Utc>),
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job row, with its id.
    New(String),
    /// A job with the same idempotency key already exists (in any state).
    Duplicate,
}

/// Writes a job on `conn` (pass a transaction to write it atomically with the intent).
pub async fn enqueue<J: JobSpec>(conn: &mut PgConnection, job: &J, run_at: RunAt) -> Result<Enqueued, sqlx::Error> {
    let key = job.idempotency_key().map(|k| format!("{}:{}", J::KIND, k));
    let envelope = Envelope {
        kind: J::KIND.to_string(),
        args: serde_json::to_value(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?,
    };
    let depth = json_depth(&envelope.args);
    if depth > MAX_ARGS_DEPTH {
        return Err(sqlx::Error::Encode(Box::new(TooDeep { depth })));
    }
    let body = serde_json::to_vec(&envelope).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let (run_at, due) = match run_at {
        RunAt::Now => (None, true),
        RunAt::At(t) => (Some(t), t <= Utc::now()),
    };
    let id = ulid::Ulid::generate().to_string();
    let row = crate::store::queue::NewJob {
        id: &id,
        queue: J::QUEUE.name(),
        body: &body,
        max_attempts: J::MAX_ATTEMPTS,
        run_at,
        idempotency_key: key.as_deref(),
    };
    let inserted = crate::store::queue::insert(conn, row).await?;
    Ok(match inserted {
        Some(id) => {
            if due {
                wake::due_row_written(conn, J::QUEUE, &id).await?;
            }
            metrics::counter!(crate::metrics::JOBS_ENQUEUED, "kind" => J::KIND, "queue" => J::QUEUE.name())
                .increment(1);
            Enqueued::New(id)
        }
        None => {
            metrics::counter!(crate::metrics::JOBS_DUPLICATE, "kind" => J::KIND, "queue" => J::QUEUE.name())
                .increment(1);
            Enqueued::Duplicate
        }
    })
}

/// Why a job did not succeed, and what the queue should do about it.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A transient failure (network, 5xx, database): run again after a backoff.
    #[error("transient: {0}")]
    Retry(String),
    /// Not now, but not a failure either (rate limited): run again at this time,
    /// without counting the attempt.
    #[error("snoozed until {until}: {reason}")]
    Snooze {
        /// When to run again.
        until: DateTime<Utc>,
        /// Why (e.g. "429 retry_after=5").
        reason: String,
    },
    /// A failure that another try cannot fix (chat not found, bot removed, bad args).
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<sqlx::Error> for JobError {
    /// The database being away, a lost race or a constraint (a concurrent writer) may
    /// pass on another try; a value Postgres cannot store, a missing row, a decode
    /// error or a SQL mistake will not, and fail the job with the reason.
    fn from(e: sqlx::Error) -> Self {
        use crate::db::ErrorClass;
        match crate::db::classify(&e) {
            ErrorClass::Unavailable | ErrorClass::Contention | ErrorClass::Constraint => {
                JobError::Retry(format!("database: {e}"))
            }
            ErrorClass::Unstorable | ErrorClass::Other => JobError::Permanent(format!("database: {e}")),
        }
    }
}

/// The delay before retry number `failures` (1-based: the count of failed runs, snoozes
/// left out): exponential from 1 s, capped at 10 minutes, plus a random jitter of up to
/// the same again, so that a burst of failures spreads out instead of retrying in lockstep.
pub fn retry_delay(failures: u32) -> Duration {
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(600))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build();
    delays.nth(failures.saturating_sub(1) as usize).unwrap_or(Duration::from_secs(600))
}

/// A job that ran `attempts` times with this many allowed: is it dead now?
pub fn is_exhausted(attempts: i32, max_attempts: i32) -> bool {
    attempts >= max_attempts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        for attempt in 1..40 {
            let d = retry_delay(attempt);
            assert!(d <= Duration::from_secs(1200), "attempt {attempt}: {d:?}");
        }
        // Exponential: the 8th delay is at least 2^7 s before jitter is added.
        assert!(retry_delay(8) >= Duration::from_secs(128));
        assert!(retry_delay(1) >= Duration::from_secs(1));
    }

    #[test]
    fn a_stored_job_decodes_from_json_of_any_depth() {
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let stored: StoredJob = serde_json::from_str(&deep).expect("raw value of any depth");
        assert!(stored.decode().is_err(), "not an envelope");
        let ok: StoredJob = serde_json::from_str(r#"{"kind":"noop","args":{"n":1}}"#).unwrap();
        assert_eq!(ok.decode().unwrap().kind, "noop");
    }

    #[test]
    fn depth_is_counted_without_recursion() {
        assert_eq!(json_depth(&serde_json::json!(1)), 1);
        assert_eq!(json_depth(&serde_json::json!({"a": [1, {"b": 2}]})), 4);
        let mut v = serde_json::json!(0);
        for _ in 0..10_000 {
            v = serde_json::Value::Array(vec![v]);
        }
        assert_eq!(json_depth(&v), 10_001);
        // Dropping a value this deep recurses in serde_json: leak it in the test.
        std::mem::forget(v);
    }
}
