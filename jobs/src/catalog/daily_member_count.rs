//! `count-members` (daily tick) fans out to one `daily-member-count` per managed
//! chat, which stores `getChatMemberCount` for the day.

pub use crate::kinds::daily_member_count::{CountMembers, DailyMemberCount};
use crate::runtime::{Job, JobContext};
use crate::{queue::JobError, store};

impl Job for CountMembers {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let day = self.tick.date_naive();
        for chat in store::chats::all(&ctx.pool).await? {
            ctx.enqueue(&DailyMemberCount { chat_id: chat.id, day }).await?;
        }
        Ok(())
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
