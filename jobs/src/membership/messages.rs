//! Delivering recorded messages to members: once, and never to a user who cannot be reached.

use crate::runtime::JobContext;
use crate::{
    queue::JobError,
    store::{messages, subscribers},
};
use serde_json::json;
use uuid::Uuid;

/// Sends a recorded message unless it was sent already (or cannot be). Replies call
/// it directly from the job that computed them, to save a queue hop; on failure they
/// leave the message to a `send-message` job.
pub async fn deliver(ctx: &JobContext, message_id: Uuid) -> Result<(), JobError> {
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

/// Tells the project's owner `text`, once per `key` (the key says what and for which
/// period, e.g. `misuse:<chat>:<day>`): a repeated call finds the recorded message.
pub async fn tell_owner(ctx: &JobContext, project_id: Uuid, key: &str, text: &str) -> Result<(), JobError> {
    let Some(project) = crate::store::projects::get(&ctx.pool, project_id).await? else { return Ok(()) };
    let message_id = messages::put(&ctx.pool, project_id, project.owner_telegram_id, key, text, None).await?;
    ctx.enqueue(&crate::kinds::send_message::SendMessage { message_id }).await
}
