//! `answer-join-request`: approves a join request when the user is entitled to the
//! chat (or whitelisted), declines it otherwise.

use serde_json::json;

pub use crate::kinds::answer_join_request::AnswerJoinRequest;
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store};

impl Job for AnswerJoinRequest {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let chat = store::chats::get(&ctx.pool, self.chat_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("chat {} no longer exists", self.chat_id)))?;
        let user = self.telegram_user_id;
        let approve = store::grants::is_entitled(&ctx.pool, chat.id, user, ctx.now()).await?
            || store::subscribers::is_whitelisted(&ctx.pool, chat.project_id, user).await?;
        let api = ctx.bot_api(chat.project_id).await?;
        match api.answer_join_request(chat.telegram_chat_id, user, approve).await {
            Ok(_) => {}
            // Already answered (a duplicate, or an administrator was quicker).
            Err(e)
                if e.description().is_some_and(|d| d.contains("hide_requester_missing") || d.contains("already")) => {}
            Err(e) => return ctx.audit_failure(chat.project_id, Some(user), Some(chat.id), Err(e.into())).await,
        }
        let (action, reason) =
            if approve { ("approved", "entitled to the chat") } else { ("declined", "no entitlement to the chat") };
        ctx.audit(chat.project_id, Some(user), Some(chat.id), action, reason, json!({})).await
    }
}
