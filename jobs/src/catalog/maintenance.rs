//! Maintenance jobs run on the scheduler's ticks.

use chrono::Utc;

pub use crate::kinds::maintenance::PruneFinishedJobs;
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store};

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
