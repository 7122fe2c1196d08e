//! Personal invite links: written `pending` before Telegram makes them, completed by the
//! next run after a crash, reused while open, sent once per asking action; and
//! [`hand_out`], the one way a link reaches a member: only to someone outside, never
//! a link that may be spent.

use crate::kinds::send_message::SendMessage;
use crate::runtime::JobContext;
use crate::{
    queue::JobError,
    store::{
        self,
        chats::Chat,
        events::{EventType, NewEvent},
        grants::GrantView,
        links::Link,
    },
    telegram::BotApi,
    texts::{self, Lang},
};
use serde_json::json;
use uuid::Uuid;

/// How long a personal link stays usable.
pub const LINK_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The grant and chat, if the grant still entitles (else `None`: nothing to do).
pub async fn load(ctx: &JobContext, grant_id: Uuid, chat_id: Uuid) -> Result<Option<(GrantView, Chat)>, JobError> {
    let grant = store::grants::get(&ctx.pool, grant_id, ctx.now())
        .await?
        .ok_or_else(|| JobError::Permanent(format!("grant {grant_id} no longer exists")))?;
    let chat = store::chats::get(&ctx.pool, chat_id)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("chat {chat_id} no longer exists")))?;
    if !grant.entitled {
        tracing::info!(grant = %grant.grant.id, "grant no longer entitles: no link");
        return Ok(None);
    }
    if chat.status != "ready" {
        // The bot cannot invite yet (not verified, or lost its rights): try again later.
        return Err(JobError::Retry(format!("chat {} is {}, not ready", chat.telegram_chat_id, chat.status)));
    }
    Ok(Some((grant, chat)))
}

/// Lets an entitled user in, or hands them a link that works. Every path that gives a
/// member a link (admission, `/links`, the membership page, renewals, the replacement
/// of a misused link) comes here:
///
/// 1. `getChatMember` first: someone inside gets nothing (their update may have been
///    lost: the observation is written now); someone an administrator banned by hand
///    gets nothing either.
/// 2. A ban left by Gatehouse's own removal is lifted (`only_if_banned`).
/// 3. In a join-request chat, once they were handed a request link, their pending
///    request is approved directly (its `chat_join_request` update may have been
///    lost); when Telegram has no request from them, a fresh request link follows.
/// 4. Their links still open in the chat are revoked before a fresh one is made: a
///    single-use link handed out to someone who is still outside may have been spent
///    by someone else ([`record_link_possibly_misused`]), and sending it again would
///    keep its owner out for good.
///
/// `issue_key` names the asking action: a re-run finds its own link and sends it
/// again rather than revoking it.
pub async fn hand_out(ctx: &JobContext, grant: &GrantView, chat: &Chat, issue_key: &str) -> Result<(), JobError> {
    let api = ctx.bot_api(chat.project_id).await?;
    let user = grant.telegram_user_id;
    let member = api.get_chat_member(chat.telegram_chat_id, user).await?;
    store::memberships::observe(&ctx.pool, chat.id, user, &member.status, None, ctx.now()).await?;
    if member.is_inside() {
        let details = json!({"grant_id": grant.grant.id});
        return ctx
            .audit(chat.project_id, Some(user), Some(chat.id), "kept", "already in the chat: no link needed", details)
            .await;
    }
    if member.status == "kicked" && !store::audit::banned_by_gatehouse(&ctx.pool, chat.id, user).await? {
        ctx.audit(
            chat.project_id,
            Some(user),
            Some(chat.id),
            "not_admitted",
            "banned in the chat by an administrator: Gatehouse does not lift that ban",
            json!({"grant_id": grant.grant.id}),
        )
        .await?;
        return Ok(());
    }
    // Lifts a ban left by an earlier removal; a no-op for anyone not banned.
    api.unban(chat.telegram_chat_id, user, true).await?;
    if member.status == "kicked" {
        ctx.audit(
            chat.project_id,
            Some(user),
            Some(chat.id),
            "unbanned",
            "entitled again after a removal",
            json!({"grant_id": grant.grant.id}),
        )
        .await?;
    }
    let own = store::links::by_issue_key(&ctx.pool, chat.project_id, issue_key).await?;
    if own.is_none() {
        // A user handed a request link before may have a request Telegram never
        // reported; the first admission has nothing to approve yet.
        if chat.join_strategy == "join_request"
            && store::links::any_of_grant(&ctx.pool, grant.grant.id, chat.id).await?
            && approve_pending_request(ctx, &api, chat, grant.telegram_user_id, "they asked for their links").await?
        {
            return Ok(());
        }
        for link in store::links::open_links_of(&ctx.pool, chat.project_id, user).await? {
            // Links of this grant only: another grant's link to the same chat is its own
            // action's (two plans granting one chat each send theirs).
            if link.chat_id != chat.id || link.grant_id != Some(grant.grant.id) {
                continue;
            }
            if chat.join_strategy != "join_request" && link.state == "open" {
                record_link_possibly_misused(ctx, chat, &link).await?;
            }
            let reason = "handed out again: a fresh link replaces it";
            crate::membership::removal::revoke(ctx, &api, chat, &link, reason).await?;
        }
    }
    issue_link(ctx, &api, chat, grant, issue_key).await
}

/// Approves an entitled user's pending join request, if Telegram has one (its
/// `chat_join_request` update may have been lost); `when` says what prompted it.
/// `false` when Telegram has no request from them (a fresh request link is then what
/// they need). Never called for anyone the caller has not found entitled.
pub async fn approve_pending_request(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    user: i64,
    when: &str,
) -> Result<bool, JobError> {
    match api.answer_join_request(chat.telegram_chat_id, user, true).await {
        Ok(_) => {}
        Err(e) if e.description().is_some_and(|d| d.to_uppercase().contains("USER_ALREADY_PARTICIPANT")) => {}
        Err(e) if e.description().is_some_and(|d| d.to_uppercase().contains("HIDE_REQUESTER_MISSING")) => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    store::memberships::observe(&ctx.pool, chat.id, user, "member", None, ctx.now()).await?;
    metrics::counter!(crate::metrics::JOIN_REQUESTS_APPROVED_ON_ASK, "chat" => chat.telegram_chat_id.to_string())
        .increment(1);
    let reason = format!("entitled: their pending join request, approved when {when}");
    ctx.audit(chat.project_id, Some(user), Some(chat.id), "approved", &reason, json!({})).await?;
    Ok(true)
}

/// A single-use link was handed out and never revoked, yet its owner is outside:
/// someone else may have used it, in a join Telegram did not report. Records it (the
/// owner's audit trail, [`crate::metrics::LINKS_POSSIBLY_MISUSED`]) and tells the
/// project's owner, at most once per chat per day, suggesting join-request mode, and
/// the integrator (`link.possibly_misused`, in the same transaction as the audit line).
pub async fn record_link_possibly_misused(ctx: &JobContext, chat: &Chat, link: &Link) -> Result<(), JobError> {
    metrics::counter!(crate::metrics::LINKS_POSSIBLY_MISUSED, "chat" => chat.telegram_chat_id.to_string()).increment(1);
    let mut tx = ctx.pool.begin().await?;
    ctx.audit_on(
        &mut tx,
        chat.project_id,
        Some(link.owner_telegram_user_id),
        Some(chat.id),
        "link_possibly_misused",
        "their single-use link was handed out and not revoked, yet they are not inside: someone else may have used it",
        json!({"link_id": link.id, "grant_id": link.grant_id}),
    )
    .await?;
    let data = json!({"link": store::events::link_snapshot(chat, link, &link.state)});
    ctx.event_on(&mut tx, NewEvent::new(chat.project_id, EventType::LinkPossiblyMisused, data)).await?;
    tx.commit().await?;
    let day = ctx.now().date_naive();
    let text = texts::link_possibly_misused(&chat.display_name());
    crate::membership::messages::tell_owner(ctx, chat.project_id, &format!("misuse:{}:{day}", chat.id), &text).await
}

/// Makes the link for this action (`issue_key`) and sends it, once. An action that
/// runs again finds its link (used or not) and makes no second one; a still-open
/// link of the grant is reused rather than a new one made. The link's row is written
/// (`pending`) before Telegram is asked for the link, so no link exists that Gatehouse
/// has no row for; a run that finds its row still `pending` (the last one stopped in
/// between) asks again and completes it.
pub async fn issue_link(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    grant: &GrantView,
    issue_key: &str,
) -> Result<(), JobError> {
    let now = ctx.now();
    let existing = match store::links::by_issue_key(&ctx.pool, chat.project_id, issue_key).await? {
        Some(link) => Some(link),
        None => store::links::open_of_grant(&ctx.pool, grant.grant.id, chat.id, now).await?,
    };
    let link = match existing {
        Some(link) if link.state == "pending" => create_at_telegram(ctx, api, chat, grant, link).await?,
        Some(link) => link,
        None => {
            let expire_at = crate::clock::plus(now, LINK_LIFETIME)
                .ok_or_else(|| JobError::Permanent(format!("{now} plus a day is outside the calendar")))?;
            let name = format!("gh {}", &grant.grant.id.simple().to_string()[..16]);
            store::links::insert_pending(&ctx.pool, chat, grant, issue_key, &name, expire_at).await?;
            let pending = store::links::by_issue_key(&ctx.pool, chat.project_id, issue_key)
                .await?
                .ok_or_else(|| JobError::Retry("the link row vanished".into()))?;
            if pending.state == "pending" { create_at_telegram(ctx, api, chat, grant, pending).await? } else { pending }
        }
    };
    let text = if chat.join_strategy == "join_request" { texts::your_request_link } else { texts::your_link }(
        Lang::from_code(grant.language_code.as_deref()),
        chat.title.as_deref().unwrap_or("the chat"),
        link.link.as_deref().unwrap_or_default(),
        link.expire_at.unwrap_or(now),
    );
    let message_id = store::messages::put(
        &ctx.pool,
        chat.project_id,
        grant.telegram_user_id,
        // One message per link and asking action: a re-run sends nothing new, while
        // /links sends the same open link again.
        &format!("link:{}:{issue_key}", link.id),
        &text,
        None,
    )
    .await?;
    ctx.enqueue(&SendMessage { message_id }).await
}

/// Asks Telegram for the link of a `pending` row and records it (`open`).
async fn create_at_telegram(
    ctx: &JobContext,
    api: &BotApi,
    chat: &Chat,
    grant: &GrantView,
    pending: Link,
) -> Result<Link, JobError> {
    let now = ctx.now();
    // The row's expiry, unless it is (nearly) past: then a fresh day.
    let expire_at = match pending.expire_at {
        Some(at) if crate::clock::plus(now, chrono::TimeDelta::minutes(10)).is_some_and(|soon| at > soon) => at,
        _ => crate::clock::plus(now, LINK_LIFETIME)
            .ok_or_else(|| JobError::Permanent(format!("{now} plus a day is outside the calendar")))?,
    };
    let name = format!("gh {}", &grant.grant.id.simple().to_string()[..16]);
    let created = if chat.join_strategy == "join_request" {
        api.create_join_request_link(chat.telegram_chat_id, &name, expire_at.timestamp()).await?
    } else {
        api.create_personal_link(chat.telegram_chat_id, &name, expire_at.timestamp()).await?
    };
    store::links::created(&ctx.pool, pending.id, &created.invite_link, expire_at).await?;
    ctx.audit_with_event(
        chat.project_id,
        Some(grant.telegram_user_id),
        Some(chat.id),
        "link_issued",
        "entitled by a grant",
        json!({"grant_id": grant.grant.id, "link_id": pending.id, "expire_at": expire_at}),
        store::events::link_issued_event(chat, &pending, expire_at),
    )
    .await?;
    store::links::get(&ctx.pool, pending.id).await?.ok_or_else(|| JobError::Retry("link row vanished".into()))
}
