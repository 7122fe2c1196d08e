//! The args and defaults of Diagnostic jobs; how it runs is in
//! [`crate::catalog::diagnostics`].

use serde::{Deserialize, Serialize};

use crate::queue::{JobSpec, Queue};

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
