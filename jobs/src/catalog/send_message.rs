//! `send-message`: sends one recorded outbound message, once, in the interactive lane
//! (replies, links, payment news). `send-notice` does the same in the bulk lane, for
//! messages nobody is waiting for (an "access ended" notice after an expiry): a mass
//! expiry's ten thousand notices then spend only the budget above the interactive
//! reserve. A user who blocked the bot (403) is marked unreachable and the message is
//! not retried.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::membership::messages::deliver;
use crate::queue::{JobError, JobSpec, Queue};
use crate::runtime::{Job, JobContext};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMessage {
    /// `outbound_messages.id`.
    pub message_id: Uuid,
}

impl JobSpec for SendMessage {
    const KIND: &'static str = "send-message";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.message_id.to_string())
    }
}

impl Job for SendMessage {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        deliver(ctx, self.message_id).await
    }
}

/// The args of `send-notice`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendNotice {
    /// `outbound_messages.id`.
    pub message_id: Uuid,
}

impl JobSpec for SendNotice {
    const KIND: &'static str = "send-notice";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.message_id.to_string())
    }
}

impl Job for SendNotice {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        deliver(ctx, self.message_id).await
    }
}
