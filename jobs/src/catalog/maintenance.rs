//! Maintenance jobs run on the scheduler's ticks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runtime::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store,
};

/// Deletes finished jobs (done, killed, failed for good) older than the retention, and
/// the failed runs recorded before it.
/// apalis-postgres never deletes them, and its ack query slows down as they pile up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PruneFinishedJobs {
    /// The schedule tick this run belongs to (its idempotency key).
    pub tick: DateTime<Utc>,
}

impl crate::queue::Periodic for PruneFinishedJobs {
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

impl Job for PruneFinishedJobs {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let retention = chrono::Duration::from_std(ctx.config.worker.job_retention)
            .map_err(|e| JobError::Permanent(e.to_string()))?;
        let before = Utc::now() - retention;
        let pruned = store::queue::prune_finished(&ctx.pool, before).await?;
        store::operator::prune_failed_runs(&ctx.pool, before).await?;
        if pruned > 0 {
            tracing::info!(pruned, "pruned finished jobs");
        }
        metrics::counter!(crate::metrics::JOBS_PRUNED).increment(pruned);
        // The integrator API's request windows (a minute each) and Idempotency-Key
        // answers (replayed for 24 hours) are kept a little longer than they count.
        let now = ctx.clock.now();
        store::api_keys::prune_windows(&ctx.pool, now - chrono::Duration::hours(1)).await?;
        store::idempotent_requests::prune(&ctx.pool, now - chrono::Duration::hours(25)).await?;
        Ok(())
    }
}
