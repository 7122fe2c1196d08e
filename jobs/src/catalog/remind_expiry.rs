//! `reminder-scan` (every 10 minutes) finds entitlements that end within one of the
//! project's reminder offsets (default 3 and 1 days) and enqueues `remind-expiry`
//! per (grant, end, offset); `remind-expiry` sends the reminder with a renewal deep
//! link, once, from the bulk queue (it sends itself rather than through the
//! interactive `send-message`).

use super::send_message::SendMessage;
pub use crate::kinds::remind_expiry::{RemindExpiry, ReminderScan};
use crate::runtime::{Job, JobContext};
use crate::{
    payments,
    queue::JobError,
    store,
    texts::{self, Lang},
};

/// Reminders enqueued per scan at most (the next scan takes the rest).
const BATCH: i64 = 5_000;

impl Job for ReminderScan {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let due = store::grants::due_reminders(&ctx.pool, ctx.now(), BATCH).await?;
        for (grant_id, ends_at, days_before) in due {
            ctx.enqueue(&RemindExpiry { grant_id, ends_at, days_before }).await?;
        }
        Ok(())
    }
}

impl Job for RemindExpiry {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(grant) = store::grants::get(&ctx.pool, self.grant_id, ctx.now()).await? else {
            return Ok(());
        };
        if !grant.entitled || grant.grant.ends_at != Some(self.ends_at) {
            return Ok(()); // ended, renewed or moved since the scan
        }
        let terms = store::projects::get(&ctx.pool, grant.grant.project_id).await?;
        let link = payments::renewal_link(terms.as_ref().and_then(|t| t.bot_username.as_deref()), grant.grant.plan_id);
        let lang = Lang::from_code(grant.language_code.as_deref());
        let text = texts::access_ends_soon(lang, &grant.plan_name, self.ends_at, link.as_deref());
        let key = store::grants::reminder_key(grant.grant.id, self.ends_at, self.days_before);
        let message_id =
            store::messages::put(&ctx.pool, grant.grant.project_id, grant.telegram_user_id, &key, &text, None).await?;
        // Sent from here, in the bulk queue: a reminder never delays interactive work.
        SendMessage { message_id }.run(ctx).await
    }
}
