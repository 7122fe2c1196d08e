//! Removing a member and revoking links: the kick (never a ban), the checks that keep
//! administrators and the whitelist inside, the chat's administrators as Telegram lists
//! them, the revocation of a chat's open links.
//!
//! A kick takes one call where Gatehouse's record says the user is a plain member
//! (`unbanChatMember` without `only_if_banned` removes a member and leaves them free
//! to rejoin), and the careful path elsewhere: read the member first, then ban and
//! unban, so a ban someone else set is never lifted. Either is safe to repeat from
//! any point: the step under way is in the audit log before its call.

use chrono::{DateTime, Utc};

use crate::runtime::JobContext;
use crate::{
    queue::JobError,
    store::{
        self,
        chats::Chat,
        events::{EventType, NewEvent},
    },
    telegram::{BotApi, ChatMember, TgError},
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

/// Why an administrator stays.
const ADMIN_KEPT: &str = "a chat administrator is never removed";

/// Removes `user` from `chat` unless whitelisted or an administrator. Safe to
/// repeat: a user already outside is left alone; a removal interrupted anywhere
/// (between ban and unban, or after its one call) is completed.
///
/// One call (`unbanChatMember` without `only_if_banned`) where the record says the
/// user is a plain member and the chat's administrators, as last listed, do not
/// include them; otherwise [`remove_carefully`]. An administrator the list missed
/// (promoted unseen) is refused by Telegram: the list is read again and they stay.
pub async fn remove(ctx: &JobContext, api: &BotApi, chat: &Chat, user: i64, reason: &str) -> Result<Removal, JobError> {
    remove_seen_after(ctx, api, chat, user, reason, None).await
}

/// [`remove`] for an entitlement that ended at `ended_at`: a user whom Gatehouse has
/// observed outside the chat since then (removed by the sweep before this kick came, or
/// gone by themselves) is left alone without a call. Anyone else is removed as
/// [`remove`] does, the careful path included for a record that says `left` from before
/// the end (a join since then may have gone unreported).
pub async fn remove_ended(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    user: i64,
    reason: &str,
    ended_at: DateTime<Utc>,
) -> Result<Removal, JobError> {
    remove_seen_after(ctx, api, chat, user, reason, Some(ended_at)).await
}

async fn remove_seen_after(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    user: i64,
    reason: &str,
    ended_at: Option<DateTime<Utc>>,
) -> Result<Removal, JobError> {
    let facts = store::memberships::removal_facts(&ctx.pool, chat, user).await?;
    if facts.whitelisted {
        ctx.audit(chat.project_id, Some(user), Some(chat.id), "kept", "whitelisted", json!({"wanted": reason})).await?;
        return Ok(Removal::Kept);
    }
    // Unless a removal of ours stopped part-way (its answer lost): then the path below
    // completes it and records it.
    let unfinished = matches!(facts.last_step.as_deref(), Some("kick_started" | "ban_started"));
    if let (Some("left"), Some(seen), Some(ended)) = (facts.status.as_deref(), facts.observed_at, ended_at)
        && seen >= ended
        && !unfinished
    {
        tracing::info!(chat = chat.telegram_chat_id, user, %seen, "observed outside since the access ended: no call");
        return Ok(Removal::NotInside);
    }
    let administrators = match facts.administrators {
        Some(ids) => ids,
        None => read_administrators(ctx, api, chat).await?.iter().map(|a| a.user.id).collect(),
    };
    if administrators.contains(&user) {
        return keep_admin(ctx, chat, user, reason).await;
    }
    if facts.status.as_deref() != Some("member") {
        return remove_carefully(ctx, api, chat, user, reason).await;
    }
    if facts.last_step.as_deref() != Some("kick_started") {
        // Once: a job snoozed for budget comes back here with its step already written.
        ctx.audit(chat.project_id, Some(user), Some(chat.id), "kick_started", reason, json!({})).await?;
    }
    match api.unban(chat.telegram_chat_id, user, false).await {
        Ok(_) => {}
        Err(e) if e.is_admin_target() => {
            read_administrators(ctx, api, chat).await?;
            store::memberships::observe(&ctx.pool, chat.id, user, "administrator", None, ctx.now()).await?;
            return keep_admin(ctx, chat, user, reason).await;
        }
        Err(e) => return Err(e.into()),
    }
    removed(ctx, chat, user, reason, json!({"calls": 1})).await?;
    Ok(Removal::Removed)
}

/// The careful path, for a user the record does not know as a plain member (unknown,
/// left, banned, restricted): read them first, then ban and unban with
/// `only_if_banned`. A ban Gatehouse did not set is left in place.
async fn remove_carefully(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    user: i64,
    reason: &str,
) -> Result<Removal, JobError> {
    let member = api.get_chat_member(chat.telegram_chat_id, user).await?;
    let now = ctx.now();
    if member.is_admin() {
        store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, now).await?;
        store::chat_administrators::observe(&ctx.pool, chat.id, user, true).await?;
        return keep_admin(ctx, chat, user, reason).await;
    }
    if member.status == "kicked" {
        if store::audit::banned_by_gatehouse(&ctx.pool, chat.id, user).await? {
            // Our own removal stopped after the ban: finish it.
            api.unban(chat.telegram_chat_id, user, true).await?;
            removed(ctx, chat, user, reason, json!({"completed": true})).await?;
        } else {
            // Someone else's ban: it stays, and so does the record of it.
            store::memberships::observe(&ctx.pool, chat.id, user, "kicked", None, now).await?;
        }
        return Ok(Removal::NotInside);
    }
    if !member.is_inside() {
        let step = store::audit::last_removal_step(&ctx.pool, chat.id, user).await?;
        if matches!(step.as_deref(), Some("kick_started" | "ban_started")) {
            // Our removal went through, its last answer lost: record it.
            removed(ctx, chat, user, reason, json!({"completed": true})).await?;
        } else {
            store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, now).await?;
        }
        return Ok(Removal::NotInside);
    }
    ctx.audit(chat.project_id, Some(user), Some(chat.id), "ban_started", reason, json!({})).await?;
    match api.ban(chat.telegram_chat_id, user).await {
        Ok(_) => {}
        Err(e) if e.is_admin_target() => {
            read_administrators(ctx, api, chat).await?;
            return keep_admin(ctx, chat, user, reason).await;
        }
        Err(e) => return Err(e.into()),
    }
    api.unban(chat.telegram_chat_id, user, true).await?;
    removed(ctx, chat, user, reason, json!({})).await?;
    Ok(Removal::Removed)
}

/// Records a removal: the user observed as left, the audit line and its event.
async fn removed(
    ctx: &JobContext,
    chat: &Chat,
    user: i64,
    reason: &str,
    details: serde_json::Value,
) -> Result<(), JobError> {
    store::memberships::observe(&ctx.pool, chat.id, user, "left", None, ctx.now()).await?;
    let event = removal_event(chat, user, reason);
    ctx.audit_with_event(chat.project_id, Some(user), Some(chat.id), "removed", reason, details, event).await?;
    Ok(())
}

/// Records that an administrator stays.
async fn keep_admin(ctx: &JobContext, chat: &Chat, user: i64, reason: &str) -> Result<Removal, JobError> {
    ctx.audit(chat.project_id, Some(user), Some(chat.id), "kept", ADMIN_KEPT, json!({"wanted": reason})).await?;
    Ok(Removal::Kept)
}

/// Reads the chat's administrators from Telegram (`getChatAdministrators`) and records
/// them: the chat's list, replaced, and each one's membership.
pub async fn read_administrators(ctx: &JobContext, api: &BotApi, chat: &Chat) -> Result<Vec<ChatMember>, JobError> {
    let admins = api.get_chat_administrators(chat.telegram_chat_id).await?;
    let ids: Vec<i64> = admins.iter().map(|a| a.user.id).collect();
    let now = ctx.now();
    let mut tx = ctx.pool.begin().await?;
    store::chat_administrators::replace(&mut *tx, chat.id, &ids, now).await?;
    for admin in &admins {
        store::memberships::observe(&mut *tx, chat.id, admin.user.id, &admin.status, None, now).await?;
    }
    tx.commit().await?;
    Ok(admins)
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
