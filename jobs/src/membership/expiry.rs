//! Expiring what is due: grants whose end has passed are marked expired, each in the
//! transaction that enqueues its kick.

use crate::kinds::kick_expired::KickExpired;
use crate::runtime::JobContext;
use crate::{
    queue::{self, Enqueued, JobError, RunAt},
    store,
};

/// Grants handled per transaction.
const BATCH: i64 = 500;

/// Marks every ended entitlement expired and enqueues its kick; returns how many.
pub async fn expire_due(ctx: &JobContext) -> Result<usize, JobError> {
    let mut total = 0;
    loop {
        let due = store::grants::due_expiries(&ctx.pool, ctx.now(), BATCH).await?;
        if due.is_empty() {
            return Ok(total);
        }
        let mut tx = ctx.pool.begin().await?;
        for (grant_id, ends_at) in &due {
            if let Some(event) = store::grants::expire(&mut *tx, *grant_id, *ends_at).await? {
                ctx.event_on(&mut tx, event).await?;
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
