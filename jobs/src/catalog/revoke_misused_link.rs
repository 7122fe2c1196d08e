//! `revoke-misused-link`: someone joined with another person's link. The link is
//! revoked, the joiner removed (unless entitled on their own, whitelisted or an
//! administrator), and the owner gets a fresh link.

use serde_json::json;

use super::issue_invite::IssueInvite;
pub use crate::kinds::revoke_misused_link::RevokeMisusedLink;
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store};

impl Job for RevokeMisusedLink {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let link = store::links::get(&ctx.pool, self.link_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("link {} no longer exists", self.link_id)))?;
        let chat = store::chats::get(&ctx.pool, link.chat_id)
            .await?
            .ok_or_else(|| JobError::Permanent(format!("chat {} no longer exists", link.chat_id)))?;
        let api = ctx.bot_api(chat.project_id).await?;
        let reason = format!("used by {} instead of its owner {}", self.intruder, link.owner_telegram_user_id);
        crate::membership::removal::revoke(ctx, &api, &chat, &link, &reason).await?;

        if store::grants::is_entitled(&ctx.pool, chat.id, self.intruder, ctx.now()).await? {
            ctx.audit(
                chat.project_id,
                Some(self.intruder),
                Some(chat.id),
                "kept",
                "used another's link but is entitled",
                json!({"link_id": link.id}),
            )
            .await?;
        } else {
            let result =
                crate::membership::removal::remove(ctx, &api, &chat, self.intruder, "joined with someone else's link")
                    .await;
            ctx.audit_failure(chat.project_id, Some(self.intruder), Some(chat.id), result).await?;
        }
        if let Some(grant_id) = link.grant_id {
            ctx.enqueue(&IssueInvite { grant_id, chat_id: chat.id, reason: format!("replaces:{}", link.id) }).await?;
        }
        Ok(())
    }
}
