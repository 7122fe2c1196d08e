//! `send-message`: sends one recorded outbound message, once, in the interactive lane
//! (replies, links, payment news). `send-notice` does the same in the bulk lane, for
//! messages nobody is waiting for (an "access ended" notice after an expiry): a mass
//! expiry's ten thousand notices then spend only the budget above the interactive
//! reserve. A user who blocked the bot (403) is marked unreachable and the message is
//! not retried.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store::{messages, subscribers},
};

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

/// Sends a recorded message unless it was sent already (or cannot be). Replies call
/// it directly from the job that computed them, to save a queue hop; on failure they
/// leave the message to a `send-message` job.
pub(crate) async fn deliver(ctx: &JobContext, message_id: Uuid) -> Result<(), JobError> {
    let Some(message) = messages::get(&ctx.pool, message_id).await? else {
        return Err(JobError::Permanent(format!("message {message_id} no longer exists")));
    };
    if message.state != "pending" {
        return Ok(());
    }
    let api = ctx.bot_api(message.project_id).await?;
    match api.send_message(message.telegram_user_id, &message.text, message.reply_markup.as_ref()).await {
        Ok(sent) => {
            messages::sent(&ctx.pool, message.id, sent.message_id).await?;
            Ok(())
        }
        Err(e) if e.is_unreachable_user() => {
            messages::undeliverable(&ctx.pool, message.id, &e.to_string()).await?;
            subscribers::unreachable(&ctx.pool, message.project_id, message.telegram_user_id).await?;
            ctx.audit(
                message.project_id,
                Some(message.telegram_user_id),
                None,
                "unreachable",
                "the user blocked the bot or cannot be messaged: not retried",
                json!({"message_id": message.id, "error": e.to_string()}),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
