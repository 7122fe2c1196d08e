//! `remove-member`: removes one user from one chat because nothing entitles them
//! to be there (a join without entitlement, a sweep finding someone left behind).
//! Entitlement, the whitelist and administrator status are checked again when the
//! job runs: a payment that arrived meanwhile wins.
//!
//! Removal is a kick, never a ban ([`crate::membership::removal`]): one
//! `unbanChatMember` for a member the record knows, else a read then ban and unban,
//! so the person can come back after paying. Administrators are never touched.

use serde_json::json;

pub use crate::kinds::remove_member::RemoveMember;
use crate::membership::removal::remove;
use crate::runtime::{Job, JobContext};
use crate::{
    queue::JobError,
    store::{self},
};

impl Job for RemoveMember {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(chat) = store::chats::get(&ctx.pool, self.chat_id).await? else {
            return Err(JobError::Permanent(format!("chat {} no longer exists", self.chat_id)));
        };
        let user = self.telegram_user_id;
        if store::grants::is_entitled(&ctx.pool, chat.id, user, ctx.now()).await? {
            return ctx
                .audit(chat.project_id, Some(user), Some(chat.id), "kept", "entitled when the removal ran", json!({}))
                .await;
        }
        let api = ctx.bot_api(chat.project_id).await?;
        let result = remove(ctx, &api, &chat, user, &self.reason).await.map(|_| ());
        ctx.audit_failure(chat.project_id, Some(user), Some(chat.id), result).await
    }
}
