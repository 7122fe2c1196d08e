//! `issue-invite`: a personal invite link for one grant and chat (`member_limit=1`,
//! a short `expire_date`, a `name` identifying the grant), sent to its owner.
//! Used for renewals and replacements; like `unban-then-link` it goes through
//! [`crate::membership::links::hand_out`]: nothing for someone inside, never a link
//! that may be spent.

pub use crate::kinds::issue_invite::IssueInvite;
use crate::membership::links::{hand_out, load};
use crate::queue::JobError;
use crate::runtime::{Job, JobContext};

impl Job for IssueInvite {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some((grant, chat)) = load(ctx, self.grant_id, self.chat_id).await? else { return Ok(()) };
        let key = format!("invite:{}:{}:{}", self.grant_id, self.chat_id, self.reason);
        let result = hand_out(ctx, &grant, &chat, &key).await;
        ctx.audit_failure(chat.project_id, Some(grant.telegram_user_id), Some(chat.id), result).await
    }
}
