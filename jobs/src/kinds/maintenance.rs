//! The args and defaults of Maintenance jobs run on the scheduler's ticks.; how it runs is in
//! [`crate::catalog::maintenance`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::queue::{JobSpec, Periodic, Queue};

/// Deletes finished jobs (done, killed, failed for good) older than the retention, and
/// the failed runs recorded before it.
/// apalis-postgres never deletes them, and its ack query slows down as they pile up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PruneFinishedJobs {
    /// The schedule tick this run belongs to (its idempotency key).
    pub tick: DateTime<Utc>,
}

impl Periodic for PruneFinishedJobs {
    /// Hourly, at a minute nothing else uses.
    const SCHEDULE: &'static str = "0 17 * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for PruneFinishedJobs {
    const KIND: &'static str = "prune-finished-jobs";
    const QUEUE: Queue = Queue::Bulk;
    const MAX_ATTEMPTS: i32 = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}
