//! `broadcast-batch` sends one batch of an owner's broadcast in the bulk lane;
//! `broadcast-progress` edits the owner's progress message. Both are in
//! [`crate::conversation::broadcast`].

use crate::conversation::broadcast;
pub use crate::kinds::broadcast::{BroadcastBatch, BroadcastProgress};
use crate::queue::JobError;
use crate::runtime::{Job, JobContext};

impl Job for BroadcastBatch {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        broadcast::send_batch(ctx, self.broadcast_id, self.batch).await
    }
}

impl Job for BroadcastProgress {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        broadcast::show_progress(ctx, self.broadcast_id).await
    }
}
