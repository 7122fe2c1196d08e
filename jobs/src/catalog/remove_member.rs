//! `remove-member`: removes one user from one chat because nothing entitles them
//! to be there (a join without entitlement, a sweep finding someone left behind).
//! Entitlement, the whitelist and administrator status are checked again when the
//! job runs: a payment that arrived meanwhile wins.
//!
//! Removal is a kick: `banChatMember` then `unbanChatMember(only_if_banned)`, so
//! the person can come back after paying. Administrators are never touched.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::membership::removal::remove;
use crate::runtime::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store::{self},
};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveMember {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// Who.
    pub telegram_user_id: i64,
    /// Why, for the audit trail.
    pub reason: String,
    /// What caused it (an update, a sweep tick): the idempotency key.
    pub cause: String,
}

impl JobSpec for RemoveMember {
    const KIND: &'static str = "remove-member";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.chat_id, self.telegram_user_id, self.cause))
    }
}

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
