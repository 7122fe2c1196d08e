//! The args and defaults of `broadcast-batch` and `broadcast-progress`; how they run is
//! in [`crate::catalog::broadcast`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobSpec, Queue};

/// Recipients per `broadcast-batch` job: batch k sends to seq in `[k·BATCH, (k+1)·BATCH)`.
pub const BATCH: i32 = 50;

/// Batches of one broadcast in flight at once: batches 0…LANES-1 are enqueued when it
/// starts, and each batch k, once done, enqueues batch k + LANES. Four keep a bot's
/// budget busy (each waits for its slots between calls) without a backlog of batch jobs
/// that would only be snoozed by the budget, planned ahead and claimed again.
pub const LANES: i32 = 4;

/// Sends one batch of a broadcast, in the bulk lane, one recipient after another, each
/// send recorded before and after its call (a re-run sends only what is not recorded sent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastBatch {
    /// `broadcasts.id`.
    pub broadcast_id: Uuid,
    /// The batch's number, from 0.
    pub batch: i32,
}

impl JobSpec for BroadcastBatch {
    const KIND: &'static str = "broadcast-batch";
    const QUEUE: Queue = Queue::Bulk;
    const MAX_ATTEMPTS: i32 = 25;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.broadcast_id, self.batch))
    }
}

/// Edits the owner's progress message to the broadcast's tally, at most once per slot
/// of [`PROGRESS_EVERY_SECS`] (`slot` = unix time ÷ that), and once more at the end
/// (`slot` = `None`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastProgress {
    /// `broadcasts.id`.
    pub broadcast_id: Uuid,
    /// The time slot, or `None` for the final edit.
    pub slot: Option<i64>,
}

/// How often the progress message is edited at most while a broadcast is sent.
pub const PROGRESS_EVERY_SECS: i64 = 3;

impl JobSpec for BroadcastProgress {
    const KIND: &'static str = "broadcast-progress";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(match self.slot {
            Some(slot) => format!("{}:{slot}", self.broadcast_id),
            None => format!("{}:final", self.broadcast_id),
        })
    }
}
