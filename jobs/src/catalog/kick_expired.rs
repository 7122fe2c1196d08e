//! `kick-expired`: an entitlement ended: remove its subscriber from every chat of
//! its plan (a kick, so they can come back after paying: one call for a member the
//! record knows, none for one observed outside since the end, see
//! [`crate::membership::removal`]) unless still entitled, an administrator or
//! whitelisted; revoke
//! their open links; tell them how to renew (a `send-notice` in the bulk lane).

use serde_json::json;

use super::send_message::SendNotice;
pub use crate::kinds::kick_expired::KickExpired;
use crate::runtime::{Job, JobContext};
use crate::{
    queue::JobError,
    store,
    texts::{self, Lang},
};

impl Job for KickExpired {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let grant = store::grants::get(&ctx.pool, self.grant_id, ctx.now())
            .await?
            .ok_or_else(|| JobError::Permanent(format!("grant {} no longer exists", self.grant_id)))?;
        if grant.entitled {
            tracing::info!(grant = %grant.grant.id, "entitled again (renewed): nobody removed");
            return Ok(());
        }
        let api = ctx.bot_api(grant.grant.project_id).await?;
        let user = grant.telegram_user_id;
        let reason = format!("access ended ({})", grant.grant.state);
        for chat in store::chats::of_plan(&ctx.pool, grant.grant.plan_id).await? {
            crate::membership::removal::revoke_open_links(ctx, &api, &chat, user, &reason).await?;
            if store::grants::is_entitled(&ctx.pool, chat.id, user, ctx.now()).await? {
                ctx.audit(
                    grant.grant.project_id,
                    Some(user),
                    Some(chat.id),
                    "kept",
                    "still entitled by another grant",
                    json!({"grant_id": grant.grant.id}),
                )
                .await?;
                continue;
            }
            let result = crate::membership::removal::remove_ended(ctx, &api, &chat, user, &reason, self.ends_at).await;
            ctx.audit_failure(grant.grant.project_id, Some(user), Some(chat.id), result).await?;
        }
        if grant.subscriber_status == "active" {
            let lang = Lang::from_code(grant.language_code.as_deref());
            let bot_username =
                store::projects::get(&ctx.pool, grant.grant.project_id).await?.and_then(|t| t.bot_username);
            let text = match crate::payments::renewal_link(bot_username.as_deref(), grant.grant.plan_id) {
                Some(link) => texts::access_ended_renew(lang, &grant.plan_name, &link),
                None => texts::access_ended(lang, &grant.plan_name),
            };
            let key = format!("ended:{}:{}", grant.grant.id, self.ends_at.timestamp_micros());
            let message_id = store::messages::put(&ctx.pool, grant.grant.project_id, user, &key, &text, None).await?;
            ctx.enqueue(&SendNotice { message_id }).await?;
        }
        Ok(())
    }
}
