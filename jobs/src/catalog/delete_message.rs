//! `delete-message`: deletes a message a user sent to one of Gatehouse's bots (a bot
//! token pasted to the platform bot). Already gone counts as done.

pub use crate::kinds::delete_message::DeleteMessage;
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store, telegram::TgError};

impl Job for DeleteMessage {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let is_manager = ctx.config.manager_bot.as_ref().is_some_and(|m| m.telegram_bot_id == self.telegram_bot_id);
        let api = if is_manager {
            ctx.manager_api()?
        } else {
            let bot = store::bots::by_telegram_id(&ctx.pool, self.telegram_bot_id)
                .await?
                .ok_or_else(|| JobError::Permanent(format!("bot {} is not managed", self.telegram_bot_id)))?;
            ctx.open_bot(&bot)?
        };
        let params = serde_json::json!({"chat_id": self.chat_id, "message_id": self.message_id});
        match api.call::<bool>("deleteMessage", params).await {
            Ok(_) => Ok(()),
            // Deleted already (a re-run, or the user deleted it): nothing left to do.
            Err(TgError::Rejected { code: 400, ref description, .. }) if description.contains("not found") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
