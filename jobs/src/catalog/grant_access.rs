//! `grant-access`: a new entitlement: one `unban-then-link` per chat of its plan.

use super::unban_then_link::UnbanThenLink;
pub use crate::kinds::grant_access::GrantAccess;
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store};

impl Job for GrantAccess {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(grant) = store::grants::get(&ctx.pool, self.grant_id, ctx.now()).await? else {
            return Err(JobError::Permanent(format!("grant {} no longer exists", self.grant_id)));
        };
        if !grant.entitled {
            tracing::info!(grant = %grant.grant.id, state = %grant.grant.state, "grant no longer entitles: no links");
            return Ok(());
        }
        for chat in store::chats::of_plan(&ctx.pool, grant.grant.plan_id).await? {
            ctx.enqueue(&UnbanThenLink { grant_id: grant.grant.id, chat_id: chat.id, reason: String::new() }).await?;
        }
        Ok(())
    }
}
