//! `send-manager-message`: sends one recorded message of the platform bot, once, in
//! the interactive lane, after any earlier one to the same creator. A creator who
//! blocked the bot (403) is not retried.

pub use crate::kinds::send_manager_message::SendManagerMessage;
use crate::queue::JobError;
use crate::runtime::{Job, JobContext};
use crate::store::manager_messages;

/// How long a message waits for an earlier one to the same creator before it looks again.
const ORDER_WAIT_MS: i64 = 200;

impl Job for SendManagerMessage {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(message) = manager_messages::get(&ctx.pool, self.message_id).await? else {
            return Err(JobError::Permanent(format!("manager message {} no longer exists", self.message_id)));
        };
        if message.state != "pending" {
            return Ok(());
        }
        // In order: a reply recorded earlier ("checking the token…") goes before a later
        // one ("connected") that another job recorded meanwhile.
        if manager_messages::earlier_pending(&ctx.pool, message.telegram_user_id, message.id).await? {
            // The queue's time, not Gatehouse's clock (which tests and the demo move).
            let now = chrono::Utc::now();
            let until = now.checked_add_signed(chrono::TimeDelta::milliseconds(ORDER_WAIT_MS)).unwrap_or(now);
            return Err(JobError::Snooze { until, reason: "an earlier message to this creator goes first".into() });
        }
        let api = ctx.manager_api()?;
        match api.send_message(message.telegram_user_id, &message.text, message.reply_markup.as_ref()).await {
            Ok(sent) => Ok(manager_messages::sent(&ctx.pool, message.id, sent.message_id).await?),
            Err(e) if e.is_unreachable_user() => {
                Ok(manager_messages::undeliverable(&ctx.pool, message.id, &e.to_string()).await?)
            }
            Err(e) => Err(e.into()),
        }
    }
}
