//! `consistency-sweep` (scheduled) fans out to one `sweep-chat` per managed chat,
//! which reconciles what should be with what is:
//!
//! 1. missed expiries are processed (the same work as `expiry-scan`);
//! 2. known members whom nothing entitles any more are checked with getChatMember
//!    and removed if still inside (administrators and the whitelist excepted);
//! 3. open links of ended entitlements, and expired links, are revoked;
//! 4. when Telegram counts more members than Gatehouse knows, the gap is reported
//!    (`gatehouse_chat_unknown_members`): those people joined unseen.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::runtime::{Job, JobContext};
use crate::{
    metrics as m,
    queue::{JobError, JobSpec, Queue},
    store,
};

/// The scheduled tick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl crate::queue::Periodic for Sweep {
    /// Every 15 minutes: reconcile desired and observed membership.
    const SCHEDULE: &'static str = "30 */15 * * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for Sweep {
    const KIND: &'static str = "consistency-sweep";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.to_rfc3339())
    }
}

impl Job for Sweep {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        crate::membership::expiry::expire_due(ctx).await?;
        for chat in store::chats::all(&ctx.pool).await? {
            ctx.enqueue(&SweepChat { chat_id: chat.id, tick: self.tick }).await?;
        }
        Ok(())
    }
}

/// One chat's sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepChat {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// The sweep it belongs to.
    pub tick: DateTime<Utc>,
}

impl JobSpec for SweepChat {
    const KIND: &'static str = "sweep-chat";
    const QUEUE: Queue = Queue::Bulk;
    /// One getChatMember per known member, under the bot's budget: a large chat takes minutes.
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.chat_id, self.tick.to_rfc3339()))
    }
}

impl Job for SweepChat {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(chat) = store::chats::get(&ctx.pool, self.chat_id).await? else { return Ok(()) };
        if chat.status != "ready" {
            tracing::info!(chat = chat.telegram_chat_id, status = %chat.status, "sweep skipped: chat not ready");
            return Ok(());
        }
        let api = ctx.bot_api(chat.project_id).await?;
        let now = ctx.now();
        for user in store::memberships::unentitled_in(&ctx.pool, &chat, now).await? {
            crate::membership::removal::remove(ctx, &api, &chat, user, "no entitlement (consistency sweep)").await?;
        }
        let expired = store::links::expire_pending(&ctx.pool, chat.id, now).await?;
        if expired > 0 {
            tracing::warn!(chat = chat.telegram_chat_id, expired, "links whose creation never completed expired");
        }
        for link in store::links::stale_open(&ctx.pool, chat.id, now).await? {
            crate::membership::removal::revoke(
                ctx,
                &api,
                &chat,
                &link,
                "entitlement ended or link expired (consistency sweep)",
            )
            .await?;
        }
        let counted = api.get_chat_member_count(chat.telegram_chat_id).await?;
        let known = store::memberships::known_inside(&ctx.pool, chat.id).await?;
        let unknown = (counted - known).max(0);
        store::chats::set_unknown_members(&ctx.pool, chat.id, unknown as i32).await?;
        metrics::gauge!(m::CHAT_UNKNOWN_MEMBERS, "chat" => chat.telegram_chat_id.to_string()).set(unknown as f64);
        if unknown > 0 {
            tracing::warn!(chat = chat.telegram_chat_id, counted, known, "members Gatehouse has not seen join");
        }
        Ok(())
    }
}
