//! `unban-then-link`: lets an entitled user in — on admission, on `/links`, and from
//! the membership page, which enqueue this same job: `getChatMember` first (a user
//! already inside gets no link), then `unbanChatMember(only_if_banned=true)` (a no-op
//! unless Gatehouse's own removal left them banned), then, in a join-request chat,
//! their pending request approved; else their old links revoked and a fresh one sent.
//! A ban an administrator made by hand is never lifted: that user gets no link.
//! The work is [`crate::membership::links::hand_out`].

pub use crate::kinds::unban_then_link::UnbanThenLink;
use crate::queue::JobError;
use crate::runtime::{Job, JobContext};

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
