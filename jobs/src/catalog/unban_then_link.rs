//! `unban-then-link`: lets a previously removed user back in: first
//! `unbanChatMember(only_if_banned=true)` (a no-op unless Gatehouse's own removal
//! left them banned), then the personal link. A ban an administrator made by hand
//! is never lifted: that user gets no link. A user already inside gets no link.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::runtime::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store::{self, chats::Chat, grants::GrantView},
};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnbanThenLink {
    /// `grants.id`.
    pub grant_id: Uuid,
    /// `chats.id`.
    pub chat_id: Uuid,
    /// Empty for the admission itself; else why the link is asked for again (e.g.
    /// `links:<update>` for `/links`): a new key, and the link is sent again.
    #[serde(default)]
    pub reason: String,
}

impl JobSpec for UnbanThenLink {
    const KIND: &'static str = "unban-then-link";
    const QUEUE: Queue = Queue::Interactive;
    fn idempotency_key(&self) -> Option<String> {
        Some(match self.reason.as_str() {
            "" => format!("{}:{}", self.grant_id, self.chat_id),
            reason => format!("{}:{}:{reason}", self.grant_id, self.chat_id),
        })
    }
}

impl Job for UnbanThenLink {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some((grant, chat)) = crate::membership::links::load(ctx, self.grant_id, self.chat_id).await? else {
            return Ok(());
        };
        let result = admit(ctx, &grant, &chat, &self.reason).await;
        ctx.audit_failure(chat.project_id, Some(grant.telegram_user_id), Some(chat.id), result).await
    }
}

async fn admit(ctx: &JobContext, grant: &GrantView, chat: &Chat, reason: &str) -> Result<(), JobError> {
    let api = ctx.bot_api(chat.project_id).await?;
    let user = grant.telegram_user_id;
    let member = api.get_chat_member(chat.telegram_chat_id, user).await?;
    store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, ctx.now()).await?;
    if member.is_inside() {
        ctx.audit(
            chat.project_id,
            Some(user),
            Some(chat.id),
            "kept",
            "already in the chat: no link needed",
            json!({"grant_id": grant.grant.id}),
        )
        .await?;
        return Ok(());
    }
    if member.status == "kicked" && !store::audit::banned_by_gatehouse(&ctx.pool, chat.id, user).await? {
        ctx.audit(
            chat.project_id,
            Some(user),
            Some(chat.id),
            "not_admitted",
            "banned in the chat by an administrator: Gatehouse does not lift that ban",
            json!({"grant_id": grant.grant.id}),
        )
        .await?;
        return Ok(());
    }
    // Lifts a ban left by an earlier removal; a no-op for anyone not banned.
    api.unban(chat.telegram_chat_id, user, true).await?;
    if member.status == "kicked" {
        ctx.audit(
            chat.project_id,
            Some(user),
            Some(chat.id),
            "unbanned",
            "entitled again after a removal",
            json!({"grant_id": grant.grant.id}),
        )
        .await?;
    }
    let issue_key = match reason {
        "" => format!("admit:{}:{}", grant.grant.id, chat.id),
        reason => format!("admit:{}:{}:{reason}", grant.grant.id, chat.id),
    };
    crate::membership::links::issue_link(ctx, &api, chat, grant, &issue_key).await
}
