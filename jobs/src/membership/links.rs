//! Personal invite links: written `pending` before Telegram makes them, completed by the
//! next run after a crash, reused while open, sent once per asking action.

use crate::catalog::send_message::SendMessage;
use crate::runtime::JobContext;
use crate::{
    queue::JobError,
    store::{self, chats::Chat, grants::GrantView, links::Link},
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
    let text = texts::your_link(
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
