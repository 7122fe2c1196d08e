//! `unban-then-link`: lets an entitled user in — on admission, on `/links`, and from
//! the membership page, which enqueue this same job: `getChatMember` first (a user
//! already inside gets no link), then `unbanChatMember(only_if_banned=true)` (a no-op
//! unless Gatehouse's own removal left them banned), then, in a join-request chat,
//! their pending request approved; else their old links revoked and a fresh one sent.
//! A ban an administrator made by hand is never lifted: that user gets no link.
//! The work is [`crate::membership::links::hand_out`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::{JobError, JobSpec, Queue};
use crate::runtime::{Job, JobContext};

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
        let issue_key = match self.reason.as_str() {
            "" => format!("admit:{}:{}", grant.grant.id, chat.id),
            reason => format!("admit:{}:{}:{reason}", grant.grant.id, chat.id),
        };
        let result = crate::membership::links::hand_out(ctx, &grant, &chat, &issue_key).await;
        ctx.audit_failure(chat.project_id, Some(grant.telegram_user_id), Some(chat.id), result).await
    }
}
