//! `expiry-scan`: every minute (leader-gated tick), finds entitlements whose end
//! has passed, marks them expired and enqueues one `kick-expired` per
//! (entitlement, end) in the same transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::membership::expiry::expire_due;
use crate::queue::{JobError, JobSpec, Queue};
use crate::runtime::{Job, JobContext};

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
