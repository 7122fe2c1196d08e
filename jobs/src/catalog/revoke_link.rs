//! `revoke-link`: its owner joined, so the link has done its job: revoke it.

pub use crate::kinds::revoke_link::RevokeLink;
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store};

impl Job for RevokeLink {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(link) = store::links::get(&ctx.pool, self.link_id).await? else { return Ok(()) };
        let Some(chat) = store::chats::get(&ctx.pool, link.chat_id).await? else { return Ok(()) };
        let api = ctx.bot_api(chat.project_id).await?;
        crate::membership::removal::revoke(ctx, &api, &chat, &link, &self.reason).await
    }
}
