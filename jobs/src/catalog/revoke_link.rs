//! `revoke-link`: its owner joined, so the link has done its job: revoke it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::runtime::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store,
};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeLink {
    /// `invite_links.id`.
    pub link_id: Uuid,
    /// Why, for the audit trail.
    pub reason: String,
}

impl JobSpec for RevokeLink {
    const KIND: &'static str = "revoke-link";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.link_id.to_string())
    }
}

impl Job for RevokeLink {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(link) = store::links::get(&ctx.pool, self.link_id).await? else { return Ok(()) };
        let Some(chat) = store::chats::get(&ctx.pool, link.chat_id).await? else { return Ok(()) };
        let api = ctx.bot_api(chat.project_id).await?;
        crate::membership::removal::revoke(ctx, &api, &chat, &link, &self.reason).await
    }
}
