//! `remove-member`: removes one user from one chat because nothing entitles them
//! to be there (a join without entitlement, a sweep finding someone left behind).
//! Entitlement, the whitelist and administrator status are checked again when the
//! job runs: a payment that arrived meanwhile wins.
//!
//! Removal is a kick: `banChatMember` then `unbanChatMember(only_if_banned)`, so
//! the person can come back after paying. Administrators are never touched.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Job, JobContext};
use crate::{
    queue::{JobError, JobSpec, Queue},
    store::{self, chats::Chat},
    telegram::{BotApi, TgError},
};

/// The args.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveMember {
    /// `chats.id`.
    pub chat_id: Uuid,
    /// Who.
    pub telegram_user_id: i64,
    /// Why, for the audit trail.
    pub reason: String,
    /// What caused it (an update, a sweep tick): the idempotency key.
    pub cause: String,
}

impl JobSpec for RemoveMember {
    const KIND: &'static str = "remove-member";
    const QUEUE: Queue = Queue::Lifecycle;
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("{}:{}:{}", self.chat_id, self.telegram_user_id, self.cause))
    }
}

impl Job for RemoveMember {
    async fn run(self, ctx: &JobContext) -> Result<(), JobError> {
        let Some(chat) = store::chats::get(&ctx.pool, self.chat_id).await? else {
            return Err(JobError::Permanent(format!("chat {} no longer exists", self.chat_id)));
        };
        let user = self.telegram_user_id;
        if store::grants::is_entitled(&ctx.pool, chat.id, user, ctx.now()).await? {
            return ctx
                .audit(chat.project_id, Some(user), Some(chat.id), "kept", "entitled when the removal ran", json!({}))
                .await;
        }
        let api = ctx.bot_api(chat.project_id).await?;
        let result = remove(ctx, &api, &chat, user, &self.reason).await.map(|_| ());
        ctx.audit_failure(chat.project_id, Some(user), Some(chat.id), result).await
    }
}

/// What [`remove`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Removed now.
    Removed,
    /// Not inside: nothing to do.
    NotInside,
    /// Left in place (administrator, whitelisted).
    Kept,
}

/// Removes `user` from `chat` unless whitelisted or an administrator. Safe to
/// repeat: a user already outside is left alone; a removal interrupted between
/// ban and unban is completed.
pub(crate) async fn remove(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    user: i64,
    reason: &str,
) -> Result<Removal, JobError> {
    if store::subscribers::is_whitelisted(&ctx.pool, chat.project_id, user).await? {
        ctx.audit(chat.project_id, Some(user), Some(chat.id), "kept", "whitelisted", json!({"wanted": reason})).await?;
        return Ok(Removal::Kept);
    }
    let member = api.get_chat_member(chat.telegram_chat_id, user).await?;
    let now = ctx.now();
    if member.is_admin() {
        store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, now).await?;
        ctx.audit(
            chat.project_id,
            Some(user),
            Some(chat.id),
            "kept",
            "a chat administrator is never removed",
            json!({"wanted": reason}),
        )
        .await?;
        return Ok(Removal::Kept);
    }
    if member.status == "kicked" {
        if store::audit::banned_by_gatehouse(&ctx.pool, chat.id, user).await? {
            // Our own removal stopped after the ban: finish it.
            api.unban(chat.telegram_chat_id, user, true).await?;
            ctx.audit(chat.project_id, Some(user), Some(chat.id), "removed", reason, json!({"completed": true}))
                .await?;
        }
        store::memberships::observe(&ctx.pool, chat.id, user, "left", None, now).await?;
        return Ok(Removal::NotInside);
    }
    if !member.is_inside() {
        store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, now).await?;
        return Ok(Removal::NotInside);
    }
    ctx.audit(chat.project_id, Some(user), Some(chat.id), "ban_started", reason, json!({})).await?;
    match api.ban(chat.telegram_chat_id, user).await {
        Ok(_) => {}
        Err(e) if e.is_admin_target() => {
            ctx.audit(
                chat.project_id,
                Some(user),
                Some(chat.id),
                "kept",
                "a chat administrator is never removed",
                json!({"wanted": reason}),
            )
            .await?;
            return Ok(Removal::Kept);
        }
        Err(e) => return Err(e.into()),
    }
    api.unban(chat.telegram_chat_id, user, true).await?;
    store::memberships::observe(&ctx.pool, chat.id, user, "left", None, now).await?;
    ctx.audit(chat.project_id, Some(user), Some(chat.id), "removed", reason, json!({})).await?;
    Ok(Removal::Removed)
}

/// Revokes every open link of `user` in `chat`.
pub(crate) async fn revoke_open_links(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    user: i64,
    reason: &str,
) -> Result<(), JobError> {
    let links = store::links::open_links_of(&ctx.pool, chat.project_id, user).await?;
    for link in links.iter().filter(|l| l.chat_id == chat.id && l.state == "open") {
        revoke(ctx, api, chat, link, reason).await?;
    }
    Ok(())
}

/// Revokes one link at Telegram and records it. A link Telegram no longer knows
/// (expired, already revoked) counts as revoked.
pub(crate) async fn revoke(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    link: &store::links::Link,
    reason: &str,
) -> Result<(), JobError> {
    if matches!(link.state.as_str(), "revoked" | "expired") {
        return Ok(());
    }
    if let Some(url) = &link.link {
        match api.revoke_link(chat.telegram_chat_id, url).await {
            Ok(_) => {}
            Err(TgError::Rejected { description, .. }) if description.to_lowercase().contains("invite") => {}
            Err(e) => return Err(e.into()),
        }
    }
    store::links::revoked(&ctx.pool, link.id).await?;
    ctx.audit(
        chat.project_id,
        Some(link.owner_telegram_user_id),
        Some(chat.id),
        "link_revoked",
        reason,
        json!({"link_id": link.id}),
    )
    .await
}
