//! `expiry-scan`: every minute (leader-gated tick), finds entitlements whose end
//! has passed, marks them expired and enqueues one `kick-expired` per
//! (entitlement, end) in the same transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Job, JobContext, kick_expired::KickExpired};
use crate::{
    queue::{self, Enqueued, JobError, JobSpec, Queue, RunAt},
    store,
};

/// Grants handled per transaction.
const BATCH: i64 = 500;

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpiryScan {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl crate::queue::Periodic for ExpiryScan {
    /// Every minute: entitlements that ended are expired and their members removed.
    const SCHEDULE: &'static str = "0 * * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for ExpiryScan {
    const KIND: &'static str = "expiry-scan";
    const QUEUE: Queue = Queue::Lifecycle;
    const MAX_ATTEMPTS: i32 = 3;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}

impl Job for ExpiryScan {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let expired = expire_due(ctx).await?;
        if expired > 0 {
            tracing::info!(expired, "entitlements ended");
        }
        Ok(())
    }
}

/// Marks every ended entitlement expired and enqueues its kick; returns how many.
pub(crate) async fn expire_due(ctx: &JobContext) -> Result<usize, JobError> {
    let mut total = 0;
    loop {
        let due = store::grants::due_expiries(&ctx.pool, ctx.now(), BATCH).await?;
        if due.is_empty() {
            return Ok(total);
        }
        let mut tx = ctx.pool.begin().await?;
        for (grant_id, ends_at) in &due {
            if store::grants::expire(&mut *tx, *grant_id, *ends_at).await? {
                let job = KickExpired { grant_id: *grant_id, ends_at: *ends_at };
                if let Enqueued::New(_) = queue::enqueue(&mut tx, &job, RunAt::Now).await? {
                    total += 1;
                }
            }
        }
        tx.commit().await?;
        if (due.len() as i64) < BATCH {
            return Ok(total);
        }
    }
}
