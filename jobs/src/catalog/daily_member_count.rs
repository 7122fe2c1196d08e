//! `count-members` (daily tick) fans out to one `daily-member-count` per managed
//! chat, which stores `getChatMemberCount` for the day.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::runtime::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store,
};

/// The daily tick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountMembers {
    /// The schedule tick.
    pub tick: DateTime<Utc>,
}

impl crate::queue::Periodic for CountMembers {
    /// Daily, shortly after midnight UTC.
    const SCHEDULE: &'static str = "0 5 0 * * *";
    fn at_tick(tick: DateTime<Utc>) -> Self {
        Self { tick }
    }
}

impl JobSpec for CountMembers {
    const KIND: &'static str = "count-members";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(self.tick.date_naive().to_string())
    }
}

impl Job for CountMembers {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let day = self.tick.date_naive();
        for chat in store::chats::all(&ctx.pool).await? {
            ctx.enqueue(&DailyMemberCount { chat_id: chat.id, day }).await?;
        }
        Ok(())
    }
}

/// One chat's count for one day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DailyMemberCount {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// The day counted (UTC).
    pub day: NaiveDate,
}

impl JobSpec for DailyMemberCount {
    const KIND: &'static str = "daily-member-count";
    const QUEUE: Queue = Queue::Bulk;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.chat_id, self.day))
    }
}

impl Job for DailyMemberCount {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(chat) = store::chats::get(&ctx.pool, self.chat_id).await? else { return Ok(()) };
        let api = ctx.bot_api(chat.project_id).await?;
        let members = api.get_chat_member_count(chat.telegram_chat_id).await?;
        store::chats::record_member_count(&ctx.pool, chat.id, self.day, members).await?;
        tracing::info!(chat = chat.telegram_chat_id, members, day = %self.day, "member count stored");
        Ok(())
    }
}
