//! Diagnostic jobs: `noop` (measures the queue itself) and `probe` (leaves a
//! countable side effect, so tests and operators can check that every job runs,
//! and runs once, without trusting logs).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::runtime::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store,
};

/// Does nothing. Used by the queue benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Noop {
    /// Makes each job distinct.
    pub n: u64,
}

impl JobSpec for Noop {
    const KIND: &'static str = "noop";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        None
    }
}

impl Job for Noop {
    async fn run(self, _ctx: &JobContext) -> Result<(), JobError> {
        Ok(())
    }
}

/// Records `started`, waits `sleep_ms`, records `finished` in `diagnostic_probe_runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    /// Identifies the probe (and is its idempotency key).
    pub key: String,
    /// How long the job takes, to test shutdown and rescue mid-job.
    #[serde(default)]
    pub sleep_ms: u64,
    /// Fail the first `fail_first` runs (after recording `started`), to exercise
    /// the queue's retry, snooze and give-up paths end to end.
    #[serde(default)]
    pub fail_first: u32,
    /// How those runs fail.
    #[serde(default)]
    pub failure: ProbeFailure,
}

/// How a probe run fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailure {
    /// A transient error: retried after a backoff.
    #[default]
    Transient,
    /// Rate limited for this many seconds: snoozed, not counted.
    RateLimited(u32),
    /// A permanent error: never retried.
    Permanent,
    /// A panic: the job is killed with the panic's message, the worker goes on.
    Panic,
    /// Snoozed for this many seconds on each of the first `fail_first` runs, then one
    /// transient failure: its backoff must count that one failure, not the snoozes.
    RateLimitedThenTransient(u32),
}

impl JobSpec for Probe {
    const KIND: &'static str = "probe";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.key.clone())
    }
}

impl Job for Probe {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        store::diagnostics::record_probe(&ctx.pool, &self.key, "started", &ctx.worker).await?;
        if self.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        }
        if let ProbeFailure::RateLimitedThenTransient(secs) = self.failure {
            if ctx.attempt <= self.fail_first {
                return Err(JobError::Snooze {
                    until: crate::clock::plus_secs(chrono::Utc::now(), secs.into())
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                    reason: format!("probe: rate limited for {secs} s as asked"),
                });
            }
            if ctx.attempt == self.fail_first + 1 {
                return Err(JobError::Retry("probe: transient failure after the snoozes, as asked".into()));
            }
        } else if ctx.attempt <= self.fail_first {
            return Err(match self.failure {
                ProbeFailure::Transient => JobError::Retry("probe: transient failure as asked".into()),
                ProbeFailure::RateLimited(secs) => JobError::Snooze {
                    until: crate::clock::plus_secs(chrono::Utc::now(), secs.into())
                        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                    reason: format!("probe: rate limited for {secs} s as asked"),
                },
                ProbeFailure::Permanent => JobError::Permanent("probe: permanent failure as asked".into()),
                ProbeFailure::Panic => panic!("probe: panicking as asked"),
                ProbeFailure::RateLimitedThenTransient(_) => unreachable!("handled above"),
            });
        }
        store::diagnostics::record_probe(&ctx.pool, &self.key, "finished", &ctx.worker).await?;
        Ok(())
    }
}
