//! `expiry-scan`: every minute (leader-gated tick), finds entitlements whose end
//! has passed, marks them expired and enqueues one `kick-expired` per
//! (entitlement, end) in the same transaction.

pub use crate::kinds::expiry_scan::ExpiryScan;
use crate::membership::expiry::expire_due;
use crate::queue::JobError;
use crate::runtime::{Job, JobContext};

impl Job for ExpiryScan {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let expired = expire_due(ctx).await?;
        if expired > 0 {
            tracing::info!(expired, "entitlements ended");
        }
        Ok(())
    }
}
