//! Removing a member and revoking links: the kick (never a ban), the checks that keep
//! administrators and the whitelist inside, the revocation of a chat's open links.

use crate::runtime::JobContext;
use crate::{
    queue::JobError,
    store::{
        self,
        chats::Chat,
        events::{EventType, NewEvent},
    },
    telegram::{BotApi, TgError},
};
use serde_json::json;

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
pub async fn remove(ctx: &JobContext, api: &BotApi, chat: &Chat, user: i64, reason: &str) -> Result<Removal, JobError> {
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
            let details = json!({"completed": true});
            let event = removal_event(chat, user, reason);
            ctx.audit_with_event(chat.project_id, Some(user), Some(chat.id), "removed", reason, details, event).await?;
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
    let event = removal_event(chat, user, reason);
    ctx.audit_with_event(chat.project_id, Some(user), Some(chat.id), "removed", reason, json!({}), event).await?;
    Ok(Removal::Removed)
}

/// Revokes every open link of `user` in `chat`.
pub async fn revoke_open_links(
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
pub async fn revoke(
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
    let mut tx = ctx.pool.begin().await?;
    store::links::revoked(&mut *tx, link.id).await?;
    let owner = Some(link.owner_telegram_user_id);
    let details = json!({"link_id": link.id});
    ctx.audit_on(&mut tx, chat.project_id, owner, Some(chat.id), "link_revoked", reason, details).await?;
    let data = json!({"link": store::events::link_snapshot(chat, link, "revoked"), "reason": reason});
    ctx.event_on(&mut tx, NewEvent::new(chat.project_id, EventType::LinkRevoked, data)).await?;
    tx.commit().await?;
    Ok(())
}

/// The event of a removal, by why it was made: someone removed because of how they
/// came in is an intruder (`misused_link`, `unauthorized`); a member whose access
/// ended, or whom the sweep found without a right, is removed (`expired`, `sweep`,
/// `ban`, `unauthorized`).
pub fn removal_event(chat: &Chat, user: i64, reason: &str) -> NewEvent {
    let (kind, word) = removal_kind(reason);
    let data = store::events::member_data(chat, user, json!({"reason": word, "detail": reason}));
    NewEvent::new(chat.project_id, kind, data)
}

/// The event type and reason word of a removal's reason (the texts the removing jobs pass).
fn removal_kind(reason: &str) -> (EventType, &'static str) {
    let reason = reason.to_ascii_lowercase();
    if reason.contains("someone else's link") || reason.contains("misused") {
        (EventType::MemberIntruderRemoved, "misused_link")
    } else if reason.starts_with("joined") {
        (EventType::MemberIntruderRemoved, "unauthorized")
    } else if reason.contains("sweep") {
        (EventType::MemberRemoved, "sweep")
    } else if reason.contains("ban") {
        (EventType::MemberRemoved, "ban")
    } else if reason.starts_with("access ended") {
        (EventType::MemberRemoved, "expired")
    } else {
        (EventType::MemberRemoved, "unauthorized")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_removing_job_s_reason_maps_to_its_event() {
        assert_eq!(removal_kind("access ended (expired)"), (EventType::MemberRemoved, "expired"));
        assert_eq!(removal_kind("access ended (banned)"), (EventType::MemberRemoved, "ban"));
        assert_eq!(removal_kind("no entitlement (consistency sweep)"), (EventType::MemberRemoved, "sweep"));
        assert_eq!(removal_kind("joined with someone else's link"), (EventType::MemberIntruderRemoved, "misused_link"));
        assert_eq!(removal_kind("joined without an entitlement"), (EventType::MemberIntruderRemoved, "unauthorized"));
        assert_eq!(removal_kind("removed by the integrator"), (EventType::MemberRemoved, "unauthorized"));
    }
}
